// One stored invocation log as CloudWatch Logs events: each line one event (START, END and REPORT too, as
// Lambda's), with a timestamp and an eventId that never change, so a follower that re-reads a time range
// (`aws logs tail --follow` dedups by eventId) sees each event once.
import type { StreamLog } from './log-repo.js';

export interface LogEvent {
  /** 56 digits: timestamp (16), the row's seq (32), the line's index (8); sorts as (timestamp, seq, line). */
  eventId: string;
  timestamp: number;
  ingestionTime: number;
  logStreamName: string;
  message: string;
  seq: number;
  line: number;
}

const ISO_PREFIX = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/;

export const eventId = (timestamp: number, seq: number, line: number): string =>
  `${String(timestamp).padStart(16, '0')}${String(seq).padStart(32, '0')}${String(line).padStart(8, '0')}`;

/** The parts of an eventId, or undefined when it is not one. */
export function parseEventId(id: string): { timestamp: number; seq: number; line: number } | undefined {
  if (!/^\d{56}$/.test(id)) return undefined;
  const timestamp = Number(id.slice(0, 16));
  const seq = Number(id.slice(16, 48));
  const line = Number(id.slice(48));
  if (!Number.isSafeInteger(timestamp) || !Number.isSafeInteger(seq)) return undefined;
  return { timestamp, seq, line };
}

/**
 * The events of one invocation's log. A line that starts with an ISO time (the runtime's console lines)
 * keeps it, clamped into the invocation's span: the function prints those lines and must not place them
 * elsewhere in time. Other lines take the time of the line before; END and REPORT the span's end.
 * Timestamps never go backwards within an invocation. The runtime writes a message's own newlines as
 * `\r` to keep it on one line; the event shows them as newlines again, one event per message.
 */
export function eventsOf(row: StreamLog): LogEvent[] {
  const out: LogEvent[] = [];
  const lines = row.log.split('\n');
  let t = row.firstTs;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    let ts = t;
    if (line.startsWith('END RequestId: ') || line.startsWith('REPORT RequestId: ')) ts = row.endTs;
    else if (ISO_PREFIX.test(line)) {
      const parsed = Date.parse(line.slice(0, 24));
      if (Number.isFinite(parsed)) ts = Math.min(Math.max(parsed, row.firstTs), row.endTs);
    }
    t = Math.max(t, ts);
    out.push({
      eventId: eventId(t, row.seq, i),
      timestamp: t,
      ingestionTime: row.endTs,
      logStreamName: row.logStream,
      message: `${line.replace(/\r/g, '\n')}\n`,
      seq: row.seq,
      line: i,
    });
  }
  return out;
}
