// Compiles a parsed S3 Select query into closures over one record, once per request: the scan then calls
// plain functions per record without walking the tree. Values follow S3 Select: CSV fields are strings
// (compared with a number they are read as one), JSON values keep their types, a missing path is MISSING
// (undefined) and NULL is null; comparisons with either are unknown, and WHERE keeps only true.
import { SelectErrors } from './errors.js';
import { AGGREGATES, type CastType, type Expr, type PathStep, type Query } from './sql.js';

export type Value = string | number | boolean | null | undefined | Date | object;
export type Fn<R> = (rec: R) => Value;

/** How names and positions in paths reach a record's values (CSV columns, JSON attributes). */
export interface Binder<R> {
  path(steps: PathStep[], text: string): Fn<R>;
  /** `path = 'text'` without materialising the value (CSV compares the field's bytes); undefined when no faster way exists. */
  equalsText?(
    steps: PathStep[],
    pathText: string,
    literal: string,
  ): ((rec: R) => boolean | undefined) | undefined;
}

interface Accumulator {
  update(v: Value): void;
  result(): Value;
}

export interface Compiled<R> {
  where?: Fn<R>;
  /** Projections (empty for `SELECT *`) and their output names. */
  items: Fn<R>[];
  names: string[];
  /** Aggregating queries: each record feeds these, and `items` read their results at the end. */
  aggregates: { arg?: Fn<R>; acc: Accumulator }[];
}

export function compile<R>(q: Query, binder: Binder<R>): Compiled<R> {
  const aggregates: Compiled<R>['aggregates'] = [];
  const c = new Compiler<R>(q, binder, aggregates);
  const where = q.where ? c.expr(q.where, false) : undefined;
  const items = q.items.map((it) => c.expr(it.expr, true));
  if (aggregates.length > 0 && q.items.some((it) => refersOutsideAggregate(it.expr)))
    throw SelectErrors.unsupportedStructure(
      'columns outside aggregate functions in an aggregating SELECT list',
    );
  const names = q.items.map((it, i) => it.alias ?? nameOf(it.expr) ?? `_${i + 1}`);
  return { where, items, names, aggregates };
}

function nameOf(e: Expr): string | undefined {
  if (e.k !== 'path') return undefined;
  const last = e.steps[e.steps.length - 1]!;
  return last.name;
}

function refersOutsideAggregate(e: Expr): boolean {
  switch (e.k) {
    case 'path':
      return true;
    case 'lit':
      return false;
    case 'call':
      return AGGREGATES.has(e.name) ? false : e.args.some(refersOutsideAggregate);
    default:
      return children(e).some(refersOutsideAggregate);
  }
}

function children(e: Expr): Expr[] {
  switch (e.k) {
    case 'not':
    case 'neg':
    case 'is':
    case 'cast':
      return [e.e];
    case 'and':
    case 'or':
    case 'cmp':
    case 'arith':
    case 'concat':
      return [e.l, e.r];
    case 'like':
      return e.escape ? [e.e, e.pattern, e.escape] : [e.e, e.pattern];
    case 'between':
      return [e.e, e.lo, e.hi];
    case 'in':
      return [e.e, ...e.list];
    case 'call':
      return e.args;
    default:
      return [];
  }
}

class Compiler<R> {
  constructor(
    readonly q: Query,
    readonly binder: Binder<R>,
    readonly aggregates: Compiled<R>['aggregates'],
  ) {}

