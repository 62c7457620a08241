// Object bytes as files under the data dir, named by an internal id (never by the user's key). Writes
// stream to a temp file and are renamed into place; they become visible only when a row names them.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

export interface WrittenBlob {
  blob: string;
  size: number;
  md5: Buffer;
}

export class BlobFiles {
  readonly #tmpDir: string;
  readonly #dataDir: string;

  constructor(dir: string) {
    this.#tmpDir = path.join(dir, 'tmp');
    this.#dataDir = path.join(dir, 'data');
    fs.mkdirSync(this.#tmpDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(this.#dataDir, { recursive: true, mode: 0o700 });
  }

  /**
   * Restart recovery: temp files are uploads that never completed; blob files `live` does not name are
   * writes whose commit never happened (or old versions whose unlink did not). Both go.
   */
  recover(live: Set<string>): { tempFiles: number; orphans: number } {
    let tempFiles = 0;
    for (const f of fs.readdirSync(this.#tmpDir)) {
      fs.rmSync(path.join(this.#tmpDir, f), { force: true, recursive: true });
      tempFiles++;
    }
    let orphans = 0;
    for (const shard of fs.readdirSync(this.#dataDir)) {
      const dir = path.join(this.#dataDir, shard);
      for (const f of fs.readdirSync(dir)) {
        if (!live.has(f)) {
          fs.rmSync(path.join(dir, f), { force: true });
          orphans++;
        }
      }
    }
    return { tempFiles, orphans };
  }

  /** Internal ids only: a user's key never reaches a filesystem path. */
  path(blob: string): string {
    if (!/^[0-9a-f]{32}$/.test(blob)) throw new Error(`invalid blob id: ${blob}`);
    return path.join(this.#dataDir, blob.slice(0, 2), blob);
  }

  unlink(blob: string): void {
    fs.rmSync(this.path(blob), { force: true });
  }

  /** Streams the body to a temp file, then renames it into place under a fresh internal id. */
  async write(body: AsyncIterable<Uint8Array>): Promise<WrittenBlob> {
    const blob = randomBytes(16).toString('hex');
    const tmp = path.join(this.#tmpDir, blob);
    const md5 = createHash('md5');
    let size = 0;
    async function* counted(): AsyncIterable<Uint8Array> {
      for await (const chunk of body) {
        md5.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    }
    try {
      await pipeline(counted(), fs.createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
      const dest = this.path(blob);
      fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 });
      fs.renameSync(tmp, dest);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    return { blob, size, md5: md5.digest() };
  }
}
