// The embedded object store: buckets per tenant, object metadata in SQLite, object bytes in files under
// the data dir named by an internal id (never by the user's key). Writes stream to a temp file and
// become visible only when the metadata row commits, so an interrupted upload leaves nothing behind.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Db, migrate } from '../../store/database.js';
import { type ChecksumAlgorithm, hasherFor } from './checksums.js';
import { isValidBucketName, MAX_KEY_BYTES, S3Errors } from './errors.js';

const SCHEMA = [
  `CREATE TABLE s3_buckets (
     name TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, created_at TEXT NOT NULL)`,
  `CREATE INDEX s3_buckets_tenant ON s3_buckets (tenant_id, name)`,
  `CREATE TABLE s3_objects (
     bucket TEXT NOT NULL REFERENCES s3_buckets(name), key TEXT NOT NULL, blob TEXT NOT NULL,
     size INTEGER NOT NULL, etag TEXT NOT NULL, content_type TEXT NOT NULL, metadata TEXT NOT NULL,
     headers TEXT NOT NULL, checksum_algorithm TEXT, checksum_value TEXT, parts_count INTEGER,
     last_modified INTEGER NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (bucket, key))`,
  `CREATE TABLE s3_uploads (
     upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL REFERENCES s3_buckets(name), key TEXT NOT NULL,
     content_type TEXT NOT NULL, metadata TEXT NOT NULL, headers TEXT NOT NULL, checksum_algorithm TEXT,
     initiated INTEGER NOT NULL)`,
  `CREATE TABLE s3_parts (
     upload_id TEXT NOT NULL REFERENCES s3_uploads(upload_id) ON DELETE CASCADE, part_number INTEGER NOT NULL,
     blob TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, checksum_algorithm TEXT, checksum_value TEXT,
     last_modified INTEGER NOT NULL, PRIMARY KEY (upload_id, part_number))`,
  // One monotonically increasing counter: each change's `version` and the S3 event sequencer.
  `CREATE TABLE s3_sequence (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
   INSERT INTO s3_sequence (id, value) VALUES (1, 0)`,
];

/** S3's minimum size of every part but the last. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_NUMBER = 10_000;

export interface Checksum {
  algorithm: string;
  /** Base64, as S3 sends it in `x-amz-checksum-*`. Multipart objects: `<b64>-<parts>`. */
  value: string;
}

/** Standard headers S3 stores with an object and answers on GET/HEAD. */
export type StoredHeaders = Partial<
  Record<
    'cache-control' | 'content-disposition' | 'content-encoding' | 'content-language' | 'expires',
    string
  >
>;

export interface ObjectInfo {
  bucket: string;
  key: string;
  size: number;
  /** Hex MD5 (or `<hex>-<parts>`), unquoted. */
  etag: string;
  contentType: string;
  metadata: Record<string, string>;
  headers: StoredHeaders;
  lastModified: Date;
  checksum: Checksum | undefined;
  partsCount: number | undefined;
  version: number;
}

export interface BucketInfo {
  name: string;
  tenantId: string;
  createdAt: Date;
}

export interface PartInfo {
  partNumber: number;
  size: number;
  etag: string;
  lastModified: Date;
  checksum: Checksum | undefined;
}

export interface UploadInfo {
  uploadId: string;
  bucket: string;
  key: string;
  initiated: Date;
  checksumAlgorithm: string | undefined;
}

/** What a change to a bucket looked like; notifications turn it into S3 events in the same transaction. */
export interface ObjectChange {
  tenantId: string;
  bucket: string;
  key: string;
  eventName:
    | 'ObjectCreated:Put'
    | 'ObjectCreated:Copy'
    | 'ObjectCreated:CompleteMultipartUpload'
    | 'ObjectRemoved:Delete';
  size?: number;
  etag?: string;
  sequencer: string;
  time: Date;
}

