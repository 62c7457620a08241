import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDatabase } from '../../src/store/database.js';
import { Telemetry } from '../../src/telemetry/telemetry.js';
import { record } from './records.js';

test('a reported invocation is readable from logs and billing after a flush', () => {
  const t = new Telemetry(openDatabase(':memory:'));
  t.onInvocation(record({ requestId: 'seen' }));
  t.flush();
  assert.deepEqual(
    t.logs.list('t-1', 'fn').map((e) => e.requestId),
    ['seen'],
  );
  assert.equal(t.billing.list()[0]?.invocations, 1);
});

test('reported invocations are written in one batch within the flush window without a flush', async () => {
  const t = new Telemetry(openDatabase(':memory:'));
  t.onInvocation(record({ requestId: 'a' }));
  t.onInvocation(record({ requestId: 'b' }));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(t.billing.list()[0]?.invocations, 2);
});

test('metrics count an invocation before it is written to the store', () => {
  const t = new Telemetry(openDatabase(':memory:'));
  t.onInvocation(record());
  assert.match(t.metrics.render(), /kindling_invocations_total\{[^}]*\} 1/);
  t.flush();
});

test('a flush after the database closed neither throws nor writes', () => {
  const db = openDatabase(':memory:');
  const t = new Telemetry(db);
  t.onInvocation(record());
  db.close();
  assert.doesNotThrow(() => t.flush());
});
