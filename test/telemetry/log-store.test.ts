import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDatabase } from '../../src/store/database.js';
import { LogStore, MAX_LOG_BYTES } from '../../src/telemetry/log-repo.js';
import { record } from './records.js';

const store = (retain = 500) => new LogStore(openDatabase(':memory:'), retain);

test('only the newest N invocations of a function are kept', () => {
  const s = store(3);
  s.add([1, 2, 3, 4, 5].map((i) => record({ requestId: `r${i}` })));
  assert.deepEqual(
    s.list('t-1', 'fn').map((e) => e.requestId),
    ['r3', 'r4', 'r5'],
  );
});

test('retention is counted per function, so a chatty function does not evict another’s logs', () => {
  const s = store(2);
  s.add([record({ functionName: 'quiet', requestId: 'q1' })]);
  s.add([1, 2, 3, 4].map((i) => record({ functionName: 'chatty', requestId: `c${i}` })));
  assert.deepEqual(
    s.list('t-1', 'quiet').map((e) => e.requestId),
    ['q1'],
  );
});

test('a limit returns the newest entries, oldest first', () => {
  const s = store();
  s.add([1, 2, 3, 4].map((i) => record({ requestId: `r${i}` })));
  assert.deepEqual(
    s.list('t-1', 'fn', { limit: 2 }).map((e) => e.requestId),
    ['r3', 'r4'],
  );
});

test('after a cursor, entries page forward from the oldest newer one', () => {
  const s = store();
  s.add([1, 2, 3, 4].map((i) => record({ requestId: `r${i}` })));
  const [first] = s.list('t-1', 'fn', { limit: 4 });
  assert.deepEqual(
    s.list('t-1', 'fn', { after: first!.seq, limit: 2 }).map((e) => e.requestId),
    ['r2', 'r3'],
  );
});

test('since filters out invocations that started earlier', () => {
  const s = store();
  s.add([record({ requestId: 'old', timestamp: 1000 }), record({ requestId: 'new', timestamp: 5000 })]);
  assert.deepEqual(
    s.list('t-1', 'fn', { since: 2000 }).map((e) => e.requestId),
    ['new'],
  );
});

test('one tenant never reads another tenant’s logs of a function with the same name', () => {
  const s = store();
  s.add([record({ tenantId: 't-a', requestId: 'a' }), record({ tenantId: 't-b', requestId: 'b' })]);
  assert.deepEqual(
    s.list('t-b', 'fn').map((e) => e.requestId),
    ['b'],
  );
});

test('a huge log is stored truncated', () => {
  const s = store();
  s.add([record({ log: 'x'.repeat(MAX_LOG_BYTES + 10) })]);
  const [e] = s.list('t-1', 'fn');
  assert.ok(e!.log.length < MAX_LOG_BYTES + 100);
  assert.match(e!.log, /\[log truncated\]/);
});

test('deleting a tenant forgets its logs', () => {
  const s = store();
  s.add([record()]);
  s.deleteTenant('t-1');
  assert.deepEqual(s.list('t-1', 'fn'), []);
});
