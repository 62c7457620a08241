// A streaming CSV record reader: bytes in, one reused row out per record, no copy of the object. Fields
// are offsets into the chunk and decode to strings only when the query reads them. A record may span
// chunks: the unfinished tail is carried (at most MAX_RECORD_BYTES, S3's limit), so memory stays bounded
// however large the object is. Records whose fields open with no quote are split on a fast path (one
// pass over their bytes for one-byte delimiters); quoted records go through the full state machine.
import { isUtf8 } from 'node:buffer';
import { SelectErrors } from './errors.js';

/** S3 Select's limit on one record (a longer one, or an object with no record delimiter, is refused). */
export const MAX_RECORD_BYTES = 1024 * 1024;

export interface CsvFormat {
  fieldDelimiter: Buffer;
  recordDelimiter: Buffer;
  /** A byte, or -1 for none. */
  quote: number;
  escape: number;
  comment: number;
  allowQuotedRecordDelimiter: boolean;
}

const PLAIN = 0;
const QUOTED = 1;
/** Quoted, with escaped quotes inside to undo. */
const ESCAPED = 2;

export class CsvRow {
  buf: Buffer = Buffer.alloc(0);
  /** The record's bytes, without its delimiter. */
  start = 0;
  end = 0;
  n = 0;
  /** Some field was quoted (its raw bytes differ from its value). */
  quoted = false;
  starts = new Int32Array(64);
  ends = new Int32Array(64);
  kinds = new Uint8Array(64);
  readonly #unescape: (s: string) => string;

  constructor(format: CsvFormat) {
    const q = String.fromCharCode(format.quote);
    const pair = format.escape >= 0 ? String.fromCharCode(format.escape) + q : q + q;
    const escapedEscape =
      format.escape >= 0 && format.escape !== format.quote
        ? String.fromCharCode(format.escape).repeat(2)
        : undefined;
    this.#unescape = (s) => {
      let out = s.split(pair).join(q);
      if (escapedEscape) out = out.split(escapedEscape).join(String.fromCharCode(format.escape));
      return out;
    };
  }

  /** Whether the i-th field is exactly `text` (its UTF-8 bytes), without decoding it; undefined past the end. */
  fieldEquals(i: number, bytes: Buffer, text: string): boolean | undefined {
    if (i >= this.n) return undefined;
    if (this.kinds[i] === ESCAPED) return this.field(i) === text;
    const s = this.starts[i]!;
    const len = this.ends[i]! - s;
    if (len !== bytes.length) return false;
    const b = this.buf;
    for (let k = 0; k < len; k++) if (b[s + k] !== bytes[k]) return false;
    return true;
  }

  /** The i-th field (0-based) as text; undefined past the record's last field. */
  field(i: number): string | undefined {
    if (i >= this.n) return undefined;
    const s = this.buf.toString('utf8', this.starts[i], this.ends[i]);
    return this.kinds[i] === ESCAPED ? this.#unescape(s) : s;
  }

  push(start: number, end: number, kind: number): void {
    if (this.n === this.starts.length) {
      const grow = <T extends Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
        const b = make(a.length * 2);
        b.set(a);
        return b;
      };
      this.starts = grow(this.starts, (n) => new Int32Array(n));
      this.ends = grow(this.ends, (n) => new Int32Array(n));
      this.kinds = grow(this.kinds, (n) => new Uint8Array(n));
    }
    this.starts[this.n] = start;
    this.ends[this.n] = end;
    this.kinds[this.n] = kind;
    if (kind !== PLAIN) this.quoted = true;
    this.n++;
  }
}

/** Feeds records to `onRecord` (which returns false to stop, e.g. at LIMIT). */
export class CsvReader {
  readonly row: CsvRow;
  readonly #f: CsvFormat;
  readonly #onRecord: (row: CsvRow) => boolean;
  #carry: Buffer | undefined;
  #records = 0;
  /** One-byte field and record delimiters: the single-pass splitter applies. */
  readonly #simple: boolean;
  #stopped = false;

