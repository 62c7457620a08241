// One S3 Select scan: the object's bytes (optionally gunzipped) through a record reader, the compiled
// WHERE and SELECT list, into output batches. It yields after every input chunk (a batch of records, or
// null when the chunk produced none) so the caller can stream, send keep-alives and report progress;
// nothing but the current chunk, one carried record and the output batches is held.
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { type CsvFormat, CsvReader, type CsvRow } from './csv.js';
import { SelectErrors } from './errors.js';
import { type Binder, type Compiled, compile, type Fn, type Value } from './evaluate.js';
import { JsonLinesReader } from './json-lines.js';
import { csvFieldWriter, jsonValue, OutputBuffer, type OutputFormat } from './output.js';
import type { PathStep, Query } from './sql.js';

export type InputFormat =
  | { format: 'CSV'; csv: CsvFormat; header: 'USE' | 'IGNORE' | 'NONE' }
  | { format: 'JSON' };

export interface SelectSpec {
  query: Query;
  input: InputFormat;
  output: OutputFormat;
  gzip: boolean;
}

export interface SelectStats {
  scanned: number;
  processed: number;
  returned: number;
}

export { parseQuery } from './sql.js';

export class SelectScan {
  readonly stats: SelectStats = { scanned: 0, processed: 0, returned: 0 };
  readonly #spec: SelectSpec;
  readonly #out = new OutputBuffer();
  #emitted = 0;
  readonly #limit: number;

  constructor(spec: SelectSpec) {
    this.#spec = spec;
    this.#limit = spec.query.limit ?? Number.POSITIVE_INFINITY;
  }

  /** Yields Records payloads (or null after an input chunk that produced none); throws S3 Select's errors. */
  async *run(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer | null> {
    const reader = this.#reader();
    if (this.#limit === 0 && !this.#aggregating()) return;
    const input = this.#spec.gzip ? this.#gunzip(source) : this.#counted(source, true);
    let first = true;
    for await (const chunk of input) {
      // A UTF-8 byte-order mark opens some exported files; it is not part of the first column's name.
      const bom = first && chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf;
      first = false;
      reader.push(bom ? (chunk as Buffer).subarray(3) : (chunk as Buffer));
      yield* this.#drain();
      if (reader.stopped) break;
    }
    reader.end();
    this.#ensureCompiled();
    this.#finish();
    this.#out.flush();
    yield* this.#drain();
  }

  *#drain(): Generator<Buffer | null> {
    const out = this.#out;
    this.stats.returned = out.returned;
    if (out.batches.length === 0) {
      yield null;
      return;
    }
    const batches = out.batches;
    out.batches = [];
    yield* batches;
  }

  async *#counted(source: AsyncIterable<Uint8Array>, processed: boolean): AsyncGenerator<Buffer> {
    for await (const c of source) {
      this.stats.scanned += c.length;
      if (processed) this.stats.processed += c.length;
      yield Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.length);
    }
  }

  async *#gunzip(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
    const gz = createGunzip();
    pipeline(Readable.from(this.#counted(source, false)), gz, () => {});
    try {
      for await (const c of gz) {
        this.stats.processed += (c as Buffer).length;
        yield c as Buffer;
      }
    } catch (e) {
      if ((e as { code?: string }).code?.startsWith('Z_')) throw SelectErrors.gzip();
      throw e;
    } finally {
      gz.destroy();
    }
  }

  #aggregating(): boolean {
    return this.#spec.query.items.some((i) => containsAggregate(i.expr));
  }

  // ---- per record ----

  #finish: () => void = () => {};
  /** A CSV object with no header record still answers (an aggregate over nothing). */
  #ensureCompiled: () => void = () => {};

  #reader(): { push(c: Buffer): boolean; end(): void; stopped: boolean } {
    const spec = this.#spec;
    if (spec.input.format === 'JSON') {
      const c = compile(spec.query, jsonBinder);
      const write = this.#writer<unknown>(c, (rec) => jsonFields(rec));
      this.#setFinish(c);
      return new JsonLinesReader(this.#onRecord(c, write));
    }
    const input = spec.input;
    let header: string[] | undefined;
    let c: Compiled<CsvRow> | undefined;
    let handle: ((row: CsvRow) => boolean) | undefined;
    const ready = () => {
      c = compile(spec.query, csvBinder(header));
      this.#setFinish(c);
      const names = header;
      handle = this.#onRecord(c, this.#csvWriter(c, names));
    };
    if (input.header === 'NONE') ready();
    this.#ensureCompiled = () => {
      if (!c) ready();
    };
    let first = input.header !== 'NONE';
    return new CsvReader(input.csv, (row) => {
      if (first) {
        first = false;
        if (input.header === 'USE') header = Array.from({ length: row.n }, (_, i) => row.field(i)!);
        ready();
        return true;
      }
      return handle!(row);
    });
  }

  #setFinish<R>(c: Compiled<R>): void {
    this.#finish = () => {
      if (c.aggregates.length === 0) return;
      const row = c.items.map((f) => f(undefined as R));
      this.#writeValues(row, c.names);
    };
  }

  #onRecord<R>(c: Compiled<R>, write: (rec: R) => void): (rec: R) => boolean {
    const where = c.where;
    const aggs = c.aggregates;
    if (aggs.length > 0) {
      return (rec) => {
        if (where && where(rec) !== true) return true;
        for (const a of aggs) a.acc.update(a.arg ? a.arg(rec) : true);
        return true;
      };
    }
    const limit = this.#limit;
    return (rec) => {
      if (where && where(rec) !== true) return true;
      write(rec);
      return ++this.#emitted < limit;
    };
  }

  /** Output of one CSV record: the raw bytes when nothing changes (SELECT * CSV to the same CSV). */
  #csvWriter(c: Compiled<CsvRow>, header: string[] | undefined): (row: CsvRow) => void {
    const out = this.#out;
    const o = this.#spec.output;
    const inp = this.#spec.input as Extract<InputFormat, { format: 'CSV' }>;
    if (c.items.length > 0)
      return (row) =>
        this.#writeValues(
          c.items.map((f) => f(row)),
          c.names,
        );
    if (o.format === 'CSV') {
      // Raw bytes are the answer when the output's delimiters and quote are the input's and no field of
      // the record was quoted or holds a quote (row.quoted).
      const same =
        o.quoteFields === 'ASNEEDED' &&
        o.fieldDelimiter === inp.csv.fieldDelimiter.toString() &&
        o.recordDelimiter === inp.csv.recordDelimiter.toString() &&
        inp.csv.quote >= 0 &&
        o.quote === String.fromCharCode(inp.csv.quote);
      const fd = o.fieldDelimiter;
      const rd = o.recordDelimiter;
      const field = csvFieldWriter(o);
      return (row) => {
        if (same && !row.quoted) out.bytes(row.buf, row.start, row.end);
        else
          for (let i = 0; i < row.n; i++) {
            if (i > 0) out.str(fd);
            out.str(field(row.field(i)));
          }
        out.str(rd);
      };
    }
    const keys = (header ?? []).map((h) => `${JSON.stringify(h)}:`);
    const rd = o.recordDelimiter;
    return (row) => {
      let s = '{';
      for (let i = 0; i < row.n; i++) {
        if (i > 0) s += ',';
        s += keys[i] ?? `"_${i + 1}":`;
        s += JSON.stringify(row.field(i));
      }
      out.str(`${s}}${rd}`);
    };
  }

  #writer<R>(c: Compiled<R>, star: (rec: R) => [string[], Value[]]): (rec: R) => void {
    if (c.items.length > 0)
      return (rec) =>
        this.#writeValues(
          c.items.map((f) => f(rec)),
          c.names,
        );
    return (rec) => {
      const [names, values] = star(rec);
      this.#writeValues(values, names);
    };
  }

  #csvField: ((v: Value) => string) | undefined;

  #writeValues(values: Value[], names: string[]): void {
    const o = this.#spec.output;
    const out = this.#out;
    if (o.format === 'CSV') {
      this.#csvField ??= csvFieldWriter(o);
      let s = '';
      for (let i = 0; i < values.length; i++) {
        if (i > 0) s += o.fieldDelimiter;
        s += this.#csvField(values[i]);
      }
      out.str(s + o.recordDelimiter);
      return;
    }
    let s = '{';
    let sep = '';
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === undefined) continue;
      s += `${sep}${JSON.stringify(names[i] ?? `_${i + 1}`)}:${jsonValue(v)}`;
      sep = ',';
    }
    out.str(`${s}}${o.recordDelimiter}`);
  }
}

