// Two nodes' control planes on one store (two PostgreSQL connections on one database; on SQLite two stores
// over one file): each node caches keys, tenants and functions, a write on one reaches the other's cache
// through the kindling_control notification, and conflicts between nodes are decided by the database.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, beforeEach, test } from 'node:test';
import { CodeStore } from '../../src/control/code-store.js';
import { CONTROL_CHANNEL } from '../../src/control/control-changes.js';
import { type FunctionChange, FunctionStore } from '../../src/control/functions.js';
import { type Tenant, TenantStore } from '../../src/control/tenants.js';
import { VersionStore } from '../../src/control/versions.js';
import { DirBlobStore } from '../../src/store/blobs/dir-blob-store.js';
import { PostgresSql } from '../../src/store/postgres.js';
import type { Sql } from '../../src/store/sql.js';
import { echoHandler, handlerZip } from '../api/lambda/zips.js';
import { asLambda } from '../helpers/lambda-errors.js';
import { tempDir } from '../helpers/platform.js';
import { openTestSql, type TestSql } from '../helpers/store.js';

interface Node {
  sql: Sql;
  tenants: TenantStore;
  functions: FunctionStore;
  versions: VersionStore;
  changes: FunctionChange[];
}

const dirs: string[] = [];
let store: TestSql;
let second: Sql | undefined;
let a: Node;
let b: Node;
let tenant: Tenant;

async function node(sql: Sql): Promise<Node> {
  const dir = tempDir('kindling-control-node-');
  dirs.push(dir);
  const tenants = await TenantStore.open(sql);
  const code = new CodeStore({
    blobs: new DirBlobStore(path.join(dir, 'blobs')),
    cacheDir: path.join(dir, 'code'),
  });
  const functions = await FunctionStore.open({ sql, code, region: 'us-east-1' });
  const changes: FunctionChange[] = [];
  functions.onChange((c) => changes.push(c));
  return { sql, tenants, functions, versions: await VersionStore.open(sql, functions), changes };
}

/** Polls until `check` holds: a notification between nodes arrives a moment after the write commits. */
async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const fn = async (name: string) => ({
  name,
  runtime: 'nodejs20.x' as const,
  handler: 'index.handler',
  zip: await handlerZip(echoHandler),
});

beforeEach(async () => {
  store = await openTestSql();
  // A second node: its own connection pool and LISTEN connection on the same database (PostgreSQL).
  second = store.url ? await PostgresSql.open({ url: store.url, max: 4 }) : undefined;
  a = await node(store.sql);
  b = await node(second ?? store.sql);
  tenant = await a.tenants.create('t1');
});
afterEach(async () => {
  await second?.close();
  await store.close();
});
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

test('a key deleted through one node is refused by the other, which had it cached', async () => {
  const key = await a.tenants.createKey(tenant.id);
  assert.equal((await b.tenants.resolveKey(key.accessKeyId))?.tenant.id, tenant.id);
  await a.tenants.deleteKey(key.accessKeyId);
  await until(
    async () => (await b.tenants.resolveKey(key.accessKeyId)) === undefined,
    'node B to drop the key',
  );
});

test('a tenant limit set through one node reaches the tenant the other node resolves for a key', async () => {
  const key = await a.tenants.createKey(tenant.id);
  assert.equal((await b.tenants.resolveKey(key.accessKeyId))?.tenant.concurrencyLimit, null);
  assert.equal((await b.tenants.get(tenant.id))?.concurrencyLimit, null);
  await a.tenants.setConcurrencyLimit(tenant.id, 3);
  await until(
    async () => (await b.tenants.resolveKey(key.accessKeyId))?.tenant.concurrencyLimit === 3,
    'the new limit on node B',
  );
  assert.equal((await b.tenants.get('t1'))?.concurrencyLimit, 3);
});

