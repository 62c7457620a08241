// EventBridge event patterns: parsed and validated once (PutRule, TestEventPattern), then matched against
// event envelopes. A pattern is an object whose leaves are arrays of conditions (any of them may match);
// the event's arrays are flattened (a condition matches if any element does), as EventBridge matches.

export class EventPatternError extends Error {}

type Literal = string | number | boolean | null;

type Condition =
  | { kind: 'exact'; value: Literal }
  | { kind: 'prefix' | 'suffix' | 'equals'; value: string; ignoreCase: boolean }
  | { kind: 'wildcard'; value: string }
  | { kind: 'exists'; value: boolean }
  | { kind: 'numeric'; lower?: Bound; upper?: Bound; equals?: number }
  | { kind: 'cidr'; net: number; mask: number }
  | { kind: 'anything-but'; not: Condition[] };

interface Bound {
  value: number;
  inclusive: boolean;
}

interface PatternNode {
  fields: [string, PatternNode | Condition[]][];
  /** Each `$or` of this level: one of its alternatives must match. */
  ors: PatternNode[][];
}

export interface EventPattern {
  readonly root: PatternNode;
}

/** EventBridge's numeric range: numbers outside it are refused in patterns. */
const NUMERIC_LIMIT = 5e9;
const MAX_DEPTH = 32;

const fail = (why: string): never => {
  throw new EventPatternError(`Event pattern is not valid. Reason: ${why}`);
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseEventPattern(text: string): EventPattern {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return fail('the pattern is not valid JSON');
  }
  if (!isObject(raw)) return fail('the pattern must be a JSON object');
  return { root: parseNode(raw, 0, '') };
}

function parseNode(raw: Record<string, unknown>, depth: number, at: string): PatternNode {
  if (depth > MAX_DEPTH) return fail('the pattern is nested too deeply');
  const keys = Object.keys(raw);
  if (keys.length === 0) return fail(`empty object${at ? ` at ${at}` : ''}`);
  const node: PatternNode = { fields: [], ors: [] };
  for (const key of keys) {
    const v = raw[key];
    const path = at ? `${at}.${key}` : key;
    if (key === '$or') {
      if (!Array.isArray(v) || v.length < 2) return fail('"$or" must be an array of at least two objects');
      node.ors.push(
        v.map((alt) => (isObject(alt) ? parseNode(alt, depth + 1, at) : fail('"$or" items must be objects'))),
      );
    } else if (Array.isArray(v)) {
      if (v.length === 0) return fail(`empty arrays are not allowed (at ${path})`);
      node.fields.push([key, v.map((c) => parseCondition(c, path))]);
    } else if (isObject(v)) {
      node.fields.push([key, parseNode(v, depth + 1, path)]);
    } else {
      return fail(`match value at ${path} must be an object or an array`);
    }
  }
  return node;
}

function literal(c: unknown, path: string): Literal {
  if (c === null || typeof c === 'string' || typeof c === 'boolean') return c;
  if (typeof c === 'number') return checkNumber(c, path);
  return fail(`match value at ${path} must be a string, number, true, false, or null`);
}

function checkNumber(n: unknown, path: string): number {
  if (typeof n !== 'number' || !Number.isFinite(n)) return fail(`numeric value at ${path} must be a number`);
  if (Math.abs(n) > NUMERIC_LIMIT) return fail(`numeric value at ${path} is outside -5.0e9 to 5.0e9`);
  return n;
}

function str(v: unknown, what: string, path: string): string {
  if (typeof v !== 'string') return fail(`"${what}" at ${path} must be a string`);
  return v;
}

/** `prefix`/`suffix`: a string, or `{ "equals-ignore-case": string }`. */
function affix(kind: 'prefix' | 'suffix', v: unknown, path: string): Condition {
  if (isObject(v)) {
    const keys = Object.keys(v);
    if (keys.length !== 1 || keys[0] !== 'equals-ignore-case')
      return fail(`"${kind}" at ${path} takes a string or an "equals-ignore-case" object`);
    return { kind, value: str(v['equals-ignore-case'], 'equals-ignore-case', path), ignoreCase: true };
  }
  return { kind, value: str(v, kind, path), ignoreCase: false };
}

