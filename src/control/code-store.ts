// Code blobs: uploaded zips stored content-addressed (<sha256>.zip) in the blob store (the data dir, or
// one every node shares) and extracted once per digest into this node's read-only code cache
// (code/<sha256>/), on upload or, on a node that never saw the upload, when the code is first run. The
// zip is untrusted: it is checked entry by entry while extracting into a private temp dir, which is
// renamed into place only when everything passed; a zip read back is checked against its digest.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { DomainError, KindlingError, LambdaErrors } from '../errors.js';
import { type BlobStore, readBlob } from '../store/blobs/blob-store.js';
import { buildLayerSet } from './layer-sets.js';

export const CODE_LIMITS = {
  /** Lambda's limit on a ZipFile uploaded through the API. */
  zippedBytes: 52_428_800,
  /** Lambda's limit on the extracted size of a function's code. */
  unzippedBytes: 262_144_000,
  /** Not a Lambda limit: bounds the inodes a single upload can create. */
  entries: 100_000,
} as const;

export const CodeErrors = {
  unzip: (detail?: string) =>
    LambdaErrors.invalidParameter(
      `Could not unzip uploaded file. Please check your file, then try to upload again.${detail ? ` (${detail})` : ''}`,
    ),
  unzippedTooLarge: (limit: number) =>
    LambdaErrors.invalidParameter(`Unzipped size must be smaller than ${limit} bytes`),
  zipTooLarge: (size: number, limit: number) =>
    LambdaErrors.tooLarge(`Zipped size must be smaller than ${limit} bytes (got ${size})`),
};

export interface StoredCode {
  /** Hex SHA-256 of the zip: the blob's and the cache directory's name. */
  digest: string;
  /** Base64 SHA-256 of the zip, as Lambda reports CodeSha256. */
  sha256: string;
  size: number;
  codeDir: string;
}

export interface CodeStoreOptions {
  /** Where zips live: the data dir, or a store every node shares. */
  blobs: BlobStore;
  /** Other nodes write to `blobs` too: unreferenced blobs younger than `graceMs` are theirs in flight. */
  shared?: boolean;
  graceMs?: number;
  cacheDir: string;
  /** Overridable for tests; defaults to Lambda's limits. */
  maxUnzippedBytes?: number;
  maxZippedBytes?: number;
}

const DIGEST = /^[0-9a-f]{64}$/;
/** The code cache's folder of merged layer trees. */
const LAYER_SETS = 'layer-sets';
const COMPILED = /^([0-9a-f]{64})\.compiled$/;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;

export class CodeStore {
  readonly #blobs: BlobStore;
  readonly #shared: boolean;
  readonly #graceMs: number;
  readonly #cache: string;
  /** Digests known to be extracted in this node's cache: the warm path checks nothing else. */
  readonly #extracted = new Set<string>();
  readonly #maxUnzipped: number;
  readonly #maxZipped: number;
  /** Digests being stored by an unfinished create/update: never collected while pinned. */
  readonly #pins = new Map<string, number>();
  /** One extraction per digest at a time; concurrent uploads of the same zip share it. */
  readonly #extracting = new Map<string, Promise<void>>();
  /** Other users of blobs (layer versions) asked before a blob is removed. */
  readonly #useChecks: ((digest: string) => Promise<boolean>)[] = [];
  /** Merged layer trees by layer set (see ensureLayerSet). */
  readonly #layerSets = new Map<string, Promise<string>>();

