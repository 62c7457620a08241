// The block pool: bodies split into fixed-size blocks, each encrypted under a key derived from its own
// plaintext and the owner's salt (convergent encryption), stored once under a name derived from that key.
// Identical blocks of any objects, versions or tenants sharing a salt are one file. A block is
// AES-256-GCM with a nonce derived from its key (each key only ever encrypts one plaintext), so a
// changed or swapped file fails authentication on read: never other bytes. Without the plaintext and
// the master key (the salt) a block's name and key cannot be computed, so the store reveals nothing.
import { createCipheriv, createDecipheriv, createHash, createHmac } from 'node:crypto';
import type { BlobStore } from '../blobs/blob-store.js';
import type { Keyring } from './keyring.js';

/**
 * 1 MiB: large enough that a 5 GB object is 5,000 files and a manifest of 36 bytes per block stays small,
 * and that per-file costs (open, rename) vanish beside the crypto; small enough that a range reads at
 * most 2 MiB it does not need, and that multipart parts (5 MiB minimum, in MiB by every SDK) align.
 */
export const BLOCK_SIZE = 1024 * 1024;
const TAG = 16;
/**
 * Blocks written or read ahead at once per body (8 MiB of memory each way): the disk works on these
 * while the event loop hashes, encrypts or decrypts the next (4 measured slower on a loaded machine).
 */
const IN_FLIGHT = 8;

/** One block of a body: its convergent key (the name is derived from it) and its plaintext size. */
export interface BlockRef {
  key: Buffer;
  size: number;
}

/** A block that a manifest names is missing or does not authenticate: the read fails, naming it. */
export class BlockError extends Error {
  override readonly name = 'BlockError';
  constructor(
    readonly block: string,
    readonly where: string,
    detail: string,
  ) {
    super(`block ${block} in ${where} ${detail}`);
  }
}

export function blockName(key: Buffer): string {
  return createHmac('sha256', key).update('kindling block name').digest('hex');
}

const blockPath = (name: string) => `${name.slice(0, 2)}/${name}`;
const NAME = /^[0-9a-f]{64}$/;

export class BlockPool {
  readonly #raw: BlobStore;
  readonly #keys: Keyring;
  readonly #shared: boolean;
  /** Blocks of bodies being written on this node (count per name): never swept. */
  readonly #inflight = new Map<string, number>();
  /** Per running sweep: blocks pinned or released while it ran (it may have missed their manifest). */
  readonly #sweeps = new Set<Set<string>>();
  /** Blocks a sweep is deleting: a writer that wants one waits, then writes it again. */
  readonly #deleting = new Map<string, Promise<void>>();

  /** `shared`: other nodes write here; a reused block is written again to renew it (see sweep's grace). */
  constructor(raw: BlobStore, keys: Keyring, opts: { shared: boolean }) {
    this.#raw = raw;
    this.#keys = keys;
    this.#shared = opts.shared;
  }

  get where(): string {
    return this.#raw.where;
  }

  get keyring(): Keyring {
    return this.#keys;
  }

