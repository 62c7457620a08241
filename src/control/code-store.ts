// Code blobs: uploaded zips stored content-addressed (blobs/<sha256>.zip) and extracted once per digest
// into the read-only code cache (code/<sha256>/). The zip is untrusted: it is checked entry by entry
// while extracting into a private temp dir, which is renamed into place only when everything passed.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { DomainError, KindlingError, LambdaErrors } from '../errors.js';

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
  blobsDir: string;
  cacheDir: string;
  /** Overridable for tests; defaults to Lambda's limits. */
  maxUnzippedBytes?: number;
  maxZippedBytes?: number;
}

const DIGEST = /^[0-9a-f]{64}$/;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;

export class CodeStore {
  readonly #blobs: string;
  readonly #cache: string;
  readonly #maxUnzipped: number;
  readonly #maxZipped: number;
  /** Digests being stored by an unfinished create/update: never collected while pinned. */
  readonly #pins = new Map<string, number>();
  /** One extraction per digest at a time; concurrent uploads of the same zip share it. */
  readonly #extracting = new Map<string, Promise<void>>();

  constructor(opts: CodeStoreOptions) {
    this.#blobs = opts.blobsDir;
    this.#cache = opts.cacheDir;
    this.#maxUnzipped = opts.maxUnzippedBytes ?? CODE_LIMITS.unzippedBytes;
    this.#maxZipped = opts.maxZippedBytes ?? CODE_LIMITS.zippedBytes;
    fs.mkdirSync(this.#blobs, { recursive: true, mode: 0o700 });
    fs.mkdirSync(this.#cache, { recursive: true, mode: 0o755 });
  }

  static digestOf(zip: Buffer): { digest: string; sha256: string } {
    const h = createHash('sha256').update(zip).digest();
    return { digest: h.toString('hex'), sha256: h.toString('base64') };
  }

  codeDir(digest: string): string {
    if (!DIGEST.test(digest)) throw LambdaErrors.service('invalid code digest');
    return path.join(this.#cache, digest);
  }

  blobPath(digest: string): string {
    if (!DIGEST.test(digest)) throw LambdaErrors.service('invalid code digest');
    return path.join(this.#blobs, `${digest}.zip`);
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
      const codeDir = this.codeDir(digest);
      if (!fs.existsSync(codeDir)) {
        let job = this.#extracting.get(digest);
        if (!job) {
          job = this.#extract(zip, codeDir).finally(() => this.#extracting.delete(digest));
          this.#extracting.set(digest, job);
        }
        await job;
      }
      const blob = this.blobPath(digest);
      if (!fs.existsSync(blob)) {
        const tmp = `${blob}.${randomBytes(6).toString('hex')}.tmp`;
        await fsp.writeFile(tmp, zip, { mode: 0o400 });
        await fsp.rename(tmp, blob);
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

  hasBlob(digest: string): boolean {
    return fs.existsSync(this.blobPath(digest));
  }

  openBlob(digest: string): fs.ReadStream {
    return fs.createReadStream(this.blobPath(digest));
  }

  blobSize(digest: string): number {
    return fs.statSync(this.blobPath(digest)).size;
  }

  /**
   * Removes a digest's blob when nothing references it any more. The extracted code is kept until
   * `sweep` at the next start: an environment may still be running it.
   */
  removeBlob(digest: string): void {
    if (this.#pins.has(digest)) return;
    fs.rmSync(this.blobPath(digest), { force: true });
  }

  /** At start (no environment running): drops cache dirs, blobs and temp dirs nothing references. */
  sweep(referenced: ReadonlySet<string>): void {
    for (const name of fs.readdirSync(this.#cache)) {
      if (name.startsWith('.tmp-') || (DIGEST.test(name) && !referenced.has(name) && !this.#pins.has(name))) {
        removeTree(path.join(this.#cache, name));
      }
    }
    for (const name of fs.readdirSync(this.#blobs)) {
      const digest = name.slice(0, 64);
      if (
        name.endsWith('.tmp') ||
        (DIGEST.test(digest) && !referenced.has(digest) && !this.#pins.has(digest))
      ) {
        fs.rmSync(path.join(this.#blobs, name), { force: true });
      }
    }
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
