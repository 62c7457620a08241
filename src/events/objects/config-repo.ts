// The SQL of what S3 calls a bucket's and an object's configuration beyond access control: object tags
// (per object version), the tags an upload will give its object, the bucket's tags, CORS and lifecycle
// configuration (opaque JSON the S3 API validates), and the lease that lets one node at a time run the
// lifecycle sweep.
import type { SqlExecutor } from '../../store/sql.js';

/**
 * Object tags belong to one object `version` (the row's sequence number): an overwrite makes a new
 * version without tags, and the old version's row goes in the same transaction (see dropStaleTags).
 */
export const CONFIG_SCHEMA_STEP = `CREATE TABLE s3_object_tags (
     bucket TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL, tags TEXT NOT NULL,
     tag_count INTEGER NOT NULL, PRIMARY KEY (bucket, key, version));
   CREATE TABLE s3_upload_tags (
     upload_id TEXT PRIMARY KEY REFERENCES s3_uploads(upload_id) ON DELETE CASCADE, tags TEXT NOT NULL);
   CREATE TABLE s3_bucket_config (
     bucket TEXT PRIMARY KEY REFERENCES s3_buckets(name), tagging TEXT, cors TEXT, lifecycle TEXT);
   CREATE TABLE s3_lifecycle_lease (id INTEGER PRIMARY KEY CHECK (id = 1), node TEXT, until INTEGER NOT NULL);
   INSERT INTO s3_lifecycle_lease (id, node, until) VALUES (1, NULL, 0)`;

export type BucketConfigField = 'tagging' | 'cors' | 'lifecycle';

export class ConfigRepo {
  readonly #q: SqlExecutor;

  constructor(q: SqlExecutor) {
    this.#q = q;
  }

  // ---- object tags ----

  async objectTags(bucket: string, key: string, version: number): Promise<string | undefined> {
    return (
      await this.#q.get<{ tags: string }>(
        'SELECT tags FROM s3_object_tags WHERE bucket = ? AND key = ? AND version = ?',
        [bucket, key, version],
      )
    )?.tags;
  }

  /** Sets (or with null removes) the tags of one version of the key. */
  async setObjectTags(
    bucket: string,
    key: string,
    version: number,
    tags: { json: string; count: number } | null,
  ): Promise<void> {
    if (tags === null) {
      await this.#q.run('DELETE FROM s3_object_tags WHERE bucket = ? AND key = ? AND version = ?', [
        bucket,
        key,
        version,
      ]);
      return;
    }
    await this.#q.run(
      `INSERT INTO s3_object_tags (bucket, key, version, tags, tag_count) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (bucket, key, version) DO UPDATE SET tags = excluded.tags, tag_count = excluded.tag_count`,
      [bucket, key, version, tags.json, tags.count],
    );
  }

  /**
   * Removes the tags of versions of the key that no longer exist (after an overwrite or a delete): a
   * version lives in s3_objects (the current one) or s3_versions (noncurrent ones, with their tags).
   */
  async dropStaleTags(bucket: string, key: string): Promise<void> {
    await this.#q.run(
      `DELETE FROM s3_object_tags WHERE bucket = ? AND key = ?
         AND version NOT IN (SELECT version FROM s3_objects WHERE bucket = ? AND key = ?)
         AND version NOT IN (SELECT version FROM s3_versions WHERE bucket = ? AND key = ?)`,
      [bucket, key, bucket, key, bucket, key],
    );
  }

  async setUploadTags(uploadId: string, tags: string): Promise<void> {
    await this.#q.run('INSERT INTO s3_upload_tags (upload_id, tags) VALUES (?, ?)', [uploadId, tags]);
  }

  async uploadTags(uploadId: string): Promise<string | undefined> {
    return (
      await this.#q.get<{ tags: string }>('SELECT tags FROM s3_upload_tags WHERE upload_id = ?', [uploadId])
    )?.tags;
  }

  // ---- bucket configuration ----

  async bucketConfig(bucket: string, field: BucketConfigField): Promise<string | null> {
    // `field` is one of three fixed column names, never input.
    const row = await this.#q.get<Record<string, string | null>>(
      `SELECT ${field} AS value FROM s3_bucket_config WHERE bucket = ?`,
      [bucket],
    );
    return row?.value ?? null;
  }

  async setBucketConfig(bucket: string, field: BucketConfigField, value: string | null): Promise<void> {
    await this.#q.run(
      `INSERT INTO s3_bucket_config (bucket, ${field}) VALUES (?, ?)
       ON CONFLICT (bucket) DO UPDATE SET ${field} = excluded.${field}`,
      [bucket, value],
    );
  }

  /** Buckets with a lifecycle configuration, by name after `after`, at most `limit`. */
  lifecycleBuckets(after: string, limit: number): Promise<{ bucket: string; lifecycle: string }[]> {
    return this.#q.all<{ bucket: string; lifecycle: string }>(
      `SELECT bucket, lifecycle FROM s3_bucket_config WHERE lifecycle IS NOT NULL AND bucket > ?
       ORDER BY bucket LIMIT ?`,
      [after, limit],
    );
  }

  /** Everything of the bucket's this repository keeps (the bucket is being deleted). */
  async deleteBucket(bucket: string): Promise<void> {
    await this.#q.run('DELETE FROM s3_object_tags WHERE bucket = ?', [bucket]);
    await this.#q.run('DELETE FROM s3_bucket_config WHERE bucket = ?', [bucket]);
  }

  // ---- the lifecycle sweep's lease ----

  /** Takes (or renews) the sweep's lease until `until` unless another node holds it past `now`. */
  async takeLifecycleLease(node: string, now: number, until: number): Promise<boolean> {
    const r = await this.#q.run(
      'UPDATE s3_lifecycle_lease SET node = ?, until = ? WHERE id = 1 AND (until <= ? OR node = ?)',
      [node, until, now, node],
    );
    return r.changes === 1;
  }
}
