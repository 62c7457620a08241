// The dispatcher with a fake invocation service over a real store (this run's: SQLite, or PostgreSQL on
// the matrix leg): concurrency per function, throttles, recovery of events in flight, and shutdown handing
// running events back to the queue.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { asLambda } from '../../helpers/lambda-errors.js';
import { openTestSql, type TestSql } from '../../helpers/store.js';
import { until } from './fixtures.js';
import { type Node, type NodeOptions, node, record, tenant } from './nodes.js';

let base: TestSql;
let reserved: number | null;
let nodes: Node[];

async function start(o: Partial<NodeOptions> = {}): Promise<Node> {
  const n = await node(base, { nodeId: `node-${nodes.length + 1}`, reserved: () => reserved, ...o });
  nodes.push(n);
  return n;
}

beforeEach(async () => {
  base = await openTestSql();
  reserved = null;
  nodes = [];
});
afterEach(async () => {
  for (const n of nodes) await n.close();
  await base.close();
});

test('events of one function run concurrently up to its reserved concurrency and no further', async () => {
  reserved = 3;
  const { d, svc } = await start();
  await d.start();
  for (let i = 0; i < 8; i++) await d.invokeAsync(tenant, 'f', Buffer.from(`{"i":${i}}`));
  await until(() => (svc.running === 3 ? true : undefined));
  // Give the dispatcher every chance to overshoot before checking.
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(svc.running, 3);
  await until(() => {
    svc.releaseAll();
    return svc.runs === 8 && svc.running === 0 ? true : undefined;
  });
  assert.equal(svc.maxRunning, 3);
});

test('a tenant’s events across its functions never take more than the tenant’s concurrency limit', async () => {
  const { d, svc } = await start({ tenantConcurrency: 2 });
  await d.start();
  for (const fn of ['a', 'b', 'c'])
    for (let i = 0; i < 3; i++) await d.invokeAsync(tenant, fn, Buffer.from('{}'));
  await until(() => (svc.running === 2 ? true : undefined));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(svc.running, 2);
  await until(() => {
    svc.releaseAll();
    return svc.runs === 9 && svc.running === 0 ? true : undefined;
  });
  assert.equal(svc.maxRunning, 2);
});

test('throttled runs are retried until the function accepts them, without using up retries', async () => {
  const { d, svc, store } = await start();
  svc.throttleNext = 4;
  await d.start();
  const { requestId } = await d.invokeAsync(tenant, 'f', Buffer.from('{}'));
  await until(() => (svc.waiting.length === 1 ? true : undefined));
  svc.releaseAll();
  const e = await until(async () => {
    const ev = await store.byRequestId(requestId);
    return ev?.status === 'succeeded' ? ev : undefined;
  });
  assert.equal(e.throttles, 4);
  assert.equal(e.attempts, 1);
});

test('events that were running when their node died are queued again and run once it is gone', async () => {
  // SQLite (one node): the next start recovers them at once; PostgreSQL: another node, once the lease ran out.
  const leaseMs = 600;
  const first = await start({ leaseMs });
  await first.d.start();
  const { requestId } = await first.d.invokeAsync(tenant, 'f', Buffer.from('{}'));
  await until(() => (first.svc.waiting.length === 1 ? true : undefined));
  assert.equal((await first.store.byRequestId(requestId))!.status, 'running');
  first.kill();
  const second = await start({ leaseMs });
  await second.d.start();
  await until(
    () => (second.svc.waiting.length === 1 ? true : undefined),
    10_000,
    'the run on the second node',
  );
  assert.equal(second.svc.waiting[0]!.requestId, requestId, 'the same request id runs again (at least once)');
  second.svc.releaseAll();
  await until(async () =>
    (await second.store.byRequestId(requestId))?.status === 'succeeded' ? true : undefined,
  );
  const ev = (await second.store.byRequestId(requestId))!;
  assert.deepEqual(
    (await second.store.attempts(ev.id)).map((a) => a.outcome),
    ['interrupted', 'success'],
  );
});

test('stop hands events still running at the deadline back to the queue', async () => {
  const { d, svc, store } = await start();
  await d.start();
  const { requestId } = await d.invokeAsync(tenant, 'f', Buffer.from('{}'));
  await until(() => (svc.waiting.length === 1 ? true : undefined));
  await d.stop(Date.now());
  assert.equal((await store.byRequestId(requestId))!.status, 'queued');
  svc.releaseAll();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(
    (await store.byRequestId(requestId))!.status,
    'queued',
    'a run finishing after stop changes nothing',
  );
});

test('an accept while stopping is refused, so nothing is half-accepted', async () => {
  const { d } = await start();
  await d.start();
  await d.stop(Date.now());
  await assert.rejects(
    d.invokeAsync(tenant, 'f', Buffer.from('{}')),
    (e) => asLambda(e).type === 'ServiceException',
  );
});

test('a stored event that no longer validates is set aside and the others still run', async () => {
  const { d, svc, store } = await start();
  await store.insert(
    {
      requestId: 'broken',
      tenantId: tenant.id,
      functionName: 'f',
      functionArn: record('f').arn,
      qualifier: undefined,
      payload: Buffer.from('{}'),
      source: { kind: 'api' },
    },
    await base.sql.now(),
  );
  await base.sql.run("UPDATE async_events SET source_kind = 'bogus' WHERE request_id = 'broken'");
  await d.start();
  const { requestId } = await d.invokeAsync(tenant, 'f', Buffer.from('{}'));
  await until(async () => {
    svc.releaseAll();
    return (await store.byRequestId(requestId))?.status === 'succeeded' ? true : undefined;
  });
  const row = await base.sql.get<{ status: string }>(
    "SELECT status FROM async_events WHERE request_id = 'broken'",
  );
  assert.equal(row?.status, 'failed');
});

test('accepts of one tick are stored together, and one bad entry fails alone', async () => {
  const { d, store } = await start();
  const results = await Promise.allSettled([
    d.invokeAsync(tenant, 'f', Buffer.from('{}'), { requestId: 'one' }),
    d.invokeAsync(tenant, 'f', Buffer.from('{}'), { requestId: 'dup' }),
    d.invokeAsync(tenant, 'f', Buffer.from('{}'), { requestId: 'dup' }),
    d.invokeAsync(tenant, 'f', Buffer.from('{}'), { requestId: 'two' }),
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
  );
  for (const id of ['one', 'dup', 'two']) assert.ok(await store.byRequestId(id), `${id} is stored`);
});

test('an accept still waiting for its group commit when stop begins is stored and answered', async () => {
  const { d, store } = await start();
  const accepted = d.invokeAsync(tenant, 'f', Buffer.from('{}'), { requestId: 'in-the-door' });
  // Let the accept reach its commit queue (it resolves the function first), then stop at once.
  await new Promise((r) => process.nextTick(r));
  await d.stop(Date.now());
  // Stored by the time stop returns (the platform closes the store right after its parts stop).
  assert.equal((await store.byRequestId('in-the-door'))?.status, 'queued');
  assert.deepEqual(await accepted, { requestId: 'in-the-door' });
});

test('an accept is answered only once its row is committed', async () => {
  const { d, store } = await start();
  const { requestId } = await d.invokeAsync(tenant, 'f', Buffer.from('{}'));
  // Read through another path than the dispatcher's: the row is there once the accept resolved.
  const row = await base.sql.get<{ status: string }>('SELECT status FROM async_events WHERE request_id = ?', [
    requestId,
  ]);
  assert.equal(row?.status, 'queued');
  assert.ok(await store.byRequestId(requestId));
});