  /**
   * Splits the body into blocks and stores those not stored yet. The blocks stay pinned (no sweep on
   * this node removes them) until `release` is called, which the caller does once the manifest naming
   * them is written (or abandoned).
   */
  async write(
    owner: string,
    body: AsyncIterable<Uint8Array>,
  ): Promise<{ blocks: BlockRef[]; size: number; release: () => void }> {
    const salt = this.#keys.salt(owner);
    const blocks: BlockRef[] = [];
    const pinned: string[] = [];
    const release = () => {
      for (const n of pinned.splice(0)) this.#unpin(n);
    };
    const pending = new Set<Promise<void>>();
    let failure: unknown;
    let size = 0;
    // Block buffers are reused once encrypted: a fresh 1 MiB buffer costs a page fault per 4 KiB.
    const spare: Buffer[] = [];
    const store = (plain: Buffer, whole: Buffer) => {
      // Hashed now, on the event loop (node:crypto, SHA-NI: well under 1 ms per MiB), so the block is
      // pinned before anything is awaited; encrypted once the pool knows it must be written. WebCrypto
      // on the thread pool cost more than it saved: it copies the input and returns a fresh ArrayBuffer
      // per call, whose external memory drove full GCs.
      const key = convergentKey(salt, plain);
      const name = blockName(key);
      blocks.push({ key, size: plain.length });
      pinned.push(name);
      this.#pin(name);
      const p = this.#storeBlock(name, key, plain, () => spare.push(whole)).catch((e: unknown) => {
        failure ??= e;
      });
      pending.add(p);
      void p.finally(() => pending.delete(p));
    };
    try {
      let buf: Buffer = Buffer.allocUnsafe(BLOCK_SIZE);
      let fill = 0;
      for await (const c of body) {
        let chunk = c;
        size += chunk.length;
        while (chunk.length > 0) {
          const n = Math.min(chunk.length, BLOCK_SIZE - fill);
          buf.set(n === chunk.length ? chunk : chunk.subarray(0, n), fill);
          fill += n;
          chunk = chunk.subarray(n);
          if (fill === BLOCK_SIZE) {
            store(buf, buf);
            buf = spare.pop() ?? Buffer.allocUnsafe(BLOCK_SIZE);
            fill = 0;
            while (pending.size >= IN_FLIGHT) await Promise.race(pending);
            if (failure !== undefined) throw failure;
          }
        }
      }
      if (fill > 0) store(buf.subarray(0, fill), buf);
      await Promise.all(pending);
      if (failure !== undefined) throw failure;
      return { blocks, size, release };
    } catch (e) {
      await Promise.allSettled(pending);
      release();
      throw e;
    }
  }

  /** `done`: the plaintext buffer is no longer needed (encrypted, or the block was stored already). */
  async #storeBlock(name: string, key: Buffer, plain: Buffer, done: () => void): Promise<void> {
    const deleting = this.#deleting.get(name);
    if (deleting !== undefined) await deleting.catch(() => undefined);
    // One node: a block already stored is the same bytes (its name is its key's). A shared store: written
    // again, so its fresh mtime keeps another node's sweep (which spares young blocks) off it.
    if (!this.#shared && (await this.#raw.has(blockPath(name)))) return done();
    // AES-256-GCM: the ciphertext, then the 16-byte tag, written together without joining them.
    const cipher = createCipheriv('aes-256-gcm', key, nonceOf(key));
    const sealed = cipher.update(plain);
    cipher.final();
    done();
    await this.#raw.put(blockPath(name), [sealed, cipher.getAuthTag()]);
  }

  /**
   * The plaintext of the blocks, in order, each as its chunks: a block is authenticated before any of
   * its bytes is passed on.
   */
  async *read(blocks: readonly BlockRef[]): AsyncIterable<Buffer[]> {
    const ahead: Promise<Buffer[]>[] = [];
    // Ciphertext buffers, reused: each is free again once its block is deciphered.
    const spare: Buffer[] = [];
    let next = 0;
    const fill = () => {
      while (ahead.length < IN_FLIGHT && next < blocks.length) {
        const p = this.#readBlock(blocks[next++]!, spare);
        p.catch(() => undefined); // awaited in order below
        ahead.push(p);
      }
    };
    fill();
    while (ahead.length > 0) {
      const b = await ahead.shift()!;
      fill();
      yield b;
    }
  }

  async #readBlock(ref: BlockRef, spare: Buffer[]): Promise<Buffer[]> {
    const name = blockName(ref.key);
    const r = await this.#raw.open(blockPath(name));
    if (r === undefined) throw new BlockError(name, this.#raw.where, 'is missing');
    if (r.size !== ref.size + TAG) {
      r.close();
      throw new BlockError(name, this.#raw.where, `has ${r.size} bytes where ${ref.size + TAG} were stored`);
    }
    const decipher = createDecipheriv('aes-256-gcm', ref.key, nonceOf(ref.key));
    const corrupt = () => new BlockError(name, this.#raw.where, 'is corrupt (it does not authenticate)');
    if (r.readInto !== undefined) {
      // A local file: one read into a reused buffer, one decipher call, one plaintext buffer.
      let buf = spare.pop();
      if (buf === undefined || buf.length < r.size)
        buf = Buffer.allocUnsafe(Math.max(r.size, BLOCK_SIZE + TAG));
      try {
        const sealed = await r.readInto(buf);
        if (sealed.length !== r.size)
          throw new BlockError(
            name,
            this.#raw.where,
            `was cut short while read (${sealed.length} of ${r.size} bytes)`,
          );
        const plain = decipher.update(sealed.subarray(0, ref.size));
        try {
          decipher.setAuthTag(sealed.subarray(ref.size));
          decipher.final();
        } catch {
          throw corrupt();
        }
        return [plain];
      } finally {
        spare.push(buf);
      }
    }
    // Deciphered as it streams in (no 1 MiB copies), the tag held back; nothing is passed on until
    // final() has authenticated the whole block.
    const plain: Buffer[] = [];
    const tag: Buffer[] = [];
    let at = 0;
    for await (const c of r.read() as AsyncIterable<Buffer>) {
      const body = Math.max(0, Math.min(c.length, ref.size - at));
      if (body > 0) plain.push(decipher.update(body === c.length ? c : c.subarray(0, body)));
      if (body < c.length) tag.push(c.subarray(body));
      at += c.length;
    }
    try {
      decipher.setAuthTag(Buffer.concat(tag));
      decipher.final();
    } catch {
      throw corrupt();
    }
    return plain;
  }

  /**
   * Removes blocks no manifest references. `referenced` lists the blocks of every manifest; it is called
   * after the listing, and blocks pinned by a write on this node, or pinned or released while the sweep
   * ran, are kept, so an upload in flight never loses a block. On a shared store only blocks older than
   * `graceMs` go: a younger one may be another node's upload whose manifest is not written yet.
   */
  async sweep(referenced: () => Promise<Set<string>>, graceMs: number): Promise<{ removed: number }> {
    const touched = new Set<string>();
    this.#sweeps.add(touched);
    try {
      await this.#raw.sweepTemp(graceMs);
      const now = Date.now();
      const candidates: string[] = [];
      for await (const b of this.#raw.list()) {
        const name = b.key.slice(b.key.lastIndexOf('/') + 1);
        if (NAME.test(name) && now - b.modifiedMs >= graceMs) candidates.push(name);
      }
      const live = await referenced();
      let removed = 0;
      for (const name of candidates) {
        if (live.has(name) || this.#inflight.has(name) || touched.has(name)) continue;
        // Checked and marked in one turn: a writer pinning it from now on waits for the delete.
        const p = this.#raw.delete(blockPath(name));
        this.#deleting.set(name, p);
        try {
          await p;
          removed++;
        } finally {
          this.#deleting.delete(name);
        }
      }
      return { removed };
    } finally {
      this.#sweeps.delete(touched);
    }
  }

  #pin(name: string): void {
    this.#inflight.set(name, (this.#inflight.get(name) ?? 0) + 1);
    for (const s of this.#sweeps) s.add(name);
  }

  #unpin(name: string): void {
    const n = (this.#inflight.get(name) ?? 0) - 1;
    if (n <= 0) this.#inflight.delete(name);
    else this.#inflight.set(name, n);
    for (const s of this.#sweeps) s.add(name);
  }
}

export const storedSize = (ref: BlockRef): number => ref.size + TAG;

/** The block's convergent key: HMAC-SHA256(salt, SHA-256(plaintext)). */
function convergentKey(salt: Buffer, plain: Buffer): Buffer {
  return createHmac('sha256', salt).update(createHash('sha256').update(plain).digest()).digest();
}

function nonceOf(key: Buffer): Buffer {
  return createHmac('sha256', key).update('kindling block nonce').digest().subarray(0, 12);
}
