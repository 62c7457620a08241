// The blob store: opaque byte strings under keys (code zips, object bodies, multipart parts), kept either
// in a directory (the node's data dir, or one every node mounts) or in an S3-compatible bucket. Rows in
// the database name blobs; a blob no row names is an orphan the sweeper removes once it is old enough.
import type { Readable } from 'node:stream';

/** A blob's key: path segments of safe characters, never `.`/`..`, never absolute. */
export const BLOB_KEY = /^[0-9A-Za-z][0-9A-Za-z._-]*(\/[0-9A-Za-z][0-9A-Za-z._-]*)*$/;

export function checkBlobKey(key: string): void {
  if (!BLOB_KEY.test(key) || key.length > 512) throw new Error(`invalid blob key: ${JSON.stringify(key)}`);
}

/** A blob that a row names is absent from the store (or unreadable): never answered with other bytes. */
export class BlobMissingError extends Error {
  override readonly name = 'BlobMissingError';
  constructor(
    readonly key: string,
    readonly where: string,
    options?: { cause?: unknown },
  ) {
    super(`blob ${key} is missing from the blob store (${where})`, options);
  }
}

/** A blob whose bytes do not match the digest or size its row records. */
export class BlobCorruptError extends Error {
  override readonly name = 'BlobCorruptError';
  constructor(
    readonly key: string,
    readonly where: string,
    detail: string,
  ) {
    super(`blob ${key} in the blob store (${where}) is corrupt: ${detail}`);
  }
}

/** A blob's bytes to write: whole, as consecutive parts, or streamed. */
export type BlobBody = Buffer | Buffer[] | AsyncIterable<Uint8Array>;

/** An open blob: its size, and its bytes (all, or an inclusive range) streamed on demand. */
export interface BlobReader {
  readonly size: number;
  read(range?: { start: number; end: number }): Readable;
  /**
   * The whole blob read into `into` (at least `size` bytes long) at once, and released; where that is
   * cheap (a local file: one read instead of a stream). Answers the filled part of `into`.
   */
  readInto?(into: Buffer): Promise<Buffer>;
  /** Releases the blob when `read` was not called. */
  close(): void;
}

export interface BlobInfo {
  key: string;
  /** Last written, milliseconds since the epoch (the store's clock for S3, the file's mtime on a dir). */
  modifiedMs: number;
}

export interface BlobStore {
  /** Where the blobs live, for messages (a path or `s3://bucket/prefix`). */
  readonly where: string;
  /**
   * Writes the blob atomically: readers see the whole body or nothing (replaces an existing blob).
   * `owner` (a tenant, for the block layer's manifest key; see store/blocks/) is ignored by plain stores.
   * An array of buffers is their concatenation (written without copying them into one, where possible).
   */
  put(key: string, body: BlobBody, owner?: string): Promise<void>;
  /** The blob, or undefined when it does not exist. */
  open(key: string, owner?: string): Promise<BlobReader | undefined>;
  /** The blob's bytes; BlobMissingError when it does not exist. */
  get(key: string, owner?: string): Promise<Readable>;
  has(key: string): Promise<boolean>;
  /**
   * Stores the concatenation of `sources` (the owner's blobs) under `key` without copying their bytes,
   * where the store can (the block layer); undefined when it cannot, and the caller copies them.
   */
  concat?(key: string, sources: readonly string[], owner: string): Promise<number | undefined>;
  /** Removes the blob if it exists. */
  delete(key: string): Promise<void>;
  /** The same at once, where that is cheap (a local directory). */
  deleteSync?(key: string): void;
  /** Every blob whose key starts with `prefix` (all when empty). */
  list(prefix?: string): AsyncIterable<BlobInfo>;
  /** Removes temp files of writes that never finished, older than `olderThanMs`. Returns how many. */
  sweepTemp(olderThanMs: number): Promise<number>;
  close(): Promise<void>;
}

/** `get` on top of `open`, for both implementations. */
export async function getBlob(store: BlobStore, key: string, owner?: string): Promise<Readable> {
  const r = await store.open(key, owner);
  if (!r) throw new BlobMissingError(key, store.where);
  return r.read();
}

/** Reads a whole blob into memory (code zips: bounded by Lambda's 50 MB). */
export async function readBlob(store: BlobStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of (await store.get(key)) as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}
