import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { LogStore, MAX_LOG_BYTES } from '../../src/telemetry/log-repo.js';
import { openTestSql, type TestSql } from '../helpers/store.js';
import { record } from './records.js';

// Logs on this run's store (SQLite, or PostgreSQL on that leg); each test gets an empty one.
const opened: TestSql[] = [];
after(() => Promise.all(opened.map((s) => s.close())));
async function store(retain = 500): Promise<LogStore> {
  const s = await openTestSql();
  opened.push(s);
  return new LogStore(s.sql, retain);
}

test('only the newest N invocations of a function are kept', async () => {
  const s = await store(3);
  await s.add([1, 2, 3, 4, 5].map((i) => record({ requestId: `r${i}` })));
  assert.deepEqual(
    (await s.list('t-1', 'fn')).map((e) => e.requestId),
    ['r3', 'r4', 'r5'],
  );
});

test('retention is counted per function, so a chatty function does not evict another’s logs', async () => {
  const s = await store(2);
  await s.add([record({ functionName: 'quiet', requestId: 'q1' })]);
  await s.add([1, 2, 3, 4].map((i) => record({ functionName: 'chatty', requestId: `c${i}` })));
  assert.deepEqual(
    (await s.list('t-1', 'quiet')).map((e) => e.requestId),
    ['q1'],
  );
});

test('a limit returns the newest entries, oldest first', async () => {
  const s = await store();
  await s.add([1, 2, 3, 4].map((i) => record({ requestId: `r${i}` })));
  assert.deepEqual(
    (await s.list('t-1', 'fn', { limit: 2 })).map((e) => e.requestId),
    ['r3', 'r4'],
  );
});

test('after a cursor, entries page forward from the oldest newer one', async () => {
  const s = await store();
  await s.add([1, 2, 3, 4].map((i) => record({ requestId: `r${i}` })));
  const [first] = await s.list('t-1', 'fn', { limit: 4 });
  assert.deepEqual(
    (await s.list('t-1', 'fn', { after: first!.seq, limit: 2 })).map((e) => e.requestId),
    ['r2', 'r3'],
  );
});

test('since filters out invocations that started earlier', async () => {
  const s = await store();
  await s.add([record({ requestId: 'old', timestamp: 1000 }), record({ requestId: 'new', timestamp: 5000 })]);
  assert.deepEqual(
    (await s.list('t-1', 'fn', { since: 2000 })).map((e) => e.requestId),
    ['new'],
  );
});

test('one tenant never reads another tenant’s logs of a function with the same name', async () => {
  const s = await store();
  await s.add([record({ tenantId: 't-a', requestId: 'a' }), record({ tenantId: 't-b', requestId: 'b' })]);
  assert.deepEqual(
    (await s.list('t-b', 'fn')).map((e) => e.requestId),
    ['b'],
  );
});

test('a huge log is stored truncated', async () => {
  const s = await store();
  await s.add([record({ log: 'x'.repeat(MAX_LOG_BYTES + 10) })]);
  const [e] = await s.list('t-1', 'fn');
  assert.ok(e!.log.length < MAX_LOG_BYTES + 100);
  assert.match(e!.log, /\[log truncated\]/);
});

test('deleting a tenant forgets its logs', async () => {
  const s = await store();
  await s.add([record()]);
  await s.deleteTenant('t-1');
  assert.deepEqual(await s.list('t-1', 'fn'), []);
});
