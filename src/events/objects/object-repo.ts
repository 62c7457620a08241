// The object store's persistence: every SQL statement over s3_buckets, s3_objects, s3_uploads, s3_parts,
// s3_sequence and the access tables (s3_bucket_access, s3_object_acls, s3_upload_acls). The store's modules speak to this narrow interface only.
import type { SchemaStep, Sql, SqlExecutor } from '../../store/sql.js';

export const OBJECT_SCHEMA: SchemaStep[] = [
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
  // Access control, kept beside the rows it governs so a bucket without any costs nothing: the bucket's
  // ACL, policy and PublicAccessBlock (NULL: none); an object's ACL applies to the object `version` it was
  // set on only, so an overwrite or delete leaves it stale without a write on the common path.
  `CREATE TABLE s3_bucket_access (
     bucket TEXT PRIMARY KEY REFERENCES s3_buckets(name), acl TEXT, policy TEXT, public_access_block TEXT);
   CREATE TABLE s3_object_acls (
     bucket TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL, acl TEXT NOT NULL,
     PRIMARY KEY (bucket, key));
   CREATE TABLE s3_upload_acls (
     upload_id TEXT PRIMARY KEY REFERENCES s3_uploads(upload_id) ON DELETE CASCADE, acl TEXT NOT NULL)`,
  // A completed upload is remembered for a while (a client retrying CompleteMultipartUpload gets the same
  // answer), and a multipart object keeps its part sizes and checksums (GetObjectAttributes), valid for
  // the object `version` they were written with, as object ACLs are.
  `CREATE TABLE s3_completed_uploads (
     upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, parts TEXT NOT NULL,
     etag TEXT NOT NULL, checksum_algorithm TEXT, checksum_value TEXT, version_id TEXT NOT NULL,
     completed_at INTEGER NOT NULL);
   CREATE INDEX s3_completed_uploads_at ON s3_completed_uploads (completed_at);
   CREATE TABLE s3_object_parts (
     bucket TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL, parts TEXT NOT NULL,
     PRIMARY KEY (bucket, key))`,
  // Versioning: the bucket's state (NULL: never versioned, 'Enabled', 'Suspended'); whether the current
  // object has a version id of its own (0: the `null` version); and every other version and delete marker
  // (a marker has no blob). s3_objects keeps exactly the current object, so reads of it stay one lookup.
  `ALTER TABLE s3_bucket_access ADD COLUMN versioning TEXT;
   ALTER TABLE s3_objects ADD COLUMN versioned INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE s3_versions (
     bucket TEXT NOT NULL REFERENCES s3_buckets(name), key TEXT NOT NULL, version INTEGER NOT NULL,
     versioned INTEGER NOT NULL, delete_marker INTEGER NOT NULL, blob TEXT, size INTEGER NOT NULL,
     etag TEXT NOT NULL, content_type TEXT NOT NULL, metadata TEXT NOT NULL, headers TEXT NOT NULL,
     checksum_algorithm TEXT, checksum_value TEXT, parts_count INTEGER, last_modified INTEGER NOT NULL,
     PRIMARY KEY (bucket, key, version));
   CREATE INDEX s3_versions_listing ON s3_versions (bucket, key, version DESC)`,
];

/** A completed upload as remembered: the part list it was completed with and its answer. */
export interface CompletedUploadRow {
  upload_id: string;
  bucket: string;
  key: string;
  /** The requested part list, normalised (`1:etag,2:etag`). */
  parts: string;
  etag: string;
  checksum_algorithm: string | null;
  checksum_value: string | null;
  /** The S3 version id the object got (`null` when the bucket was not versioning). */
  version_id: string;
  completed_at: number;
}

/** A bucket with its access configuration (each NULL when unset). */
export interface BucketAccessRow extends BucketRow {
  acl: string | null;
  policy: string | null;
  public_access_block: string | null;
  versioning: string | null;
}

export type BucketAccessField = 'acl' | 'policy' | 'public_access_block' | 'versioning';

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
  /** 1: the object has its own version id; 0: it is the `null` version. */
  versioned: number;
}

/** A version that is not the current object, or a delete marker (blob NULL). */
export interface VersionRow extends Omit<ObjectRow, 'blob'> {
  blob: string | null;
  delete_marker: number;
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

/** The object store's SQL, on the store or inside one of its transactions. */
export class ObjectRepo {
  readonly #q: SqlExecutor;

  constructor(q: SqlExecutor) {
    this.#q = q;
  }

  static async migrate(sql: Sql): Promise<void> {
    await sql.migrate('objects', OBJECT_SCHEMA);
  }

