// Blobs as files under a directory: the node's data dir, or a directory every node mounts (NFS, CephFS).
// A write streams to a temp file (`.<random>.tmp`, a name no key can have) in the blob's own directory and
// is renamed into place, so a reader on any node sees the whole blob or none of it.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type BlobBody,
  type BlobInfo,
  type BlobReader,
  type BlobStore,
  checkBlobKey,
  getBlob,
} from './blob-store.js';

export class DirBlobStore implements BlobStore {
  readonly where: string;
  readonly #root: string;
  readonly #legacyTmp: string | undefined;

  /** `legacyTmpDir`: where earlier releases kept temp files (swept, never written). */
  constructor(root: string, legacyTmpDir?: string) {
    this.#root = path.resolve(root);
    this.#legacyTmp = legacyTmpDir === undefined ? undefined : path.resolve(legacyTmpDir);
    this.where = this.#root;
    fs.mkdirSync(this.#root, { recursive: true, mode: 0o700 });
  }

  path(key: string): string {
    checkBlobKey(key);
    return path.join(this.#root, ...key.split('/'));
  }

  async put(key: string, body: BlobBody): Promise<void> {
    const dest = this.path(key);
    const tmp = path.join(path.dirname(dest), `.${randomBytes(12).toString('hex')}.tmp`);
    if (Buffer.isBuffer(body) || Array.isArray(body))
      return this.#putBuffers(tmp, dest, Buffer.isBuffer(body) ? [body] : body);
    await fsp.mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
    try {
      await pipeline(body, fs.createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
      await fsp.rename(tmp, dest);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
  }

  /**
   * A body in memory (a block, a manifest): one writev, no stream. The directory is created only when
   * the temp file cannot be (the block pool's 256 directories exist after the first few writes).
   */
  async #putBuffers(tmp: string, dest: string, parts: Buffer[]): Promise<void> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(tmp, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await fsp.mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
      fh = await fsp.open(tmp, 'wx', 0o600);
    }
    try {
      try {
        const left = parts.filter((p) => p.length > 0);
        while (left.length > 0) {
          let { bytesWritten: n } = await fh.writev(left);
          // A short write (a full disk answers ENOSPC on the next call): the rest goes again.
          while (left.length > 0 && n >= left[0]!.length) n -= left.shift()!.length;
          if (n > 0) left[0] = left[0]!.subarray(n);
        }
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, dest);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
  }

  async open(key: string): Promise<BlobReader | undefined> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(this.path(key), 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    let size: number;
    try {
      size = (await fh.stat()).size;
    } catch (e) {
      await fh.close();
      throw e;
    }
    let used = false;
    return {
      size,
      read: (range) => {
        used = true;
        const start = range?.start ?? 0;
        const end = range?.end ?? size - 1;
        if (end < start) {
          void fh.close().catch(() => undefined); // nothing to read; a close failure changes nothing
          return Readable.from([]);
        }
        return fh.createReadStream({ start, end, autoClose: true });
      },
      readInto: async (into) => {
        if (used) throw new Error(`blob ${key} read twice`);
        used = true;
        try {
          if (into.length < size)
            throw new RangeError(`a ${into.length}-byte buffer for a ${size}-byte blob`);
          let at = 0;
          while (at < size) {
            const { bytesRead } = await fh.read(into, at, size - at, at);
            if (bytesRead === 0) break; // shrank since opened: the caller sees fewer bytes than `size`
            at += bytesRead;
          }
          return into.subarray(0, at);
        } finally {
          await fh.close().catch(() => undefined); // read whole already; a close failure changes nothing
        }
      },
      close: () => {
        if (used) return;
        used = true;
        void fh.close().catch(() => undefined); // the blob was not read; a close failure changes nothing
      },
    };
  }

  get(key: string): Promise<Readable> {
    return getBlob(this, key);
  }

  async has(key: string): Promise<boolean> {
    try {
      await fsp.access(this.path(key));
      return true;
    } catch {
      return false;
    }
  }

  async delete(key: string): Promise<void> {
    await fsp.rm(this.path(key), { force: true });
  }

  deleteSync(key: string): void {
    fs.rmSync(this.path(key), { force: true });
  }

  async *list(prefix = ''): AsyncIterable<BlobInfo> {
    yield* this.#walk(this.#root, '', (key) => key.startsWith(prefix));
  }

  /** Files under dir; names starting with a dot (temp files) are not blobs and are left out. */
  async *#walk(root: string, base: string, want: (key: string) => boolean): AsyncIterable<BlobInfo> {
    const walk = async function* (dir: string, rel: string): AsyncIterable<BlobInfo> {
      let entries: fs.Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw e;
      }
      for (const e of entries) {
        if (e.name.startsWith('.')) continue;
        const key = rel ? `${rel}/${e.name}` : e.name;
        const full = path.join(dir, e.name);
        if (e.isDirectory()) yield* walk(full, key);
        else if (e.isFile() && want(key)) {
          try {
            yield { key, modifiedMs: (await fsp.stat(full)).mtimeMs };
          } catch {
            // removed meanwhile
          }
        }
      }
    };
    yield* walk(root, base);
  }

  async sweepTemp(olderThanMs: number): Promise<number> {
    const now = Date.now();
    let n = 0;
    const sweep = async (dir: string, all: boolean): Promise<void> => {
      let entries: fs.Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw e;
      }
      for (const e of entries) {
        const full = path.join(dir, e.name);
        if (!all && e.isDirectory() && !e.name.startsWith('.')) {
          await sweep(full, false);
          continue;
        }
        if (!all && !(e.name.startsWith('.') && e.name.endsWith('.tmp'))) continue;
        try {
          // Another node may be writing this one right now: only old temp files are abandoned writes.
          if (olderThanMs > 0 && now - (await fsp.stat(full)).mtimeMs < olderThanMs) continue;
          await fsp.rm(full, { force: true, recursive: true });
          n++;
        } catch {
          // gone already
        }
      }
    };
    await sweep(this.#root, false);
    if (this.#legacyTmp !== undefined) await sweep(this.#legacyTmp, true);
    return n;
  }

  async close(): Promise<void> {}
}
