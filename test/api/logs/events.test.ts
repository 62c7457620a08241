// Paging of log events over many stored invocations (more than one read from the store): every page
// sequence yields exactly the events a full scan gives, in order, whatever the page size.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { filterEvents, streamEvents } from '../../../src/api/logs/events.js';
import { compileFilterPattern } from '../../../src/api/logs/filter-pattern.js';
import { eventsOf, type LogEvent } from '../../../src/telemetry/log-events.js';
import { LogStore } from '../../../src/telemetry/log-repo.js';
import { openTestSql, type TestSql } from '../../helpers/store.js';
import { record } from '../../telemetry/records.js';

let s: TestSql;
let logs: LogStore;
const T0 = Date.UTC(2026, 10, 25, 9, 30);
const STREAMS = ['2026/11/25/[$LATEST]a', '2026/11/25/[$LATEST]b', '2026/11/25/[$LATEST]c'];

before(async () => {
  s = await openTestSql();
  logs = new LogStore(s.sql, 1000);
  // 250 invocations over three streams; spans overlap across streams and some start at the same ms.
  const records = [];
  const ended = [];
  for (let i = 0; i < 250; i++) {
    const start = T0 + Math.floor(i / 2) * 10;
    const line = (k: number) =>
      `${new Date(start + k).toISOString()}\treq-${i}\tINFO\tmsg ${i}.${k}${i % 7 === 0 ? ' ERROR' : ''}`;
    records.push(
      record({
        requestId: `req-${i}`,
        timestamp: start,
        durationMs: 25,
        logStreamName: STREAMS[i % 3]!,
        log: `START RequestId: req-${i}\n${line(1)}\n${line(5)}\nEND RequestId: req-${i}\nREPORT RequestId: req-${i}\n`,
      }),
    );
    ended.push(start + 25);
  }
  await logs.add(records, undefined, ended);
});
after(() => s.close());

const ALL_TIME = { startTime: 0, endTime: Number.MAX_SAFE_INTEGER };

async function everything(): Promise<LogEvent[]> {
  const rows = await logs.byTime('t-1', 'fn', { from: 0, to: Number.MAX_SAFE_INTEGER, limit: 10_000 });
  return rows.flatMap(eventsOf).sort((a, b) => (a.eventId < b.eventId ? -1 : 1));
}

async function pagedFilter(limit: number, pattern = '', range = ALL_TIME): Promise<LogEvent[]> {
  const out: LogEvent[] = [];
  let after: string | undefined;
  for (let i = 0; i < 5_000; i++) {
    const r = await filterEvents(logs, {
      tenantId: 't-1',
      functionName: 'fn',
      ...range,
      match: compileFilterPattern(pattern),
      limit,
      ...(after !== undefined && { after }),
    });
    out.push(...r.events);
    if (r.next === undefined) return out;
    after = r.next;
  }
  throw new Error('paging never ended');
}

test('FilterLogEvents pages give every event once, in (timestamp, eventId) order, for any page size', async () => {
  const all = await everything();
  assert.equal(all.length, 250 * 5);
  for (const limit of [1, 7, 100, 10_000]) {
    const paged = await pagedFilter(limit);
    assert.deepEqual(
      paged.map((e) => e.eventId),
      all.map((e) => e.eventId),
      `limit ${limit}`,
    );
  }
});

test('FilterLogEvents pages with a pattern and a time range give exactly the matching events', async () => {
  const range = { startTime: T0 + 300, endTime: T0 + 900 };
  const want = (await everything()).filter(
    (e) => e.message.includes('ERROR') && e.timestamp >= range.startTime && e.timestamp <= range.endTime,
  );
  assert.ok(want.length > 3);
  assert.deepEqual(
    (await pagedFilter(3, 'ERROR', range)).map((e) => e.eventId),
    want.map((e) => e.eventId),
  );
});

async function pagedStream(stream: string, limit: number, startFromHead: boolean) {
  const seen: LogEvent[][] = [];
  let token: { forward: boolean; id: string } | undefined;
  let last = '';
  for (let i = 0; i < 5_000; i++) {
    const r = await streamEvents(logs, {
      tenantId: 't-1',
      functionName: 'fn',
      stream,
      ...ALL_TIME,
      ...(token && { token }),
      startFromHead,
      limit,
    });
    seen.push(r.events);
    const next = startFromHead ? r.forwardToken : r.backwardToken;
    if (next === last) break;
    last = next;
    token = { forward: next.startsWith('f/'), id: next.slice(2) };
  }
  return startFromHead ? seen.flat() : seen.reverse().flat();
}

test('GetLogEvents pages a stream forward from the head and backward from the end, each event once', async () => {
  const rows = await logs.byTime('t-1', 'fn', {
    from: 0,
    to: Number.MAX_SAFE_INTEGER,
    streams: [STREAMS[1]!],
    limit: 10_000,
  });
  const want = rows
    .sort((a, b) => a.seq - b.seq)
    .flatMap(eventsOf)
    .map((e) => e.message);
  assert.equal(want.length, 5 * Math.ceil((250 - 1) / 3));
  for (const limit of [4, 333]) {
    assert.deepEqual(
      (await pagedStream(STREAMS[1]!, limit, true)).map((e) => e.message),
      want,
      `forward, limit ${limit}`,
    );
    assert.deepEqual(
      (await pagedStream(STREAMS[1]!, limit, false)).map((e) => e.message),
      want,
      `backward, limit ${limit}`,
    );
  }
});

test('a search through more log than one call reads answers empty pages whose tokens move on, then the match', async () => {
  const filler = `${'x'.repeat(1000)}\n`.repeat(250);
  await logs.add(
    Array.from({ length: 40 }, (_, i) =>
      record({
        functionName: 'big',
        timestamp: T0 + i * 100,
        durationMs: 50,
        logStreamName: 's',
        log: `START RequestId: b${i}\n${filler}${i === 39 ? 'needle\n' : ''}END RequestId: b${i}\n`,
      }),
    ),
    undefined,
    Array.from({ length: 40 }, (_, i) => T0 + i * 100 + 50),
  );
  const pages: number[] = [];
  const found: string[] = [];
  let after: string | undefined;
  for (let i = 0; i < 100; i++) {
    const r = await filterEvents(logs, {
      tenantId: 't-1',
      functionName: 'big',
      ...ALL_TIME,
      match: compileFilterPattern('needle'),
      limit: 100,
      ...(after !== undefined && { after }),
    });
    pages.push(r.events.length);
    found.push(...r.events.map((e) => e.message));
    if (r.next === undefined) break;
    assert.notEqual(r.next, after, 'a token that does not move on');
    after = r.next;
  }
  assert.deepEqual(found, ['needle\n']);
  assert.ok(pages.length > 1 && pages[0] === 0, `pages: ${pages}`);
});
