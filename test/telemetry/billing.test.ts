import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDatabase } from '../../src/store/database.js';
import { BillingStore, gbMs, hourOf } from '../../src/telemetry/billing-repo.js';
import { record } from './records.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 25, 9, 0);

test('GB-ms is memory in GB times billed duration', () => {
  assert.equal(gbMs(1024, 100), 100);
  assert.equal(gbMs(128, 8), 1);
});

test('invocations of one function in one hour add up in one record', () => {
  const b = new BillingStore(openDatabase(':memory:'));
  b.add([
    record({ timestamp: T0 + 1, billedDurationMs: 10, memoryMB: 512 }),
    record({ timestamp: T0 + 59 * 60_000, billedDurationMs: 30, memoryMB: 512 }),
  ]);
  assert.deepEqual(b.list(), [
    { tenantId: 't-1', functionName: 'fn', hour: hourOf(T0), invocations: 2, billedDurationMs: 40, gbMs: 20 },
  ]);
});

test('a new hour starts a new record', () => {
  const b = new BillingStore(openDatabase(':memory:'));
  b.add([record({ timestamp: T0 }), record({ timestamp: T0 + HOUR })]);
  assert.deepEqual(
    b.list().map((r) => r.hour),
    [new Date(T0).toISOString(), new Date(T0 + HOUR).toISOString()],
  );
});

test('records are kept apart per tenant and per function', () => {
  const b = new BillingStore(openDatabase(':memory:'));
  b.add([
    record({ tenantId: 'a' }),
    record({ tenantId: 'b' }),
    record({ tenantId: 'a', functionName: 'other' }),
  ]);
  assert.equal(b.list().length, 3);
  assert.deepEqual(
    b
      .list({ tenantId: 'a' })
      .map((r) => r.functionName)
      .sort(),
    ['fn', 'other'],
  );
});

test('from and to select whole hours', () => {
  const b = new BillingStore(openDatabase(':memory:'));
  b.add([record({ timestamp: T0 }), record({ timestamp: T0 + HOUR }), record({ timestamp: T0 + 2 * HOUR })]);
  assert.deepEqual(
    b.list({ from: T0 + HOUR + 5, to: T0 + 2 * HOUR }).map((r) => r.hour),
    [new Date(T0 + HOUR).toISOString()],
  );
});
