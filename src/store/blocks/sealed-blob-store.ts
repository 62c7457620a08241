// A blob store whose blobs are manifests over the block pool: `put` stores the body's blocks, then its
// sealed manifest under the key (so a crash in between leaves only unreferenced blocks, which the sweep
// reclaims); `open` opens the owner's manifest and reads only the blocks a range needs. Blobs written
// before the block layer (or with KINDLING_STORAGE=plain) have no manifest header and are read as they are.
import { Readable } from 'node:stream';
import {
  type BlobBody,
  BlobCorruptError,
  type BlobInfo,
  type BlobReader,
  type BlobStore,
  getBlob,
} from '../blobs/blob-store.js';
import { BlockError, type BlockPool, type BlockRef, blockName } from './blocks.js';
import {
  isManifest,
  type Manifest,
  ManifestError,
  manifestOwner,
  openManifest,
  sealManifest,
} from './manifest.js';

/** A manifest this small is read in the first read; a 5 GB object's is 180 KB. */
const HEAD_BYTES = 64 * 1024;

export class SealedBlobStore implements BlobStore {
  readonly #raw: BlobStore;
  readonly #pool: BlockPool;
  readonly #seal: boolean;
  readonly #defaultOwner: string | undefined;

  /** `seal` false: writes stay plain (the comparison path); reads still open manifests. */
  constructor(raw: BlobStore, pool: BlockPool, opts: { seal: boolean; defaultOwner?: string }) {
    this.#raw = raw;
    this.#pool = pool;
    this.#seal = opts.seal;
    this.#defaultOwner = opts.defaultOwner;
  }

  get where(): string {
    return this.#raw.where;
  }

  get sealing(): boolean {
    return this.#seal;
  }

