// Several nodes serving one queue: two engines over two connections to one store (two PostgreSQL pools on
// one database; on SQLite, one file shared by two engines). The store decides who leases what.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { StoreQueueEngine } from '../../../src/events/queue/engine.js';
import { createQueueEngine } from '../../../src/events/queue/index.js';
import type { Queue, ReceivedMessage } from '../../../src/events/queue/types.js';
import { PostgresSql } from '../../../src/store/postgres.js';
import type { Sql } from '../../../src/store/sql.js';
import { openTestSql, type TestSql, testStoreKind } from '../../helpers/store.js';

const owner = { id: 't-cluster', accountId: '111122223333' };
const region = 'us-east-1';
const onPostgres = testStoreKind() === 'postgres';

let store: TestSql;
let secondSql: Sql;
let a: StoreQueueEngine;
let b: StoreQueueEngine;
const extra: { close(): void }[] = [];
const extraSql: Sql[] = [];
let n = 0;

/** A second node's connection to the same store (PostgreSQL); SQLite has one writer per file anyway. */
async function connect(): Promise<Sql> {
  if (!store.url) return store.sql;
  const sql = await PostgresSql.open({ url: store.url, max: 8 });
  extraSql.push(sql);
  return sql;
}

before(async () => {
  store = await openTestSql();
  secondSql = await connect();
  a = createQueueEngine(store.sql, { region });
  b = createQueueEngine(secondSql, { region });
  await Promise.all([a.ready(), b.ready()]);
});

after(async () => {
  a.close();
  b.close();
  for (const e of extra) e.close();
  for (const s of extraSql) await s.close();
  await store.close();
});

const fresh = async (attrs: Record<string, string> = {}, fifo = false) => {
  const name = `cluster-${++n}${fifo ? '.fifo' : ''}`;
  const q = await a.createQueue(owner, name, fifo ? { FifoQueue: 'true', ...attrs } : attrs);
  return { onA: q, onB: await b.getQueue(owner, q.arn) };
};

const sendMany = async (e: StoreQueueEngine, q: Queue, bodies: string[], group?: string) => {
  for (let i = 0; i < bodies.length; i += 10) {
    const r = await e.sendBatch(
      q,
      bodies.slice(i, i + 10).map((body, j) => ({
        id: String(j),
        body,
        ...(group !== undefined && { messageGroupId: group, deduplicationId: body }),
      })),
    );
    assert.equal(r.failed.length, 0);
  }
};

test('two nodes receiving at once never get the same message while it is invisible', async () => {
  const { onA, onB } = await fresh();
  const bodies = Array.from({ length: 300 }, (_, i) => `m${i}`);
  await sendMany(a, onA, bodies);
  const drain = async (e: StoreQueueEngine, q: Queue) => {
    const got: string[] = [];
    for (;;) {
      const batch = await e.receive(q, { maxMessages: 10, visibilityTimeout: 300 });
      if (batch.length === 0) return got;
      got.push(...batch.map((m) => m.body));
    }
  };
  // Several receivers per node, all at once.
  const results = await Promise.all([drain(a, onA), drain(b, onB), drain(a, onA), drain(b, onB)]);
  const all = results.flat();
  assert.equal(all.length, bodies.length, 'every message received exactly once');
  assert.deepEqual([...new Set(all)].sort(), [...bodies].sort());
  assert.ok(results[0]!.length + results[2]!.length > 0 && results[1]!.length + results[3]!.length > 0);
});

test('a message received on node A is deleted on node B, and its lease extended from B', async () => {
  const { onA, onB } = await fresh();
  await a.send(onA, { body: 'cross' });
  const [m] = await a.receive(onA, { visibilityTimeout: 300 });
  assert.ok(m);
  await b.changeVisibility(onB, m.receiptHandle, 600);
  assert.deepEqual(await b.counts(onB), { visible: 0, inFlight: 1, delayed: 0 });
  await b.deleteMessage(onB, m.receiptHandle);
  // (Counts are approximate across nodes for up to a second: ask the node that deleted.)
  assert.deepEqual(await b.counts(onB), { visible: 0, inFlight: 0, delayed: 0 });
  // The handle is spent everywhere.
  await assert.rejects(a.changeVisibility(onA, m.receiptHandle, 0), { name: 'MessageNotInflight' });
});

test('a stale handle from node A deletes nothing once node B has received the message again', async () => {
  const { onA, onB } = await fresh();
  await a.send(onA, { body: 'again' });
  const [first] = await a.receive(onA, { visibilityTimeout: 0 });
  // Visible again at once on the store's clock; B's estimate of that clock may trail by a few ms.
  const [second] = await b.receive(onB, { visibilityTimeout: 300, waitTimeSeconds: 5 });
  assert.ok(first && second);
  await a.deleteMessage(onA, first.receiptHandle); // succeeds, as on SQS, without deleting
  assert.equal((await b.counts(onB)).inFlight, 1);
  const r = await a.deleteBatch(onA, [{ id: '1', receiptHandle: second.receiptHandle }]);
  assert.equal(r.successful.length, 1);
  assert.deepEqual(await a.counts(onA), { visible: 0, inFlight: 0, delayed: 0 });
  assert.deepEqual(await b.receive(onB, { maxMessages: 10 }), []);
});

