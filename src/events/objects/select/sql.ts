// The SQL subset of S3 Select, parsed into a small tree: SELECT list (`*`, paths, `alias.*`, expressions
// with AS), FROM S3Object[[*]] [AS] [alias], WHERE, LIMIT. Errors carry S3 Select's codes and the
// position of the token, as S3 reports them. Names are case-insensitive unless double-quoted.
import { SelectErrors } from './errors.js';

/** S3 refuses longer expressions with ExpressionTooLong. */
export const MAX_EXPRESSION_BYTES = 256 * 1024;
/** Deeper nesting (parentheses, NOT, unary minus) is refused rather than risking the parser's stack. */
const MAX_DEPTH = 200;
/**
 * The compiled query is a tree of closures called recursively per record, so the tree's depth is bounded
 * too: a chain of 1,000 ANDs is fine, a 256 KB chain of `+` is refused.
 */
const MAX_TREE_DEPTH = 1000;

export type CastType = 'INT' | 'FLOAT' | 'DECIMAL' | 'STRING' | 'BOOL' | 'TIMESTAMP';

export interface PathStep {
  /** A name (`.name`, `["name"]`), an index (`[3]`) or a wildcard (`.*`). */
  name?: string;
  index?: number;
  star?: boolean;
  /** Written in double quotes: matched case-sensitively. */
  quoted?: boolean;
}

export type Expr =
  | { k: 'lit'; v: string | number | boolean | null | undefined }
  | { k: 'path'; steps: PathStep[]; text: string }
  | { k: 'not'; e: Expr }
  | { k: 'neg'; e: Expr }
  | { k: 'and' | 'or'; l: Expr; r: Expr }
  | { k: 'cmp'; op: '=' | '<>' | '<' | '<=' | '>' | '>='; l: Expr; r: Expr }
  | { k: 'arith'; op: '+' | '-' | '*' | '/' | '%'; l: Expr; r: Expr }
  | { k: 'concat'; l: Expr; r: Expr }
  | { k: 'is'; e: Expr; what: 'NULL' | 'MISSING'; not: boolean }
  | { k: 'like'; e: Expr; pattern: Expr; escape?: Expr; not: boolean }
  | { k: 'between'; e: Expr; lo: Expr; hi: Expr; not: boolean }
  | { k: 'in'; e: Expr; list: Expr[]; not: boolean }
  | { k: 'cast'; e: Expr; type: CastType; typeName: string }
  | { k: 'call'; name: string; args: Expr[]; star: boolean };

export interface SelectItem {
  expr: Expr;
  alias?: string;
}

export interface Query {
  /** `SELECT *` (or `alias.*`). */
  star: boolean;
  items: SelectItem[];
  alias?: string;
  where?: Expr;
  limit?: number;
}

export const AGGREGATES = new Set(['COUNT', 'SUM', 'AVG', 'MIN', 'MAX']);
const SCALARS = new Set(['LOWER', 'UPPER', 'CHAR_LENGTH', 'CHARACTER_LENGTH', 'TRIM', 'COALESCE', 'NULLIF']);
const CASTS: Readonly<Record<string, CastType>> = {
  INT: 'INT',
  INTEGER: 'INT',
  BIGINT: 'INT',
  SMALLINT: 'INT',
  FLOAT: 'FLOAT',
  REAL: 'FLOAT',
  DOUBLE: 'FLOAT',
  DECIMAL: 'DECIMAL',
  NUMERIC: 'DECIMAL',
  STRING: 'STRING',
  VARCHAR: 'STRING',
  CHAR: 'STRING',
  BOOL: 'BOOL',
  BOOLEAN: 'BOOL',
  TIMESTAMP: 'TIMESTAMP',
};
/** Words that end an expression or a clause: never taken for a column name or an alias. */
const RESERVED = new Set([
  'SELECT',
  'FROM',
  'WHERE',
  'LIMIT',
  'AS',
  'AND',
  'OR',
  'NOT',
  'IS',
  'NULL',
  'MISSING',
  'LIKE',
  'ESCAPE',
  'BETWEEN',
  'IN',
  'CAST',
  'TRUE',
  'FALSE',
  'GROUP',
  'ORDER',
  'HAVING',
  'JOIN',
  'UNION',
  'DISTINCT',
  'OFFSET',
]);