  expr(e: Expr, allowAggregate: boolean): Fn<R> {
    const sub = (x: Expr) => this.expr(x, allowAggregate);
    switch (e.k) {
      case 'lit': {
        const v = e.v;
        return () => v;
      }
      case 'path': {
        const steps = this.#strip(e.steps);
        if (steps.some((s) => s.star)) throw SelectErrors.unsupportedSyntax(`${e.text} in an expression`);
        return this.binder.path(steps, e.text);
      }
      case 'not': {
        const f = sub(e.e);
        return (r) => {
          const v = f(r);
          return typeof v === 'boolean' ? !v : null;
        };
      }
      case 'neg': {
        const f = sub(e.e);
        return (r) => {
          const n = toNumber(f(r));
          return n === null ? null : -n;
        };
      }
      case 'and': {
        const l = sub(e.l);
        const rr = sub(e.r);
        return (r) => {
          const a = l(r);
          if (a === false) return false;
          const b = rr(r);
          if (b === false) return false;
          return a === true && b === true ? true : null;
        };
      }
      case 'or': {
        const l = sub(e.l);
        const rr = sub(e.r);
        return (r) => {
          const a = l(r);
          if (a === true) return true;
          const b = rr(r);
          if (b === true) return true;
          return a === false && b === false ? false : null;
        };
      }
      case 'cmp': {
        const fast = (e.op === '=' || e.op === '<>') && this.equalsText(e.l, e.r);
        if (fast) {
          if (e.op === '=')
            return (r) => {
              const m = fast(r);
              return m === undefined ? null : m;
            };
          return (r) => {
            const m = fast(r);
            return m === undefined ? null : !m;
          };
        }
        return comparison(e.op, sub(e.l), sub(e.r));
      }
      case 'arith': {
        const l = sub(e.l);
        const rr = sub(e.r);
        const op = e.op;
        return (r) => {
          const a = toNumber(l(r));
          const b = toNumber(rr(r));
          if (a === null || b === null) return null;
          switch (op) {
            case '+':
              return a + b;
            case '-':
              return a - b;
            case '*':
              return a * b;
            case '/':
              return b === 0 ? null : a / b;
            default:
              return b === 0 ? null : a % b;
          }
        };
      }
      case 'concat': {
        const l = sub(e.l);
        const rr = sub(e.r);
        return (r) => {
          const a = l(r);
          const b = rr(r);
          return a == null || b == null ? null : text(a) + text(b);
        };
      }
      case 'is': {
        const f = sub(e.e);
        const not = e.not;
        // IS NULL is true of MISSING too (as in PartiQL); IS MISSING only of MISSING.
        if (e.what === 'NULL') return (r) => (f(r) == null) !== not;
        return (r) => (f(r) === undefined) !== not;
      }
      case 'like':
        return like(sub(e.e), sub(e.pattern), e.escape ? sub(e.escape) : undefined, e.not, e);
      case 'between': {
        const v = sub(e.e);
        const ge = comparison('>=', v, sub(e.lo));
        const le = comparison('<=', v, sub(e.hi));
        const not = e.not;
        return (r) => {
          const a = ge(r);
          const b = le(r);
          const both = a === false || b === false ? false : a === true && b === true ? true : null;
          return both === null ? null : both !== not;
        };
      }
      case 'in': {
        const v = sub(e.e);
        const eqs = e.list.map((x) => comparison('=', v, sub(x)));
        const not = e.not;
        return (r) => {
          let unknown = false;
          for (const eq of eqs) {
            const m = eq(r);
            if (m === true) return !not;
            if (m === null) unknown = true;
          }
          return unknown ? null : not;
        };
      }
      case 'cast': {
        const f = sub(e.e);
        const type = e.type;
        return (r) => cast(f(r), type);
      }
      case 'call':
        return this.call(e, allowAggregate);
    }
  }

  /** A column compared for equality with a string literal, either way round, when the binder can do it on bytes. */
  equalsText(l: Expr, r: Expr): ((rec: R) => boolean | undefined) | undefined {
    const [p, lit] = l.k === 'path' ? [l, r] : [r, l];
    if (p.k !== 'path' || lit.k !== 'lit' || typeof lit.v !== 'string' || !this.binder.equalsText)
      return undefined;
    return this.binder.equalsText(this.#strip(p.steps), p.text, lit.v);
  }

  #strip(steps: PathStep[]): PathStep[] {
    const head = steps[0]!;
    const alias = this.q.alias?.toLowerCase();
    if (
      steps.length > 1 &&
      head.name !== undefined &&
      (head.name.toLowerCase() === alias || (!head.quoted && head.name.toLowerCase() === 's3object'))
    )
      return steps.slice(1);
    return steps;
  }

  call(e: Extract<Expr, { k: 'call' }>, allowAggregate: boolean): Fn<R> {
    if (AGGREGATES.has(e.name)) {
      if (!allowAggregate) throw SelectErrors.unsupportedStructure(`${e.name}() outside the SELECT list`);
      // An aggregate inside an aggregate's argument is not SQL either.
      const arg = e.star ? undefined : this.expr(e.args[0]!, false);
      const acc = accumulator(e.name);
      this.aggregates.push({ arg, acc });
      return () => acc.result();
    }
    const args = e.args.map((a) => this.expr(a, allowAggregate));
    const a0 = args[0]!;
    switch (e.name) {
      case 'LOWER':
        return (r) => {
          const v = a0(r);
          return v == null ? v : text(v).toLowerCase();
        };
      case 'UPPER':
        return (r) => {
          const v = a0(r);
          return v == null ? v : text(v).toUpperCase();
        };
      case 'TRIM':
        return (r) => {
          const v = a0(r);
          return v == null ? v : text(v).trim();
        };
      case 'CHAR_LENGTH':
      case 'CHARACTER_LENGTH':
        return (r) => {
          const v = a0(r);
          return v == null ? null : [...text(v)].length;
        };
      case 'NULLIF': {
        const eq = comparison('=', a0, args[1]!);
        return (r) => (eq(r) === true ? null : a0(r));
      }
      default:
        return (r) => {
          for (const a of args) {
            const v = a(r);
            if (v != null) return v;
          }
          return null;
        };
    }
  }
}

