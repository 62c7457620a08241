// What the CloudWatch Logs API reads from the log store: each invocation's stream and time span, rows kept
// from before streams were recorded, and the events one stored log becomes.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { eventsOf, parseEventId } from '../../src/telemetry/log-events.js';
import { LogStore, spanOf } from '../../src/telemetry/log-repo.js';
import { openTestSql, type TestSql } from '../helpers/store.js';
import { record } from './records.js';

const opened: TestSql[] = [];
after(() => Promise.all(opened.map((s) => s.close())));
async function sql(): Promise<TestSql> {
  const s = await openTestSql();
  opened.push(s);
  return s;
}

const T0 = Date.UTC(2026, 10, 25, 9, 30);

test('an invocation is stored under its stream, spanning from its start to when it was reported', async () => {
  const logs = new LogStore((await sql()).sql);
  const r = record({ timestamp: T0, durationMs: 40.2, logStreamName: '2026/11/25/[$LATEST]abcd' });
  await logs.add([r], undefined, [T0 + 100]);
  const [row] = await logs.byTime('t-1', 'fn', { from: 0, to: Number.MAX_SAFE_INTEGER, limit: 10 });
  assert.equal(row!.logStream, '2026/11/25/[$LATEST]abcd');
  // It waited ~59 ms for an environment: its span starts when it ran, 41 ms before it was reported.
  assert.deepEqual([row!.firstTs, row!.endTs], [T0 + 59, T0 + 100]);
  assert.deepEqual(spanOf(r), [T0, T0 + 41]);
});

test('rows stored before streams were recorded get a stream per day and version', async () => {
  const s = await sql();
  // The schema's first shipped steps, and a row written by that version.
  await s.sql.migrate('telemetry-logs', [
    `CREATE TABLE invocation_logs (
       seq INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id TEXT NOT NULL, function_name TEXT NOT NULL,
       request_id TEXT NOT NULL, version TEXT NOT NULL, ts INTEGER NOT NULL, start_kind TEXT NOT NULL,
       duration_ms REAL NOT NULL, error_type TEXT, log TEXT NOT NULL)`,
    'CREATE INDEX invocation_logs_fn ON invocation_logs (tenant_id, function_name, seq)',
  ]);
  await s.sql.run(
    `INSERT INTO invocation_logs (tenant_id, function_name, request_id, version, ts, start_kind, duration_ms, log)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ['t-1', 'fn', 'old', '$LATEST', T0, 'warm', 12.5, 'START RequestId: old\n'],
  );
  const logs = new LogStore(s.sql);
  await logs.ready();
  const [row] = await logs.byTime('t-1', 'fn', { from: 0, to: Number.MAX_SAFE_INTEGER, limit: 10 });
  assert.equal(row!.logStream, '2026/11/25/[$LATEST]0000000000000000');
  assert.deepEqual([row!.firstTs, row!.endTs], [T0, T0 + 12]);
  assert.equal(await logs.hasStream('t-1', 'fn', row!.logStream), true);
});

test('streams and groups are listed per tenant', async () => {
  const logs = new LogStore((await sql()).sql);
  await logs.add([
    record({ functionName: 'a', logStreamName: 's1' }),
    record({ functionName: 'a', logStreamName: 's2' }),
    record({ functionName: 'b', logStreamName: 's3' }),
    record({ tenantId: 't-2', functionName: 'c', logStreamName: 's4' }),
  ]);
  const groups = await logs.groups('t-1', { prefix: '', after: '', limit: 10 });
  assert.deepEqual(
    groups.map((g) => g.functionName),
    ['a', 'b'],
  );
  const streams = await logs.streams('t-1', 'a', {
    prefix: '',
    byLastEvent: false,
    descending: true,
    offset: 0,
    limit: 10,
  });
  assert.deepEqual(
    streams.map((x) => x.name),
    ['s2', 's1'],
  );
  assert.equal(await logs.hasGroup('t-1', 'c'), false);
});

const row = (log: string) => ({ seq: 7, logStream: 's', firstTs: 1_000, endTs: 2_000, log });

test('a line that claims a time outside its invocation is placed inside it, never back in time', () => {
  const evs = eventsOf(
    row(
      'START RequestId: r\n' +
        '2030-01-01T00:00:00.000Z\tr\tINFO\tfrom the future\n' +
        '1970-01-01T00:00:00.500Z\tr\tINFO\tfrom the past\n' +
        'END RequestId: r\nREPORT RequestId: r\n',
    ),
  );
  assert.deepEqual(
    evs.map((e) => e.timestamp),
    [1_000, 2_000, 2_000, 2_000, 2_000],
  );
});

test('eventIds sort by time, then invocation, then line, and never change', () => {
  const a = eventsOf(row('START RequestId: r\nplain line\nEND RequestId: r\n'));
  const b = eventsOf(row('START RequestId: r\nplain line\nEND RequestId: r\n'));
  assert.deepEqual(
    a.map((e) => e.eventId),
    b.map((e) => e.eventId),
  );
  assert.deepEqual(
    a.map((e) => e.eventId),
    [...a.map((e) => e.eventId)].sort(),
  );
  assert.deepEqual(parseEventId(a[1]!.eventId), { timestamp: 1_000, seq: 7, line: 1 });
  assert.equal(parseEventId('12'), undefined);
});
