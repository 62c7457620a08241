// The queue engine in-process, as async destinations and event-source pollers use it (no HTTP).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { StoreQueueEngine } from '../../../src/events/queue/engine.js';
import { createQueueEngine } from '../../../src/events/queue/index.js';
import { openTestSql, type TestSql } from '../../helpers/store.js';

let store: TestSql;
let engine: StoreQueueEngine;
const owner = { id: 't-owner', accountId: '111122223333' };
const stranger = { id: 't-stranger', accountId: '444455556666' };
let n = 0;
const fresh = (attrs: Record<string, string> = {}) => engine.createQueue(owner, `engine-${++n}`, attrs);

before(async () => {
  store = await openTestSql();
  engine = createQueueEngine(store.sql, { region: 'us-east-1' });
});
after(async () => {
  engine.close();
  await store.close();
});

test('a queue is found by name, URL and ARN', async () => {
  const q = await fresh();
  assert.equal((await engine.getQueue(owner, q.name)).id, q.id);
  assert.equal((await engine.getQueue(owner, `http://localhost:9000/${owner.accountId}/${q.name}`)).id, q.id);
  assert.equal((await engine.getQueue(owner, q.arn)).id, q.id);
});

test("another owner's lookup by ARN answers QueueDoesNotExist", async () => {
  const q = await fresh();
  await assert.rejects(engine.getQueue(stranger, q.arn), { name: 'QueueDoesNotExist' });
});

test('onMessage listeners are called when a message is sent', async () => {
  const q = await fresh();
  let calls = 0;
  const off = engine.onMessage(q, () => calls++);
  await engine.send(q, { body: 'ping' });
  off();
  await engine.send(q, { body: 'unheard' });
  assert.equal(calls, 1);
});

test('waitForMessages resolves true once a message is sent', async () => {
  const q = await fresh();
  const waiting = engine.waitForMessages(q, 10_000);
  await engine.send(q, { body: 'now' });
  assert.equal(await waiting, true);
});

test('waitForMessages resolves true when a delayed message becomes visible', async () => {
  const q = await fresh();
  await engine.send(q, { body: 'soon', delaySeconds: 1 });
  assert.equal(await engine.waitForMessages(q, 10_000), true);
  assert.equal((await engine.receive(q)).length, 1);
});

test('waitForMessages resolves false when aborted', async () => {
  const q = await fresh();
  const ac = new AbortController();
  const waiting = engine.waitForMessages(q, 10_000, ac.signal);
  ac.abort();
  assert.equal(await waiting, false);
});

test('counts report visible, in-flight and delayed messages', async () => {
  const q = await fresh();
  await engine.sendBatch(q, [
    { id: 'a', body: 'a' },
    { id: 'b', body: 'b' },
    { id: 'c', body: 'c', delaySeconds: 600 },
  ]);
  await engine.receive(q, { maxMessages: 1 });
  assert.deepEqual(await engine.counts(q), { visible: 1, inFlight: 1, delayed: 1 });
});

test('a received message carries the system attributes Lambda events need', async () => {
  const q = await fresh();
  await engine.send(q, { body: 'attrs', messageAttributes: { k: { dataType: 'String', stringValue: 'v' } } });
  const [m] = await engine.receive(q);
  assert.ok(m);
  assert.deepEqual(Object.keys(m.attributes).sort(), [
    'ApproximateFirstReceiveTimestamp',
    'ApproximateReceiveCount',
    'SenderId',
    'SentTimestamp',
  ]);
  assert.equal(m.messageAttributes.k?.stringValue, 'v');
  assert.ok(m.md5OfMessageAttributes);
});

test('a receipt handle stops working for visibility changes once the message is received again', async () => {
  const q = await fresh();
  await engine.send(q, { body: 'twice' });
  const [first] = await engine.receive(q, { visibilityTimeout: 0 });
  const [second] = await engine.receive(q, { visibilityTimeout: 60 });
  assert.ok(first && second);
  await assert.rejects(engine.changeVisibility(q, first.receiptHandle, 0), { name: 'MessageNotInflight' });
  await engine.changeVisibility(q, second.receiptHandle, 0);
});

test('redrive moves the message on the receive that would exceed maxReceiveCount', async () => {
  const dlq = await fresh();
  const q = await fresh({
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 1 }),
  });
  await engine.send(q, { body: 'poison' });
  assert.equal((await engine.receive(q, { visibilityTimeout: 0 })).length, 1);
  assert.equal((await engine.receive(q, { visibilityTimeout: 0 })).length, 0);
  const [dead] = await engine.receive(dlq, { attributeNames: ['All'] });
  assert.equal(dead?.body, 'poison');
  assert.equal(dead?.attributes.ApproximateReceiveCount, '1');
});

test('a long receive on a queue deleted meanwhile fails with QueueDoesNotExist', async () => {
  const q = await fresh();
  const receiving = engine.receive(q, { waitTimeSeconds: 20 });
  await engine.deleteQueue(q);
  await assert.rejects(receiving, { name: 'QueueDoesNotExist' });
});

test('counts stay right through deletes, purges and moves to the dead-letter queue', async () => {
  const dlq = await fresh();
  const q = await fresh({
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 1 }),
  });
  assert.deepEqual(await engine.counts(q), { visible: 0, inFlight: 0, delayed: 0 });
  await engine.sendBatch(q, [
    { id: 'a', body: 'a' },
    { id: 'b', body: 'b' },
    { id: 'c', body: 'c' },
  ]);
  const got = await engine.receive(q, { maxMessages: 10, visibilityTimeout: 0 });
  await engine.deleteMessage(q, got[0]!.receiptHandle);
  assert.deepEqual(await engine.counts(q), { visible: 2, inFlight: 0, delayed: 0 });
  // Both remaining messages were received once: the next receive moves them.
  assert.equal((await engine.receive(q, { maxMessages: 10 })).length, 0);
  assert.deepEqual(await engine.counts(q), { visible: 0, inFlight: 0, delayed: 0 });
  assert.deepEqual(await engine.counts(dlq), { visible: 2, inFlight: 0, delayed: 0 });
  await engine.purgeQueue(dlq);
  assert.deepEqual(await engine.counts(dlq), { visible: 0, inFlight: 0, delayed: 0 });
});

test('one receive with visibility 0 never returns the same message twice', async () => {
  const q = await fresh();
  await engine.sendBatch(q, [
    { id: 'a', body: 'a' },
    { id: 'b', body: 'b' },
  ]);
  const got = await engine.receive(q, { maxMessages: 10, visibilityTimeout: 0 });
  assert.deepEqual(got.map((m) => m.body).sort(), ['a', 'b']);
});

test('messages past their retention period are swept and no longer counted', async () => {
  const q = await fresh({ MessageRetentionPeriod: '60' });
  await engine.send(q, { body: 'old' });
  assert.equal((await engine.counts(q)).visible, 1);
  assert.equal(await engine.sweepExpired(Date.now() + 61_000), 1);
  assert.equal((await engine.counts(q)).visible, 0);
});

test('an engine reopened on the same store sees queued messages and wakes waiters at once', async () => {
  const q = await fresh();
  await engine.send(q, { body: 'persisted' });
  const reopened = createQueueEngine(store.sql, { region: 'us-east-1' });
  try {
    const same = await reopened.getQueue(owner, q.arn);
    assert.equal(await reopened.waitForMessages(same, 5_000), true);
    const [m] = await reopened.receive(same);
    assert.equal(m?.body, 'persisted');
  } finally {
    reopened.close();
  }
});