  constructor(format: CsvFormat, onRecord: (row: CsvRow) => boolean) {
    this.#f = format;
    this.#simple = format.fieldDelimiter.length === 1 && format.recordDelimiter.length === 1;
    this.row = new CsvRow(format);
    this.#onRecord = onRecord;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Reads every complete record in the chunk; false once the consumer stopped. */
  push(chunk: Buffer): boolean {
    if (this.#stopped) return false;
    const b = this.#carry ? Buffer.concat([this.#carry, chunk]) : chunk;
    this.#carry = undefined;
    // Record delimiters end characters, so everything up to the last one is whole UTF-8 or not UTF-8.
    const last = b.lastIndexOf(this.#f.recordDelimiter);
    if (last >= 0 && !isUtf8(b.subarray(0, last))) throw SelectErrors.invalidTextEncoding();
    const p = this.#scan(b, false);
    if (this.#stopped) return false;
    if (b.length - p > MAX_RECORD_BYTES) throw SelectErrors.overMaxRecordSize();
    // Copied: the source may reuse its buffers, and a small tail should not pin a large chunk.
    if (p < b.length) this.#carry = Buffer.from(b.subarray(p));
    return true;
  }

  /** The object ended: its last record needs no delimiter. */
  end(): void {
    if (this.#stopped || !this.#carry) return;
    const b = this.#carry;
    this.#carry = undefined;
    if (!isUtf8(b)) throw SelectErrors.invalidTextEncoding();
    this.#scan(b, true);
  }

  #scan(b: Buffer, final: boolean): number {
    const f = this.#f;
    const rd = f.recordDelimiter;
    const rdLen = rd.length;
    const len = b.length;
    const row = this.row;
    row.buf = b;
    let p = 0;
    // The next quote at or after p (len when none): records before it take the fast path.
    let nextQuote = -1;
    while (p < len) {
      if (f.comment >= 0 && b[p] === f.comment) {
        const e = b.indexOf(rd, p);
        if (e < 0) {
          if (!final) return p;
          return len;
        }
        p = e + rdLen;
        continue;
      }
      row.n = 0;
      row.quoted = false;
      row.start = p;
      let next: number;
      if (this.#simple) {
        next = this.#splitSimple(b, p, final);
        if (next === -2) {
          row.n = 0;
          next = this.#splitQuoted(b, p, final);
        }
      } else {
        const e = b.indexOf(rd, p);
        const recEnd = e < 0 ? (final ? len : -1) : e;
        if (nextQuote < p && f.quote >= 0) {
          nextQuote = b.indexOf(f.quote, p);
          if (nextQuote < 0) nextQuote = len;
        } else if (f.quote < 0) nextQuote = len;
        if (recEnd >= 0 && nextQuote >= recEnd) {
          this.#splitPlain(b, p, recEnd);
          row.end = recEnd;
          next = recEnd + (e < 0 ? 0 : rdLen);
        } else next = this.#splitQuoted(b, p, final);
      }
      if (next < 0) return p;
      this.#records++;
      p = next;
      if (!this.#onRecord(row)) {
        this.#stopped = true;
        return p;
      }
    }
    return p;
  }

  /**
   * The common case in one pass: one-byte delimiters, fields as offsets, the record's end. -1 when the
   * record is not complete yet, -2 when a field opens with a quote (the full state machine takes over).
   */
  #splitSimple(b: Buffer, p: number, final: boolean): number {
    const fd = this.#f.fieldDelimiter[0]!;
    const rd = this.#f.recordDelimiter[0]!;
    const q = this.#f.quote;
    const row = this.row;
    const len = b.length;
    let s = p;
    for (let i = p; i < len; i++) {
      const c = b[i];
      if (c === fd) {
        row.push(s, i, PLAIN);
        s = i + 1;
      } else if (c === rd) {
        row.push(s, i, PLAIN);
        row.end = i;
        return i + 1;
      } else if (c === q) {
        if (i === s) return -2;
        // A quote inside an unquoted field is data, but output must not copy the record raw.
        row.quoted = true;
      }
    }
    if (!final) return -1;
    row.push(s, len, PLAIN);
    row.end = len;
    return len;
  }

  #splitPlain(b: Buffer, p: number, end: number): void {
    const fd = this.#f.fieldDelimiter;
    const row = this.row;
    if (fd.length === 1) {
      const d = fd[0]!;
      let s = p;
      for (let i = p; i < end; i++) {
        if (b[i] === d) {
          row.push(s, i, PLAIN);
          s = i + 1;
        }
      }
      row.push(s, end, PLAIN);
      return;
    }
    let s = p;
    for (;;) {
      const i = b.indexOf(fd, s);
      if (i < 0 || i >= end) break;
      row.push(s, i, PLAIN);
      s = i + fd.length;
    }
    row.push(s, end, PLAIN);
  }

  /** The byte-wise path for records with quotes; the offset after the record, or -1 when it is not complete. */
  #splitQuoted(b: Buffer, p: number, final: boolean): number {
    const f = this.#f;
    const row = this.row;
    row.quoted = true;
    const len = b.length;
    const { quote, escape: esc } = f;
    const fd = f.fieldDelimiter;
    const rd = f.recordDelimiter;
    const at = (i: number, d: Buffer) => {
      if (b[i] !== d[0]) return false;
      for (let k = 1; k < d.length; k++) if (b[i + k] !== d[k]) return false;
      return true;
    };
    let i = p;
    for (;;) {
      let start: number;
      let end: number;
      let kind = PLAIN;
      if (i < len && b[i] === quote) {
        kind = QUOTED;
        start = i + 1;
        let j = start;
        let cut = false;
        for (;;) {
          if (j >= len) {
            if (!final) return -1;
            throw SelectErrors.csvParsing(this.#records + 1);
          }
          const c = b[j]!;
          if (c === esc && esc !== quote) {
            if (j + 1 >= len && !final) return -1;
            if (b[j + 1] === quote || b[j + 1] === esc) {
              kind = ESCAPED;
              j += 2;
              continue;
            }
          } else if (c === quote) {
            if (esc === quote) {
              if (j + 1 >= len && !final) return -1;
              if (b[j + 1] === quote) {
                kind = ESCAPED;
                j += 2;
                continue;
              }
            }
            break;
          } else if (!f.allowQuotedRecordDelimiter && at(j, rd)) {
            // Without AllowQuotedRecordDelimiter a record delimiter always ends the record.
            cut = true;
            break;
          }
          j++;
        }
        end = j;
        i = cut ? j : j + 1;
        if (!cut && i < len && !at(i, fd) && !at(i, rd)) throw SelectErrors.csvParsing(this.#records + 1);
      } else {
        start = i;
        while (i < len && !at(i, fd) && !at(i, rd)) i++;
        end = i;
      }
      if (i >= len && !final) return -1;
      row.push(start, end, kind);
      if (i >= len) {
        row.end = len;
        return len;
      }
      if (at(i, fd)) {
        i += fd.length;
        continue;
      }
      row.end = i;
      return i + rd.length;
    }
  }
}
