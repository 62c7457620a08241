// The object store's persistence: every SQL statement over s3_buckets, s3_objects, s3_uploads, s3_parts
// and s3_sequence. The store's modules speak to this narrow interface only.
import { type Db, migrate } from '../../store/database.js';

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

export interface BucketRow {
  name: string;
  tenant_id: string;
  created_at: string;
}

export interface ObjectRow {
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

export interface UploadRow {
  upload_id: string;
  bucket: string;
  key: string;
  content_type: string;
  metadata: string;
  headers: string;
  checksum_algorithm: string | null;
  initiated: number;
}

export interface PartRow {
  upload_id: string;
  part_number: number;
  blob: string;
  size: number;
  etag: string;
  checksum_algorithm: string | null;
  checksum_value: string | null;
  last_modified: number;
}

export class SqliteObjectRepo {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
    migrate(db, 'objects', SCHEMA);
  }

  /** Runs fn as one transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  /** Every blob a row names (objects and parts): what restart recovery keeps. */
  liveBlobs(): Set<string> {
    const live = new Set<string>();
    for (const r of this.#db
      .prepare('SELECT blob FROM s3_objects UNION ALL SELECT blob FROM s3_parts')
      .iterate() as Iterable<{ blob: string }>) {
      live.add(r.blob);
    }
    return live;
  }