export interface ObjectStoreHooks {
  /** Runs inside the transaction that commits the change: rows it writes commit with it. */
  onChange?(change: ObjectChange): void;
  /** Runs inside the transaction that deletes a bucket. */
  onBucketDeleted?(bucket: string): void;
  /** Runs after a change committed (to wake a deliverer). */
  afterCommit?(): void;
}

export interface WriteOptions {
  contentType?: string;
  metadata?: Record<string, string>;
  headers?: StoredHeaders;
  /**
   * Called once the whole body has been read and before anything becomes visible; throws to refuse the
   * upload (digest mismatch). Returns the flexible checksum to store, if any.
   */
  verify?: (computed: { md5: Buffer; size: number }) => Checksum | undefined;
  /** Conditional write (If-None-Match: * / If-Match: etag), checked again atomically at commit. */
  condition?: WriteCondition;
}

export interface WriteCondition {
  ifNoneMatch?: '*';
  /** Unquoted ETag the current object must have. */
  ifMatch?: string;
}

export interface ListOptions {
  prefix?: string;
  delimiter?: string;
  maxKeys?: number;
  /** Exclusive: listing starts after this key. */
  startAfter?: string;
}

export interface ListResult {
  contents: ObjectInfo[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** The last key or common prefix returned: where the next page starts. */
  last: string | undefined;
}

interface ObjectRow {
  bucket: string;
  key: string;
  blob: string;
  size: number;
  etag: string;
  content_type: string;
  metadata: string;
  headers: string;
  checksum_algorithm: string | null;
  checksum_value: string | null;
  parts_count: number | null;
  last_modified: number;
  version: number;
}

interface UploadRow {
  upload_id: string;
  bucket: string;
  key: string;
  content_type: string;
  metadata: string;
  headers: string;
  checksum_algorithm: string | null;
  initiated: number;
}

interface PartRow {
  upload_id: string;
  part_number: number;
  blob: string;
  size: number;
  etag: string;
  checksum_algorithm: string | null;
  checksum_value: string | null;
  last_modified: number;
}

const DEFAULT_CONTENT_TYPE = 'binary/octet-stream';

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

export function validateKey(key: string): void {
  if (key.length === 0) throw S3Errors.invalidArgument('Object key must not be empty', 'key', '');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw S3Errors.keyTooLong();
}

export class ObjectStore {
  readonly #db: Db;
  readonly #tmpDir: string;
  readonly #dataDir: string;
  readonly #hooks: ObjectStoreHooks;