interface Token {
  t: 'id' | 'qid' | 'str' | 'num' | 'op' | 'eof';
  v: string;
  pos: number;
}

const OPS = [
  '<=',
  '>=',
  '<>',
  '!=',
  '||',
  '=',
  '<',
  '>',
  '(',
  ')',
  ',',
  '.',
  '*',
  '[',
  ']',
  '+',
  '-',
  '/',
  '%',
];

function lex(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (/[A-Za-z_]/.test(c)) {
      while (i < src.length && /[A-Za-z0-9_$]/.test(src[i]!)) i++;
      out.push({ t: 'id', v: src.slice(start, i), pos: start });
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i, i + 400))!;
      i += m[0].length;
      if (/[A-Za-z_]/.test(src[i] ?? '')) throw SelectErrors.lexerLiteral(...lineCol(src, start));
      out.push({ t: 'num', v: m[0], pos: start });
    } else if (c === "'" || c === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = src.indexOf(c, i);
        if (q < 0) throw SelectErrors.lexerLiteral(...lineCol(src, start));
        v += src.slice(i, q);
        if (src[q + 1] === c) {
          v += c;
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      out.push({ t: c === "'" ? 'str' : 'qid', v, pos: start });
    } else {
      const op = OPS.find((o) => src.startsWith(o, i));
      if (!op) throw SelectErrors.lexer(JSON.stringify(c), ...lineCol(src, start));
      i += op.length;
      out.push({ t: 'op', v: op === '!=' ? '<>' : op, pos: start });
    }
  }
  out.push({ t: 'eof', v: '<EOF>', pos: src.length });
  return out;
}

function lineCol(src: string, pos: number): [number, number] {
  const before = src.slice(0, pos).split('\n');
  return [before.length, before[before.length - 1]!.length + 1];
}

/** Parses an S3 Select expression; throws S3 Select's errors. */
export function parseQuery(src: string): Query {
  if (Buffer.byteLength(src) > MAX_EXPRESSION_BYTES) throw SelectErrors.tooLong();
  const q = new Parser(src).query();
  const roots = [...q.items.map((i) => i.expr), ...(q.where ? [q.where] : [])];
  for (const root of roots)
    if (treeDepth(root) > MAX_TREE_DEPTH)
      throw SelectErrors.unsupportedSyntax(`an expression more than ${MAX_TREE_DEPTH} levels deep`);
  return q;
}

/** Measured without recursion: the point is to refuse trees too deep to recurse over. */
function treeDepth(root: Expr): number {
  let max = 0;
  const stack: Array<[Expr, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [e, d] = stack.pop()!;
    if (d > max) max = d;
    for (const v of Object.values(e)) {
      if (Array.isArray(v)) {
        for (const x of v) if (isExpr(x)) stack.push([x, d + 1]);
      } else if (isExpr(v)) stack.push([v, d + 1]);
    }
  }
  return max;
}

const isExpr = (v: unknown): v is Expr => typeof v === 'object' && v !== null && 'k' in v;

class Parser {
  readonly #src: string;
  readonly #tokens: Token[];
  #i = 0;
  #depth = 0;

  constructor(src: string) {
    this.#src = src;
    this.#tokens = lex(src);
  }

