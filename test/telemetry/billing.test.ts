import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Sql } from '../../src/store/sql.js';
import { BillingStore, gbMs, hourOf } from '../../src/telemetry/billing-repo.js';
import { openTestSql, type TestSql } from '../helpers/store.js';
import { record } from './records.js';

// Billing on this run's store (SQLite, or PostgreSQL on that leg); each test gets an empty one.
const opened: TestSql[] = [];
after(() => Promise.all(opened.map((s) => s.close())));
async function fresh(): Promise<Sql> {
  const s = await openTestSql();
  opened.push(s);
  return s.sql;
}

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 25, 9, 0);

test('GB-ms is memory in GB times billed duration', () => {
  assert.equal(gbMs(1024, 100), 100);
  assert.equal(gbMs(128, 8), 1);
});

test('invocations of one function in one hour add up in one record', async () => {
  const b = new BillingStore(await fresh());
  await b.add([
    record({ timestamp: T0 + 1, billedDurationMs: 10, memoryMB: 512 }),
    record({ timestamp: T0 + 59 * 60_000, billedDurationMs: 30, memoryMB: 512 }),
  ]);
  assert.deepEqual(await b.list(), [
    { tenantId: 't-1', functionName: 'fn', hour: hourOf(T0), invocations: 2, billedDurationMs: 40, gbMs: 20 },
  ]);
});

test('a new hour starts a new record', async () => {
  const b = new BillingStore(await fresh());
  await b.add([record({ timestamp: T0 }), record({ timestamp: T0 + HOUR })]);
  assert.deepEqual(
    (await b.list()).map((r) => r.hour),
    [new Date(T0).toISOString(), new Date(T0 + HOUR).toISOString()],
  );
});

test('records are kept apart per tenant and per function', async () => {
  const b = new BillingStore(await fresh());
  await b.add([
    record({ tenantId: 'a' }),
    record({ tenantId: 'b' }),
    record({ tenantId: 'a', functionName: 'other' }),
  ]);
  assert.equal((await b.list()).length, 3);
  assert.deepEqual((await b.list({ tenantId: 'a' })).map((r) => r.functionName).sort(), ['fn', 'other']);
});

test('from and to select whole hours', async () => {
  const b = new BillingStore(await fresh());
  await b.add([
    record({ timestamp: T0 }),
    record({ timestamp: T0 + HOUR }),
    record({ timestamp: T0 + 2 * HOUR }),
  ]);
  assert.deepEqual(
    (await b.list({ from: T0 + HOUR + 5, to: T0 + 2 * HOUR })).map((r) => r.hour),
    [new Date(T0 + HOUR).toISOString()],
  );
});
