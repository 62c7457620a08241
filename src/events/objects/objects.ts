// Objects: put (streamed to a blob file, committed with its row), head, open, delete, copy and list.
// A change commits in one transaction with its notification rows (the hooks).
import fs from 'node:fs';
import { Readable } from 'node:stream';
import type { BlobFiles } from './blob-files.js';
import type { Buckets } from './buckets.js';
import { MAX_KEY_BYTES, S3Errors } from './errors.js';
import type { ObjectRow, SqliteObjectRepo } from './object-repo.js';
import type {
  Checksum,
  ListOptions,
  ListResult,
  ObjectChange,
  ObjectInfo,
  ObjectStoreHooks,
  StoredHeaders,
  WriteCondition,
  WriteOptions,
} from './types.js';

export const DEFAULT_CONTENT_TYPE = 'binary/octet-stream';

/** S3's sequencer: an opaque hex string that orders the events of one key. */
export const sequencer = (version: number): string => version.toString(16).toUpperCase().padStart(16, '0');

export function validateKey(key: string): void {
  if (key.length === 0) throw S3Errors.invalidArgument('Object key must not be empty', 'key', '');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw S3Errors.keyTooLong();
}

const toInfo = (r: ObjectRow): ObjectInfo => ({
  bucket: r.bucket,
  key: r.key,
  size: r.size,
  etag: r.etag,
  contentType: r.content_type,
  metadata: JSON.parse(r.metadata) as Record<string, string>,
  headers: JSON.parse(r.headers) as StoredHeaders,
  lastModified: new Date(r.last_modified),
  checksum:
    r.checksum_algorithm && r.checksum_value
      ? { algorithm: r.checksum_algorithm, value: r.checksum_value }
      : undefined,
  partsCount: r.parts_count ?? undefined,
  version: r.version,
});

/** An object about to be committed: its blob is written, its row not yet. */
export interface NewObject {
  bucket: string;
  key: string;
  blob: string;
  size: number;
  etag: string;
  contentType: string;
  metadata: Record<string, string>;
  headers: StoredHeaders;
  checksum: Checksum | undefined;
  partsCount: number | undefined;
  eventName: ObjectChange['eventName'];
  condition?: WriteCondition;
}

export class Objects {
  readonly #repo: SqliteObjectRepo;
  readonly #blobs: BlobFiles;
  readonly #buckets: Buckets;
  readonly #hooks: ObjectStoreHooks;

  constructor(repo: SqliteObjectRepo, blobs: BlobFiles, buckets: Buckets, hooks: ObjectStoreHooks) {
    this.#repo = repo;
    this.#blobs = blobs;
    this.#buckets = buckets;
    this.#hooks = hooks;
  }

  async put(
    tenantId: string,
    bucket: string,
    key: string,
    body: AsyncIterable<Uint8Array>,
    opts: WriteOptions = {},
    eventName: ObjectChange['eventName'] = 'ObjectCreated:Put',
  ): Promise<ObjectInfo> {
    this.#buckets.get(tenantId, bucket);
    validateKey(key);
    // Checked before the body streams in (fail fast) and again at commit (atomic).
    this.#checkCondition(bucket, key, opts.condition);
    const written = await this.#blobs.write(body);
    let checksum: Checksum | undefined;
    try {
      checksum = opts.verify?.({ md5: written.md5, size: written.size });
    } catch (e) {
      this.#blobs.unlink(written.blob);
      throw e;
    }
    return this.commit(tenantId, {
      condition: opts.condition,
      bucket,
      key,
      blob: written.blob,
      size: written.size,
      etag: written.md5.toString('hex'),
      contentType: opts.contentType ?? DEFAULT_CONTENT_TYPE,
      metadata: opts.metadata ?? {},
      headers: opts.headers ?? {},
      checksum,
      partsCount: undefined,
      eventName,
    });
  }

