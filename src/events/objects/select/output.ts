// S3 Select's output serialisations, written into reused 64 KB buffers that become Records events: CSV
// (FieldDelimiter, RecordDelimiter, QuoteCharacter, QuoteEscapeCharacter, QuoteFields) or JSON objects.
import { text, type Value } from './evaluate.js';

const BATCH = 64 * 1024;

export interface CsvOutput {
  format: 'CSV';
  fieldDelimiter: string;
  recordDelimiter: string;
  quote: string;
  escape: string;
  quoteFields: 'ALWAYS' | 'ASNEEDED';
}

export interface JsonOutput {
  format: 'JSON';
  recordDelimiter: string;
}

export type OutputFormat = CsvOutput | JsonOutput;

/** Collects output bytes; full batches wait in `batches` for the caller to send. */
export class OutputBuffer {
  batches: Buffer[] = [];
  returned = 0;
  #buf = Buffer.allocUnsafe(BATCH);
  #pos = 0;

  str(s: string): void {
    if (this.#pos + s.length * 3 > this.#buf.length) this.#next(s.length * 3);
    this.#pos += this.#buf.write(s, this.#pos);
  }

  bytes(b: Buffer, start: number, end: number): void {
    if (this.#pos + (end - start) > this.#buf.length) this.#next(end - start);
    this.#pos += b.copy(this.#buf, this.#pos, start, end);
  }

  flush(): void {
    if (this.#pos > 0) this.#next(0);
  }

  #next(need: number): void {
    if (this.#pos > 0) {
      this.batches.push(this.#buf.subarray(0, this.#pos));
      this.returned += this.#pos;
    }
    this.#buf = Buffer.allocUnsafe(Math.max(BATCH, need));
    this.#pos = 0;
  }
}

/** Formats one CSV field of output: NULL and MISSING are empty, quoted when asked or needed. */
export function csvFieldWriter(o: CsvOutput): (v: Value) => string {
  const special = [o.fieldDelimiter, o.recordDelimiter, o.quote, '\n'].filter((s) => s !== '');
  const escaped = o.escape + o.quote;
  return (v) => {
    const s = v == null ? '' : text(v);
    if (o.quoteFields === 'ALWAYS' || special.some((c) => s.includes(c)))
      return o.quote + (o.quote ? s.split(o.quote).join(escaped) : s) + o.quote;
    return s;
  };
}

/** A value as JSON text (MISSING is left out by the caller). */
export function jsonValue(v: Value): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (v instanceof Date) return JSON.stringify(v.toISOString());
  return JSON.stringify(v) ?? 'null';
}
