// A streaming JSON-lines reader (S3 Select's JSON Type LINES): one JSON value per line, blank lines
// skipped, the unfinished last line carried between chunks up to MAX_RECORD_BYTES.
import { isUtf8 } from 'node:buffer';
import { MAX_RECORD_BYTES } from './csv.js';
import { SelectErrors } from './errors.js';

const NL = 0x0a;

export class JsonLinesReader {
  readonly #onRecord: (rec: unknown) => boolean;
  #carry: Buffer | undefined;
  #records = 0;
  #stopped = false;

  constructor(onRecord: (rec: unknown) => boolean) {
    this.#onRecord = onRecord;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  push(chunk: Buffer): boolean {
    if (this.#stopped) return false;
    const b = this.#carry ? Buffer.concat([this.#carry, chunk]) : chunk;
    this.#carry = undefined;
    const last = b.lastIndexOf(NL);
    if (last >= 0 && !isUtf8(b.subarray(0, last))) throw SelectErrors.invalidTextEncoding();
    let p = 0;
    for (;;) {
      const e = b.indexOf(NL, p);
      if (e < 0) break;
      const go = this.#record(b, p, e);
      p = e + 1;
      if (!go) {
        this.#stopped = true;
        return false;
      }
    }
    if (b.length - p > MAX_RECORD_BYTES) throw SelectErrors.overMaxRecordSize();
    if (p < b.length) this.#carry = Buffer.from(b.subarray(p));
    return true;
  }

  end(): void {
    if (this.#stopped || !this.#carry) return;
    const b = this.#carry;
    this.#carry = undefined;
    if (!isUtf8(b)) throw SelectErrors.invalidTextEncoding();
    if (!this.#record(b, 0, b.length)) this.#stopped = true;
  }

  #record(b: Buffer, s: number, e: number): boolean {
    const line = b.toString('utf8', s, e);
    if (line.trim() === '') return true;
    this.#records++;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      throw SelectErrors.jsonParsing(this.#records);
    }
    return this.#onRecord(rec);
  }
}
