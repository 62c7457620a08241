// Object bytes in the blob store, named by an internal id (never by the user's key): `<shard>/<id>`.
// A write becomes visible only when a row names it; a blob no row names is an orphan for the sweeper.
// Each blob is its owning tenant's (the block layer seals its manifest under that tenant's key).
import { createHash, randomBytes } from 'node:crypto';
import { BlobMissingError, type BlobReader, type BlobStore } from '../../store/blobs/blob-store.js';
import { tenantOwner } from '../../store/blocks/storage.js';

export interface WrittenBlob {
  blob: string;
  size: number;
  md5: Buffer;
}

const BLOB_ID = /^[0-9a-f]{32}$/;

export class BlobFiles {
  readonly #store: BlobStore;
  readonly #shared: boolean;
  readonly #graceMs: number;

  /** `shared`: other nodes write to the same store, so young orphans may be their uncommitted writes. */
  constructor(store: BlobStore, opts: { shared: boolean; graceMs: number }) {
    this.#store = store;
    this.#shared = opts.shared;
    this.#graceMs = opts.graceMs;
  }

  get where(): string {
    return this.#store.where;
  }

  /** Internal ids only: a user's key never reaches a blob key. */
  key(blob: string): string {
    if (!BLOB_ID.test(blob)) throw new Error(`invalid blob id: ${blob}`);
    return `${blob.slice(0, 2)}/${blob}`;
  }

  /**
   * Removes temp files of writes that never finished and blobs `live()` does not name (writes whose
   * commit never happened, old versions whose delete did not). On a shared store only those older than
   * the grace period: a younger one may be another node's write about to commit. `live` is read after
   * the listing, so a blob committed meanwhile is seen as live.
   */
  async recover(live: () => Promise<Set<string>>): Promise<{ tempFiles: number; orphans: number }> {
    const grace = this.#shared ? this.#graceMs : 0;
    const tempFiles = await this.#store.sweepTemp(grace);
    const now = Date.now();
    const candidates: string[] = [];
    for await (const b of this.#store.list()) {
      if (now - b.modifiedMs >= grace) candidates.push(b.key);
    }
    const names = await live();
    let orphans = 0;
    for (const key of candidates) {
      const id = key.slice(key.lastIndexOf('/') + 1);
      if (!names.has(id)) {
        await this.#store.delete(key);
        orphans++;
      }
    }
    return { tempFiles, orphans };
  }

  /** Opens the tenant's blob; BlobMissingError when a row names it and the store does not have it. */
  async open(tenantId: string, blob: string): Promise<BlobReader> {
    const r = await this.#store.open(this.key(blob), tenantOwner(tenantId));
    if (!r) throw new BlobMissingError(this.key(blob), this.#store.where);
    return r;
  }

  async unlink(blob: string): Promise<void> {
    await this.#store.delete(this.key(blob));
  }

  /** Unlinks without failing the caller: a blob left behind is an orphan the sweeper removes later. */
  async unlinkQuietly(blob: string): Promise<void> {
    try {
      await this.unlink(blob);
    } catch (e) {
      console.error(`kindling: could not delete object blob ${blob} (the sweeper retries): ${String(e)}`);
    }
  }

  /**
   * The tenant's blobs concatenated into a new one without copying their bytes, where the store can
   * (the block layer); undefined when it cannot (the caller streams them through `write`).
   */
  async concat(
    tenantId: string,
    blobs: readonly string[],
  ): Promise<{ blob: string; size: number } | undefined> {
    if (this.#store.concat === undefined) return undefined;
    const blob = randomBytes(16).toString('hex');
    const size = await this.#store.concat(
      this.key(blob),
      blobs.map((b) => this.key(b)),
      tenantOwner(tenantId),
    );
    return size === undefined ? undefined : { blob, size };
  }

  /** Streams the tenant's body into the store under a fresh internal id. */
  async write(tenantId: string, body: AsyncIterable<Uint8Array>): Promise<WrittenBlob> {
    const blob = randomBytes(16).toString('hex');
    const md5 = createHash('md5');
    let size = 0;
    async function* counted(): AsyncIterable<Uint8Array> {
      for await (const chunk of body) {
        md5.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    }
    await this.#store.put(this.key(blob), counted(), tenantOwner(tenantId));
    return { blob, size, md5: md5.digest() };
  }
}