function parseCondition(c: unknown, path: string): Condition {
  if (!isObject(c)) {
    if (Array.isArray(c)) return fail(`nested arrays are not allowed (at ${path})`);
    return { kind: 'exact', value: literal(c, path) };
  }
  const keys = Object.keys(c);
  if (keys.length !== 1) return fail(`a match object at ${path} must have exactly one key`);
  const key = keys[0]!;
  const v = c[key];
  switch (key) {
    case 'prefix':
    case 'suffix':
      return affix(key, v, path);
    case 'equals-ignore-case':
      return { kind: 'equals', value: str(v, key, path), ignoreCase: true };
    case 'wildcard': {
      const s = str(v, key, path);
      if (/\*\*/.test(s)) return fail(`"wildcard" at ${path} has consecutive wildcard characters`);
      return { kind: 'wildcard', value: s };
    }
    case 'exists':
      if (typeof v !== 'boolean') return fail(`"exists" at ${path} must be true or false`);
      return { kind: 'exists', value: v };
    case 'numeric':
      return parseNumeric(v, path);
    case 'cidr':
      return parseCidr(str(v, key, path), path);
    case 'anything-but':
      return { kind: 'anything-but', not: parseAnythingBut(v, path) };
    default:
      return fail(`unrecognized match type "${key}" at ${path}`);
  }
}

function parseAnythingBut(v: unknown, path: string): Condition[] {
  if (Array.isArray(v)) {
    if (v.length === 0) return fail(`"anything-but" at ${path} must not be an empty array`);
    const kinds = new Set(v.map((x) => typeof x));
    if (kinds.size !== 1 || !(kinds.has('string') || kinds.has('number')))
      return fail(`"anything-but" list at ${path} must hold only strings or only numbers`);
    return v.map((x) => ({ kind: 'exact', value: literal(x, path) }));
  }
  if (typeof v === 'string' || typeof v === 'number') return [{ kind: 'exact', value: literal(v, path) }];
  if (isObject(v)) {
    const keys = Object.keys(v);
    if (keys.length !== 1) return fail(`"anything-but" object at ${path} must have exactly one key`);
    const key = keys[0]!;
    const inner = v[key];
    switch (key) {
      case 'prefix':
      case 'suffix':
        return [{ kind: key, value: str(inner, key, path), ignoreCase: false }];
      case 'wildcard':
        return [{ kind: 'wildcard', value: str(inner, key, path) }];
      case 'equals-ignore-case': {
        const list = Array.isArray(inner) ? inner : [inner];
        if (list.length === 0) return fail(`"equals-ignore-case" at ${path} must not be empty`);
        return list.map((s) => ({ kind: 'equals', value: str(s, key, path), ignoreCase: true }));
      }
      default:
        return fail(`unsupported "anything-but" match type "${key}" at ${path}`);
    }
  }
  return fail(
    `"anything-but" at ${path} takes a value, a list, or a prefix/suffix/equals-ignore-case object`,
  );
}

function parseNumeric(v: unknown, path: string): Condition {
  if (!Array.isArray(v) || (v.length !== 2 && v.length !== 4))
    return fail(`"numeric" at ${path} must be an array of one or two operator and number pairs`);
  const out: Condition & { kind: 'numeric' } = { kind: 'numeric' };
  for (let i = 0; i < v.length; i += 2) {
    const op = v[i];
    const n = checkNumber(v[i + 1], path);
    if (op === '=') {
      if (v.length !== 2) return fail(`"numeric" "=" at ${path} cannot be combined with a range`);
      out.equals = n;
    } else if (op === '>' || op === '>=') {
      if (out.lower) return fail(`"numeric" at ${path} has two lower bounds`);
      out.lower = { value: n, inclusive: op === '>=' };
    } else if (op === '<' || op === '<=') {
      if (out.upper) return fail(`"numeric" at ${path} has two upper bounds`);
      out.upper = { value: n, inclusive: op === '<=' };
    } else {
      return fail(`unrecognized numeric operator ${JSON.stringify(op)} at ${path}`);
    }
  }
  if (out.lower && out.upper && out.lower.value >= out.upper.value)
    return fail(`"numeric" range at ${path} is empty: the lower bound is not below the upper`);
  return out;
}

