// Message move tasks across nodes and restarts: two engines on one store stand for two nodes. A task
// lives on the node that started it; another node lists and cancels it through the store; when its node
// stops, the task is reported FAILED once its heartbeat is stale, and what it moved stays moved.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { StoreQueueEngine } from '../../../src/events/queue/engine.js';
import { createQueueEngine } from '../../../src/events/queue/index.js';
import type { MoveTask, Queue } from '../../../src/events/queue/types.js';
import { openTestSql, type TestSql } from '../../helpers/store.js';

let store: TestSql;
const owner = { id: 't-owner', accountId: '111122223333' };
const engines: StoreQueueEngine[] = [];
const engine = (opts: { moveTaskStaleMs?: number } = {}) => {
  const e = createQueueEngine(store.sql, { region: 'us-east-1', ...opts });
  engines.push(e);
  return e;
};

before(async () => {
  store = await openTestSql();
});
after(async () => {
  for (const e of engines) e.close();
  await store.close();
});

const total = async (e: StoreQueueEngine, q: Queue) => {
  const c = await e.counts(q);
  return c.visible + c.inFlight + c.delayed;
};

/** A source queue and its DLQ holding `n` dead-lettered messages. */
async function deadLettered(e: StoreQueueEngine, name: string, n: number) {
  const dlq = await e.createQueue(owner, `${name}-dlq`);
  const src = await e.createQueue(owner, name, {
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 1 }),
  });
  for (let i = 0; i < n; i += 10)
    await e.sendBatch(
      src,
      Array.from({ length: Math.min(10, n - i) }, (_, j) => ({ id: `m${j}`, body: `m${i + j}` })),
    );
  for (let got = 0; got < n; )
    got += (await e.receive(src, { maxMessages: 10, visibilityTimeout: 0 })).length;
  while ((await total(e, dlq)) < n) await e.receive(src, { maxMessages: 10 });
  return { src, dlq };
}

async function until(e: StoreQueueEngine, arn: string, ok: (t: MoveTask) => boolean): Promise<MoveTask> {
  for (;;) {
    const [t] = await e.listMoveTasks(owner, arn, 1);
    if (t && ok(t)) return t;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('another node lists a running task and cancels it; the node running it stops before its next batch', async () => {
  const a = engine();
  const b = engine();
  const { dlq } = await deadLettered(a, 'cross-node', 20);
  const dest = await a.createQueue(owner, 'cross-node-dest');
  const handle = await a.startMoveTask(owner, dlq.arn, dest.arn, 1);
  const running = await until(b, dlq.arn, (t) => t.approximateNumberOfMessagesMoved >= 1);
  assert.equal(running.status, 'RUNNING');
  assert.equal(running.taskHandle, handle);
  await b.cancelMoveTask(owner, handle);
  const end = await until(b, dlq.arn, (t) => t.status !== 'RUNNING' && t.status !== 'CANCELLING');
  assert.equal(end.status, 'CANCELLED');
  assert.ok(end.approximateNumberOfMessagesMoved < 20);
  assert.equal(await total(b, dest), end.approximateNumberOfMessagesMoved);
  assert.equal(await total(b, dlq), 20 - end.approximateNumberOfMessagesMoved);
});

test('a task whose node stopped is reported FAILED once stale; a new task moves the rest', async () => {
  const a = engine();
  const { src, dlq } = await deadLettered(a, 'restart', 20);
  await a.startMoveTask(owner, dlq.arn, undefined, 1);
  await until(a, dlq.arn, (t) => t.approximateNumberOfMessagesMoved >= 1);
  a.close(); // the node stops: its task's heartbeat with it
  const b = engine({ moveTaskStaleMs: 300 });
  const failed = await until(b, dlq.arn, (t) => t.status !== 'RUNNING');
  assert.equal(failed.status, 'FAILED');
  assert.match(failed.failureReason ?? '', /node running it stopped/);
  const moved = failed.approximateNumberOfMessagesMoved;
  assert.ok(moved >= 1 && moved < 20);
  assert.equal(await total(b, src), moved, 'what was moved stays moved, once');
  assert.equal(await total(b, dlq), 20 - moved);
  // A node with the usual staleness runs the new task (a 300 ms one could judge its own live task stale).
  const c = engine();
  await c.startMoveTask(owner, dlq.arn, undefined, undefined);
  const done = await until(c, dlq.arn, (t) => t.status !== 'RUNNING');
  assert.equal(done.status, 'COMPLETED');
  assert.equal(done.approximateNumberOfMessagesToMove, 20 - moved);
  // Counted on the node that moved them (another node's counts are cached for a second).
  assert.equal(await total(c, src), 20);
  assert.equal(await total(c, dlq), 0);
});

test('a task fails with NonExistentQueue when a message’s source queue is gone', async () => {
  const e = engine();
  const { src, dlq } = await deadLettered(e, 'orphaned', 2);
  await e.deleteQueue(src);
  // The DLQ is no one's DLQ any more: SQS refuses to start then.
  await assert.rejects(e.startMoveTask(owner, dlq.arn, undefined, undefined), {
    name: 'InvalidParameterValue',
  });
  // Still named by another queue's RedrivePolicy, but the messages' own source is gone.
  await e.createQueue(owner, 'orphaned-other', {
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 1 }),
  });
  await e.startMoveTask(owner, dlq.arn, undefined, undefined);
  const t = await until(e, dlq.arn, (x) => x.status !== 'RUNNING');
  assert.equal(t.status, 'FAILED');
  assert.equal(t.failureReason, 'AWS.SimpleQueueService.NonExistentQueue');
  assert.equal(await total(e, dlq), 2);
});
