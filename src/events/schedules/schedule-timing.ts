// EventBridge Scheduler's timing: `at(...)`, `rate(...)` and `cron(...)` in an IANA time zone, bounded by
// StartDate/EndDate, and a flexible window that moves each fire to a point within it. Cron fields are read in
// the zone's wall-clock time (computed with Intl, no time zone data of our own); the wall time is carried
// as "UTC fields" so expression.ts's search runs unchanged on it.
import { createHash } from 'node:crypto';
import { nextFireAfter, parseScheduleExpression, type ScheduleExpression } from './expression.js';

export class ScheduleTimingError extends Error {}

export type SchedulerExpression = ScheduleExpression | { kind: 'at'; text: string; wallMs: number };

export interface Timing {
  expression: SchedulerExpression;
  timezone: string;
  startDate?: number | undefined;
  endDate?: number | undefined;
  /** FLEXIBLE mode's MaximumWindowInMinutes; undefined when the mode is OFF. */
  windowMinutes?: number | undefined;
}

export function parseSchedulerExpression(text: string): SchedulerExpression {
  const at = /^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$/.exec(text);
  if (at) {
    const [y, mo, d, h, mi, s] = at.slice(1).map(Number) as [number, number, number, number, number, number];
    const wallMs = Date.UTC(y, mo - 1, d, h, mi, s);
    const back = new Date(wallMs);
    // Date.UTC rolls 2030-02-30 over into March: refuse what is not a real calendar time.
    if (
      back.getUTCFullYear() !== y ||
      back.getUTCMonth() !== mo - 1 ||
      back.getUTCDate() !== d ||
      h > 23 ||
      mi > 59 ||
      s > 59
    )
      throw new ScheduleTimingError('at() is not a valid date and time');
    return { kind: 'at', text, wallMs };
  }
  if (text.startsWith('at(')) throw new ScheduleTimingError('at() takes yyyy-mm-ddThh:mm:ss');
  try {
    return parseScheduleExpression(text);
  } catch (e) {
    throw new ScheduleTimingError((e as Error).message);
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    if (formatters.size > 500) formatters.clear();
    formatters.set(zone, f);
  }
  return f;
}

/** Is this an IANA time zone name the runtime knows? */
export function isTimeZone(zone: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/.test(zone)) return false;
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

/** The zone's wall-clock time at `ms`, as the ms of the same fields read as UTC (seconds kept). */
function wallOf(zone: string, ms: number): number {
  if (zone === 'UTC') return ms;
  const p: Record<string, number> = {};
  for (const part of formatter(zone).formatToParts(new Date(ms))) {
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  }
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) + (ms % 1000);
}

/**
 * The instant a wall-clock time happens in the zone. A time skipped by a daylight-saving jump happens at
 * the instant the jump lands on; a time that happens twice happens the first time.
 */
export function instantOf(zone: string, wallMs: number): number {
  if (zone === 'UTC') return wallMs;
  const guess = wallMs - (wallOf(zone, wallMs) - wallMs);
  const offset = wallOf(zone, guess) - guess;
  const exact = wallMs - offset;
  if (wallOf(zone, exact) === wallMs) {
    // The earlier of two readings (a repeated hour) when the hour before has the same wall time.
    const earlier = exact - 3_600_000;
    return wallOf(zone, earlier) === wallMs ? earlier : exact;
  }
  return guess;
}

/**
 * The first scheduled time strictly after `afterMs` (or at StartDate), or undefined when the schedule is
 * done. Rates count whole periods from `anchorMs`.
 */
export function nextScheduledAfter(t: Timing, afterMs: number, anchorMs: number): number | undefined {
  const from = t.startDate !== undefined ? Math.max(afterMs, t.startDate - 1) : afterMs;
  let next: number | undefined;
  const e = t.expression;
  if (e.kind === 'at') {
    const at = instantOf(t.timezone, e.wallMs);
    next = at > afterMs ? at : undefined;
  } else if (e.kind === 'rate') {
    next = nextFireAfter(e, from, anchorMs);
  } else {
    // Search in wall time; a match that maps to an instant not after `from` (a repeated hour) is skipped.
    let wall = wallOf(t.timezone, from);
    for (let i = 0; i < 4; i++) {
      const w = nextFireAfter(e, wall);
      if (w === undefined) break;
      const at = instantOf(t.timezone, w);
      if (at > from) {
        next = at;
        break;
      }
      wall = w;
    }
  }
  if (next !== undefined && t.endDate !== undefined && next > t.endDate) return undefined;
  return next;
}

/** Where in its flexible window a scheduled time fires: fixed per schedule and time, so every node agrees. */
export function withinWindow(arn: string, scheduledMs: number, windowMinutes: number | undefined): number {
  if (!windowMinutes) return scheduledMs;
  const h = createHash('sha256').update(`${arn}\n${scheduledMs}`).digest();
  return scheduledMs + (h.readUInt32BE(0) % (windowMinutes * 60_000));
}