/** A value as a number for comparisons and arithmetic; null when it is none (CSV text that is not one). */
export function toNumber(v: Value): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === '' || v.trim() !== v) return v.trim() === '' ? null : toNumber(v.trim());
    const n = Number(v);
    return Number.isFinite(n) && !/^0[xXbBoO]/.test(v) ? n : null;
  }
  if (typeof v === 'boolean') return null;
  return null;
}

/** How a value reads as text: in CSV output, concatenation, LIKE and string casts. */
export function text(v: Value): string {
  if (typeof v === 'string') return v;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object' && v !== null) return JSON.stringify(v);
  return String(v);
}

type Cmp = '=' | '<>' | '<' | '<=' | '>' | '>=';

function comparison<R>(op: Cmp, l: Fn<R>, r: Fn<R>): Fn<R> {
  return (rec) => {
    const c = compareValues(l(rec), r(rec), op === '=' || op === '<>');
    if (c === null) return null;
    switch (op) {
      case '=':
        return c === 0;
      case '<>':
        return c !== 0;
      case '<':
        return c < 0;
      case '<=':
        return c <= 0;
      case '>':
        return c > 0;
      default:
        return c >= 0;
    }
  };
}

/** -1, 0, 1, or null when the two cannot be compared (null, MISSING, or text that is not a number). */
export function compareValues(a: Value, b: Value, equality: boolean): number | null {
  if (a == null || b == null) return null;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'number' || typeof b === 'number') {
    const x = toNumber(a);
    const y = toNumber(b);
    if (x === null || y === null) return equality && typeof a !== typeof b ? 1 : null;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof a === 'boolean' || typeof b === 'boolean') {
    const x = typeof a === 'boolean' ? a : typeof a === 'string' ? parseBool(a) : null;
    const y = typeof b === 'boolean' ? b : typeof b === 'string' ? parseBool(b) : null;
    if (x === null || y === null) return null;
    return x === y ? 0 : x ? 1 : -1;
  }
  if (a instanceof Date || b instanceof Date) {
    const x = a instanceof Date ? a.getTime() : typeof a === 'string' ? parseTimestamp(a) : null;
    const y = b instanceof Date ? b.getTime() : typeof b === 'string' ? parseTimestamp(b) : null;
    if (x === null || y === null) return null;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (equality) return JSON.stringify(a) === JSON.stringify(b) ? 0 : 1;
  return null;
}

function parseBool(s: string): boolean | null {
  const t = s.trim().toLowerCase();
  return t === 'true' ? true : t === 'false' ? false : null;
}

function parseTimestamp(s: string): number | null {
  // W3C date-time forms: 2007, 2007-04, 2007-04-05, 2007-04-05T14:30Z, with seconds and fractions.
  if (!/^\d{4}(-\d\d(-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d))?)?)?T?$/.test(s.trim())) return null;
  const t = Date.parse(s.trim().replace(/T$/, ''));
  return Number.isFinite(t) ? t : null;
}

export function cast(v: Value, type: CastType): Value {
  if (v == null) return v === undefined ? undefined : null;
  switch (type) {
    case 'INT': {
      if (typeof v === 'boolean') return v ? 1 : 0;
      const n = toNumber(v);
      if (n === null || !Number.isFinite(n)) throw SelectErrors.castFailed(text(v), 'INT');
      return Math.trunc(n);
    }
    case 'FLOAT':
    case 'DECIMAL': {
      if (typeof v === 'boolean') return v ? 1 : 0;
      const n = toNumber(v);
      if (n === null) throw SelectErrors.castFailed(text(v), type);
      return n;
    }
    case 'STRING':
      return text(v);
    case 'BOOL': {
      if (typeof v === 'boolean') return v;
      if (typeof v === 'number') return v !== 0;
      const b = typeof v === 'string' ? parseBool(v) : null;
      if (b === null) throw SelectErrors.castFailed(text(v), 'BOOL');
      return b;
    }
    case 'TIMESTAMP': {
      if (v instanceof Date) return v;
      const t = typeof v === 'string' ? parseTimestamp(v) : null;
      if (t === null) throw SelectErrors.castFailed(text(v), 'TIMESTAMP');
      return new Date(t);
    }
  }
}