  constructor(opts: CodeStoreOptions) {
    this.#blobs = opts.blobs;
    this.#shared = opts.shared ?? false;
    this.#graceMs = opts.graceMs ?? 15 * 60_000;
    this.#cache = opts.cacheDir;
    this.#maxUnzipped = opts.maxUnzippedBytes ?? CODE_LIMITS.unzippedBytes;
    this.#maxZipped = opts.maxZippedBytes ?? CODE_LIMITS.zippedBytes;
    fs.mkdirSync(this.#cache, { recursive: true, mode: 0o755 });
  }

  static digestOf(zip: Buffer): { digest: string; sha256: string } {
    const h = createHash('sha256').update(zip).digest();
    return { digest: h.toString('hex'), sha256: h.toString('base64') };
  }

  get maxUnzippedBytes(): number {
    return this.#maxUnzipped;
  }

  /** Another owner of blobs (layers): a blob it still uses is never removed. */
  addUseCheck(inUse: (digest: string) => Promise<boolean>): void {
    this.#useChecks.push(inUse);
  }

  /** Bytes of the digest's extracted files (what counts toward the unzipped limit). */
  async unzippedSize(digest: string): Promise<number> {
    return treeSize(await this.ensureCodeDir(digest));
  }

  /**
   * The layers' extracted trees merged in order (a later layer's file replaces an earlier one's), built
   * once per layer set from hard links into the code cache, read-only: what a sandbox sees at /opt.
   */
  ensureLayerSet(digests: readonly string[]): Promise<string> {
    const key = createHash('sha256').update(digests.join(',')).digest('hex');
    let job = this.#layerSets.get(key);
    if (job === undefined) {
      job = (async () => {
        const dirs: string[] = [];
        for (const d of digests) dirs.push(await this.ensureCodeDir(d));
        return buildLayerSet(path.join(this.#cache, LAYER_SETS), key, dirs);
      })();
      this.#layerSets.set(key, job);
      job.catch(() => this.#layerSets.delete(key));
    }
    return job;
  }

  codeDir(digest: string): string {
    if (!DIGEST.test(digest)) throw LambdaErrors.service('invalid code digest');
    return path.join(this.#cache, digest);
  }

  /** The zip's key in the blob store. */
  blobKey(digest: string): string {
    if (!DIGEST.test(digest)) throw LambdaErrors.service('invalid code digest');
    return `${digest}.zip`;
  }

  /**
   * Validates and extracts the zip (once per digest) and stores the blob. The digest stays pinned
   * until `release` is called, so a concurrent delete of another function cannot collect it before
   * the caller has recorded its reference.
   */
  async put(zip: Buffer): Promise<StoredCode> {
    if (zip.length > this.#maxZipped) throw CodeErrors.zipTooLarge(zip.length, this.#maxZipped);
    if (zip.length === 0) throw CodeErrors.unzip();
    const { digest, sha256 } = CodeStore.digestOf(zip);
    this.#pin(digest);
    try {
      const codeDir = await this.#extractOnce(digest, () => Promise.resolve(zip));
      // On a shared store the zip is written again even when present: the fresh write keeps another
      // node's sweeper (which spares young blobs) from taking it before this node's row commits.
      if (this.#shared || !(await this.#blobs.has(this.blobKey(digest)))) {
        await this.#blobs.put(this.blobKey(digest), zip);
      }
      return { digest, sha256, size: zip.length, codeDir };
    } catch (e) {
      this.release(digest);
      throw e;
    }
  }

  /** Ends the pin taken by `put`. */
  release(digest: string): void {
    const n = (this.#pins.get(digest) ?? 0) - 1;
    if (n <= 0) this.#pins.delete(digest);
    else this.#pins.set(digest, n);
  }

  /**
   * The zip, checked against its digest. A zip missing from the blob store or other bytes than its
   * digest says is the platform's fault: ServiceException, never other code.
   */
  async readZip(digest: string): Promise<Buffer> {
    const key = this.blobKey(digest);
    // The caller (a tenant) learns which code failed; where the blob store is stays in the server's log.
    let zip: Buffer;
    try {
      zip = await readBlob(this.#blobs, key);
    } catch (e) {
      console.error(`kindling: code blob ${key} unreadable in ${this.#blobs.where}: ${String(e)}`);
      throw LambdaErrors.service(
        `The code of this function (SHA-256 ${digest}) could not be read from the blob store.`,
      );
    }
    if (CodeStore.digestOf(zip).digest !== digest) {
      console.error(`kindling: code blob ${key} in ${this.#blobs.where} does not match its digest`);
      throw LambdaErrors.service(
        `The code of this function (SHA-256 ${digest}) in the blob store is corrupt: its SHA-256 differs.`,
      );
    }
    return zip;
  }

  async hasBlob(digest: string): Promise<boolean> {
    return this.#blobs.has(this.blobKey(digest));
  }

  /** The digest's code is extracted on this node (ensureCodeDir has nothing to do). */
  isExtracted(digest: string): boolean {
    return this.#extracted.has(digest);
  }

  /**
   * The digest's extracted code dir in this node's cache, extracted from the blob store first when this
   * node has not seen it (the function was created on another node, or the cache was swept).
   */
  async ensureCodeDir(digest: string): Promise<string> {
    if (this.#extracted.has(digest)) return this.codeDir(digest);
    return this.#extractOnce(digest, () => this.readZip(digest));
  }

  /**
   * Removes a digest's blob when nothing references it any more. On a shared store it is left to the
   * sweeper: another node may be uploading the same zip right now, and only the sweeper's grace period
   * tells its fresh write apart. The extracted code is kept until `sweep` at the next start: an
   * environment may still be running it.
   */
  removeBlob(digest: string): void {
    if (this.#pins.has(digest) || this.#shared) return;
    if (this.#useChecks.length > 0) {
      void Promise.all(this.#useChecks.map((inUse) => inUse(digest))).then(
        (uses) => {
          if (!uses.includes(true)) this.#deleteBlob(digest);
        },
        (e: unknown) => console.error(`kindling: code blob ${digest} kept (swept later): ${String(e)}`),
      );
      return;
    }
    this.#deleteBlob(digest);
  }

  #deleteBlob(digest: string): void {
    if (this.#pins.has(digest)) return;
    if (this.#blobs.deleteSync) {
      this.#blobs.deleteSync(this.blobKey(digest));
      return;
    }
    this.#blobs.delete(this.blobKey(digest)).catch((e: unknown) => {
      console.error(`kindling: could not delete code blob ${digest} (swept later): ${String(e)}`);
    });
  }

  /**
   * At start (no environment running on this node): drops cache dirs and temp dirs nothing references,
   * and blobs nothing references (see sweepBlobs).
   */
  async sweep(referenced: ReadonlySet<string>): Promise<void> {
    const unused = (digest: string) => !referenced.has(digest) && !this.#pins.has(digest);
    // Merged layer trees are rebuilt on demand; no environment runs at start.
    this.#layerSets.clear();
    removeTree(path.join(this.#cache, LAYER_SETS));
    for (const name of fs.readdirSync(this.#cache)) {
      if (name.startsWith('.tmp-') || (DIGEST.test(name) && unused(name))) {
        removeTree(path.join(this.#cache, name));
      }
      // `<digest>.compiled/`: the runtimes' compile caches of that code (runtimes/compile-cache.ts).
      const compiled = COMPILED.exec(name)?.[1];
      if (compiled === undefined) continue;
      const dir = path.join(this.#cache, name);
      if (unused(compiled)) removeTree(dir);
      else
        for (const sub of fs.readdirSync(dir)) if (sub.startsWith('.tmp-')) removeTree(path.join(dir, sub));
    }
    await this.sweepBlobs(referenced);
  }

  /**
   * Drops zips nothing references. On a shared store only those older than the grace period: a younger
   * one may be another node's upload whose function row is about to commit.
   */
  async sweepBlobs(referenced: ReadonlySet<string>): Promise<void> {
    const grace = this.#shared ? this.#graceMs : 0;
    await this.#blobs.sweepTemp(grace);
    const now = Date.now();
    for await (const b of this.#blobs.list()) {
      const digest = b.key.slice(0, 64);
      // `<digest>.zip.<rand>.tmp`: temp files of earlier releases, written beside the blobs.
      const unused = b.key.endsWith('.tmp') || (DIGEST.test(digest) && !referenced.has(digest));
      if (unused && !this.#pins.has(digest) && now - b.modifiedMs >= grace) await this.#blobs.delete(b.key);
    }
  }

  /** Extracts the digest's zip into the cache once (concurrent callers share one extraction). */
  async #extractOnce(digest: string, zip: () => Promise<Buffer>): Promise<string> {
    const codeDir = this.codeDir(digest);
    if (!fs.existsSync(codeDir)) {
      let job = this.#extracting.get(digest);
      if (!job) {
        job = zip()
          .then((z) => this.#extract(z, codeDir))
          .finally(() => this.#extracting.delete(digest));
        this.#extracting.set(digest, job);
      }
      await job;
    }
    this.#extracted.add(digest);
    return codeDir;
  }

  #pin(digest: string): void {
    this.#pins.set(digest, (this.#pins.get(digest) ?? 0) + 1);
  }

  async #extract(zip: Buffer, codeDir: string): Promise<void> {
    const tmp = path.join(this.#cache, `.tmp-${path.basename(codeDir)}-${randomBytes(6).toString('hex')}`);
    await fsp.mkdir(tmp, { mode: 0o700 });
    try {
      await extractZip(zip, tmp, this.#maxUnzipped);
      await makeReadOnly(tmp);
      try {
        await fsp.rename(tmp, codeDir);
      } catch (e) {
        // Someone else finished the same digest first: theirs is identical.
        if (!fs.existsSync(codeDir)) throw e;
        removeTree(tmp);
      }
    } catch (e) {
      removeTree(tmp);
      throw e;
    }
  }
}

/** Inside `root`: a relative, normalized path without `..`, or undefined when the name is unsafe. */
export function safeEntryPath(root: string, name: string): string | undefined {
  if (name.includes('\0') || name.includes('\\')) return undefined;
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) return undefined;
  const parts = name.split('/');
  if (parts.includes('..')) return undefined;
  const target = path.resolve(root, ...parts.filter((p) => p !== '' && p !== '.'));
  if (target !== root && !target.startsWith(root + path.sep)) return undefined;
  return target;
}

function unzipError(e: unknown): KindlingError | DomainError {
  if (e instanceof KindlingError || e instanceof DomainError) return e;
  // yauzl refuses unsafe names itself; keep its reason, it helps the uploader.
  const m =
    e instanceof Error
      ? /^(absolute path|invalid relative path|invalid characters in fileName): (.*)$/s.exec(e.message)
      : null;
  if (m) return CodeErrors.unzip(`entry ${JSON.stringify(m[2])} is outside the code directory`);
  return CodeErrors.unzip();
}

/**
 * Extracts an untrusted zip into `root` (an empty private dir). Refuses before writing when the declared
 * sizes exceed the limit, and counts inflated bytes while streaming (yauzl's validateEntrySizes ends an
 * entry that inflates past its declared size), so a zip bomb never writes more than `maxBytes`.
 */
export async function extractZip(zip: Buffer, root: string, maxBytes: number): Promise<void> {
  let zf: yauzl.ZipFile;
  try {
    // strictFileNames off: yauzl turns the backslashes of zips made on Windows into slashes (so such
    // zips unpack into directories), then refuses absolute and `..` names all the same.
    zf = await yauzl.fromBufferPromise(zip, {
      lazyEntries: true,
      validateEntrySizes: true,
      strictFileNames: false,
    });
  } catch (e) {
    throw unzipError(e);
  }
  try {
    if (zf.entryCount === 0) throw CodeErrors.unzip('the archive is empty');
    if (zf.entryCount > CODE_LIMITS.entries)
      throw CodeErrors.unzip(`more than ${CODE_LIMITS.entries} entries`);
    let written = 0;
    let files = 0;
    for await (const entry of zf.eachEntry()) {
      const target = safeEntryPath(root, entry.fileName);
      if (!target)
        throw CodeErrors.unzip(`entry ${JSON.stringify(entry.fileName)} is outside the code directory`);
      const mode = (entry.externalFileAttributes >>> 16) & 0xffff;
      if ((mode & S_IFMT) === S_IFLNK) {
        throw CodeErrors.unzip(
          `entry ${JSON.stringify(entry.fileName)} is a symbolic link, which is not supported`,
        );
      }
      if (entry.fileName.endsWith('/') || (mode & S_IFMT) === S_IFDIR) {
        await fsp.mkdir(target, { recursive: true, mode: 0o700 });
        continue;
      }
      if (written + entry.uncompressedSize > maxBytes) throw CodeErrors.unzippedTooLarge(maxBytes);
      await fsp.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
      // 'wx': a duplicate entry name is refused instead of overwriting what an earlier entry wrote.
      const fh = await fsp.open(target, 'wx', 0o600);
      let stream: Readable | undefined;
      try {
        // Iterate at once: an error the stream emits before anyone listens would be uncaught.
        stream = await zf.openReadStreamPromise(entry);
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          written += chunk.length;
          if (written > maxBytes) throw CodeErrors.unzippedTooLarge(maxBytes);
          await fh.write(chunk);
        }
      } finally {
        stream?.destroy();
        await fh.close();
      }
      await fsp.chmod(target, mode & 0o111 ? 0o555 : 0o444);
      files++;
    }
    if (files === 0) throw CodeErrors.unzip('the archive contains no files');
  } catch (e) {
    throw unzipError(e);
  } finally {
    zf.close();
  }
}

/** Directories become 0555 (files were made 0444/0555 as written), deepest first. */
async function makeReadOnly(dir: string): Promise<void> {
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) await makeReadOnly(path.join(dir, e.name));
  }
  await fsp.chmod(dir, 0o555);
}

/** rm -rf that also works on the read-only trees of the code cache when not running as root. */
export function removeTree(dir: string): void {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
    return;
  } catch {
    // EACCES on a read-only directory: make the tree writable, then remove it.
  }
  const unlock = (d: string) => {
    try {
      fs.chmodSync(d, 0o700);
      for (const e of fs.readdirSync(d, { withFileTypes: true }))
        if (e.isDirectory()) unlock(path.join(d, e.name));
    } catch {
      // already gone
    }
  };
  unlock(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Bytes of the regular files under `dir`. */
export async function treeSize(dir: string): Promise<number> {
  let n = 0;
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += await treeSize(p);
    else if (e.isFile()) n += (await fsp.stat(p)).size;
  }
  return n;
}