function containsAggregate(e: Query['items'][number]['expr']): boolean {
  if (e.k === 'call' && ['COUNT', 'SUM', 'AVG', 'MIN', 'MAX'].includes(e.name)) return true;
  return Object.values(e).some((v) =>
    Array.isArray(v)
      ? v.some((x) => typeof x === 'object' && x !== null && 'k' in x && containsAggregate(x))
      : typeof v === 'object' && v !== null && 'k' in v && containsAggregate(v as never),
  );
}

function jsonFields(rec: unknown): [string[], Value[]] {
  if (typeof rec === 'object' && rec !== null && !Array.isArray(rec))
    return [Object.keys(rec), Object.values(rec) as Value[]];
  return [['_1'], [rec as Value]];
}

function csvBinder(header: string[] | undefined): Binder<CsvRow> {
  const column = (steps: PathStep[], text: string): number => {
    const step = steps[0];
    if (steps.length !== 1 || step?.name === undefined) throw SelectErrors.bindingDoesNotExist(text);
    const name = step.name;
    if (!step.quoted && /^_\d+$/.test(name)) {
      const n = Number(name.slice(1));
      if (n < 1) throw SelectErrors.invalidColumnIndex(name);
      return n - 1;
    }
    if (!header) throw SelectErrors.bindingDoesNotExist(text);
    const matches = header.flatMap((h, i) =>
      (step.quoted ? h === name : h.toLowerCase() === name.toLowerCase()) ? [i] : [],
    );
    if (matches.length === 0) throw SelectErrors.bindingDoesNotExist(text);
    if (matches.length > 1) throw SelectErrors.ambiguousFieldName(text);
    return matches[0]!;
  };
  return {
    path(steps, text) {
      const i = column(steps, text);
      return (r) => r.field(i);
    },
    equalsText(steps, text, literal) {
      const i = column(steps, text);
      const bytes = Buffer.from(literal);
      return (r) => r.fieldEquals(i, bytes, literal);
    },
  };
}

const jsonBinder: Binder<unknown> = {
  path(steps: PathStep[]): Fn<unknown> {
    return (rec) => {
      let v: unknown = rec;
      for (const s of steps) {
        if (v === null || typeof v !== 'object') return undefined;
        if (s.index !== undefined) {
          v = Array.isArray(v) ? v[s.index] : undefined;
          continue;
        }
        if (Array.isArray(v)) return undefined;
        const o = v as Record<string, unknown>;
        const name = s.name!;
        if (Object.hasOwn(o, name)) v = o[name];
        else if (s.quoted) return undefined;
        else {
          const lower = name.toLowerCase();
          const key = Object.keys(o).find((k) => k.toLowerCase() === lower);
          v = key === undefined ? undefined : o[key];
        }
      }
      return v as Value;
    };
  },
};