test('FIFO: one group is in flight on at most one node, and each group is delivered in order', async () => {
  const { onA, onB } = await fresh({}, true);
  const groups = ['g1', 'g2', 'g3', 'g4'];
  for (const g of groups) {
    await sendMany(
      a,
      onA,
      Array.from({ length: 15 }, (_, i) => `${g}-${String(i).padStart(2, '0')}`),
      g,
    );
  }
  const inFlight = new Map<string, string>(); // group → worker holding it
  const seen = new Map<string, string[]>();
  const violations: string[] = [];
  const worker = async (name: string, e: StoreQueueEngine, q: Queue, max: number) => {
    let idle = 0;
    while (idle < 3) {
      const batch = await e.receive(q, { maxMessages: max, visibilityTimeout: 300 });
      if (batch.length === 0) {
        idle++;
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      idle = 0;
      const mine = new Set(batch.map((m) => m.attributes.MessageGroupId!));
      for (const g of mine) {
        const holder = inFlight.get(g);
        if (holder !== undefined && holder !== name)
          violations.push(`${g} leased by ${name} while ${holder} holds it`);
        inFlight.set(g, name);
      }
      for (const m of batch)
        seen.set(m.attributes.MessageGroupId!, [...(seen.get(m.attributes.MessageGroupId!) ?? []), m.body]);
      await new Promise((r) => setTimeout(r, 5));
      // Release the groups before the delete commits: the other node may lease them the moment it does.
      for (const g of mine) inFlight.delete(g);
      await e.deleteBatch(
        q,
        batch.map((m: ReceivedMessage, i) => ({ id: String(i), receiptHandle: m.receiptHandle })),
      );
    }
  };
  await Promise.all([
    worker('a1', a, onA, 3),
    worker('b1', b, onB, 2),
    worker('a2', a, onA, 1),
    worker('b2', b, onB, 4),
  ]);
  assert.deepEqual(violations, []);
  for (const g of groups) {
    const got = seen.get(g) ?? [];
    assert.deepEqual(got, [...got].sort(), `${g} in send order`);
    assert.equal(got.length, 15, `${g} delivered once each`);
  }
});

test('FIFO deduplication holds across nodes sending the same id at once', async () => {
  const { onA, onB } = await fresh({}, true);
  const sends = Array.from({ length: 20 }, (_, i) =>
    (i % 2 ? a : b).send(i % 2 ? onA : onB, {
      body: 'once',
      messageGroupId: 'g',
      deduplicationId: 'same-id',
    }),
  );
  const results = await Promise.all(sends);
  assert.equal(new Set(results.map((r) => r.messageId)).size, 1, 'every sender is answered the same message');
  const got = await b.receive(onB, { maxMessages: 10 });
  assert.equal(got.length, 1);
  assert.deepEqual(await a.counts(onA), { visible: 0, inFlight: 1, delayed: 0 });
});

test('FIFO deduplication holds across nodes within one batch and across batches', async () => {
  const { onA, onB } = await fresh({ ContentBasedDeduplication: 'true' }, true);
  const [r1, r2] = await Promise.all([
    a.sendBatch(onA, [
      { id: '1', body: 'x', messageGroupId: 'g' },
      { id: '2', body: 'x', messageGroupId: 'g' },
      { id: '3', body: 'y', messageGroupId: 'g' },
    ]),
    b.sendBatch(onB, [
      { id: '1', body: 'y', messageGroupId: 'g' },
      { id: '2', body: 'z', messageGroupId: 'g' },
    ]),
  ]);
  const ids = new Map<string, Set<string>>();
  const bodies = { a: ['x', 'x', 'y'], b: ['y', 'z'] };
  const note = (body: string, id: string) => ids.set(body, (ids.get(body) ?? new Set()).add(id));
  for (const [i, r] of r1.successful.entries()) note(bodies.a[i]!, r.messageId);
  for (const [i, r] of r2.successful.entries()) note(bodies.b[i]!, r.messageId);
  for (const [body, set] of ids) assert.equal(set.size, 1, `one message id for body ${body}`);
  const got = await a.receive(onA, { maxMessages: 10 });
  assert.deepEqual(got.map((m) => m.body).sort(), ['x', 'y', 'z']);
});

test('a dead-letter move happens once when two nodes meet the poison messages at once', async () => {
  const dlq = await fresh();
  const { onA, onB } = await fresh({
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.onA.arn, maxReceiveCount: 1 }),
  });
  const bodies = Array.from({ length: 40 }, (_, i) => `p${i}`);
  await sendMany(a, onA, bodies);
  // Receive each once with visibility 0: every message is now due for the dead-letter queue.
  let received = 0;
  while (received < bodies.length)
    received += (await a.receive(onA, { maxMessages: 10, visibilityTimeout: 0 })).length;
  const results = await Promise.all([
    a.receive(onA, { maxMessages: 10 }),
    b.receive(onB, { maxMessages: 10 }),
    a.receive(onA, { maxMessages: 10 }),
    b.receive(onB, { maxMessages: 10 }),
  ]);
  assert.equal(results.flat().length, 0);
  const dead: string[] = [];
  for (;;) {
    const got = await b.receive(dlq.onB, { maxMessages: 10, visibilityTimeout: 300 });
    if (got.length === 0) break;
    dead.push(...got.map((m) => m.body));
  }
  assert.deepEqual(dead.sort(), [...bodies].sort());
  assert.deepEqual(await a.counts(onA), { visible: 0, inFlight: 0, delayed: 0 });
});

