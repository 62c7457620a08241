// The function store on its own: persistence, versionKeys, revisions, blob lifetime, environment checks.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, beforeEach, test } from 'node:test';
import { CodeStore } from '../../src/control/code-store.js';
import { parseFunctionRef } from '../../src/control/function-names.js';
import { type CreateFunctionInput, type FunctionChange, FunctionStore } from '../../src/control/functions.js';
import { type Tenant, TenantStore } from '../../src/control/tenants.js';
import { DirBlobStore } from '../../src/store/blobs/dir-blob-store.js';
import type { Sql } from '../../src/store/sql.js';
import { echoHandler, handlerZip } from '../api/lambda/zips.js';
import { asLambda } from '../helpers/lambda-errors.js';
import { tempDir } from '../helpers/platform.js';
import { openTestSql, type TestSql } from '../helpers/store.js';

const dirs: string[] = [];
let dir: string;
let testSql: TestSql;
let sql: Sql;
let code: CodeStore;
let store: FunctionStore;
let tenants: TenantStore;
let tenant: Tenant;
let changes: FunctionChange[];

/** A fresh FunctionStore over the same database, as after a restart. */
const open = async () => {
  code = new CodeStore({
    blobs: new DirBlobStore(path.join(dir, 'blobs')),
    cacheDir: path.join(dir, 'code'),
  });
  store = await FunctionStore.open({ sql, code, region: 'eu-west-1' });
  store.onChange((c) => changes.push(c));
};

const input = async (name: string, source = echoHandler): Promise<CreateFunctionInput> => ({
  name,
  runtime: 'nodejs20.x',
  handler: 'index.handler',
  zip: await handlerZip(source),
});

beforeEach(async () => {
  dir = tempDir('kindling-functions-');
  dirs.push(dir);
  changes = [];
  testSql = await openTestSql();
  sql = testSql.sql;
  tenants = await TenantStore.open(sql);
  await open();
  tenant = await tenants.create('t1');
});
afterEach(() => testSql.close());
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

test('a created function survives reopening the database', async () => {
  const created = await store.create(tenant, {
    ...(await input('keep')),
    memorySize: 1024,
    environment: { KEY: 'v' },
  });
  await open();
  const got = await await store.get(tenant.id, 'keep');
  assert.deepEqual(got, created);
  assert.equal(got?.arn, `arn:aws:lambda:eu-west-1:${tenant.accountId}:function:keep`);
});

test('defaults are Lambda’s: 128 MB, 3 s, 512 MB /tmp', async () => {
  const f = await store.create(tenant, await input('defaults'));
  assert.equal(f.memorySize, 128);
  assert.equal(f.timeout, 3);
  assert.equal(f.ephemeralStorage, 512);
  assert.match(f.lastModified, /\+0000$/);
});

test('creating an existing name is a ResourceConflictException', async () => {
  await store.create(tenant, await input('dup'));
  await assert.rejects(store.create(tenant, await input('dup')), (e) => asLambda(e).status === 409);
});

test('a configuration update bumps RevisionId and versionKey', async () => {
  const a = await store.create(tenant, await input('rev'));
  const b = await store.updateConfiguration(tenant, 'rev', { description: 'x' });
  assert.notEqual(a.revisionId, b.revisionId);
  assert.notEqual(a.versionKey, b.versionKey);
  assert.equal(changes.at(-1)?.kind, 'updated');
});

test('a stale RevisionId is a PreconditionFailedException and changes nothing', async () => {
  const a = await store.create(tenant, await input('pre'));
  await store.updateConfiguration(tenant, 'pre', { description: 'one' });
  await assert.rejects(
    store.updateConfiguration(tenant, 'pre', { description: 'two' }, { revisionId: a.revisionId }),
    (e) => asLambda(e).status === 412,
  );
  assert.equal((await store.get(tenant.id, 'pre'))?.description, 'one');
});

test('the current RevisionId is accepted as a precondition', async () => {
  const a = await store.create(tenant, await input('pre-ok'));
  assert.equal(
    (await store.updateConfiguration(tenant, 'pre-ok', { timeout: 5 }, { revisionId: a.revisionId })).timeout,
    5,
  );
});

test('reserved concurrency changes keep the versionKey (environments stay)', async () => {
  const a = await store.create(tenant, await input('conc'));
  const b = await store.setReservedConcurrency(tenant, 'conc', 2, 10);
  assert.equal(b.versionKey, a.versionKey);
  assert.equal(b.reservedConcurrency, 2);
});

test('a code update removes the old blob when no other function uses it', async () => {
  const a = await store.create(tenant, await input('code', 'export const handler = async () => 1;'));
  await store.updateCode(tenant, 'code', await handlerZip('export const handler = async () => 2;'));
  assert.ok(!(await code.hasBlob(a.codeDigest)));
});

test('deleting a function keeps a blob another function uses, and removes it with the last user', async () => {
  const a = await store.create(tenant, await input('one'));
  await store.create(tenant, await input('two'));
  await store.delete(tenant, 'one');
  assert.ok(await code.hasBlob(a.codeDigest));
  await store.delete(tenant, 'two');
  assert.ok(!(await code.hasBlob(a.codeDigest)));
});

test('delete of a missing function is a ResourceNotFoundException naming its ARN', async () => {
  await assert.rejects(
    store.delete(tenant, 'ghost'),
    (e: Error) => asLambda(e).status === 404 && e.message.endsWith(':function:ghost'),
  );
});