  get #tok(): Token {
    return this.#tokens[this.#i]!;
  }

  #unexpected(tok = this.#tok): never {
    throw SelectErrors.unexpectedToken(tok.t === 'eof' ? '<EOF>' : tok.v, ...lineCol(this.#src, tok.pos));
  }

  #isKw(word: string, tok = this.#tok): boolean {
    return tok.t === 'id' && tok.v.toUpperCase() === word;
  }

  #acceptKw(word: string): boolean {
    if (!this.#isKw(word)) return false;
    this.#i++;
    return true;
  }

  #expectKw(word: string): void {
    if (!this.#acceptKw(word)) this.#unexpected();
  }

  #isOp(op: string): boolean {
    return this.#tok.t === 'op' && this.#tok.v === op;
  }

  #acceptOp(op: string): boolean {
    if (!this.#isOp(op)) return false;
    this.#i++;
    return true;
  }

  #expectOp(op: string): void {
    if (!this.#acceptOp(op)) this.#unexpected();
  }

  query(): Query {
    this.#expectKw('SELECT');
    if (this.#isKw('DISTINCT')) throw SelectErrors.unsupportedSyntax('DISTINCT');
    const q: Query = { star: false, items: [] };
    if (this.#acceptOp('*')) q.star = true;
    else {
      do q.items.push(this.#item());
      while (this.#acceptOp(','));
    }
    if (!this.#acceptKw('FROM')) {
      if (this.#tok.t === 'eof') throw SelectErrors.missingFrom();
      this.#unexpected();
    }
    this.#from(q);
    if (this.#acceptKw('WHERE')) q.where = this.#expr();
    if (this.#acceptKw('LIMIT')) {
      const t = this.#tok;
      if (t.t !== 'num' || !/^\d+$/.test(t.v)) this.#unexpected();
      q.limit = Number(t.v);
      this.#i++;
    }
    for (const word of ['GROUP', 'ORDER', 'HAVING', 'JOIN', 'UNION', 'OFFSET'])
      if (this.#isKw(word)) throw SelectErrors.unsupportedSyntax(word);
    if (this.#tok.t !== 'eof') this.#unexpected();
    // `SELECT s.* FROM S3Object s` is `SELECT *`.
    const only = q.items[0]?.expr;
    if (q.items.length === 1 && only?.k === 'path' && only.steps.length === 2 && only.steps[1]!.star) {
      if (q.alias === undefined || only.steps[0]!.name?.toLowerCase() !== q.alias.toLowerCase())
        throw SelectErrors.bindingDoesNotExist(only.text);
      q.star = true;
      q.items = [];
    }
    return q;
  }

  #item(): SelectItem {
    const expr = this.#expr();
    if (this.#acceptKw('AS')) return { expr, alias: this.#name() };
    if (this.#tok.t === 'qid' || (this.#tok.t === 'id' && !RESERVED.has(this.#tok.v.toUpperCase())))
      return { expr, alias: this.#name() };
    return { expr };
  }

  #name(): string {
    const t = this.#tok;
    if (t.t === 'qid' || (t.t === 'id' && !RESERVED.has(t.v.toUpperCase()))) {
      this.#i++;
      return t.v;
    }
    this.#unexpected();
  }

  #from(q: Query): void {
    const t = this.#tok;
    if (t.t !== 'id' && t.t !== 'qid') this.#unexpected();
    if (t.v.toLowerCase() !== 's3object') throw SelectErrors.invalidDataSource(t.v);
    this.#i++;
    // S3Object[*]: every record (the JSON form S3 allows); deeper paths into a document are not built.
    if (this.#acceptOp('[')) {
      this.#expectOp('*');
      this.#expectOp(']');
    }
    if (this.#isOp('.') || this.#isOp('[')) throw SelectErrors.unsupportedSyntax('a path after S3Object[*]');
    if (this.#acceptKw('AS')) q.alias = this.#name();
    else if (this.#tok.t === 'qid' || (this.#tok.t === 'id' && !RESERVED.has(this.#tok.v.toUpperCase())))
      q.alias = this.#name();
  }

  #expr(): Expr {
    if (++this.#depth > MAX_DEPTH) throw SelectErrors.unsupportedSyntax(`nesting deeper than ${MAX_DEPTH}`);
    try {
      return this.#or();
    } finally {
      this.#depth--;
    }
  }

  #or(): Expr {
    let l = this.#and();
    while (this.#acceptKw('OR')) l = { k: 'or', l, r: this.#and() };
    return l;
  }

  #and(): Expr {
    let l = this.#not();
    while (this.#acceptKw('AND')) l = { k: 'and', l, r: this.#not() };
    return l;
  }

  #not(): Expr {
    if (this.#acceptKw('NOT')) {
      if (++this.#depth > MAX_DEPTH) throw SelectErrors.unsupportedSyntax(`nesting deeper than ${MAX_DEPTH}`);
      try {
        return { k: 'not', e: this.#not() };
      } finally {
        this.#depth--;
      }
    }
    return this.#predicate();
  }

  #predicate(): Expr {
    const l = this.#concat();
    const t = this.#tok;
    if (t.t === 'op' && ['=', '<>', '<', '<=', '>', '>='].includes(t.v)) {
      this.#i++;
      return { k: 'cmp', op: t.v as '=', l, r: this.#concat() };
    }
    if (this.#acceptKw('IS')) {
      const not = this.#acceptKw('NOT');
      if (this.#acceptKw('NULL')) return { k: 'is', e: l, what: 'NULL', not };
      if (this.#acceptKw('MISSING')) return { k: 'is', e: l, what: 'MISSING', not };
      this.#unexpected();
    }
    const not = this.#acceptKw('NOT');
    if (this.#acceptKw('LIKE')) {
      const pattern = this.#concat();
      const escapeExpr = this.#acceptKw('ESCAPE') ? this.#concat() : undefined;
      return { k: 'like', e: l, pattern, escape: escapeExpr, not };
    }
    if (this.#acceptKw('BETWEEN')) {
      const lo = this.#concat();
      this.#expectKw('AND');
      return { k: 'between', e: l, lo, hi: this.#concat(), not };
    }
    if (this.#acceptKw('IN')) {
      this.#expectOp('(');
      const list: Expr[] = [];
      do list.push(this.#expr());
      while (this.#acceptOp(','));
      this.#expectOp(')');
      return { k: 'in', e: l, list, not };
    }
    if (not) this.#unexpected();
    return l;
  }

  #concat(): Expr {
    let l = this.#additive();
    while (this.#acceptOp('||')) l = { k: 'concat', l, r: this.#additive() };
    return l;
  }

  #additive(): Expr {
    let l = this.#multiplicative();
    for (;;) {
      if (this.#acceptOp('+')) l = { k: 'arith', op: '+', l, r: this.#multiplicative() };
      else if (this.#acceptOp('-')) l = { k: 'arith', op: '-', l, r: this.#multiplicative() };
      else return l;
    }
  }

  #multiplicative(): Expr {
    let l = this.#unary();
    for (;;) {
      const t = this.#tok;
      if (t.t === 'op' && (t.v === '*' || t.v === '/' || t.v === '%')) {
        this.#i++;
        l = { k: 'arith', op: t.v, l, r: this.#unary() };
      } else return l;
    }
  }

  #unary(): Expr {
    if (this.#isOp('-') || this.#isOp('+')) {
      const neg = this.#tok.v === '-';
      this.#i++;
      if (++this.#depth > MAX_DEPTH) throw SelectErrors.unsupportedSyntax(`nesting deeper than ${MAX_DEPTH}`);
      try {
        const e = this.#unary();
        return neg ? { k: 'neg', e } : e;
      } finally {
        this.#depth--;
      }
    }
    return this.#primary();
  }

  #primary(): Expr {
    const t = this.#tok;
    if (t.t === 'num') {
      this.#i++;
      return { k: 'lit', v: Number(t.v) };
    }
    if (t.t === 'str') {
      this.#i++;
      return { k: 'lit', v: t.v };
    }
    if (t.t === 'op' && t.v === '(') {
      this.#i++;
      const e = this.#expr();
      this.#expectOp(')');
      return e;
    }
    if (t.t === 'qid') return this.#path();
    if (t.t !== 'id') {
      if (t.t === 'eof' || t.v === ')' || t.v === ',')
        throw SelectErrors.expectedExpression(...lineCol(this.#src, t.pos));
      this.#unexpected();
    }
    const word = t.v.toUpperCase();
    if (word === 'TRUE' || word === 'FALSE') {
      this.#i++;
      return { k: 'lit', v: word === 'TRUE' };
    }
    if (word === 'NULL' || word === 'MISSING') {
      this.#i++;
      return { k: 'lit', v: word === 'NULL' ? null : undefined };
    }
    if (word === 'CAST') return this.#cast();
    if (this.#tokens[this.#i + 1]?.t === 'op' && this.#tokens[this.#i + 1]!.v === '(')
      return this.#call(word);
    if (RESERVED.has(word)) this.#unexpected();
    return this.#path();
  }

  #cast(): Expr {
    this.#i++;
    this.#expectOp('(');
    const e = this.#expr();
    if (!this.#acceptKw('AS')) throw SelectErrors.castArity();
    const t = this.#tok;
    if (t.t !== 'id') throw SelectErrors.castArity();
    const type = CASTS[t.v.toUpperCase()];
    if (!type) throw SelectErrors.invalidType(t.v);
    this.#i++;
    // DECIMAL(p, s), VARCHAR(n): precision and scale are accepted and ignored, as S3 does.
    if (this.#acceptOp('(')) {
      do if (this.#tok.t === 'num') this.#i++;
      while (this.#acceptOp(','));
      this.#expectOp(')');
    }
    if (!this.#acceptOp(')')) throw SelectErrors.castArity();
    return { k: 'cast', e, type, typeName: t.v.toUpperCase() };
  }

  #call(name: string): Expr {
    if (!AGGREGATES.has(name) && !SCALARS.has(name)) throw SelectErrors.unsupportedOperation(`${name}()`);
    this.#i += 2;
    if (name === 'COUNT' && this.#acceptOp('*')) {
      this.#expectOp(')');
      return { k: 'call', name, args: [], star: true };
    }
    const args: Expr[] = [];
    if (!this.#isOp(')')) {
      do args.push(this.#expr());
      while (this.#acceptOp(','));
    }
    this.#expectOp(')');
    const arity =
      name === 'COALESCE' ? args.length >= 1 : name === 'NULLIF' ? args.length === 2 : args.length === 1;
    if (!arity) throw SelectErrors.unsupportedSyntax(`${name} with ${args.length} arguments`);
    return { k: 'call', name, args, star: false };
  }

  #path(): Expr {
    const start = this.#tok.pos;
    const steps: PathStep[] = [];
    const first = this.#tok;
    this.#i++;
    steps.push({ name: first.v, quoted: first.t === 'qid' });
    for (;;) {
      if (this.#acceptOp('.')) {
        const t = this.#tok;
        if (t.t === 'op' && t.v === '*') steps.push({ star: true });
        else if (t.t === 'id' || t.t === 'qid') steps.push({ name: t.v, quoted: t.t === 'qid' });
        else this.#unexpected();
        this.#i++;
      } else if (this.#acceptOp('[')) {
        const t = this.#tok;
        if (t.t === 'num' && /^\d+$/.test(t.v)) steps.push({ index: Number(t.v) });
        else if (t.t === 'str') steps.push({ name: t.v, quoted: true });
        else if (t.t === 'op' && t.v === '*') throw SelectErrors.unsupportedSyntax('[*] inside a path');
        else this.#unexpected();
        this.#i++;
        this.#expectOp(']');
      } else break;
    }
    const end = this.#tokens[this.#i - 1]!;
    return { k: 'path', steps, text: this.#src.slice(start, end.pos + Math.max(1, end.v.length)) };
  }
}
