// Zips for the control-plane and Lambda API tests, built with yazl; hostile ones are patched after
// building because yazl itself refuses unsafe names.
import { Readable } from 'node:stream';
import yazl from 'yazl';

export interface ZipEntry {
  name: string;
  data: Buffer | string;
  mode?: number;
}

/** A fixed time: the same entries always make the same zip (and the same CodeSha256). */
const MTIME = new Date('2024-01-01T00:00:00Z');

export async function zipOf(entries: ZipEntry[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const e of entries)
    zip.addBuffer(
      Buffer.from(e.data),
      e.name,
      e.mode === undefined ? { mtime: MTIME } : { mtime: MTIME, mode: e.mode },
    );
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** A Node handler module as `index.mjs`. */
export const handlerZip = (source: string): Promise<Buffer> => zipOf([{ name: 'index.mjs', data: source }]);

export const echoHandler =
  'export const handler = async (event) => ({ echo: event, env: process.env.GREETING ?? null });';

/** Replaces every occurrence of a placeholder entry name (local header and central directory). */
export function renameEntry(zip: Buffer, from: string, to: string): Buffer {
  if (from.length !== to.length) throw new Error('names must have the same length');
  const out = Buffer.from(zip);
  const a = Buffer.from(from);
  let i = out.indexOf(a);
  let n = 0;
  while (i >= 0) {
    out.write(to, i);
    n++;
    i = out.indexOf(a, i + a.length);
  }
  if (n === 0) throw new Error('placeholder not found');
  return out;
}

/** One entry inflating to `bytes` bytes of zeros: a few hundred KB compressed. */
export async function zipBomb(bytes: number): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const chunk = Buffer.alloc(1 << 20);
  let left = bytes;
  const source = new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, chunk.length);
      left -= n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
  zip.addReadStream(source, 'bomb.bin', { compressionLevel: 9 } as yazl.ReadStreamOptions);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}