test('list pages in name order with an opaque marker', async () => {
  for (const n of ['c', 'a', 'b']) await store.create(tenant, await input(n));
  const p1 = await store.list(tenant.id, { maxItems: 2 });
  assert.deepEqual(
    p1.functions.map((f) => f.name),
    ['a', 'b'],
  );
  assert.ok(p1.nextMarker);
  const p2 = await store.list(tenant.id, { maxItems: 2, marker: p1.nextMarker });
  assert.deepEqual(
    p2.functions.map((f) => f.name),
    ['c'],
  );
  assert.equal(p2.nextMarker, undefined);
});

test('list shows only the tenant’s own functions', async () => {
  const other = await tenants.create('t2');
  await store.create(other, await input('theirs'));
  await store.create(tenant, await input('mine'));
  assert.deepEqual(
    (await store.list(tenant.id)).functions.map((f) => f.name),
    ['mine'],
  );
});

test('an ARN with another account id resolves to not found without a lookup of that account', async () => {
  await store.create(tenant, await input('x'));
  await assert.rejects(
    store.resolve(tenant, parseFunctionRef('arn:aws:lambda:eu-west-1:123456789012:function:x')),
    (e) => asLambda(e).status === 404,
  );
  assert.equal(
    (await store.resolve(tenant, parseFunctionRef(`arn:aws:lambda:eu-west-1:${tenant.accountId}:function:x`)))
      .name,
    'x',
  );
});

test('an ARN of another region is not found', async () => {
  await store.create(tenant, await input('r'));
  await assert.rejects(
    store.resolve(tenant, parseFunctionRef(`arn:aws:lambda:us-east-1:${tenant.accountId}:function:r`)),
    (e) => asLambda(e).status === 404,
  );
});

test('environment variable keys must match Lambda’s pattern', async () => {
  await assert.rejects(
    store.create(tenant, { ...(await input('badkey')), environment: { '1X': 'v' } }),
    /invalid keys/,
  );
});

test('an environment update replaces the variables', async () => {
  await store.create(tenant, { ...(await input('envs')), environment: { AA: '1', BB: '2' } });
  assert.deepEqual(
    (await store.updateConfiguration(tenant, 'envs', { environment: { CC: '3' } })).environment,
    {
      CC: '3',
    },
  );
});

test('a refused create leaves no row and no blob behind', async () => {
  await assert.rejects(store.create(tenant, { ...(await input('broken')), zip: Buffer.from('not a zip') }));
  assert.equal(await store.get(tenant.id, 'broken'), undefined);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'blobs')), []);
});

test('parseFunctionRef reads names, qualifiers, partial and full ARNs', () => {
  assert.deepEqual(parseFunctionRef('f'), {
    name: 'f',
    accountId: undefined,
    region: undefined,
    qualifier: undefined,
  });
  assert.deepEqual(parseFunctionRef('f:$LATEST'), {
    name: 'f',
    accountId: undefined,
    region: undefined,
    qualifier: '$LATEST',
  });
  assert.deepEqual(parseFunctionRef('123456789012:function:f'), {
    name: 'f',
    accountId: '123456789012',
    region: undefined,
    qualifier: undefined,
  });
  assert.deepEqual(parseFunctionRef('arn:aws:lambda:us-east-1:123456789012:function:f:7'), {
    name: 'f',
    accountId: '123456789012',
    region: 'us-east-1',
    qualifier: '7',
  });
});

test('parseFunctionRef refuses a name with a space in Lambda’s wording', () => {
  assert.throws(
    () => parseFunctionRef('a b'),
    (e) => {
      const w = asLambda(e);
      assert.equal(w.type, 'ValidationException');
      assert.match(
        w.message,
        /^1 validation error detected: Value 'a b' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern/,
      );
      return true;
    },
  );
});

test('parseFunctionRef refuses a reference longer than 170 characters', () => {
  assert.throws(() => parseFunctionRef('a'.repeat(171)), /Member must have length less than or equal to 170/);
});

test('deleting a tenant deletes its functions through the store, announcing each', async () => {
  tenants.onDelete((t) => store.deleteAll(t));
  const doomed = await tenants.create('doomed');
  const f = await store.create(doomed, await input('gone', 'export const handler = async () => "doomed";'));
  await tenants.delete(doomed.id);
  assert.equal(await store.get(doomed.id, 'gone'), undefined);
  assert.ok(changes.some((c) => c.kind === 'deleted' && c.record.arn === f.arn));
  assert.ok(!(await code.hasBlob(f.codeDigest)));
});

test('the losing create of a name leaves no blob of its code behind', async () => {
  const [a, b] = await Promise.allSettled([
    store.create(tenant, await input('race', 'export const handler = async () => "a";')),
    store.create(tenant, await input('race', 'export const handler = async () => "b";')),
  ]);
  assert.equal([a, b].filter((r) => r.status === 'fulfilled').length, 1);
  const winner = (await store.get(tenant.id, 'race'))!;
  assert.deepEqual(fs.readdirSync(path.join(dir, 'blobs')), [`${winner.codeDigest}.zip`]);
});

test('a code update refused by a stale RevisionId leaves no blob of the new code behind', async () => {
  const a = await store.create(tenant, await input('stale'));
  await store.updateConfiguration(tenant, 'stale', { description: 'moved on' });
  await assert.rejects(
    store.updateCode(tenant, 'stale', await handlerZip('export const handler = async () => 9;'), {
      revisionId: a.revisionId,
    }),
    (e) => asLambda(e).status === 412,
  );
  assert.deepEqual(fs.readdirSync(path.join(dir, 'blobs')), [`${a.codeDigest}.zip`]);
});