  /** What this repository runs on (hooks write their rows through it, inside the same transaction). */
  get executor(): SqlExecutor {
    return this.#q;
  }

  /** Runs fn in one transaction, with a repository bound to it. */
  transaction<T>(sql: Sql, fn: (r: ObjectRepo) => Promise<T>): Promise<T> {
    return sql.tx((q) => fn(new ObjectRepo(q)));
  }

  /** Every blob a row names (objects and parts): what the sweeper keeps. */
  async liveBlobs(): Promise<Set<string>> {
    const rows = await this.#q.all<{ blob: string }>(
      `SELECT blob FROM s3_objects UNION ALL SELECT blob FROM s3_parts
       UNION ALL SELECT blob FROM s3_versions WHERE blob IS NOT NULL`,
    );
    return new Set(rows.map((r) => r.blob));
  }

  /** The counter's next value: a change's version and event sequencer. */
  async nextVersion(): Promise<number> {
    const row = await this.#q.get<{ value: number }>(
      'UPDATE s3_sequence SET value = value + 1 WHERE id = 1 RETURNING value',
    );
    return row!.value;
  }

  // ---- buckets ----

  bucket(name: string): Promise<BucketRow | undefined> {
    return this.#q.get<BucketRow>('SELECT * FROM s3_buckets WHERE name = ?', [name]);
  }

  async insertBucket(name: string, tenantId: string, createdAt: string): Promise<void> {
    await this.#q.run('INSERT INTO s3_buckets (name, tenant_id, created_at) VALUES (?, ?, ?)', [
      name,
      tenantId,
      createdAt,
    ]);
  }

  /** Inserts the bucket unless the name is taken; true when this call created it. */
  async insertBucketIfAbsent(name: string, tenantId: string, createdAt: string): Promise<boolean> {
    const r = await this.#q.run(
      'INSERT INTO s3_buckets (name, tenant_id, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING',
      [name, tenantId, createdAt],
    );
    return r.changes === 1;
  }

  bucketsOf(tenantId: string): Promise<BucketRow[]> {
    return this.#q.all<BucketRow>('SELECT * FROM s3_buckets WHERE tenant_id = ? ORDER BY name', [tenantId]);
  }

  async bucketHasObjects(name: string): Promise<boolean> {
    return (
      (await this.#q.get('SELECT 1 AS one FROM s3_objects WHERE bucket = ? LIMIT 1', [name])) !== undefined ||
      (await this.#q.get('SELECT 1 AS one FROM s3_versions WHERE bucket = ? LIMIT 1', [name])) !== undefined
    );
  }

  /** The blobs of the parts of every upload into the bucket. */
  async bucketPartBlobs(name: string): Promise<string[]> {
    const rows = await this.#q.all<{ blob: string }>(
      'SELECT p.blob FROM s3_parts p JOIN s3_uploads u ON u.upload_id = p.upload_id WHERE u.bucket = ?',
      [name],
    );
    return rows.map((r) => r.blob);
  }

  /** The bucket and its access configuration in one read. */
  bucketAccess(name: string): Promise<BucketAccessRow | undefined> {
    return this.#q.get<BucketAccessRow>(
      `SELECT b.name, b.tenant_id, b.created_at, a.acl, a.policy, a.public_access_block, a.versioning
         FROM s3_buckets b LEFT JOIN s3_bucket_access a ON a.bucket = b.name WHERE b.name = ?`,
      [name],
    );
  }

  /** The bucket's versioning state (undefined: no bucket; null: never versioned), in one read. */
  async bucketVersioning(name: string): Promise<{ versioning: string | null } | undefined> {
    return this.#q.get<{ versioning: string | null }>(
      `SELECT a.versioning FROM s3_buckets b LEFT JOIN s3_bucket_access a ON a.bucket = b.name
        WHERE b.name = ?`,
      [name],
    );
  }

  async setBucketAccess(name: string, field: BucketAccessField, value: string | null): Promise<void> {
    // `field` is one of four fixed column names, never input.
    await this.#q.run(
      `INSERT INTO s3_bucket_access (bucket, ${field}) VALUES (?, ?)
       ON CONFLICT (bucket) DO UPDATE SET ${field} = excluded.${field}`,
      [name, value],
    );
  }

  /** The ACL set on exactly this version of the key (undefined: none, private). */
  async versionAcl(bucket: string, key: string, version: number): Promise<string | undefined> {
    return (
      await this.#q.get<{ acl: string }>(
        'SELECT acl FROM s3_object_acls WHERE bucket = ? AND key = ? AND version = ?',
        [bucket, key, version],
      )
    )?.acl;
  }

  /** The object's version and its ACL (NULL: private); undefined when there is no object. */
  objectAcl(bucket: string, key: string): Promise<{ version: number; acl: string | null } | undefined> {
    return this.#q.get<{ version: number; acl: string | null }>(
      `SELECT o.version, a.acl FROM s3_objects o
         LEFT JOIN s3_object_acls a ON a.bucket = o.bucket AND a.key = o.key AND a.version = o.version
       WHERE o.bucket = ? AND o.key = ?`,
      [bucket, key],
    );
  }

  async setObjectAcl(bucket: string, key: string, version: number, acl: string): Promise<void> {
    await this.#q.run(
      `INSERT INTO s3_object_acls (bucket, key, version, acl) VALUES (?, ?, ?, ?)
       ON CONFLICT (bucket, key) DO UPDATE SET version = excluded.version, acl = excluded.acl`,
      [bucket, key, version, acl],
    );
  }

  async setUploadAcl(uploadId: string, acl: string): Promise<void> {
    await this.#q.run('INSERT INTO s3_upload_acls (upload_id, acl) VALUES (?, ?)', [uploadId, acl]);
  }

  async uploadAcl(uploadId: string): Promise<string | undefined> {
    return (
      await this.#q.get<{ acl: string }>('SELECT acl FROM s3_upload_acls WHERE upload_id = ?', [uploadId])
    )?.acl;
  }

  async rememberCompletion(r: CompletedUploadRow): Promise<void> {
    await this.#q.run(
      `INSERT INTO s3_completed_uploads (upload_id, bucket, key, parts, etag, checksum_algorithm, checksum_value,
         version_id, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        r.upload_id,
        r.bucket,
        r.key,
        r.parts,
        r.etag,
        r.checksum_algorithm,
        r.checksum_value,
        r.version_id,
        r.completed_at,
      ],
    );
  }

  completion(uploadId: string): Promise<CompletedUploadRow | undefined> {
    return this.#q.get<CompletedUploadRow>('SELECT * FROM s3_completed_uploads WHERE upload_id = ?', [
      uploadId,
    ]);
  }

  async forgetCompletionsBefore(time: number): Promise<void> {
    await this.#q.run('DELETE FROM s3_completed_uploads WHERE completed_at < ?', [time]);
  }

  async setObjectParts(bucket: string, key: string, version: number, parts: string): Promise<void> {
    await this.#q.run(
      `INSERT INTO s3_object_parts (bucket, key, version, parts) VALUES (?, ?, ?, ?)
       ON CONFLICT (bucket, key) DO UPDATE SET version = excluded.version, parts = excluded.parts`,
      [bucket, key, version, parts],
    );
  }

  /** The parts (JSON) of the object's given version, if that version was a multipart upload's. */
  async objectParts(bucket: string, key: string, version: number): Promise<string | undefined> {
    return (
      await this.#q.get<{ parts: string }>(
        'SELECT parts FROM s3_object_parts WHERE bucket = ? AND key = ? AND version = ?',
        [bucket, key, version],
      )
    )?.parts;
  }

  /** Deletes the bucket, its uploads (parts cascade) and its access configuration. */
  async deleteBucket(name: string): Promise<void> {
    await this.#q.run('DELETE FROM s3_object_acls WHERE bucket = ?', [name]);
    await this.#q.run('DELETE FROM s3_object_parts WHERE bucket = ?', [name]);
    await this.#q.run('DELETE FROM s3_completed_uploads WHERE bucket = ?', [name]);
    await this.#q.run('DELETE FROM s3_bucket_access WHERE bucket = ?', [name]);
    await this.#q.run('DELETE FROM s3_versions WHERE bucket = ?', [name]);
    await this.#q.run('DELETE FROM s3_uploads WHERE bucket = ?', [name]);
    await this.#q.run('DELETE FROM s3_buckets WHERE name = ?', [name]);
  }

  // ---- objects ----

  object(bucket: string, key: string): Promise<ObjectRow | undefined> {
    return this.#q.get<ObjectRow>('SELECT * FROM s3_objects WHERE bucket = ? AND key = ?', [bucket, key]);
  }

  /** The object's row, locked until the transaction ends (PostgreSQL): concurrent writers of a key queue. */
  objectForUpdate(bucket: string, key: string): Promise<{ blob: string; etag: string } | undefined> {
    return this.#q.get<{ blob: string; etag: string }>(
      'SELECT blob, etag FROM s3_objects WHERE bucket = ? AND key = ? FOR UPDATE',
      [bucket, key],
    );
  }

  async objectBlob(bucket: string, key: string): Promise<string | undefined> {
    return (
      await this.#q.get<{ blob: string }>('SELECT blob FROM s3_objects WHERE bucket = ? AND key = ?', [
        bucket,
        key,
      ])
    )?.blob;
  }

  async objectEtag(bucket: string, key: string): Promise<string | undefined> {
    return (
      await this.#q.get<{ etag: string }>('SELECT etag FROM s3_objects WHERE bucket = ? AND key = ?', [
        bucket,
        key,
      ])
    )?.etag;
  }

  async deleteObject(bucket: string, key: string): Promise<void> {
    await this.#q.run('DELETE FROM s3_objects WHERE bucket = ? AND key = ?', [bucket, key]);
  }

  /** Inserts or replaces the object's row. */
  async putObject(r: ObjectRow): Promise<void> {
    await this.#q.run(
      `INSERT INTO s3_objects (bucket, key, blob, size, etag, content_type, metadata, headers, checksum_algorithm,
         checksum_value, parts_count, last_modified, version, versioned)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (bucket, key) DO UPDATE SET blob = excluded.blob, size = excluded.size, etag = excluded.etag,
         content_type = excluded.content_type, metadata = excluded.metadata, headers = excluded.headers,
         checksum_algorithm = excluded.checksum_algorithm, checksum_value = excluded.checksum_value,
         parts_count = excluded.parts_count, last_modified = excluded.last_modified, version = excluded.version,
         versioned = excluded.versioned`,
      [
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
        r.versioned,
      ],
    );
  }

  // ---- versions other than the current object, and delete markers ----

  async insertVersion(r: VersionRow): Promise<void> {
    await this.#q.run(
      `INSERT INTO s3_versions (bucket, key, version, versioned, delete_marker, blob, size, etag, content_type,
         metadata, headers, checksum_algorithm, checksum_value, parts_count, last_modified)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        r.bucket,
        r.key,
        r.version,
        r.versioned,
        r.delete_marker,
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
      ],
    );
  }

  /** A noncurrent version or marker by internal version; `versioned` 0 finds the key's `null` one. */
  version(
    bucket: string,
    key: string,
    by: { version: number } | { null: true },
  ): Promise<VersionRow | undefined> {
    return 'version' in by
      ? this.#q.get<VersionRow>(
          'SELECT * FROM s3_versions WHERE bucket = ? AND key = ? AND version = ? AND versioned = 1',
          [bucket, key, by.version],
        )
      : this.#q.get<VersionRow>('SELECT * FROM s3_versions WHERE bucket = ? AND key = ? AND versioned = 0', [
          bucket,
          key,
        ]);
  }

  /** The key's newest noncurrent version or marker (the one a permanent delete of the latest promotes). */
  newestVersion(bucket: string, key: string): Promise<VersionRow | undefined> {
    return this.#q.get<VersionRow>(
      'SELECT * FROM s3_versions WHERE bucket = ? AND key = ? ORDER BY version DESC LIMIT 1',
      [bucket, key],
    );
  }

  async deleteVersion(bucket: string, key: string, version: number): Promise<void> {
    await this.#q.run('DELETE FROM s3_versions WHERE bucket = ? AND key = ? AND version = ?', [
      bucket,
      key,
      version,
    ]);
  }

  /**
   * Up to `limit` versions (current objects and s3_versions) in ListObjectVersions order (key, newest
   * first), from keys >= `from`, after the (key, version) cursor when given (a version of MAX_SAFE_INTEGER
   * starts at the key's newest).
   */
  versionsAfter(
    bucket: string,
    after: { key: string; version: number } | null,
    from: string,
    limit: number,
  ): Promise<(VersionRow & { current: number })[]> {
    const cols = `bucket, key, version, versioned, blob, size, etag, content_type, metadata, headers,
      checksum_algorithm, checksum_value, parts_count, last_modified`;
    // Each side is read in index order and cut at `limit` before the merge: a page costs its own rows, not
    // the rest of the bucket. `key >= ?` starts the index range; the OR only filters the cursor's key.
    const start = after !== null && after.key > from ? after.key : from;
    const where = after === null ? 'key >= ?' : 'key >= ? AND (key > ? OR version < ?)';
    const args = after === null ? [start] : [start, after.key, after.version];
    return this.#q.all<VersionRow & { current: number }>(
      `SELECT * FROM (
         SELECT ${cols}, 0 AS delete_marker, 1 AS current FROM s3_objects WHERE bucket = ? AND ${where}
          ORDER BY key LIMIT ?) o
       UNION ALL
       SELECT * FROM (
         SELECT ${cols}, delete_marker, 0 AS current FROM s3_versions WHERE bucket = ? AND ${where}
          ORDER BY key, version DESC LIMIT ?) v
       ORDER BY key, version DESC LIMIT ?`,
      [bucket, ...args, limit, bucket, ...args, limit, limit],
    );
  }

  /**
   * Up to 256 objects of the bucket in key order (UTF-8 bytes: SQLite's BINARY collation, PostgreSQL's
   * "C", as S3 lists them): keys after `after` (all when null) and >= `from`.
   */
  objectsAfter(bucket: string, after: string | null, from: string): Promise<ObjectRow[]> {
    return after === null
      ? this.#q.all<ObjectRow>(
          'SELECT * FROM s3_objects WHERE bucket = ? AND key >= ? ORDER BY key LIMIT 256',
          [bucket, from],
        )
      : this.#q.all<ObjectRow>(
          'SELECT * FROM s3_objects WHERE bucket = ? AND key > ? AND key >= ? ORDER BY key LIMIT 256',
          [bucket, after, from],
        );
  }

  // ---- multipart uploads ----

  async insertUpload(r: UploadRow): Promise<void> {
    await this.#q.run(
      'INSERT INTO s3_uploads (upload_id, bucket, key, content_type, metadata, headers, checksum_algorithm, initiated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [
        r.upload_id,
        r.bucket,
        r.key,
        r.content_type,
        r.metadata,
        r.headers,
        r.checksum_algorithm,
        r.initiated,
      ],
    );
  }

  upload(uploadId: string): Promise<UploadRow | undefined> {
    return this.#q.get<UploadRow>('SELECT * FROM s3_uploads WHERE upload_id = ?', [uploadId]);
  }

  /** The upload's row, locked until the transaction ends (PostgreSQL). */
  uploadForUpdate(uploadId: string): Promise<UploadRow | undefined> {
    return this.#q.get<UploadRow>('SELECT * FROM s3_uploads WHERE upload_id = ? FOR UPDATE', [uploadId]);
  }

  /** The bucket's uploads with keys >= prefix, by key then initiation. */
  uploadsFrom(bucket: string, prefix: string): Promise<UploadRow[]> {
    return this.#q.all<UploadRow>(
      'SELECT * FROM s3_uploads WHERE bucket = ? AND key >= ? ORDER BY key, initiated',
      [bucket, prefix],
    );
  }

  /** Deletes the upload and its parts (cascade). */
  async deleteUpload(uploadId: string): Promise<void> {
    await this.#q.run('DELETE FROM s3_uploads WHERE upload_id = ?', [uploadId]);
  }

  async partBlob(uploadId: string, partNumber: number): Promise<string | undefined> {
    return (
      await this.#q.get<{ blob: string }>(
        'SELECT blob FROM s3_parts WHERE upload_id = ? AND part_number = ?',
        [uploadId, partNumber],
      )
    )?.blob;
  }

  /** Inserts or replaces the part's row. */
  async putPart(r: PartRow): Promise<void> {
    await this.#q.run(
      `INSERT INTO s3_parts (upload_id, part_number, blob, size, etag, checksum_algorithm, checksum_value, last_modified)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (upload_id, part_number) DO UPDATE SET blob = excluded.blob, size = excluded.size,
         etag = excluded.etag, checksum_algorithm = excluded.checksum_algorithm,
         checksum_value = excluded.checksum_value, last_modified = excluded.last_modified`,
      [
        r.upload_id,
        r.part_number,
        r.blob,
        r.size,
        r.etag,
        r.checksum_algorithm,
        r.checksum_value,
        r.last_modified,
      ],
    );
  }

  /** Parts numbered above `after`, in order, at most limit. */
  partsAfter(uploadId: string, after: number, limit: number): Promise<PartRow[]> {
    return this.#q.all<PartRow>(
      'SELECT * FROM s3_parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?',
      [uploadId, after, limit],
    );
  }

  parts(uploadId: string): Promise<PartRow[]> {
    return this.#q.all<PartRow>('SELECT * FROM s3_parts WHERE upload_id = ?', [uploadId]);
  }

  async partBlobs(uploadId: string): Promise<string[]> {
    return (
      await this.#q.all<{ blob: string }>('SELECT blob FROM s3_parts WHERE upload_id = ?', [uploadId])
    ).map((r) => r.blob);
  }
}
