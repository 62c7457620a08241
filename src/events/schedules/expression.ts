// EventBridge schedule expressions: `rate(N unit)` and six-field `cron(min hour dom month dow year)`, parsed
// and validated as EventBridge does, and the next fire time after a given instant (UTC, minute precision).

export class ScheduleExpressionError extends Error {}

export interface RateExpression {
  kind: 'rate';
  text: string;
  periodMs: number;
}

/** Day-of-month: a set of days, or one of the special forms. */
type DayOfMonth =
  | { kind: 'set'; days: Set<number> }
  | { kind: 'last' }
  | { kind: 'lastWeekday' }
  | { kind: 'nearestWeekday'; day: number };

/** Day-of-week (1 = SUN ... 7 = SAT): a set, the last given weekday of the month (`5L`), or the nth (`3#2`). */
type DayOfWeek =
  | { kind: 'set'; days: Set<number> }
  | { kind: 'lastOf'; weekday: number }
  | { kind: 'nth'; weekday: number; n: number };

export interface CronExpression {
  kind: 'cron';
  text: string;
  minutes: Set<number>;
  hours: Set<number>;
  /** Exactly one of dayOfMonth / dayOfWeek is set (the other field is `?`). */
  dayOfMonth: DayOfMonth | undefined;
  dayOfWeek: DayOfWeek | undefined;
  months: Set<number>;
  years: Set<number>;
}

export type ScheduleExpression = RateExpression | CronExpression;

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const MIN_YEAR = 1970;
const MAX_YEAR = 2199;

const fail = (why: string): never => {
  throw new ScheduleExpressionError(why);
};

export function parseScheduleExpression(text: string): ScheduleExpression {
  const rate = /^rate\((.*)\)$/.exec(text);
  if (rate) return parseRate(text, rate[1]!);
  const cron = /^cron\((.*)\)$/.exec(text);
  if (cron) return parseCron(text, cron[1]!);
  return fail('expected rate(...) or cron(...)');
}

export function isValidScheduleExpression(text: string): boolean {
  try {
    parseScheduleExpression(text);
    return true;
  } catch {
    return false;
  }
}

function parseRate(text: string, inner: string): RateExpression {
  const m = /^\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*$/.exec(inner);
  if (!m) return fail('rate must be "rate(value unit)"');
  const value = Number(m[1]);
  const unit = m[2]!;
  if (!Number.isSafeInteger(value) || value < 1) return fail('rate value must be a positive integer');
  // EventBridge insists on `1 minute` but `5 minutes`.
  const plural = unit.endsWith('s');
  if ((value === 1) === plural) return fail('rate unit must be singular for 1 and plural otherwise');
  const unitMs = unit.startsWith('minute') ? 60_000 : unit.startsWith('hour') ? 3_600_000 : 86_400_000;
  return { kind: 'rate', text, periodMs: value * unitMs };
}

function parseCron(text: string, inner: string): CronExpression {
  const fields = inner.trim().split(/\s+/);
  if (fields.length !== 6)
    return fail('cron needs six fields: minutes hours day-of-month month day-of-week year');
  const [min, hour, dom, month, dow, year] = fields as [string, string, string, string, string, string];
  const domAny = dom === '?';
  const dowAny = dow === '?';
  // EventBridge: one of day-of-month and day-of-week must be `?`, and not both.
  if (domAny === dowAny) return fail('exactly one of day-of-month and day-of-week must be ?');
  return {
    kind: 'cron',
    text,
    minutes: parseField(min, 0, 59),
    hours: parseField(hour, 0, 23),
    dayOfMonth: domAny ? undefined : parseDayOfMonth(dom),
    dayOfWeek: dowAny ? undefined : parseDayOfWeek(dow),
    months: parseField(month, 1, 12, MONTHS),
    years: parseField(year, MIN_YEAR, MAX_YEAR),
  };
}

function parseValue(s: string, min: number, max: number, names?: readonly string[]): number {
  let v: number;
  if (/^\d+$/.test(s)) v = Number(s);
  else {
    const i = names ? names.indexOf(s.toUpperCase()) : -1;
    if (i < 0) return fail(`'${s}' is not a value`);
    v = i + min;
  }
  if (v < min || v > max) return fail(`${v} is out of range ${min}-${max}`);
  return v;
}

/** Values, ranges, steps and lists: `5`, `1-5`, `*`, `*\/10`, `0/15`, `10-40/5`, `MON-FRI`, `1,15,L`... */
function parseField(field: string, min: number, max: number, names?: readonly string[]): Set<number> {
  const out = new Set<number>();
  for (const part of field.split(',')) {
    if (part === '') return fail('empty list item');
    const slash = part.split('/');
    if (slash.length > 2) return fail(`'${part}' has more than one /`);
    const [base, stepText] = slash as [string, string | undefined];
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText)) return fail(`step '${stepText}' is not a number`);
      step = Number(stepText);
      if (step < 1 || step > max - min + 1) return fail(`step ${step} is out of range`);
    }
    let from: number;
    let to: number;
    if (base === '*') {
      from = min;
      to = max;
    } else if (base.includes('-')) {
      const [a, b, ...rest] = base.split('-');
      if (rest.length > 0 || a === undefined || b === undefined) return fail(`'${base}' is not a range`);
      from = parseValue(a, min, max, names);
      to = parseValue(b, min, max, names);
      if (from > to) return fail(`range '${base}' runs backwards`);
    } else {
      from = parseValue(base, min, max, names);
      // `0/15` means "from 0, every 15"; a plain value is just itself.
      to = stepText === undefined ? from : max;
    }
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}