test('a network grant changed through one node retires the tenant’s environments on the other', async () => {
  const seen: string[] = [];
  b.tenants.onNetworkChange((t) => seen.push(`${t.id} ${t.networkOutbound}`));
  await a.tenants.setNetwork(tenant.id, { networkOutbound: true, egressAllow: [] });
  await until(() => seen.length === 1, 'node B’s network listener');
  assert.deepEqual(seen, [`${tenant.id} true`]);
});

test('a session key made on one node resolves on the other', async () => {
  const key = await a.tenants.createSessionKey(tenant.id, 60_000);
  const found = await b.tenants.resolveKey(key.accessKeyId);
  assert.equal(found?.key.sessionToken, key.sessionToken);
  assert.equal(found?.tenant.id, tenant.id);
});

test('a function configuration changed through one node is what the other node serves next, and its listeners hear of it', async () => {
  await a.functions.create(tenant, await fn('f'));
  const cached = await b.functions.get(tenant.id, 'f');
  assert.equal(cached?.timeout, 3);
  const updated = await a.functions.updateConfiguration(tenant, 'f', { timeout: 9 });
  await until(
    async () => (await b.functions.get(tenant.id, 'f'))?.timeout === 9,
    'node B to serve the update',
  );
  await until(() => b.changes.some((c) => c.kind === 'updated'), 'node B’s change listener');
  const change = b.changes.find((c) => c.kind === 'updated');
  assert.equal(change?.remote, true);
  assert.equal(change?.record.versionKey, updated.versionKey);
  assert.ok(change?.kind === 'updated' && change.previous.versionKey === cached?.versionKey);
});

test('a notice of a write the other node had already read (its create arriving after a get) is no update', async () => {
  await a.functions.create(tenant, await fn('seen'));
  assert.ok(await b.functions.get(tenant.id, 'seen'));
  // The create's notice, as it reaches node B when B read the function before the notice came.
  await store.sql.notify(
    CONTROL_CHANNEL,
    JSON.stringify({ kind: 'function', tenantId: tenant.id, name: 'seen', o: 'another-node' }),
  );
  await a.functions.updateConfiguration(tenant, 'seen', { timeout: 7 });
  await until(() => b.changes.some((c) => c.kind === 'updated'), 'node B’s change listener');
  const updates = b.changes.filter((c) => c.kind === 'updated');
  assert.equal(updates.length, 1, JSON.stringify(updates.map((c) => c.record.timeout)));
  assert.equal(updates[0]?.record.timeout, 7);
});