function like<R>(value: Fn<R>, pattern: Fn<R>, escapeOf: Fn<R> | undefined, not: boolean, e: Expr): Fn<R> {
  // A constant pattern (the usual case) is prepared once; a computed one when it changes.
  let lastPattern: string | undefined;
  let lastEscape: string | undefined;
  let tokens: LikeToken[] = [];
  const constant = e.k === 'like' && e.pattern.k === 'lit' && (!e.escape || e.escape.k === 'lit');
  if (constant) {
    const p = pattern(undefined as R);
    const x = escapeOf?.(undefined as R);
    if (typeof p !== 'string' || (x !== undefined && (typeof x !== 'string' || [...x].length !== 1)))
      throw SelectErrors.likeInvalid();
    tokens = likeTokens(p, x as string | undefined);
  }
  return (r) => {
    const v = value(r);
    if (v == null) return null;
    if (!constant) {
      const p = pattern(r);
      const x = escapeOf?.(r);
      if (p == null) return null;
      if (typeof p !== 'string' || (x != null && (typeof x !== 'string' || [...x].length !== 1)))
        throw SelectErrors.likeInvalid();
      if (p !== lastPattern || x !== lastEscape) {
        tokens = likeTokens(p, x as string | undefined);
        lastPattern = p;
        lastEscape = x as string | undefined;
      }
    }
    if (typeof v !== 'string') return null;
    return likeMatch(tokens, SURROGATE.test(v) ? [...v] : v) !== not;
  };
}

/** A character (one code point), `_` (ANY_ONE) or `%` (ANY_RUN). */
type LikeToken = string | 0 | 1;
const ANY_ONE = 0;
const ANY_RUN = 1;
const SURROGATE = /[\uD800-\uDFFF]/;

function likeTokens(pattern: string, esc: string | undefined): LikeToken[] {
  const out: LikeToken[] = [];
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (esc !== undefined && c === esc) {
      const next = chars[++i];
      if (next === undefined) throw SelectErrors.likeInvalid();
      out.push(next);
    } else if (c === '%') {
      if (out[out.length - 1] !== ANY_RUN) out.push(ANY_RUN);
    } else out.push(c === '_' ? ANY_ONE : c);
  }
  return out;
}

/**
 * LIKE without regular expressions: the greedy wildcard match that backs up only to the last `%`, so
 * a hostile pattern (`%a%a%a...b` against a long field) costs at most pattern × text steps.
 */
function likeMatch(t: LikeToken[], text: string | string[]): boolean {
  const n = text.length;
  const m = t.length;
  let s = 0;
  let p = 0;
  let star = -1;
  let mark = 0;
  while (s < n) {
    const tok = t[p];
    if (p < m && (tok === ANY_ONE || tok === text[s])) {
      s++;
      p++;
    } else if (tok === ANY_RUN) {
      star = p++;
      mark = s;
    } else if (star >= 0) {
      p = star + 1;
      s = ++mark;
    } else return false;
  }
  while (t[p] === ANY_RUN) p++;
  return p === m;
}

function accumulator(name: string): Accumulator {
  switch (name) {
    case 'COUNT': {
      let n = 0;
      return {
        update: (v) => {
          if (v != null) n++;
        },
        result: () => n,
      };
    }
    case 'SUM':
    case 'AVG': {
      let sum = 0;
      let n = 0;
      return {
        update: (v) => {
          if (v == null) return;
          const x = toNumber(v);
          if (x === null)
            throw SelectErrors.invalidDataType(`${name} of ${JSON.stringify(text(v).slice(0, 64))}`);
          sum += x;
          n++;
        },
        result: () => (n === 0 ? null : name === 'SUM' ? sum : sum / n),
      };
    }
    default: {
      let best: Value = null;
      const sign = name === 'MIN' ? -1 : 1;
      return {
        update: (v) => {
          if (v == null) return;
          if (best === null) {
            best = v;
            return;
          }
          const c = compareValues(v, best, false);
          if (c !== null && c * sign > 0) best = v;
        },
        result: () => best,
      };
    }
  }
}