function ipv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return (((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0) as number;
}

function parseCidr(s: string, path: string): Condition {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  const addr = m ? ipv4(m[1]!) : undefined;
  const bits = m ? Number(m[2]) : -1;
  if (addr === undefined || bits < 0 || bits > 32)
    return fail(`"cidr" at ${path} must be an IPv4 CIDR block (Kindling matches IPv4 only)`);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { kind: 'cidr', net: (addr & mask) >>> 0, mask };
}

/** Glob match with `*` only, linear-time backtracking (no regular expression a pattern could blow up). */
function wildcardMatch(pattern: string, s: string): boolean {
  let p = 0;
  let i = 0;
  let star = -1;
  let mark = 0;
  while (i < s.length) {
    if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = i;
    } else if (p < pattern.length && pattern[p] === s[i]) {
      p++;
      i++;
    } else if (star >= 0) {
      p = star + 1;
      i = ++mark;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** One condition against one leaf value of the event (never an object; `exists` is handled by the caller). */
function test(c: Condition, v: unknown): boolean {
  switch (c.kind) {
    case 'exact':
      return v === c.value;
    case 'prefix':
    case 'suffix':
    case 'equals': {
      if (typeof v !== 'string') return false;
      const s = c.ignoreCase ? v.toLowerCase() : v;
      const want = c.ignoreCase ? c.value.toLowerCase() : c.value;
      return c.kind === 'prefix' ? s.startsWith(want) : c.kind === 'suffix' ? s.endsWith(want) : s === want;
    }
    case 'wildcard':
      return typeof v === 'string' && wildcardMatch(c.value, v);
    case 'numeric':
      if (typeof v !== 'number') return false;
      if (c.equals !== undefined) return v === c.equals;
      if (c.lower && (c.lower.inclusive ? v < c.lower.value : v <= c.lower.value)) return false;
      if (c.upper && (c.upper.inclusive ? v > c.upper.value : v >= c.upper.value)) return false;
      return true;
    case 'cidr': {
      const a = typeof v === 'string' ? ipv4(v) : undefined;
      return a !== undefined && (a & c.mask) >>> 0 === c.net;
    }
    case 'anything-but':
      // Needs a value of the excluded kind that is none of them (a number never passes a string list).
      if (typeof v !== 'string' && typeof v !== 'number') return false;
      if (!c.not.every((n) => (n.kind === 'exact' ? typeof n.value : 'string') === typeof v)) return false;
      return !c.not.some((n) => test(n, v));
    case 'exists':
      return false;
  }
}

function matchLeaf(conditions: Condition[], v: unknown): boolean {
  const values = v === undefined ? [] : Array.isArray(v) ? v : [v];
  for (const c of conditions) {
    if (c.kind === 'exists') {
      if (c.value === (v !== undefined && !isObject(v))) return true;
      continue;
    }
    for (const x of values) if (!isObject(x) && !Array.isArray(x) && test(c, x)) return true;
  }
  return false;
}

function matchNode(node: PatternNode, obj: unknown): boolean {
  // An event array of objects: any element may match the nested pattern.
  if (Array.isArray(obj)) return obj.some((o) => isObject(o) && matchNode(node, o));
  const rec = isObject(obj) ? obj : undefined;
  for (const [key, sub] of node.fields) {
    const v = rec?.[key];
    if (Array.isArray(sub) ? !matchLeaf(sub, v) : !matchNode(sub, v)) return false;
  }
  for (const alternatives of node.ors) if (!alternatives.some((alt) => matchNode(alt, rec))) return false;
  return true;
}

/** Does the event (its envelope: source, detail-type, detail...) match the pattern? */
export function matchesEventPattern(pattern: EventPattern, event: Record<string, unknown>): boolean {
  return matchNode(pattern.root, event);
}
