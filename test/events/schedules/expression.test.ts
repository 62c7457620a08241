// Unit tests of the schedule expression parser and next-fire computation (UTC).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  isValidScheduleExpression,
  nextFireAfter,
  parseScheduleExpression,
} from '../../../src/events/schedules/expression.js';

const at = (iso: string) => Date.parse(iso);
const next = (expr: string, after: string, anchor?: string) => {
  const t = nextFireAfter(
    parseScheduleExpression(expr),
    at(after),
    anchor === undefined ? undefined : at(anchor),
  );
  return t === undefined ? undefined : new Date(t).toISOString();
};

describe('valid schedule expressions', () => {
  for (const expr of [
    'rate(1 minute)',
    'rate(5 minutes)',
    'rate(1 hour)',
    'rate(12 hours)',
    'rate(1 day)',
    'rate(7 days)',
    'cron(0 12 * * ? *)',
    'cron(15 10 ? * 6L 2022-2199)',
    'cron(0 18 ? * MON-FRI *)',
    'cron(0 8 1 * ? *)',
    'cron(0/15 * * * ? *)',
    'cron(*/5 * * * ? *)',
    'cron(0/10 * ? * MON-FRI *)',
    'cron(0 9 ? * 2#1 *)',
    'cron(0 9 L * ? *)',
    'cron(0 9 LW * ? *)',
    'cron(0 9 15W * ? *)',
    'cron(0 0 1 JAN,jul ? 2030)',
    'cron(10-40/10 1,3,5 ? * sun *)',
    'cron(0 12 ? * L *)',
  ]) {
    test(`accepts ${expr}`, () => assert.equal(isValidScheduleExpression(expr), true));
  }
});

describe('invalid schedule expressions', () => {
  for (const expr of [
    '',
    'rate(0 minutes)',
    'rate(1 minutes)',
    'rate(5 minute)',
    'rate(-1 minutes)',
    'rate(1.5 hours)',
    'rate(5 seconds)',
    'rate(5)',
    'rate 5 minutes',
    'cron(0 12 * * * *)',
    'cron(0 12 ? * ? *)',
    'cron(0 12 * * ?)',
    'cron(0 12 * * ? * *)',
    'cron(60 12 * * ? *)',
    'cron(0 24 * * ? *)',
    'cron(0 12 32 * ? *)',
    'cron(0 12 0 * ? *)',
    'cron(0 12 ? 13 MON *)',
    'cron(0 12 ? * 8 *)',
    'cron(0 12 ? * FOO *)',
    'cron(0 12 ? * 2#6 *)',
    'cron(0 12 * * ? 1969)',
    'cron(0 12 * * ? 2200)',
    'cron(*/0 * * * ? *)',
    'cron(30-10 * * * ? *)',
    'cron(0,,5 * * * ? *)',
    'cron(0 12 * JANUARY ? *)',
    'CRON(0 12 * * ? *)',
    'at(2030-01-01T00:00:00)',
  ]) {
    test(`rejects ${JSON.stringify(expr)}`, () => assert.equal(isValidScheduleExpression(expr), false));
  }
});

describe('next fire time', () => {
  test('rate counts whole periods from the anchor', () => {
    assert.equal(
      next('rate(5 minutes)', '2026-01-01T00:07:00Z', '2026-01-01T00:00:00Z'),
      '2026-01-01T00:10:00.000Z',
    );
  });
  test('rate fires one period after the anchor when asked at the anchor', () => {
    assert.equal(
      next('rate(1 hour)', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
      '2026-01-01T01:00:00.000Z',
    );
  });
  test('rate after a long gap gives the next period, not the missed ones', () => {
    assert.equal(
      next('rate(1 minute)', '2026-01-01T05:00:30Z', '2026-01-01T00:00:00Z'),
      '2026-01-01T05:01:00.000Z',
    );
  });
  test('daily cron at noon later the same day', () => {
    assert.equal(next('cron(0 12 * * ? *)', '2026-03-10T08:30:00Z'), '2026-03-10T12:00:00.000Z');
  });
  test('daily cron is strictly after the given instant', () => {
    assert.equal(next('cron(0 12 * * ? *)', '2026-03-10T12:00:00Z'), '2026-03-11T12:00:00.000Z');
  });
  test('every 15 minutes from 0', () => {
    assert.equal(next('cron(0/15 * * * ? *)', '2026-03-10T08:31:10Z'), '2026-03-10T08:45:00.000Z');
  });
  test('weekdays only skips the weekend', () => {
    // 2026-03-13 is a Friday.
    assert.equal(next('cron(0 18 ? * MON-FRI *)', '2026-03-13T19:00:00Z'), '2026-03-16T18:00:00.000Z');
  });
  test('last day of month in February of a leap year', () => {
    assert.equal(next('cron(0 9 L * ? *)', '2028-02-10T00:00:00Z'), '2028-02-29T09:00:00.000Z');
  });
  test('last day of month rolls over year end', () => {
    assert.equal(next('cron(0 9 L * ? *)', '2026-12-31T10:00:00Z'), '2027-01-31T09:00:00.000Z');
  });
  test('last weekday of a month ending on a Sunday', () => {
    // 2026-05-31 is a Sunday: the last weekday is Friday the 29th.
    assert.equal(next('cron(0 9 LW * ? *)', '2026-05-01T00:00:00Z'), '2026-05-29T09:00:00.000Z');
  });
  test('nearest weekday to a Saturday is the Friday before', () => {
    // 2026-08-15 is a Saturday.
    assert.equal(next('cron(0 9 15W * ? *)', '2026-08-01T00:00:00Z'), '2026-08-14T09:00:00.000Z');
  });
  test('nearest weekday to the 1st on a Saturday stays in the month', () => {
    // 2026-08-01 is a Saturday: Quartz moves to Monday the 3rd.
    assert.equal(next('cron(0 9 1W * ? *)', '2026-07-31T12:00:00Z'), '2026-08-03T09:00:00.000Z');
  });
  test('nth weekday of the month with #', () => {
    // First Monday of April 2026 is the 6th.
    assert.equal(next('cron(0 9 ? * 2#1 *)', '2026-04-01T00:00:00Z'), '2026-04-06T09:00:00.000Z');
  });
  test('last Friday of the month with 6L', () => {
    assert.equal(next('cron(15 10 ? * 6L *)', '2026-01-01T00:00:00Z'), '2026-01-30T10:15:00.000Z');
  });
  test('month names and year restrict the search', () => {
    assert.equal(next('cron(0 0 1 JUL ? 2030)', '2026-01-01T00:00:00Z'), '2030-07-01T00:00:00.000Z');
  });
  test('a cron whose years are past never fires again', () => {
    assert.equal(next('cron(0 0 1 1 ? 2020)', '2026-01-01T00:00:00Z'), undefined);
  });
  test('the 31st skips months without one', () => {
    assert.equal(next('cron(0 0 31 * ? *)', '2026-04-01T00:00:00Z'), '2026-05-31T00:00:00.000Z');
  });
  test('lists and stepped ranges of minutes and hours', () => {
    assert.equal(next('cron(10-40/10 1,3 * * ? *)', '2026-01-01T01:41:00Z'), '2026-01-01T03:10:00.000Z');
  });
  test('seconds within the current minute do not repeat that minute', () => {
    assert.equal(next('cron(* * * * ? *)', '2026-01-01T01:41:59.999Z'), '2026-01-01T01:42:00.000Z');
  });
});