  /** The counter's next value: a change's version and event sequencer. */
  nextVersion(): number {
    return (
      this.#db.prepare('UPDATE s3_sequence SET value = value + 1 WHERE id = 1 RETURNING value').get() as {
        value: number;
      }
    ).value;
  }

  // ---- buckets ----

  bucket(name: string): BucketRow | undefined {
    return this.#db.prepare('SELECT * FROM s3_buckets WHERE name = ?').get(name) as BucketRow | undefined;
  }

  insertBucket(name: string, tenantId: string, createdAt: string): void {
    this.#db
      .prepare('INSERT INTO s3_buckets (name, tenant_id, created_at) VALUES (?, ?, ?)')
      .run(name, tenantId, createdAt);
  }

  bucketsOf(tenantId: string): BucketRow[] {
    return this.#db
      .prepare('SELECT * FROM s3_buckets WHERE tenant_id = ? ORDER BY name')
      .all(tenantId) as BucketRow[];
  }

  bucketHasObjects(name: string): boolean {
    return this.#db.prepare('SELECT 1 FROM s3_objects WHERE bucket = ? LIMIT 1').get(name) !== undefined;
  }

  /** The blobs of the parts of every upload into the bucket. */
  bucketPartBlobs(name: string): string[] {
    return (
      this.#db
        .prepare(
          'SELECT p.blob FROM s3_parts p JOIN s3_uploads u ON u.upload_id = p.upload_id WHERE u.bucket = ?',
        )
        .all(name) as { blob: string }[]
    ).map((r) => r.blob);
  }

  /** Deletes the bucket and its uploads (parts cascade). */
  deleteBucket(name: string): void {
    this.#db.prepare('DELETE FROM s3_uploads WHERE bucket = ?').run(name);
    this.#db.prepare('DELETE FROM s3_buckets WHERE name = ?').run(name);
  }

  // ---- objects ----

  object(bucket: string, key: string): ObjectRow | undefined {
    return this.#db.prepare('SELECT * FROM s3_objects WHERE bucket = ? AND key = ?').get(bucket, key) as
      | ObjectRow
      | undefined;
  }

  objectBlob(bucket: string, key: string): string | undefined {
    const row = this.#db
      .prepare('SELECT blob FROM s3_objects WHERE bucket = ? AND key = ?')
      .get(bucket, key) as { blob: string } | undefined;
    return row?.blob;
  }

  objectEtag(bucket: string, key: string): string | undefined {
    const row = this.#db
      .prepare('SELECT etag FROM s3_objects WHERE bucket = ? AND key = ?')
      .get(bucket, key) as { etag: string } | undefined;
    return row?.etag;
  }

  deleteObject(bucket: string, key: string): void {
    this.#db.prepare('DELETE FROM s3_objects WHERE bucket = ? AND key = ?').run(bucket, key);
  }

  /** Inserts or replaces the object's row. */
  putObject(r: ObjectRow): void {
    this.#db
      .prepare(
        `INSERT OR REPLACE INTO s3_objects (bucket, key, blob, size, etag, content_type, metadata, headers, checksum_algorithm,
           checksum_value, parts_count, last_modified, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        r.bucket,
        r.key,
        r.blob,
        r.size,
        r.etag,
        r.content_type,
        r.metadata,
        r.headers,
        r.checksum_algorithm,
        r.checksum_value,
        r.parts_count,
        r.last_modified,
        r.version,
      );
  }

  /**
   * Up to 256 objects of the bucket in key order (UTF-8 bytes, SQLite's BINARY collation, as S3 lists
   * them): keys after `after` (all when null) and >= `from`.
   */
  objectsAfter(bucket: string, after: string | null, from: string): ObjectRow[] {
    return this.#db
      .prepare(
        'SELECT * FROM s3_objects WHERE bucket = ? AND (key > ? OR ? IS NULL) AND key >= ? ORDER BY key LIMIT 256',
      )
      .all(bucket, after, after, from) as ObjectRow[];
  }

  // ---- multipart uploads ----

  insertUpload(r: UploadRow): void {
    this.#db
      .prepare(
        'INSERT INTO s3_uploads (upload_id, bucket, key, content_type, metadata, headers, checksum_algorithm, initiated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        r.upload_id,
        r.bucket,
        r.key,
        r.content_type,
        r.metadata,
        r.headers,
        r.checksum_algorithm,
        r.initiated,
      );
  }

  upload(uploadId: string): UploadRow | undefined {
    return this.#db.prepare('SELECT * FROM s3_uploads WHERE upload_id = ?').get(uploadId) as
      | UploadRow
      | undefined;
  }

  /** The bucket's uploads with keys >= prefix, by key then initiation. */
  uploadsFrom(bucket: string, prefix: string): UploadRow[] {
    return this.#db
      .prepare('SELECT * FROM s3_uploads WHERE bucket = ? AND key >= ? ORDER BY key, initiated')
      .all(bucket, prefix) as UploadRow[];
  }

  /** Deletes the upload and its parts (cascade). */
  deleteUpload(uploadId: string): void {
    this.#db.prepare('DELETE FROM s3_uploads WHERE upload_id = ?').run(uploadId);
  }

  partBlob(uploadId: string, partNumber: number): string | undefined {
    const row = this.#db
      .prepare('SELECT blob FROM s3_parts WHERE upload_id = ? AND part_number = ?')
      .get(uploadId, partNumber) as { blob: string } | undefined;
    return row?.blob;
  }

  /** Inserts or replaces the part's row. */
  putPart(r: PartRow): void {
    this.#db
      .prepare(
        `INSERT OR REPLACE INTO s3_parts (upload_id, part_number, blob, size, etag, checksum_algorithm, checksum_value, last_modified)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        r.upload_id,
        r.part_number,
        r.blob,
        r.size,
        r.etag,
        r.checksum_algorithm,
        r.checksum_value,
        r.last_modified,
      );
  }

  /** Parts numbered above `after`, in order, at most limit. */
  partsAfter(uploadId: string, after: number, limit: number): PartRow[] {
    return this.#db
      .prepare('SELECT * FROM s3_parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?')
      .all(uploadId, after, limit) as PartRow[];
  }

  parts(uploadId: string): PartRow[] {
    return this.#db.prepare('SELECT * FROM s3_parts WHERE upload_id = ?').all(uploadId) as PartRow[];
  }

  partBlobs(uploadId: string): string[] {
    return (
      this.#db.prepare('SELECT blob FROM s3_parts WHERE upload_id = ?').all(uploadId) as { blob: string }[]
    ).map((r) => r.blob);
  }
}
