// Two nodes dispatching from one store (PostgreSQL: two connections to one database, each node with its
// own nodeId; SQLite: one file, where every claim path is the same): no event runs twice while both
// live, a node that dies has its claims taken over within the lease, clock skew between nodes changes
// nothing, retries still happen, and (PostgreSQL) concurrency limits hold across the nodes.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { openTestSql, type TestSql, testStoreKind } from '../../helpers/store.js';
import { until } from './fixtures.js';
import { type Node, type NodeOptions, node, tenant } from './nodes.js';

let base: TestSql;
let nodes: Node[];
let log: string[];
let reserved: number | null;

async function start(o: Partial<NodeOptions> = {}): Promise<Node> {
  const n = await node(base, { nodeId: `node-${nodes.length + 1}`, log, reserved: () => reserved, ...o });
  nodes.push(n);
  await n.d.start();
  return n;
}

const runsOf = (id: string) => log.filter((x) => x === id).length;

async function allSucceeded(
  n: Node,
  ids: readonly string[],
  deadlineMs: number,
  what: string,
): Promise<void> {
  await until(
    async () => {
      for (const id of ids) if ((await n.store.byRequestId(id))?.status !== 'succeeded') return undefined;
      return true;
    },
    deadlineMs,
    what,
  );
}

beforeEach(async () => {
  base = await openTestSql();
  nodes = [];
  log = [];
  reserved = null;
});
afterEach(async () => {
  for (const n of nodes) await n.close();
  await base.close();
});

test('two live nodes run every event exactly once between them', async () => {
  const a = await start();
  const b = await start();
  a.svc.auto = true;
  b.svc.auto = true;
  const ids: string[] = [];
  const accepts: Promise<{ requestId: string }>[] = [];
  for (let i = 0; i < 120; i++) {
    const via = i % 2 === 0 ? a : b;
    accepts.push(via.d.invokeAsync(tenant, `fn-${i % 3}`, Buffer.from(`{"i":${i}}`)));
  }
  for (const r of await Promise.all(accepts)) ids.push(r.requestId);
  await allSucceeded(a, ids, 30_000, 'all 120 events to succeed');
  const twice = ids.filter((id) => runsOf(id) !== 1);
  assert.deepEqual(twice, [], 'no event ran twice (or never)');
  assert.equal(log.length, 120);
  if (testStoreKind() === 'postgres') {
    // Both nodes dispatch (not a requirement of correctness; a sign the other node is woken at all).
    assert.ok(a.svc.runs > 0 && b.svc.runs > 0, `runs: a ${a.svc.runs}, b ${b.svc.runs}`);
  }
});

test('a node that dies holding claims has them taken over by the other within the lease', async () => {
  const leaseMs = 1_000;
  const a = await start({ leaseMs });
  const b = await start({ leaseMs });
  // b holds back its runs until a has claimed some and died.
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) ids.push((await a.d.invokeAsync(tenant, 'f', Buffer.from('{}'))).requestId);
  await until(() => (a.svc.waiting.length >= 1 ? true : undefined), 10_000, 'node a to run an event');
  const heldByA = a.svc.waiting.map((w) => w.requestId);
  a.kill();
  const diedAt = Date.now();
  b.svc.auto = true;
  b.svc.releaseAll();
  // The lease, one scan period and generous slack for a loaded machine.
  await allSucceeded(b, ids, leaseMs + 1_000 + 15_000, 'the dead node’s events to be taken over');
  const tookMs = Date.now() - diedAt;
  for (const id of heldByA) {
    const ev = (await b.store.byRequestId(id))!;
    assert.deepEqual(
      (await b.store.attempts(ev.id)).map((x) => x.outcome),
      ['interrupted', 'success'],
      `${id}: interrupted on the dead node, run again on the live one`,
    );
    assert.equal(runsOf(id), 2, `${id} ran on a (died) and on b`);
  }
  assert.ok(tookMs >= leaseMs / 2, `not taken over while the lease could still be live (${tookMs} ms)`);
});

test('clock skew between nodes takes over no live claim, and retries still happen', async () => {
  const leaseMs = 800;
  const skew = 10_000;
  // a's clock runs 10 s behind, b's 10 s ahead: either would see the other's leases as long expired if
  // leases were measured on a node's own clock.
  const a = await start({ leaseMs, clock: () => Date.now() - skew, retryBaseMs: 50 });
  const b = await start({ leaseMs, clock: () => Date.now() + skew, retryBaseMs: 50 });
  a.svc.failFirst = true;
  b.svc.failFirst = true;
  const ids: string[] = [];
  for (let i = 0; i < 4; i++)
    ids.push((await (i % 2 ? a : b).d.invokeAsync(tenant, `g-${i}`, Buffer.from('{}'))).requestId);
  // Hold every run for three lease periods (renewed meanwhile), then let them finish.
  const hold = setInterval(() => {
    for (const n of [a, b]) {
      const now = Date.now();
      for (const w of n.svc.waiting.splice(0))
        setTimeout(w.resolve, Math.max(0, 3 * leaseMs - (Date.now() - now)));
    }
  }, 20);
  try {
    await allSucceeded(a, ids, 30_000, 'the events to succeed after one retry');
  } finally {
    clearInterval(hold);
  }
  for (const id of ids) {
    assert.equal(runsOf(id), 2, `${id}: one failed run and one retry, none taken over`);
    const ev = (await a.store.byRequestId(id))!;
    assert.equal(ev.attempts, 2);
    assert.deepEqual(
      (await a.store.attempts(ev.id)).map((x) => x.outcome),
      ['error', 'success'],
    );
  }
});

test('reserved concurrency holds across nodes (running claims are counted in the database)', {
  skip: testStoreKind() === 'sqlite' ? 'SQLite is one node by construction' : false,
}, async () => {
  reserved = 2;
  const a = await start();
  const b = await start();
  const ids: string[] = [];
  for (let i = 0; i < 8; i++)
    ids.push((await (i % 2 ? a : b).d.invokeAsync(tenant, 'limited', Buffer.from('{}'))).requestId);
  let maxTogether = 0;
  await until(
    async () => {
      const together = a.svc.running + b.svc.running;
      maxTogether = Math.max(maxTogether, together);
      const left = await base.sql.get<{ n: number }>(
        "SELECT COUNT(*) AS n FROM async_events WHERE status IN ('queued', 'running')",
      );
      if (left?.n === 0) return true;
      // Two running (or the last ones): give both nodes every chance to overshoot, then let one finish.
      if (together === 2 || (together > 0 && left?.n === together)) {
        await new Promise((r) => setTimeout(r, 100));
        maxTogether = Math.max(maxTogether, a.svc.running + b.svc.running);
        (a.svc.waiting.shift() ?? b.svc.waiting.shift())?.resolve();
      }
      return undefined;
    },
    60_000,
    'all 8 events to run, two at a time',
  );
  assert.equal(maxTogether, 2);
  assert.equal(a.svc.runs + b.svc.runs, 8);
});