  #owner(owner: string | undefined): string {
    const o = owner ?? this.#defaultOwner;
    if (o === undefined) throw new Error('a sealed blob needs its owner');
    return o;
  }

  async put(key: string, body: BlobBody, owner?: string): Promise<void> {
    if (!this.#seal) return this.#raw.put(key, body);
    const o = this.#owner(owner);
    const src =
      Buffer.isBuffer(body) || Array.isArray(body)
        ? (async function* () {
            yield* Buffer.isBuffer(body) ? [body] : body;
          })()
        : body;
    const w = await this.#pool.write(o, src);
    try {
      await this.#raw.put(
        key,
        sealManifest(this.#pool.keyring, { owner: o, size: w.size, blocks: w.blocks }),
      );
    } finally {
      w.release();
    }
  }

  /**
   * Stores the concatenation of sealed blobs as a new manifest over their blocks, re-encrypting nothing
   * (multipart completion). Undefined when not sealing or a source is plain: the caller copies the bytes.
   * The sources' manifests must stay until this one is written (they keep the blocks referenced).
   */
  async concat(key: string, sources: readonly string[], owner: string): Promise<number | undefined> {
    if (!this.#seal) return undefined;
    const blocks: BlockRef[] = [];
    let size = 0;
    for (const s of sources) {
      const m = await this.#manifest(s, owner);
      if (m === undefined) return undefined;
      blocks.push(...m.blocks);
      size += m.size;
    }
    await this.#raw.put(key, sealManifest(this.#pool.keyring, { owner, size, blocks }));
    return size;
  }

  /** The owner's manifest of `key`; undefined when the blob is plain; BlobCorruptError when it does not open. */
  async #manifest(key: string, owner: string): Promise<Manifest | undefined> {
    const raw = await this.#readRaw(key);
    if (raw === undefined || raw.plain) return undefined;
    try {
      return openManifest(this.#pool.keyring, raw.buf, owner);
    } catch (e) {
      if (e instanceof ManifestError) throw new BlobCorruptError(key, this.where, e.message);
      throw e;
    }
  }

  /** The blob's first bytes, or all of it when it is a manifest or small. */
  async #readRaw(key: string): Promise<{ buf: Buffer; plain: boolean; whole: boolean } | undefined> {
    const r = await this.#raw.open(key);
    if (r === undefined) return undefined;
    if (r.size === 0) {
      r.close();
      return { buf: Buffer.alloc(0), plain: true, whole: true };
    }
    const head = await collect(r.read({ start: 0, end: Math.min(r.size, HEAD_BYTES) - 1 }));
    const whole = r.size <= HEAD_BYTES;
    if (!isManifest(head)) return { buf: head, plain: true, whole };
    if (whole) return { buf: head, plain: false, whole };
    const again = await this.#raw.open(key);
    if (again === undefined) return undefined;
    return { buf: await collect(again.read()), plain: false, whole: true };
  }

  async open(key: string, owner?: string): Promise<BlobReader | undefined> {
    const raw = await this.#readRaw(key);
    if (raw === undefined) return undefined;
    if (raw.plain) {
      if (!raw.whole) return this.#raw.open(key);
      const buf = raw.buf;
      return {
        size: buf.length,
        read: (range) => Readable.from(range ? [buf.subarray(range.start, range.end + 1)] : [buf]),
        close: () => undefined,
      };
    }
    let m: Manifest;
    try {
      m = openManifest(this.#pool.keyring, raw.buf, this.#owner(owner));
    } catch (e) {
      if (e instanceof ManifestError) throw new BlobCorruptError(key, this.where, e.message);
      throw e;
    }
    return {
      size: m.size,
      read: (range) => Readable.from(this.#readRange(key, m, range), { objectMode: false }),
      close: () => undefined,
    };
  }

  async *#readRange(key: string, m: Manifest, range?: { start: number; end: number }): AsyncIterable<Buffer> {
    const start = range?.start ?? 0;
    const end = range?.end ?? m.size - 1;
    if (end < start) return;
    // Only the blocks the range covers are read.
    let offset = 0;
    let first = -1;
    let last = -1;
    let firstOffset = 0;
    for (let i = 0; i < m.blocks.length; i++) {
      const b = m.blocks[i]!;
      if (first < 0 && start < offset + b.size) {
        first = i;
        firstOffset = offset;
      }
      if (end < offset + b.size) {
        last = i;
        break;
      }
      offset += b.size;
    }
    if (first < 0 || last < 0) throw new BlobCorruptError(key, this.where, 'the range is beyond its blocks');
    let at = firstOffset;
    try {
      for await (const chunks of this.#pool.read(m.blocks.slice(first, last + 1))) {
        for (const plain of chunks) {
          const from = Math.max(0, start - at);
          const to = Math.min(plain.length, end - at + 1);
          at += plain.length;
          if (to > from) yield from === 0 && to === plain.length ? plain : plain.subarray(from, to);
        }
      }
    } catch (e) {
      if (e instanceof BlockError) {
        console.error(`kindling: blob ${key} in ${this.where} unreadable: ${e.message}`);
        throw new BlobCorruptError(key, this.where, e.message);
      }
      throw e;
    }
  }

  get(key: string, owner?: string): Promise<Readable> {
    return getBlob(this, key, owner);
  }

  has(key: string): Promise<boolean> {
    return this.#raw.has(key);
  }

  delete(key: string): Promise<void> {
    return this.#raw.delete(key);
  }

  get deleteSync(): ((key: string) => void) | undefined {
    const raw = this.#raw;
    return raw.deleteSync ? (key) => raw.deleteSync!(key) : undefined;
  }

  list(prefix?: string): AsyncIterable<BlobInfo> {
    return this.#raw.list(prefix);
  }

  sweepTemp(olderThanMs: number): Promise<number> {
    return this.#raw.sweepTemp(olderThanMs);
  }

  close(): Promise<void> {
    return this.#raw.close();
  }

  /**
   * Every manifest in the store, opened with the key of the owner its header names. A manifest that does
   * not open throws: the sweep then removes nothing rather than blocks a manifest it cannot read needs.
   * Plain blobs count as their own bytes (`plain`).
   */
  async *manifests(): AsyncIterable<{ key: string; manifest?: Manifest; plainBytes?: number }> {
    for await (const b of this.#raw.list()) {
      const raw = await this.#readRaw(b.key);
      if (raw === undefined) continue;
      if (raw.plain) {
        const r = raw.whole ? undefined : await this.#raw.open(b.key);
        r?.close();
        yield { key: b.key, plainBytes: raw.whole ? raw.buf.length : (r?.size ?? 0) };
        continue;
      }
      let m: Manifest;
      try {
        m = openManifest(this.#pool.keyring, raw.buf, manifestOwner(raw.buf));
      } catch (e) {
        throw new Error(`manifest ${b.key} in ${this.where} does not open: ${(e as Error).message}`);
      }
      yield { key: b.key, manifest: m };
    }
  }
}

/** Block names a manifest references. */
export const namesOf = (m: Manifest): string[] => m.blocks.map((b) => blockName(b.key));

async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r as AsyncIterable<Buffer>) chunks.push(c);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}
