// A send on this node hands new messages straight to a waiting poller lane (waitOrTake), already leased:
// the lane starts work without a receive round trip, and the message behaves as one received.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { StoreQueueEngine } from '../../../src/events/queue/engine.js';
import { createQueueEngine } from '../../../src/events/queue/index.js';
import type { ReceivedMessage } from '../../../src/events/queue/types.js';
import { openTestSql, type TestSql } from '../../helpers/store.js';

let store: TestSql;
let engine: StoreQueueEngine;
const owner = { id: 't-owner', accountId: '111122223333' };
let n = 0;
const fresh = (attrs: Record<string, string> = {}) => engine.createQueue(owner, `handoff-${++n}`, attrs);
const settle = () => new Promise((r) => setTimeout(r, 30));

before(async () => {
  store = await openTestSql();
  engine = createQueueEngine(store.sql, { region: 'us-east-1' });
});
after(async () => {
  engine.close();
  await store.close();
});

test('a waiting receiver gets the sent messages already leased; nobody else can receive them', async () => {
  const q = await fresh({ VisibilityTimeout: '30' });
  const waiting = engine.waitOrTake(q, { timeoutMs: 10_000, max: 2 });
  await settle();
  await engine.sendBatch(q, [
    { id: '1', body: 'one' },
    { id: '2', body: 'two' },
    { id: '3', body: 'three' },
  ]);
  const got = (await waiting) as ReceivedMessage[];
  assert.ok(Array.isArray(got), 'handed over, not just woken');
  assert.deepEqual(
    got.map((m) => m.body),
    ['one', 'two'],
  );
  assert.equal(got[0]!.attributes.ApproximateReceiveCount, '1');
  assert.ok(Number(got[0]!.attributes.ApproximateFirstReceiveTimestamp) > 0);
  // The third (over the receiver's max) stays visible; the two handed over are in flight.
  const rest = await engine.receive(q, { maxMessages: 10 });
  assert.deepEqual(
    rest.map((m) => m.body),
    ['three'],
  );
  const counts = await engine.counts(q);
  assert.equal(counts.inFlight, 3);
  // The handed-over receipt handles delete, as a received message's do.
  const del = await engine.deleteBatch(
    q,
    got.map((m, i) => ({ id: String(i), receiptHandle: m.receiptHandle })),
  );
  assert.equal(del.successful.length, 2);
  assert.equal((await engine.counts(q)).inFlight, 1);
});

test('a handed-over message not deleted comes back after the visibility timeout, counted as received once', async () => {
  const q = await fresh({ VisibilityTimeout: '1' });
  const waiting = engine.waitOrTake(q, { timeoutMs: 10_000, max: 10 });
  await settle();
  await engine.send(q, { body: 'dropped by a lane that died' });
  const got = (await waiting) as ReceivedMessage[];
  assert.equal(got.length, 1);
  assert.deepEqual(await engine.receive(q, { maxMessages: 10 }), []);
  const again = await engine.receive(q, { maxMessages: 10, waitTimeSeconds: 5 });
  assert.equal(again.length, 1);
  assert.equal(again[0]!.body, 'dropped by a lane that died');
  assert.equal(again[0]!.attributes.ApproximateReceiveCount, '2');
});

test('delayed messages and a receiver that stopped waiting are not handed anything', async () => {
  const q = await fresh();
  const ac = new AbortController();
  const waiting = engine.waitOrTake(q, { timeoutMs: 10_000, max: 10, signal: ac.signal });
  await settle();
  await engine.send(q, { body: 'later', delaySeconds: 1 });
  ac.abort();
  assert.equal(await waiting, false);
  await engine.send(q, { body: 'now' });
  // Nobody waits any more: the message is simply visible.
  const got = await engine.receive(q, { maxMessages: 10 });
  assert.deepEqual(
    got.map((m) => m.body),
    ['now'],
  );
});

test('on a FIFO queue nothing is handed over: the receiver is only woken (group order is kept by receive)', async () => {
  const q = await engine.createQueue(owner, `handoff-${++n}.fifo`, {
    FifoQueue: 'true',
    ContentBasedDeduplication: 'true',
  });
  const waiting = engine.waitOrTake(q, { timeoutMs: 10_000, max: 10 });
  await settle();
  await engine.send(q, { body: 'ordered', messageGroupId: 'g' });
  assert.equal(await waiting, true);
  assert.equal((await engine.receive(q, { maxMessages: 10 })).length, 1);
});