function parseDayOfMonth(field: string): DayOfMonth {
  const f = field.toUpperCase();
  if (f === 'L') return { kind: 'last' };
  if (f === 'LW') return { kind: 'lastWeekday' };
  const w = /^(\d+)W$/.exec(f);
  if (w) return { kind: 'nearestWeekday', day: parseValue(w[1]!, 1, 31) };
  return { kind: 'set', days: parseField(field, 1, 31) };
}

function parseDayOfWeek(field: string): DayOfWeek {
  const f = field.toUpperCase();
  if (f === 'L') return { kind: 'set', days: new Set([7]) };
  const last = /^(\w+)L$/.exec(f);
  if (last && f !== 'L') return { kind: 'lastOf', weekday: parseValue(last[1]!, 1, 7, WEEKDAYS) };
  const nth = /^(\w+)#(\d+)$/.exec(f);
  if (nth) {
    const n = Number(nth[2]);
    if (n < 1 || n > 5) return fail(`'#${nth[2]}' must be 1-5`);
    return { kind: 'nth', weekday: parseValue(nth[1]!, 1, 7, WEEKDAYS), n };
  }
  return { kind: 'set', days: parseField(field, 1, 7, WEEKDAYS) };
}

const daysInMonth = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();
/** 1 = Sunday ... 7 = Saturday, as cron numbers them. */
const weekday = (year: number, month: number, day: number): number =>
  new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 1;

function dayMatches(c: CronExpression, year: number, month: number, day: number): boolean {
  const dim = daysInMonth(year, month);
  const dom = c.dayOfMonth;
  if (dom) {
    switch (dom.kind) {
      case 'set':
        return dom.days.has(day);
      case 'last':
        return day === dim;
      case 'lastWeekday': {
        const wd = weekday(year, month, dim);
        const lastWeekday = wd === 1 ? dim - 2 : wd === 7 ? dim - 1 : dim;
        return day === lastWeekday;
      }
      case 'nearestWeekday': {
        // Quartz's rule: the weekday nearest the given day, never leaving the month.
        const target = Math.min(dom.day, dim);
        const wd = weekday(year, month, target);
        let d = target;
        if (wd === 7) d = target === 1 ? target + 2 : target - 1;
        else if (wd === 1) d = target === dim ? target - 2 : target + 1;
        return day === d;
      }
    }
  }
  const dow = c.dayOfWeek!;
  const wd = weekday(year, month, day);
  switch (dow.kind) {
    case 'set':
      return dow.days.has(wd);
    case 'lastOf':
      return wd === dow.weekday && day + 7 > dim;
    case 'nth':
      return wd === dow.weekday && Math.ceil(day / 7) === dow.n;
  }
}

const sorted = (s: Set<number>): number[] => [...s].sort((a, b) => a - b);

/**
 * The first fire time strictly after `afterMs` (ms since the epoch), or undefined when the expression never
 * fires again. Rates count whole periods from `anchorMs` (when the rule was created or enabled).
 */
export function nextFireAfter(
  expr: ScheduleExpression,
  afterMs: number,
  anchorMs = afterMs,
): number | undefined {
  if (expr.kind === 'rate') {
    if (afterMs < anchorMs) return anchorMs + expr.periodMs;
    return anchorMs + (Math.floor((afterMs - anchorMs) / expr.periodMs) + 1) * expr.periodMs;
  }
  const start = new Date(Math.floor(afterMs / 60_000) * 60_000 + 60_000);
  const sy = start.getUTCFullYear();
  const sm = start.getUTCMonth() + 1;
  const sd = start.getUTCDate();
  const sh = start.getUTCHours();
  const smin = start.getUTCMinutes();
  const months = sorted(expr.months);
  const hours = sorted(expr.hours);
  const minutes = sorted(expr.minutes);
  for (const y of sorted(expr.years)) {
    if (y < sy) continue;
    for (const m of months) {
      const onStartMonth = y === sy && m === sm;
      if (y === sy && m < sm) continue;
      const dim = daysInMonth(y, m);
      for (let d = onStartMonth ? sd : 1; d <= dim; d++) {
        if (!dayMatches(expr, y, m, d)) continue;
        const onStartDay = onStartMonth && d === sd;
        for (const h of hours) {
          if (onStartDay && h < sh) continue;
          const onStartHour = onStartDay && h === sh;
          for (const mi of minutes) {
            if (onStartHour && mi < smin) continue;
            return Date.UTC(y, m - 1, d, h, mi);
          }
        }
      }
    }
  }
  return undefined;
}
