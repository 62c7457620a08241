// EventBridge Scheduler timing without a store: at() and cron in IANA time zones (daylight saving included),
// StartDate/EndDate bounds, rates from their anchor, and flexible windows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  instantOf,
  isTimeZone,
  nextScheduledAfter,
  parseSchedulerExpression,
  ScheduleTimingError,
  type Timing,
  withinWindow,
} from '../../../src/events/schedules/schedule-timing.js';

const t = (expression: string, timezone = 'UTC', extra: Partial<Timing> = {}): Timing => ({
  expression: parseSchedulerExpression(expression),
  timezone,
  ...extra,
});
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const at = (s: string) => Date.parse(s);

test('at() fires once at its wall time in the time zone, and never after', () => {
  const once = t('at(2030-07-01T09:30:00)', 'America/New_York');
  assert.equal(iso(nextScheduledAfter(once, at('2030-06-01T00:00:00Z'), 0)), '2030-07-01T13:30:00.000Z');
  assert.equal(nextScheduledAfter(once, at('2030-07-01T13:30:00Z'), 0), undefined);
});

test('cron follows the zone’s wall clock across a daylight-saving change', () => {
  const nine = t('cron(0 9 * * ? *)', 'Europe/Berlin');
  // Winter: UTC+1; summer: UTC+2 (the change is on 2030-03-31).
  assert.equal(iso(nextScheduledAfter(nine, at('2030-03-29T12:00:00Z'), 0)), '2030-03-30T08:00:00.000Z');
  assert.equal(iso(nextScheduledAfter(nine, at('2030-03-30T12:00:00Z'), 0)), '2030-03-31T07:00:00.000Z');
});

test('a wall time skipped by the spring-forward jump still fires that day', () => {
  // 02:30 does not exist in New York on 2030-03-10.
  const ms = nextScheduledAfter(t('cron(30 2 * * ? *)', 'America/New_York'), at('2030-03-10T05:00:00Z'), 0);
  assert.equal(iso(ms), '2030-03-10T07:30:00.000Z');
});

test('a wall time repeated by the fall-back hour fires once, the first time', () => {
  const zone = 'America/New_York';
  const first = instantOf(zone, Date.UTC(2030, 10, 3, 1, 30));
  assert.equal(iso(first), '2030-11-03T05:30:00.000Z');
  const cron = t('cron(30 1 * * ? *)', zone);
  const next = nextScheduledAfter(cron, first, 0);
  assert.equal(iso(next), '2030-11-04T06:30:00.000Z');
});

test('StartDate holds back the first fire and EndDate ends the schedule', () => {
  const hourly = t('cron(0 * * * ? *)', 'UTC', {
    startDate: at('2030-01-01T10:30:00Z'),
    endDate: at('2030-01-01T12:00:00Z'),
  });
  assert.equal(iso(nextScheduledAfter(hourly, at('2030-01-01T00:00:00Z'), 0)), '2030-01-01T11:00:00.000Z');
  assert.equal(iso(nextScheduledAfter(hourly, at('2030-01-01T11:00:00Z'), 0)), '2030-01-01T12:00:00.000Z');
  assert.equal(nextScheduledAfter(hourly, at('2030-01-01T12:00:00Z'), 0), undefined);
});

test('a rate counts whole periods from its anchor', () => {
  const r = t('rate(10 minutes)');
  const anchor = at('2030-01-01T00:00:00Z');
  assert.equal(iso(nextScheduledAfter(r, anchor + 25 * 60_000, anchor)), '2030-01-01T00:30:00.000Z');
});

test('a flexible window moves a fire within it, the same on every node', () => {
  const s = at('2030-01-01T00:00:00Z');
  const a = withinWindow('arn:a', s, 10);
  assert.ok(a >= s && a < s + 10 * 60_000);
  assert.equal(withinWindow('arn:a', s, 10), a);
  assert.equal(withinWindow('arn:a', s, undefined), s);
});

test('bad expressions and zones are refused', () => {
  for (const bad of [
    'at(2030-02-30T00:00:00)',
    'at(2030-01-01T24:00:00)',
    'at(2030-01-01)',
    'rate(0 minutes)',
    'every day',
  ])
    assert.throws(() => parseSchedulerExpression(bad), ScheduleTimingError, bad);
  assert.equal(isTimeZone('Europe/Paris'), true);
  assert.equal(isTimeZone('UTC'), true);
  assert.equal(isTimeZone('Mars/Olympus'), false);
  assert.equal(isTimeZone('../../etc/passwd'), false);
});
