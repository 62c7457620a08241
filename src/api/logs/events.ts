// Pages of log events for FilterLogEvents (a log group's events by time, across its streams) and
// GetLogEvents (one stream, in the order it was written), read from the log store a bounded number of
// invocations at a time. Tokens are positions (eventIds), so a page never depends on server state.
import { eventId, eventsOf, type LogEvent, parseEventId } from '../../telemetry/log-events.js';
import type { LogStore } from '../../telemetry/log-repo.js';
import type { EventMatcher } from './filter-pattern.js';

/** Invocations read from the store at a time. */
const ROWS_PER_READ = 100;
/** CloudWatch answers at most 1 MB of events per call. */
const MAX_PAGE_BYTES = 1_048_576;
/**
 * What one FilterLogEvents call reads (invocations, log bytes) before answering what it has with a
 * nextToken, as CloudWatch answers a partial (even empty) page after searching for a while.
 */
const SCAN_ROWS = 2_000;
const SCAN_BYTES = 8 * 1_048_576;
/** Every event of a page is counted with this overhead besides its message, as CloudWatch counts it. */
const EVENT_OVERHEAD = 26;

function takePage(events: readonly LogEvent[], limit: number, fromEnd: boolean): LogEvent[] {
  const page: LogEvent[] = [];
  let bytes = 0;
  const n = events.length;
  for (let k = 0; k < n && page.length < limit; k++) {
    const e = events[fromEnd ? n - 1 - k : k]!;
    bytes += Buffer.byteLength(e.message) + EVENT_OVERHEAD;
    if (bytes > MAX_PAGE_BYTES && page.length > 0) break;
    page.push(e);
  }
  return fromEnd ? page.reverse() : page;
}

export interface FilterQuery {
  tenantId: string;
  functionName: string;
  /** ms since epoch, both inclusive. */
  startTime: number;
  endTime: number;
  streams?: readonly string[];
  streamPrefix?: string;
  match: EventMatcher;
  limit: number;
  /** Only events after this eventId (the previous page's last). */
  after?: string;
}

/** A page of a log group's matching events in (timestamp, eventId) order; `next` when there may be more. */
export async function filterEvents(
  store: LogStore,
  q: FilterQuery,
): Promise<{ events: LogEvent[]; next?: string }> {
  const cursor = q.after === undefined ? undefined : parseEventId(q.after);
  const from = Math.max(q.startTime, cursor?.timestamp ?? 0);
  const found: LogEvent[] = [];
  let keyset: [number, number] | undefined;
  let scannedRows = 0;
  let scannedBytes = 0;
  let exhausted = false;
  // Rows come in (first_ts, seq) order and no event precedes its row's first_ts, so once every row
  // starting before `boundary` was read, every event before `boundary` is known.
  let boundary = Number.NEGATIVE_INFINITY;
  for (;;) {
    const rows = await store.byTime(q.tenantId, q.functionName, {
      from,
      to: q.endTime,
      ...(keyset && { after: keyset }),
      ...(q.streams && { streams: q.streams }),
      ...(q.streamPrefix !== undefined && { streamPrefix: q.streamPrefix }),
      limit: ROWS_PER_READ,
    });
    let stopAt: number | undefined;
    for (let k = 0; k < rows.length; k++) {
      const row = rows[k]!;
      scannedRows++;
      scannedBytes += row.log.length;
      for (const e of eventsOf(row)) {
        if (e.timestamp < q.startTime || e.timestamp > q.endTime) continue;
        if (q.after !== undefined && e.eventId <= q.after) continue;
        if (q.match(e.message)) found.push(e);
      }
      // Searched long enough: answer up to the next row, if that moves past where this call began.
      const next = rows[k + 1];
      if (next && next.firstTs > from && (scannedRows >= SCAN_ROWS || scannedBytes >= SCAN_BYTES)) {
        stopAt = next.firstTs;
        break;
      }
    }
    if (stopAt !== undefined) {
      boundary = stopAt;
      break;
    }
    const last = rows.at(-1);
    if (!last || rows.length < ROWS_PER_READ) {
      exhausted = true;
      break;
    }
    keyset = [last.firstTs, last.seq];
    boundary = last.firstTs;
    let complete = 0;
    for (const e of found) if (e.timestamp < boundary) complete++;
    if (complete > q.limit) break;
  }
  found.sort((a, b) => (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));
  const ready = exhausted ? found : found.filter((e) => e.timestamp < boundary);
  const events = takePage(ready, q.limit, false);
  if (events.length === ready.length && exhausted) return { events };
  // More to read: after the page's last event, or (nothing found so far) from the boundary on — every
  // event at or after it sorts above eventId(boundary, 0, 0).
  return { events, next: events.at(-1)?.eventId ?? eventId(boundary, 0, 0) };
}

export interface StreamPageQuery {
  tenantId: string;
  functionName: string;
  stream: string;
  /** ms since epoch: from startTime (inclusive) to endTime (exclusive), as GetLogEvents reads them. */
  startTime: number;
  endTime: number;
  /** Forward (`f/<eventId>`: after it) or backward (`b/<eventId>`: before it) from a position. */
  token?: { forward: boolean; id: string };
  startFromHead: boolean;
  limit: number;
}

/** Before every event: where a forward read from the start and a backward read that found nothing stand. */
const START = eventId(0, 0, 0);

/** A page of one stream's events in the order they were written, with both tokens as CloudWatch gives them. */
export async function streamEvents(
  store: LogStore,
  q: StreamPageQuery,
): Promise<{ events: LogEvent[]; forwardToken: string; backwardToken: string }> {
  const forward = q.token ? q.token.forward : q.startFromHead;
  const pos = q.token ? parseEventId(q.token.id) : undefined;
  const beyond = (e: LogEvent): boolean => {
    if (!pos) return true;
    if (e.seq !== pos.seq) return forward ? e.seq > pos.seq : e.seq < pos.seq;
    return forward ? e.line > pos.line : e.line < pos.line;
  };
  // Backward reads collect whole invocations newest first; each keeps its lines in order.
  const chunks: LogEvent[][] = [];
  let count = 0;
  let seq = pos?.seq ?? (forward ? 0 : Number.MAX_SAFE_INTEGER);
  for (;;) {
    const rows = await store.inStream(q.tenantId, q.functionName, {
      stream: q.stream,
      from: q.startTime,
      to: q.endTime - 1,
      seq,
      forward,
      limit: ROWS_PER_READ,
    });
    for (const row of rows) {
      const evs = eventsOf(row).filter(
        (e) => e.timestamp >= q.startTime && e.timestamp < q.endTime && beyond(e),
      );
      chunks.push(evs);
      count += evs.length;
    }
    const last = rows.at(-1);
    if (!last || rows.length < ROWS_PER_READ || count >= q.limit) break;
    seq = forward ? last.seq + 1 : last.seq - 1;
  }
  const all = forward ? chunks.flat() : chunks.reverse().flat();
  const events = takePage(all, q.limit, !forward);
  const first = events[0];
  const last = events.at(-1);
  if (first && last)
    return { events, forwardToken: `f/${last.eventId}`, backwardToken: `b/${first.eventId}` };
  // Nothing there: stay where the caller stood (a follower polls the same forward token again).
  const here = q.token?.id ?? START;
  return { events, forwardToken: `f/${here}`, backwardToken: `b/${here}` };
}
