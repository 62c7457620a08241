// `kindling logs --follow` prints every entry once even when entries commit out of order, as they do on
// PostgreSQL when several writers insert at once: an entry's seq is taken at its INSERT, so a lower seq
// can become visible after a higher one. The store test holds a real transaction open to make one.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { FOLLOW_LOOKBACK_MS, LogFollower } from '../../src/cli/log-follower.js';
import { LogStore } from '../../src/telemetry/log-repo.js';
import { openTestSql, type TestSql, testStoreKind } from '../helpers/store.js';
import { record } from './records.js';

const opened: TestSql[] = [];
after(() => Promise.all(opened.map((s) => s.close())));

test('an entry that commits after a later one is printed once it is visible, and nothing twice', {
  skip: testStoreKind() !== 'postgres' && 'SQLite has one writer at a time: its entries commit in seq order',
}, async () => {
  const s = await openTestSql();
  opened.push(s);
  const logs = new LogStore(s.sql);
  await logs.add([record({ requestId: 'first' })]);
  // A writer takes the next seq and holds its transaction open while another commits after it.
  let commit!: () => void;
  const held = new Promise<void>((r) => {
    commit = r;
  });
  let inserted!: () => void;
  const hasInserted = new Promise<void>((r) => {
    inserted = r;
  });
  const slow = s.sql.tx(async (tx) => {
    await logs.add([record({ requestId: 'late' })], tx);
    inserted();
    await held;
  });
  await hasInserted;
  await logs.add([record({ requestId: 'after' })]);

  const shown: string[] = [];
  const page = await logs.list('t-1', 'fn', { limit: 50 });
  const follower = new LogFollower(page, 0);
  shown.push(...page.map((e) => e.requestId));
  assert.deepEqual(shown, ['first', 'after']);
  // The cursor of the highest seq seen would now skip `late` for good.
  const highest = page.at(-1)!.seq;

  commit();
  await slow;
  const poll = async (now: number) => {
    const got = follower.take(await logs.list('t-1', 'fn', { after: follower.after, limit: 1000 }), now);
    shown.push(...got.map((e) => e.requestId));
    follower.settle(now);
  };
  await poll(Date.now());
  assert.deepEqual(shown, ['first', 'after', 'late']);
  assert.deepEqual(
    await logs.list('t-1', 'fn', { after: highest, limit: 1000 }),
    [],
    'the old cursor misses it',
  );
  await logs.add([record({ requestId: 'next' })]);
  await poll(Date.now() + FOLLOW_LOOKBACK_MS);
  assert.deepEqual(shown, ['first', 'after', 'late', 'next']);
});

test('the watermark trails what was seen by the lookback, and entries at or below it are never shown again', () => {
  const f = new LogFollower([{ seq: 5 }, { seq: 7 }], 0, 0, 1000);
  assert.equal(f.after, 4);
  assert.deepEqual(f.take([{ seq: 5 }, { seq: 6 }, { seq: 7 }, { seq: 8 }], 100), [{ seq: 6 }, { seq: 8 }]);
  f.settle(500);
  assert.equal(f.after, 4, 'nothing is older than the lookback yet');
  f.settle(1000);
  assert.equal(f.after, 7, 'the first page is');
  f.settle(1100);
  assert.equal(f.after, 8);
  assert.deepEqual(f.take([{ seq: 3 }, { seq: 8 }, { seq: 9 }], 1200), [{ seq: 9 }]);
  // An empty first page starts at the server's cursor.
  assert.equal(new LogFollower([], 42).after, 42);
});
