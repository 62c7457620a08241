// The layer store with the function store: the unzipped limit counts code and layers together, merged
// layer trees override in order, and a blob shared by a layer and a function outlives either's deletion.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, beforeEach, test } from 'node:test';
import { CodeStore } from '../../src/control/code-store.js';
import { FunctionStore } from '../../src/control/functions.js';
import { LayerStore } from '../../src/control/layers.js';
import { type Tenant, TenantStore } from '../../src/control/tenants.js';
import { DirBlobStore } from '../../src/store/blobs/dir-blob-store.js';
import { echoHandler, handlerZip, zipOf } from '../api/lambda/zips.js';
import { asLambda } from '../helpers/lambda-errors.js';
import { tempDir } from '../helpers/platform.js';
import { openTestSql, type TestSql } from '../helpers/store.js';

const dirs: string[] = [];
let dir: string;
let testSql: TestSql;
let code: CodeStore;
let functions: FunctionStore;
let layers: LayerStore;
let tenant: Tenant;

const LIMIT = 4000;

beforeEach(async () => {
  dir = tempDir('kindling-layers-');
  dirs.push(dir);
  testSql = await openTestSql();
  const tenants = await TenantStore.open(testSql.sql);
  code = new CodeStore({
    blobs: new DirBlobStore(path.join(dir, 'blobs')),
    cacheDir: path.join(dir, 'code'),
    maxUnzippedBytes: LIMIT,
  });
  functions = await FunctionStore.open({ sql: testSql.sql, code, region: 'eu-west-1' });
  layers = new LayerStore({ sql: testSql.sql, code, region: 'eu-west-1' });
  tenant = await tenants.create('t1');
});
afterEach(() => testSql.close());
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const bytes = (n: number) => 'x'.repeat(n);

test('code and layers together over the unzipped limit are refused; each alone is not', async () => {
  const a = await layers.publish(tenant, {
    name: 'a',
    zip: await zipOf([{ name: 'a.bin', data: bytes(1800) }]),
  });
  const b = await layers.publish(tenant, {
    name: 'b',
    zip: await zipOf([{ name: 'b.bin', data: bytes(1800) }]),
  });
  const both = await layers.resolveForFunction(tenant, [a.layerVersionArn, b.layerVersionArn]);
  const zip = await zipOf([{ name: 'index.mjs', data: `${echoHandler}//${bytes(600)}` }]);
  await assert.rejects(
    functions.create(tenant, {
      name: 'big',
      runtime: 'nodejs20.x',
      handler: 'index.handler',
      zip,
      layers: both,
    }),
    (e) => {
      const l = asLambda(e);
      assert.equal(l.type, 'InvalidParameterValueException');
      assert.match(
        l.message,
        /^Function code combined with layers exceeds the maximum allowed size of 4000 bytes/,
      );
      return true;
    },
  );
  const one = await layers.resolveForFunction(tenant, [a.layerVersionArn]);
  const fn = await functions.create(tenant, {
    name: 'fits',
    runtime: 'nodejs20.x',
    handler: 'index.handler',
    zip,
    layers: one,
  });
  assert.deepEqual(fn.layers, one);
  // Adding the second layer later is refused the same way, and changes nothing.
  await assert.rejects(functions.updateConfiguration(tenant, 'fits', { layers: both }), (e) => {
    assert.equal(asLambda(e).type, 'InvalidParameterValueException');
    return true;
  });
  assert.equal((await functions.get(tenant.id, 'fits'))?.layers?.length, 1);
});

test('the merged tree puts later layers over earlier ones and is read-only', async () => {
  const first = await layers.publish(tenant, {
    name: 'first',
    zip: await zipOf([
      { name: 'python/m.py', data: 'v = 1' },
      { name: 'only-first.txt', data: 'f' },
    ]),
  });
  const second = await layers.publish(tenant, {
    name: 'second',
    zip: await zipOf([{ name: 'python/m.py', data: 'v = 2' }]),
  });
  const merged = await code.ensureLayerSet([first.digest, second.digest]);
  assert.equal(fs.readFileSync(path.join(merged, 'python/m.py'), 'utf8'), 'v = 2');
  assert.equal(fs.readFileSync(path.join(merged, 'only-first.txt'), 'utf8'), 'f');
  assert.equal(fs.statSync(path.join(merged, 'python')).mode & 0o222, 0);
  assert.equal(fs.statSync(path.join(merged, 'python/m.py')).mode & 0o222, 0);
  // The same set again is the same tree; the other order is another.
  assert.equal(await code.ensureLayerSet([first.digest, second.digest]), merged);
  const reversed = await code.ensureLayerSet([second.digest, first.digest]);
  assert.equal(fs.readFileSync(path.join(reversed, 'python/m.py'), 'utf8'), 'v = 1');
});

test('a zip published as a layer and used as function code outlives deleting either', async () => {
  const zip = await handlerZip(echoHandler);
  const v = await layers.publish(tenant, { name: 'same', zip });
  await functions.create(tenant, { name: 'f', runtime: 'nodejs20.x', handler: 'index.handler', zip });
  await functions.delete(tenant, 'f');
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(await code.hasBlob(v.digest));
  await functions.create(tenant, { name: 'g', runtime: 'nodejs20.x', handler: 'index.handler', zip });
  assert.ok(await layers.delete(tenant, 'same', v.version));
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(await code.hasBlob(v.digest));
  await functions.delete(tenant, 'g');
  // Removed once the (asynchronous) use checks answer.
  for (let i = 0; i < 100 && (await code.hasBlob(v.digest)); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(!(await code.hasBlob(v.digest)));
});