  head(tenantId: string, bucket: string, key: string): ObjectInfo {
    this.#buckets.get(tenantId, bucket);
    return toInfo(this.#objectRow(bucket, key));
  }

  /**
   * The object's metadata and an open file on its bytes. The file is opened in the same tick as the row
   * is read, so a concurrent overwrite (which unlinks the old blob) cannot pull it away.
   */
  open(
    tenantId: string,
    bucket: string,
    key: string,
  ): { info: ObjectInfo; read(range?: { start: number; end: number }): Readable; close(): void } {
    this.#buckets.get(tenantId, bucket);
    const row = this.#objectRow(bucket, key);
    const fd = fs.openSync(this.#blobs.path(row.blob), 'r');
    let used = false;
    return {
      info: toInfo(row),
      read: (range) => {
        used = true;
        if (row.size === 0) {
          fs.closeSync(fd);
          return Readable.from([]);
        }
        return fs.createReadStream('', {
          fd,
          autoClose: true,
          start: range?.start ?? 0,
          end: range?.end ?? row.size - 1,
        });
      },
      close: () => {
        if (!used) fs.closeSync(fd);
        used = true;
      },
    };
  }

  /** Deletes the object if it exists (S3 answers 204 either way). */
  delete(tenantId: string, bucket: string, key: string): boolean {
    this.#buckets.get(tenantId, bucket);
    validateKey(key);
    const blob = this.#repo.transaction(() => {
      const found = this.#repo.objectBlob(bucket, key);
      if (found === undefined) return undefined;
      this.#repo.deleteObject(bucket, key);
      const version = this.#repo.nextVersion();
      this.#hooks.onChange?.({
        tenantId,
        bucket,
        key,
        eventName: 'ObjectRemoved:Delete',
        sequencer: sequencer(version),
        time: new Date(),
      });
      return found;
    });
    if (blob === undefined) return false;
    this.#blobs.unlink(blob);
    this.#hooks.afterCommit?.();
    return true;
  }

  async copy(
    tenantId: string,
    source: { bucket: string; key: string },
    target: { bucket: string; key: string },
    opts: {
      replaceMetadata?: { contentType?: string; metadata: Record<string, string>; headers: StoredHeaders };
    },
  ): Promise<ObjectInfo> {
    this.#buckets.get(tenantId, target.bucket);
    validateKey(target.key);
    const src = this.open(tenantId, source.bucket, source.key);
    const same = source.bucket === target.bucket && source.key === target.key;
    if (same && !opts.replaceMetadata) {
      src.close();
      throw S3Errors.invalidRequest(
        "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
      );
    }
    const meta = opts.replaceMetadata ?? {
      contentType: src.info.contentType,
      metadata: src.info.metadata,
      headers: src.info.headers,
    };
    const body = src.read();
    // finally: the source file closes even when the write is refused before reading it.
    try {
      return await this.put(
        tenantId,
        target.bucket,
        target.key,
        body,
        {
          contentType: meta.contentType,
          metadata: meta.metadata,
          headers: meta.headers,
          // A copy keeps the source's checksum when it covers the whole object.
          verify: () =>
            src.info.checksum && !src.info.checksum.value.includes('-') ? src.info.checksum : undefined,
        },
        'ObjectCreated:Copy',
      );
    } finally {
      body.destroy();
    }
  }

  list(tenantId: string, bucket: string, opts: ListOptions): ListResult {
    this.#buckets.get(tenantId, bucket);
    const prefix = opts.prefix ?? '';
    const delimiter = opts.delimiter ?? '';
    const maxKeys = Math.max(0, Math.min(opts.maxKeys ?? 1000, 1000));
    const contents: ObjectInfo[] = [];
    const commonPrefixes: string[] = [];
    const start = opts.startAfter !== undefined && opts.startAfter > prefix ? opts.startAfter : undefined;
    let cursor = start;
    let last: string | undefined;
    let count = 0;
    batches: for (;;) {
      const rows = this.#repo.objectsAfter(bucket, cursor ?? null, prefix);
      if (rows.length === 0) return { contents, commonPrefixes, isTruncated: false, last };
      for (const row of rows) {
        cursor = row.key;
        if (!row.key.startsWith(prefix)) return { contents, commonPrefixes, isTruncated: false, last };
        let common: string | undefined;
        if (delimiter) {
          const at = row.key.indexOf(delimiter, prefix.length);
          if (at >= 0) common = row.key.slice(0, at + delimiter.length);
        }
        // A common prefix at or before where this page starts was listed by an earlier page.
        const seen =
          common !== undefined &&
          (common === commonPrefixes[commonPrefixes.length - 1] || (start !== undefined && common <= start));
        if (!seen && count === maxKeys) return { contents, commonPrefixes, isTruncated: true, last };
        if (common !== undefined) {
          if (!seen) {
            commonPrefixes.push(common);
            last = common;
            count++;
          }
          // Jump past the keys under this prefix instead of reading them all (U+10FFFF sorts last; a
          // key beyond it under the same prefix is still caught by `seen`).
          cursor = `${common}\u{10FFFF}`;
          continue batches;
        } else {
          contents.push(toInfo(row));
          last = row.key;
          count++;
        }
      }
    }
  }

  #objectRow(bucket: string, key: string): ObjectRow {
    const row = this.#repo.object(bucket, key);
    if (!row) throw S3Errors.noSuchKey(key);
    return row;
  }

  #checkCondition(bucket: string, key: string, c: WriteCondition | undefined): void {
    if (!c || (c.ifNoneMatch === undefined && c.ifMatch === undefined)) return;
    const etag = this.#repo.objectEtag(bucket, key);
    if (c.ifNoneMatch === '*' && etag !== undefined) throw S3Errors.preconditionFailed('If-None-Match');
    if (c.ifMatch !== undefined) {
      if (etag === undefined) throw S3Errors.noSuchKey(key);
      if (c.ifMatch !== '*' && c.ifMatch !== etag) throw S3Errors.preconditionFailed('If-Match');
    }
  }

  /**
   * Commits a written blob as the object (replacing any old one, whose blob goes after the commit).
   * `inTransaction` runs inside the same transaction (multipart completion removes its upload there).
   */
  commit(tenantId: string, o: NewObject, inTransaction?: () => void): ObjectInfo {
    let old: string | undefined;
    let info: ObjectInfo;
    try {
      info = this.#repo.transaction(() => {
        // The bucket may have been deleted (or the upload aborted) while the body streamed in.
        if (!this.#repo.bucket(o.bucket)) throw S3Errors.noSuchBucket(o.bucket);
        this.#checkCondition(o.bucket, o.key, o.condition);
        inTransaction?.();
        old = this.#repo.objectBlob(o.bucket, o.key);
        const version = this.#repo.nextVersion();
        const now = Date.now();
        this.#repo.putObject({
          bucket: o.bucket,
          key: o.key,
          blob: o.blob,
          size: o.size,
          etag: o.etag,
          content_type: o.contentType,
          metadata: JSON.stringify(o.metadata),
          headers: JSON.stringify(o.headers),
          checksum_algorithm: o.checksum?.algorithm ?? null,
          checksum_value: o.checksum?.value ?? null,
          parts_count: o.partsCount ?? null,
          last_modified: now,
          version,
        });
        const time = new Date(now);
        this.#hooks.onChange?.({
          tenantId,
          bucket: o.bucket,
          key: o.key,
          eventName: o.eventName,
          size: o.size,
          etag: o.etag,
          sequencer: sequencer(version),
          time,
        });
        return {
          bucket: o.bucket,
          key: o.key,
          size: o.size,
          etag: o.etag,
          contentType: o.contentType,
          metadata: o.metadata,
          headers: o.headers,
          lastModified: time,
          checksum: o.checksum,
          partsCount: o.partsCount,
          version,
        };
      });
    } catch (e) {
      this.#blobs.unlink(o.blob);
      throw e;
    }
    if (old !== undefined && old !== o.blob) this.#blobs.unlink(old);
    this.#hooks.afterCommit?.();
    return info;
  }
}
