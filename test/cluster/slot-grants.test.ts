// Cluster concurrency grants on PostgreSQL: two nodes' SlotGrants on one database never hold more than a
// limit between them, take slots without a round trip while they hold grants, give idle grants back on a
// sweep, and at once when the other node asks for the key.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SlotGrants } from '../../src/cluster/cluster-slots.js';
import { NodeRepo } from '../../src/cluster/node-repo.js';
import type { Sql } from '../../src/store/sql.js';
import { openTestSql, type TestSql } from '../helpers/store.js';
import { eventually } from './helpers.js';

let store: TestSql;
let sql: Sql;
const started: SlotGrants[] = [];

before(async () => {
  store = await openTestSql('postgres');
  sql = store.sql;
  await new NodeRepo(sql).migrate();
  const now = await sql.now();
  for (const id of ['node-a', 'node-b', 'node-c']) {
    await new NodeRepo(sql).register({
      id,
      url: `http://127.0.0.1:9/${id}`,
      state: 'active',
      running: 0,
      capacity: 8,
      warm: {},
    });
  }
  await sql.run('UPDATE nodes SET heartbeat_at = ?', [now + 3_600_000]);
});

after(async () => {
  for (const g of started) await g.stop();
  await store?.close();
});

async function grants(
  nodeId: string,
  opts: { sweepMs?: number; queueWaitMs?: number } = {},
): Promise<SlotGrants> {
  const g = new SlotGrants({
    repo: new NodeRepo(sql),
    nodeId,
    config: { leaseMs: 30_000, queueWaitMs: opts.queueWaitMs ?? 2_000 },
    sweepMs: opts.sweepMs,
  });
  await g.start();
  started.push(g);
  return g;
}

async function grantedInDb(key: string): Promise<number> {
  const row = await sql.get<{ n: number | null }>(
    'SELECT SUM(in_use) AS n FROM cluster_slots WHERE key = ?',
    [key],
  );
  return Number(row?.n ?? 0);
}

test('two nodes never hold more than the limit between them; a freed slot reaches the waiting node', async () => {
  const limit = { key: 'fn:limit-3', limit: 3 };
  const a = await grants('node-a');
  const b = await grants('node-b', { queueWaitMs: 10_000 });
  const c = await grants('node-c', { queueWaitMs: 300 });
  for (let i = 0; i < 3; i++) assert.equal(await a.acquire([limit]), undefined);
  assert.equal(await grantedInDb(limit.key), 3);
  // A holds all three, in use: C waits its queueWaitMs and is refused, naming the limit.
  assert.deepEqual(await c.acquire([limit]), limit);
  assert.ok((await grantedInDb(limit.key)) <= 3);
  // A frees one while B waits: B gets it (A's sweep, or A answering B's ask).
  const waiting = b.acquire([limit]);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(b.held(limit.key).used, 0);
  a.release([limit]);
  assert.equal(await waiting, undefined);
  assert.equal(b.held(limit.key).used, 1);
  assert.ok((await grantedInDb(limit.key)) <= 3);
  a.release([limit]);
  a.release([limit]);
  b.release([limit]);
});

test('a node takes slots from its grants without asking the database again, and grants grow with use', async () => {
  const limit = { key: 'tenant:grow', limit: 100 };
  const a = await grants('node-a', { sweepMs: 3_600_000 });
  const calls: number[] = [];
  const repo = (a as unknown as { opts: { repo: NodeRepo } }).opts.repo;
  const grow = repo.grow.bind(repo);
  repo.grow = async (...args) => {
    calls.push(args[2]);
    return grow(...args);
  };
  await Promise.all(Array.from({ length: 8 }, () => a.acquire([limit])));
  assert.equal(a.held(limit.key).used, 8);
  assert.ok(calls.length < 8, `asked the database ${calls.length} times for 8 slots: ${calls}`);
  // Released and taken again: no further round trip while the grant lasts.
  for (let i = 0; i < 8; i++) a.release([limit]);
  const before = calls.length;
  await Promise.all(Array.from({ length: 8 }, () => a.acquire([limit])));
  assert.equal(calls.length, before);
  for (let i = 0; i < 8; i++) a.release([limit]);
});

test('idle grants go back on the sweep', async () => {
  const limit = { key: 'fn:sweep', limit: 10 };
  const a = await grants('node-a', { sweepMs: 50 });
  await Promise.all([a.acquire([limit]), a.acquire([limit]), a.acquire([limit])]);
  assert.ok((await grantedInDb(limit.key)) >= 3);
  a.release([limit]);
  a.release([limit]);
  a.release([limit]);
  await eventually(async () => (await grantedInDb(limit.key)) === 0);
  assert.equal(a.held(limit.key).granted, 0);
});

test('a node asked for a key gives its idle grants back at once, without waiting for its sweep', async () => {
  const limit = { key: 'fn:asked', limit: 2 };
  const a = await grants('node-a', { sweepMs: 3_600_000 });
  const b = await grants('node-b', { sweepMs: 3_600_000, queueWaitMs: 10_000 });
  await Promise.all([a.acquire([limit]), a.acquire([limit])]);
  a.release([limit]);
  a.release([limit]);
  // A holds two idle grants and would keep them for an hour; B asks and gets both.
  assert.equal(a.held(limit.key).granted, 2);
  await Promise.all([b.acquire([limit]), b.acquire([limit])]);
  assert.equal(b.held(limit.key).used, 2);
  assert.equal(a.held(limit.key).granted, 0);
  assert.equal(await grantedInDb(limit.key), 2);
  b.release([limit]);
  b.release([limit]);
});