  constructor(opts: { db: Db; dir: string; hooks?: ObjectStoreHooks }) {
    this.#db = opts.db;
    this.#tmpDir = path.join(opts.dir, 'tmp');
    this.#dataDir = path.join(opts.dir, 'data');
    this.#hooks = opts.hooks ?? {};
    migrate(opts.db, 'objects', SCHEMA);
    fs.mkdirSync(this.#tmpDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(this.#dataDir, { recursive: true, mode: 0o700 });
  }

  /**
   * Restart recovery: temp files are uploads that never completed; blob files no row names are writes
   * whose commit never happened (or old versions whose unlink did not). Both go.
   */
  recover(): { tempFiles: number; orphans: number } {
    let tempFiles = 0;
    for (const f of fs.readdirSync(this.#tmpDir)) {
      fs.rmSync(path.join(this.#tmpDir, f), { force: true, recursive: true });
      tempFiles++;
    }
    const live = new Set<string>();
    for (const r of this.#db
      .prepare('SELECT blob FROM s3_objects UNION ALL SELECT blob FROM s3_parts')
      .iterate() as Iterable<{
      blob: string;
    }>) {
      live.add(r.blob);
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

  // ---- buckets ----

  createBucket(tenantId: string, name: string): BucketInfo {
    if (!isValidBucketName(name)) throw S3Errors.invalidBucketName(name);
    const existing = this.#bucketRow(name);
    if (existing) {
      throw existing.tenant_id === tenantId
        ? S3Errors.bucketAlreadyOwnedByYou(name)
        : S3Errors.bucketAlreadyExists(name);
    }
    const createdAt = new Date();
    this.#db
      .prepare('INSERT INTO s3_buckets (name, tenant_id, created_at) VALUES (?, ?, ?)')
      .run(name, tenantId, createdAt.toISOString());
    return { name, tenantId, createdAt };
  }

  listBuckets(tenantId: string): BucketInfo[] {
    return (
      this.#db.prepare('SELECT * FROM s3_buckets WHERE tenant_id = ? ORDER BY name').all(tenantId) as {
        name: string;
        tenant_id: string;
        created_at: string;
      }[]
    ).map((r) => ({ name: r.name, tenantId: r.tenant_id, createdAt: new Date(r.created_at) }));
  }

  /** The tenant's bucket; NoSuchBucket if none has the name, AccessDenied if another tenant owns it. */
  bucket(tenantId: string, name: string): BucketInfo {
    const row = this.#bucketRow(name);
    if (!row) throw isValidBucketName(name) ? S3Errors.noSuchBucket(name) : S3Errors.invalidBucketName(name);
    if (row.tenant_id !== tenantId) throw S3Errors.accessDenied();
    return { name: row.name, tenantId: row.tenant_id, createdAt: new Date(row.created_at) };
  }

  deleteBucket(tenantId: string, name: string): void {
    this.bucket(tenantId, name);
    const partBlobs: string[] = [];
    this.#db.transaction(() => {
      if (this.#db.prepare('SELECT 1 FROM s3_objects WHERE bucket = ? LIMIT 1').get(name))
        throw S3Errors.bucketNotEmpty(name);
      for (const r of this.#db
        .prepare(
          'SELECT p.blob FROM s3_parts p JOIN s3_uploads u ON u.upload_id = p.upload_id WHERE u.bucket = ?',
        )
        .all(name) as { blob: string }[]) {
        partBlobs.push(r.blob);
      }
      this.#db.prepare('DELETE FROM s3_uploads WHERE bucket = ?').run(name);
      this.#db.prepare('DELETE FROM s3_buckets WHERE name = ?').run(name);
      this.#hooks.onBucketDeleted?.(name);
    })();
    for (const b of partBlobs) this.#unlinkBlob(b);
  }

  // ---- objects ----

  async putObject(
    tenantId: string,
    bucket: string,
    key: string,
    body: AsyncIterable<Uint8Array>,
    opts: WriteOptions = {},
    eventName: ObjectChange['eventName'] = 'ObjectCreated:Put',
  ): Promise<ObjectInfo> {
    this.bucket(tenantId, bucket);
    validateKey(key);
    // Checked before the body streams in (fail fast) and again at commit (atomic).
    this.#checkCondition(bucket, key, opts.condition);
    const written = await this.#writeBlob(body);
    let checksum: Checksum | undefined;
    try {
      checksum = opts.verify?.({ md5: written.md5, size: written.size });
    } catch (e) {
      this.#unlinkBlob(written.blob);
      throw e;
    }
    return this.#commitObject(tenantId, {
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

  headObject(tenantId: string, bucket: string, key: string): ObjectInfo {
    this.bucket(tenantId, bucket);
    return toInfo(this.#objectRow(bucket, key));
  }

  /**
   * The object's metadata and an open file on its bytes. The file is opened in the same tick as the row
   * is read, so a concurrent overwrite (which unlinks the old blob) cannot pull it away.
   */
  openObject(
    tenantId: string,
    bucket: string,
    key: string,
  ): { info: ObjectInfo; read(range?: { start: number; end: number }): Readable; close(): void } {
    this.bucket(tenantId, bucket);
    const row = this.#objectRow(bucket, key);
    const fd = fs.openSync(this.#blobPath(row.blob), 'r');
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
  deleteObject(tenantId: string, bucket: string, key: string): boolean {
    this.bucket(tenantId, bucket);
    validateKey(key);
    let blob: string | undefined;
    this.#db.transaction(() => {
      const row = this.#db
        .prepare('SELECT blob FROM s3_objects WHERE bucket = ? AND key = ?')
        .get(bucket, key) as { blob: string } | undefined;
      if (!row) return;
      blob = row.blob;
      this.#db.prepare('DELETE FROM s3_objects WHERE bucket = ? AND key = ?').run(bucket, key);
      const version = this.#nextVersion();
      this.#hooks.onChange?.({
        tenantId,
        bucket,
        key,
        eventName: 'ObjectRemoved:Delete',
        sequencer: sequencer(version),
        time: new Date(),
      });
    })();
    if (blob === undefined) return false;
    this.#unlinkBlob(blob);
    this.#hooks.afterCommit?.();
    return true;
  }

  async copyObject(
    tenantId: string,
    source: { bucket: string; key: string },
    target: { bucket: string; key: string },
    opts: {
      replaceMetadata?: { contentType?: string; metadata: Record<string, string>; headers: StoredHeaders };
    },
  ): Promise<ObjectInfo> {
    this.bucket(tenantId, target.bucket);
    validateKey(target.key);
    const src = this.openObject(tenantId, source.bucket, source.key);
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
      return await this.putObject(
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

  listObjects(tenantId: string, bucket: string, opts: ListOptions): ListResult {
    this.bucket(tenantId, bucket);
    const prefix = opts.prefix ?? '';
    const delimiter = opts.delimiter ?? '';
    const maxKeys = Math.max(0, Math.min(opts.maxKeys ?? 1000, 1000));
    const contents: ObjectInfo[] = [];
    const commonPrefixes: string[] = [];
    const start = opts.startAfter !== undefined && opts.startAfter > prefix ? opts.startAfter : undefined;
    let cursor = start;
    let last: string | undefined;
    // Keys sort by their UTF-8 bytes (SQLite's BINARY collation), as S3 lists them.
    const stmt = this.#db.prepare(
      'SELECT * FROM s3_objects WHERE bucket = ? AND (key > ? OR ? IS NULL) AND key >= ? ORDER BY key LIMIT 256',
    );
    let count = 0;
    batches: for (;;) {
      const rows = stmt.all(bucket, cursor ?? null, cursor ?? null, prefix) as ObjectRow[];
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

  // ---- multipart uploads ----

  createMultipartUpload(
    tenantId: string,
    bucket: string,
    key: string,
    opts: {
      contentType?: string;
      metadata?: Record<string, string>;
      headers?: StoredHeaders;
      checksumAlgorithm?: string;
    } = {},
  ): string {
    this.bucket(tenantId, bucket);
    validateKey(key);
    const uploadId = randomBytes(24).toString('base64url');
    this.#db
      .prepare(
        'INSERT INTO s3_uploads (upload_id, bucket, key, content_type, metadata, headers, checksum_algorithm, initiated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        uploadId,
        bucket,
        key,
        opts.contentType ?? DEFAULT_CONTENT_TYPE,
        JSON.stringify(opts.metadata ?? {}),
        JSON.stringify(opts.headers ?? {}),
        opts.checksumAlgorithm ?? null,
        Date.now(),
      );
    return uploadId;
  }

  upload(tenantId: string, bucket: string, key: string, uploadId: string): UploadInfo {
    this.bucket(tenantId, bucket);
    const row = this.#uploadRow(bucket, key, uploadId);
    return {
      uploadId,
      bucket,
      key,
      initiated: new Date(row.initiated),
      checksumAlgorithm: row.checksum_algorithm ?? undefined,
    };
  }

  async uploadPart(
    tenantId: string,
    bucket: string,
    key: string,
    uploadId: string,
    partNumber: number,
    body: AsyncIterable<Uint8Array>,
    verify?: WriteOptions['verify'],
  ): Promise<PartInfo> {
    this.upload(tenantId, bucket, key, uploadId);
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
      throw S3Errors.invalidArgument(
        'Part number must be an integer between 1 and 10000, inclusive',
        'partNumber',
        String(partNumber),
      );
    }
    const written = await this.#writeBlob(body);
    let checksum: Checksum | undefined;
    let old: { blob: string } | undefined;
    const part: PartInfo = {
      partNumber,
      size: written.size,
      etag: written.md5.toString('hex'),
      lastModified: new Date(),
      checksum: undefined,
    };
    try {
      checksum = verify?.({ md5: written.md5, size: written.size });
      part.checksum = checksum;
      this.#db.transaction(() => {
        // The upload may have been aborted or completed while the part streamed in.
        this.#uploadRow(bucket, key, uploadId);
        old = this.#db
          .prepare('SELECT blob FROM s3_parts WHERE upload_id = ? AND part_number = ?')
          .get(uploadId, partNumber) as { blob: string } | undefined;
        this.#db
          .prepare(
            `INSERT OR REPLACE INTO s3_parts (upload_id, part_number, blob, size, etag, checksum_algorithm, checksum_value, last_modified)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            uploadId,
            partNumber,
            written.blob,
            written.size,
            part.etag,
            checksum?.algorithm ?? null,
            checksum?.value ?? null,
            part.lastModified.getTime(),
          );
      })();
    } catch (e) {
      this.#unlinkBlob(written.blob);
      throw e;
    }
    if (old) this.#unlinkBlob(old.blob);
    return part;
  }

  listParts(
    tenantId: string,
    bucket: string,
    key: string,
    uploadId: string,
    opts: { maxParts?: number; after?: number } = {},
  ): {
    parts: PartInfo[];
    isTruncated: boolean;
  } {
    this.upload(tenantId, bucket, key, uploadId);
    const max = Math.max(0, Math.min(opts.maxParts ?? 1000, 1000));
    const rows = this.#db
      .prepare('SELECT * FROM s3_parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?')
      .all(uploadId, opts.after ?? 0, max + 1) as PartRow[];
    return { parts: rows.slice(0, max).map(toPart), isTruncated: rows.length > max };
  }

  listUploads(tenantId: string, bucket: string, prefix = ''): UploadInfo[] {
    this.bucket(tenantId, bucket);
    return (
      this.#db
        .prepare('SELECT * FROM s3_uploads WHERE bucket = ? AND key >= ? ORDER BY key, initiated')
        .all(bucket, prefix) as UploadRow[]
    )
      .filter((r) => r.key.startsWith(prefix))
      .map((r) => ({
        uploadId: r.upload_id,
        bucket: r.bucket,
        key: r.key,
        initiated: new Date(r.initiated),
        checksumAlgorithm: r.checksum_algorithm ?? undefined,
      }));
  }

  abortMultipartUpload(tenantId: string, bucket: string, key: string, uploadId: string): void {
    this.upload(tenantId, bucket, key, uploadId);
    let blobs: string[] = [];
    this.#db.transaction(() => {
      blobs = (
        this.#db.prepare('SELECT blob FROM s3_parts WHERE upload_id = ?').all(uploadId) as { blob: string }[]
      ).map((r) => r.blob);
      this.#db.prepare('DELETE FROM s3_uploads WHERE upload_id = ?').run(uploadId);
    })();
    for (const b of blobs) this.#unlinkBlob(b);
  }

  /** Concatenates the listed parts (streaming) into the object; its ETag is `md5(part md5s)-N` as S3's. */
  async completeMultipartUpload(
    tenantId: string,
    bucket: string,
    key: string,
    uploadId: string,
    requested: { partNumber: number; etag: string }[],
  ): Promise<ObjectInfo> {
    this.upload(tenantId, bucket, key, uploadId);
    if (requested.length === 0) throw S3Errors.invalidRequest('You must specify at least one part');
    const upload = this.#uploadRow(bucket, key, uploadId);
    const stored = new Map(
      (this.#db.prepare('SELECT * FROM s3_parts WHERE upload_id = ?').all(uploadId) as PartRow[]).map((r) => [
        r.part_number,
        r,
      ]),
    );
    const chosen: PartRow[] = [];
    let prev = 0;
    for (const p of requested) {
      if (p.partNumber <= prev) throw S3Errors.invalidPartOrder();
      prev = p.partNumber;
      const row = stored.get(p.partNumber);
      if (!row || row.etag !== p.etag.replace(/"/g, '').toLowerCase()) throw S3Errors.invalidPart();
      chosen.push(row);
    }
    chosen.forEach((row, i) => {
      if (i < chosen.length - 1 && row.size < MIN_PART_SIZE) throw S3Errors.entityTooSmall();
    });
    const etagHash = createHash('md5');
    for (const row of chosen) etagHash.update(Buffer.from(row.etag, 'hex'));
    const etag = `${etagHash.digest('hex')}-${chosen.length}`;
    const blobPath = (b: string) => this.#blobPath(b);
    async function* concatenated(): AsyncIterable<Uint8Array> {
      for (const row of chosen) yield* fs.createReadStream(blobPath(row.blob)) as AsyncIterable<Uint8Array>;
    }
    const written = await this.#writeBlob(concatenated());
    // A composite checksum (checksum of the parts' checksums, `-N`), when every part carried the same one.
    let checksum: Checksum | undefined;
    const algo = chosen[0]?.checksum_algorithm;
    if (algo && chosen.every((r) => r.checksum_algorithm === algo && r.checksum_value)) {
      const h = hasherFor(algo as ChecksumAlgorithm);
      for (const r of chosen) h.update(Buffer.from(r.checksum_value!, 'base64'));
      checksum = { algorithm: algo, value: `${h.digest().toString('base64')}-${chosen.length}` };
    }
    let partBlobs: string[] = [];
    try {
      return this.#commitObject(
        tenantId,
        {
          bucket,
          key,
          blob: written.blob,
          size: written.size,
          etag,
          contentType: upload.content_type,
          metadata: JSON.parse(upload.metadata) as Record<string, string>,
          headers: JSON.parse(upload.headers) as StoredHeaders,
          checksum,
          partsCount: chosen.length,
          eventName: 'ObjectCreated:CompleteMultipartUpload',
        },
        () => {
          this.#uploadRow(bucket, key, uploadId);
          partBlobs = (
            this.#db.prepare('SELECT blob FROM s3_parts WHERE upload_id = ?').all(uploadId) as {
              blob: string;
            }[]
          ).map((r) => r.blob);
          this.#db.prepare('DELETE FROM s3_uploads WHERE upload_id = ?').run(uploadId);
        },
      );
    } finally {
      for (const b of partBlobs) this.#unlinkBlob(b);
    }
  }

  // ---- internals ----

  #bucketRow(name: string) {
    return this.#db.prepare('SELECT * FROM s3_buckets WHERE name = ?').get(name) as
      | { name: string; tenant_id: string; created_at: string }
      | undefined;
  }

  #objectRow(bucket: string, key: string): ObjectRow {
    const row = this.#db.prepare('SELECT * FROM s3_objects WHERE bucket = ? AND key = ?').get(bucket, key) as
      | ObjectRow
      | undefined;
    if (!row) throw S3Errors.noSuchKey(key);
    return row;
  }

  #checkCondition(bucket: string, key: string, c: WriteCondition | undefined): void {
    if (!c || (c.ifNoneMatch === undefined && c.ifMatch === undefined)) return;
    const row = this.#db
      .prepare('SELECT etag FROM s3_objects WHERE bucket = ? AND key = ?')
      .get(bucket, key) as { etag: string } | undefined;
    if (c.ifNoneMatch === '*' && row) throw S3Errors.preconditionFailed('If-None-Match');
    if (c.ifMatch !== undefined) {
      if (!row) throw S3Errors.noSuchKey(key);
      if (c.ifMatch !== '*' && c.ifMatch !== row.etag) throw S3Errors.preconditionFailed('If-Match');
    }
  }

  #uploadRow(bucket: string, key: string, uploadId: string): UploadRow {
    const row = this.#db.prepare('SELECT * FROM s3_uploads WHERE upload_id = ?').get(uploadId) as
      | UploadRow
      | undefined;
    if (!row || row.bucket !== bucket || row.key !== key) throw S3Errors.noSuchUpload(uploadId);
    return row;
  }

  #nextVersion(): number {
    return (
      this.#db.prepare('UPDATE s3_sequence SET value = value + 1 WHERE id = 1 RETURNING value').get() as {
        value: number;
      }
    ).value;
  }

  /** Internal ids only: a user's key never reaches a filesystem path. */
  #blobPath(blob: string): string {
    if (!/^[0-9a-f]{32}$/.test(blob)) throw new Error(`invalid blob id: ${blob}`);
    return path.join(this.#dataDir, blob.slice(0, 2), blob);
  }

  #unlinkBlob(blob: string): void {
    fs.rmSync(this.#blobPath(blob), { force: true });
  }

  /** Streams the body to a temp file, then renames it into place under a fresh internal id. */
  async #writeBlob(body: AsyncIterable<Uint8Array>): Promise<{ blob: string; size: number; md5: Buffer }> {
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
      const dest = this.#blobPath(blob);
      fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 });
      fs.renameSync(tmp, dest);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    return { blob, size, md5: md5.digest() };
  }

  #commitObject(
    tenantId: string,
    o: {
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
    },
    inTransaction?: () => void,
  ): ObjectInfo {
    let old: { blob: string } | undefined;
    let info: ObjectInfo | undefined;
    try {
      this.#db.transaction(() => {
        // The bucket may have been deleted (or the upload aborted) while the body streamed in.
        if (!this.#bucketRow(o.bucket)) throw S3Errors.noSuchBucket(o.bucket);
        this.#checkCondition(o.bucket, o.key, o.condition);
        inTransaction?.();
        old = this.#db
          .prepare('SELECT blob FROM s3_objects WHERE bucket = ? AND key = ?')
          .get(o.bucket, o.key) as { blob: string } | undefined;
        const version = this.#nextVersion();
        const now = Date.now();
        this.#db
          .prepare(
            `INSERT OR REPLACE INTO s3_objects (bucket, key, blob, size, etag, content_type, metadata, headers, checksum_algorithm,
               checksum_value, parts_count, last_modified, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            o.bucket,
            o.key,
            o.blob,
            o.size,
            o.etag,
            o.contentType,
            JSON.stringify(o.metadata),
            JSON.stringify(o.headers),
            o.checksum?.algorithm ?? null,
            o.checksum?.value ?? null,
            o.partsCount ?? null,
            now,
            version,
          );
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
        info = {
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
      })();
    } catch (e) {
      this.#unlinkBlob(o.blob);
      throw e;
    }
    if (old && old.blob !== o.blob) this.#unlinkBlob(old.blob);
    this.#hooks.afterCommit?.();
    return info!;
  }
}

const toPart = (r: PartRow): PartInfo => ({
  partNumber: r.part_number,
  size: r.size,
  etag: r.etag,
  lastModified: new Date(r.last_modified),
  checksum:
    r.checksum_algorithm && r.checksum_value
      ? { algorithm: r.checksum_algorithm, value: r.checksum_value }
      : undefined,
});

/** S3's sequencer: an opaque hex string that orders the events of one key. */
export const sequencer = (version: number): string => version.toString(16).toUpperCase().padStart(16, '0');