test("a send on node A wakes a long poll on node B (the store's notification, not a re-check)", async () => {
  // A node whose periodic re-check is far beyond the poll: only the notification can wake it.
  const sql = await connect();
  const c = createQueueEngine(sql, { region, recheckMs: 600_000 });
  extra.push(c);
  await c.ready();
  const { onA } = await fresh();
  const onC = await c.getQueue(owner, onA.arn);
  // waitForMessages answers false when its time runs out (a long receive would just read again then).
  const waiting = c.waitForMessages(onC, 15_000);
  await new Promise((r) => setTimeout(r, 500)); // it is waiting
  await a.send(onA, { body: 'wake' });
  assert.equal(await waiting, true);
  const got = await c.receive(onC);
  assert.deepEqual(
    got.map((m) => m.body),
    ['wake'],
  );
});

test('attributes changed and a queue deleted on node A are seen on node B', async () => {
  const { onA, onB } = await fresh();
  assert.equal((await b.getAttributes(onB, ['VisibilityTimeout'])).VisibilityTimeout, '30');
  await a.setAttributes(onA, { VisibilityTimeout: '45' });
  await eventually(
    async () => (await b.getAttributes(onB, ['VisibilityTimeout'])).VisibilityTimeout === '45',
  );
  await a.deleteQueue(onA);
  await eventually(async () => (await b.findQueue(owner, onB.arn)) === undefined);
  // Like SQS, a deletion reaches a node's cached queue state a moment later (its change notification):
  // then a send through B's handle is refused too.
  await eventually(() =>
    b.send(onB, { body: 'late' }).then(
      () => false,
      (e: unknown) => (e as Error).name === 'QueueDoesNotExist',
    ),
  );
});

test('a node whose clock is seconds ahead does not take a message another node leased', {
  skip: !onPostgres && 'one SQLite file is one node: its clock is the only one',
}, async () => {
  const sql = await connect();
  const ahead = createQueueEngine(sql, { region, localClock: () => Date.now() + 8_000 });
  extra.push(ahead);
  await ahead.ready();
  const { onA } = await fresh();
  const onAhead = await ahead.getQueue(owner, onA.arn);
  await a.send(onA, { body: 'leased' });
  const [m] = await a.receive(onA, { visibilityTimeout: 3 });
  assert.ok(m);
  // On its own clock the lease ran out 5 s ago; on the store's it has 3 s to go.
  assert.deepEqual(await ahead.receive(onAhead), []);
  // It comes back after the lease, on the store's clock, to either node.
  const again = await ahead.receive(onAhead, { waitTimeSeconds: 20 });
  assert.equal(again[0]?.body, 'leased');
  assert.equal(again[0]?.attributes.ApproximateReceiveCount, '2');
});

test('a message sent by a node whose estimate of the store clock runs ahead is receivable at once on another', async () => {
  let drift = 0;
  const sql = await connect();
  const ahead = createQueueEngine(sql, { region, localClock: () => Date.now() + drift });
  extra.push(ahead);
  await ahead.ready();
  // After its clock's last measurement: the estimate is now 300 ms ahead (as a slow round trip can make it).
  drift = 300;
  const { onA } = await fresh();
  const onAhead = await ahead.getQueue(owner, onA.arn);
  await ahead.send(onAhead, { body: 'sent ahead' });
  await ahead.sendBatch(onAhead, [{ id: '1', body: 'batch ahead' }]);
  const got = await a.receive(onA, { maxMessages: 10 });
  assert.deepEqual(got.map((m) => m.body).sort(), ['batch ahead', 'sent ahead']);
  // A delay still counts from the send.
  await ahead.send(onAhead, { body: 'later', delaySeconds: 2 });
  assert.deepEqual(await a.receive(onA, { maxMessages: 10 }), []);
  assert.equal((await a.counts(onA)).delayed, 1);
});

async function eventually(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
