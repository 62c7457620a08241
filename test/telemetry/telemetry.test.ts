import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Telemetry } from '../../src/telemetry/telemetry.js';
import { sharedStore } from '../helpers/shared-store.js';
import { openTestSql, type TestSql } from '../helpers/store.js';
import { record } from './records.js';

// Telemetry on this run's store (SQLite, or PostgreSQL on that leg); each test gets an empty one.
const opened: TestSql[] = [];
after(() => Promise.all(opened.map((s) => s.close())));
async function telemetry(): Promise<{ t: Telemetry; s: TestSql }> {
  const s = await openTestSql();
  opened.push(s);
  return { t: new Telemetry(s.sql), s };
}

test('a reported invocation is readable from logs and billing after a flush', async () => {
  const { t } = await telemetry();
  t.onInvocation(record({ requestId: 'seen' }));
  await t.flush();
  assert.deepEqual(
    (await t.logs.list('t-1', 'fn')).map((e) => e.requestId),
    ['seen'],
  );
  assert.equal((await t.billing.list())[0]?.invocations, 1);
});

test('reported invocations are written in one batch within the flush window without a flush', async () => {
  const { t } = await telemetry();
  t.onInvocation(record({ requestId: 'a' }));
  t.onInvocation(record({ requestId: 'b' }));
  const deadline = Date.now() + 10_000;
  while ((await t.billing.list()).length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal((await t.billing.list())[0]?.invocations, 2);
});

test('metrics count an invocation before it is written to the store', async () => {
  const { t } = await telemetry();
  t.onInvocation(record());
  assert.match(t.metrics.render(), /kindling_invocations_total\{[^}]*\} 1/);
  await t.flush();
});

test('a flush after the store closed neither rejects nor writes', async () => {
  const { t, s } = await telemetry();
  await t.flush(); // schema in place
  t.onInvocation(record());
  await s.sql.close();
  await t.flush();
  await t.close();
});

test('records written while the store fails are kept and written once it answers again', async () => {
  const { t, s } = await telemetry();
  await t.logs.ready();
  await t.billing.ready();
  // The store refuses transactions for a while, as an unreachable PostgreSQL does.
  const realTx = s.sql.tx.bind(s.sql);
  let failing = true;
  s.sql.tx = (async (fn: Parameters<typeof realTx>[0]) => {
    if (failing) throw new Error('store unavailable');
    return realTx(fn);
  }) as typeof s.sql.tx;
  t.onInvocation(record({ requestId: 'during-outage' }));
  await t.flush();
  assert.deepEqual(await t.logs.list('t-1', 'fn'), []);
  failing = false;
  await t.flush();
  assert.deepEqual(
    (await t.logs.list('t-1', 'fn')).map((e) => e.requestId),
    ['during-outage'],
  );
  assert.equal((await t.billing.list())[0]?.invocations, 1);
});

test('logs and billing written by one node are read through another', async () => {
  const store = await sharedStore();
  try {
    const a = new Telemetry(await store.open());
    const b = new Telemetry(await store.open());
    a.onInvocation(record({ requestId: 'ran-on-a', billedDurationMs: 100, memoryMB: 1024 }));
    b.onInvocation(record({ requestId: 'ran-on-b', billedDurationMs: 100, memoryMB: 1024 }));
    await a.flush();
    await b.flush();
    for (const reader of [a, b]) {
      assert.deepEqual((await reader.logs.list('t-1', 'fn')).map((e) => e.requestId).sort(), [
        'ran-on-a',
        'ran-on-b',
      ]);
      const [hour] = await reader.billing.list({ tenantId: 't-1' });
      assert.equal(hour?.invocations, 2);
      assert.equal(hour?.gbMs, 200);
    }
  } finally {
    await store.close();
  }
});