/** A node's store whose control notifications can be held back, as a slow or dropped LISTEN connection would. */
function delayedNotices(base: Sql) {
  const listeners: Array<(payload: string) => void> = [];
  const held: string[] = [];
  let holding = false;
  const sql = new Proxy(base, {
    get(target, prop) {
      if (prop === 'listen')
        return async (channel: string, onMessage: (payload: string) => void) => {
          const mine = (payload: string) => (holding ? held.push(payload) : onMessage(payload));
          listeners.push(onMessage);
          return target.listen(channel, mine);
        };
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return {
    sql,
    held,
    hold: () => {
      holding = true;
    },
    /** What a node's LISTEN connection coming back delivers: an empty payload. */
    reconnect: () => {
      for (const l of listeners) l('');
    },
    release: () => {
      holding = false;
      for (const payload of held.splice(0)) for (const l of listeners) l(payload);
    },
  };
}

test('a change whose notice is late or lost is heard when the other node reads the new record first', async () => {
  // Node C hands out a function, then misses the update's notice (held back) while its cache is cleared
  // (a LISTEN connection that came back) and it reads the new row: its listeners must hear the update
  // then (its environments of the old version are retired on it), and once, when the notice comes late.
  const notices = delayedNotices(second ?? store.sql);
  const c = await node(notices.sql);
  await a.functions.create(tenant, await fn('late'));
  const old = await c.functions.get(tenant.id, 'late');
  assert.equal(old?.timeout, 3);
  notices.hold();
  await a.functions.updateConfiguration(tenant, 'late', { timeout: 11 });
  await until(() => notices.held.length > 0, 'the update’s notice to reach node C');
  notices.reconnect();
  assert.equal((await c.functions.get(tenant.id, 'late'))?.timeout, 11);
  const heard = c.changes.filter((ch) => ch.kind === 'updated');
  assert.equal(heard.length, 1, 'node C’s listeners hear the update when it reads the new record');
  assert.ok(heard[0]?.kind === 'updated' && heard[0].remote === true);
  assert.equal(heard[0]?.kind === 'updated' && heard[0].previous.timeout, 3);
  notices.release();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(c.changes.filter((ch) => ch.kind === 'updated').length, 1, 'the late notice adds nothing');
  // A delete whose notice is lost: heard as a remote delete at the next read.
  notices.hold();
  await a.functions.delete(tenant, 'late');
  await until(() => notices.held.length > 0, 'the delete’s notice to reach node C');
  notices.held.splice(0);
  notices.reconnect();
  assert.equal(await c.functions.get(tenant.id, 'late'), undefined);
  assert.ok(c.changes.some((ch) => ch.kind === 'deleted' && ch.remote === true));
  // Node C's own writes are its own changes, never announced again as another node's.
  await c.functions.create(tenant, await fn('own'));
  await c.functions.get(tenant.id, 'own');
  await c.functions.updateConfiguration(tenant, 'own', { timeout: 5 });
  await c.functions.get(tenant.id, 'own');
  assert.deepEqual(
    c.changes.filter((ch) => ch.record.name === 'own').map((ch) => `${ch.kind} ${ch.remote === true}`),
    ['created false', 'updated false'],
  );
});

test('a function deleted through one node is gone on the other, whose listeners hear a remote delete', async () => {
  await a.functions.create(tenant, await fn('gone'));
  assert.ok(await b.functions.get(tenant.id, 'gone'));
  await a.functions.delete(tenant, 'gone');
  await until(async () => (await b.functions.get(tenant.id, 'gone')) === undefined, 'node B to drop it');
  await until(() => b.changes.some((c) => c.kind === 'deleted' && c.remote === true), 'a remote delete');
});

test('an empty notification (a node’s LISTEN connection came back) clears every cached entry', async () => {
  const key = await a.tenants.createKey(tenant.id);
  await a.functions.create(tenant, await fn('quiet'));
  assert.ok(await b.tenants.resolveKey(key.accessKeyId));
  assert.equal((await b.functions.get(tenant.id, 'quiet'))?.memorySize, 128);
  // Changed behind the stores' backs: no notification names these rows.
  await store.sql.run('DELETE FROM access_keys WHERE access_key_id = ?', [key.accessKeyId]);
  await store.sql.run(
    'UPDATE functions SET config = replace(config, \'"memorySize":128\', \'"memorySize":256\')',
  );
  assert.ok(await b.tenants.resolveKey(key.accessKeyId), 'still cached before the notification');
  await store.sql.notify(CONTROL_CHANNEL, '');
  await until(
    async () => (await b.tenants.resolveKey(key.accessKeyId)) === undefined,
    'the key cache cleared',
  );
  await until(
    async () => (await b.functions.get(tenant.id, 'quiet'))?.memorySize === 256,
    'the function cache cleared',
  );
});

test('two nodes creating one function name at once: one wins, the other gets ResourceConflictException', async () => {
  const results = await Promise.allSettled([
    a.functions.create(tenant, await fn('race')),
    b.functions.create(tenant, await fn('race')),
  ]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.equal(asLambda(lost.reason).type, 'ResourceConflictException');
  assert.equal((await a.functions.list(tenant.id)).functions.length, 1);
});

test('two nodes updating with one RevisionId at once: one wins, the other gets PreconditionFailedException', async () => {
  const f = await a.functions.create(tenant, await fn('rev'));
  const results = await Promise.allSettled([
    a.functions.updateConfiguration(tenant, 'rev', { description: 'a' }, { revisionId: f.revisionId }),
    b.functions.updateConfiguration(tenant, 'rev', { description: 'b' }, { revisionId: f.revisionId }),
  ]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.equal(asLambda(lost.reason).type, 'PreconditionFailedException');
  const won = (
    results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ description: string }>
  ).value;
  await until(
    async () => (await b.functions.get(tenant.id, 'rev'))?.description === won.description,
    'both nodes to agree',
  );
});

test('two nodes tagging one function at once keep both tags (no lost update)', async () => {
  await a.functions.create(tenant, await fn('tags'));
  await Promise.all([
    a.functions.tag(tenant, 'tags', { fromA: '1' }),
    b.functions.tag(tenant, 'tags', { fromB: '1' }),
  ]);
  await until(async () => {
    const tags = (await b.functions.get(tenant.id, 'tags'))?.tags ?? {};
    return tags.fromA === '1' && tags.fromB === '1';
  }, 'both tags');
});

test('reservations from two nodes at once cannot together exceed the tenant’s limit', async () => {
  await a.functions.create(tenant, await fn('r1'));
  await a.functions.create(tenant, await fn('r2'));
  const results = await Promise.allSettled([
    a.functions.setReservedConcurrency(tenant, 'r1', 6, 10),
    b.functions.setReservedConcurrency(tenant, 'r2', 6, 10),
  ]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  assert.equal((await a.functions.count(tenant.id)).reserved, 6);
});

test('nodes ensuring the admin tenant at once on a fresh store make one admin and one key', async () => {
  const [x, y] = await Promise.all([a.tenants.ensureAdmin(), b.tenants.ensureAdmin()]);
  assert.equal(x.key.accessKeyId, y.key.accessKeyId);
  assert.equal([x.created, y.created].filter(Boolean).length, 1);
  const admins = (await a.tenants.list()).filter((t) => t.isAdmin);
  assert.equal(admins.length, 1);
  assert.equal((await a.tenants.listKeys(admins[0]!.id)).length, 1);
});

test('two nodes creating one tenant name at once: one wins, the other gets ResourceConflictException', async () => {
  const results = await Promise.allSettled([a.tenants.create('same'), b.tenants.create('same')]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.equal((lost.reason as { type?: string }).type, 'ResourceConflictException');
});

test('an alias moved through one node is resolved anew by the other, which had it cached', async () => {
  const made = await a.functions.create(tenant, await fn('aliased'));
  await a.versions.publish(tenant, 'aliased');
  await a.functions.updateCode(tenant, 'aliased', await handlerZip('export const handler = async () => 2;'));
  await a.versions.publish(tenant, 'aliased');
  await a.versions.createAlias(tenant, made, 'live', { functionVersion: '1' });
  const resolved = async () => b.versions.resolve((await b.functions.get(tenant.id, 'aliased'))!, 'live');
  assert.equal((await resolved()).version, '1');
  assert.equal((await resolved()).version, '1');
  await a.versions.updateAlias(tenant, made, 'live', { functionVersion: '2' });
  await until(async () => (await resolved()).version === '2', 'the moved alias on node b');
  await a.versions.deleteAlias(tenant, made, 'live');
  await until(
    () =>
      resolved().then(
        () => false,
        (e) => asLambda(e).type === 'ResourceNotFoundException',
      ),
    'the deleted alias gone on node b',
  );
});

test("a published version's code stays referenced when $LATEST's changes, and goes with the function", async () => {
  await a.functions.create(tenant, await fn('kept'));
  const v1 = await a.versions.publish(tenant, 'kept');
  const next = await a.functions.updateCode(
    tenant,
    'kept',
    await handlerZip('export const handler = async () => 3;'),
  );
  assert.notEqual(next.codeDigest, v1.codeDigest);
  const refs = await a.functions.referencedDigests();
  assert.ok(refs.has(v1.codeDigest) && refs.has(next.codeDigest));
  await a.functions.delete(tenant, 'kept');
  const after = await a.functions.referencedDigests();
  assert.ok(!after.has(v1.codeDigest) && !after.has(next.codeDigest));
});
