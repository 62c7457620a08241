// The embedded object store: buckets per tenant, object metadata in the store (SQLite or PostgreSQL),
// object bytes in the blob store (the data dir, a shared directory or an S3 bucket) named by an internal
// id (never by the user's key). Bytes are written first and become visible only when the metadata row
// commits, so an interrupted upload leaves nothing behind but an orphan the sweeper removes.
// This class is the facade callers hold; the concepts live beside it: object-repo.ts (SQL), buckets.ts,
// objects.ts, multipart.ts and blob-files.ts.
import type { BlobStore } from '../../store/blobs/blob-store.js';
import type { Sql } from '../../store/sql.js';
import { BlobFiles } from './blob-files.js';
import { Buckets } from './buckets.js';
import { type BucketConfigField, ConfigRepo } from './config-repo.js';
import { S3Errors } from './errors.js';
import { type CreateUploadOptions, MultipartUploads } from './multipart.js';
import { type BucketAccessField, ObjectRepo } from './object-repo.js';
import { Objects, type OpenObject } from './objects.js';
import type {
  Actor,
  BucketAccess,
  BucketInfo,
  CompletedUpload,
  DeleteOutcome,
  ListOptions,
  ListResult,
  ListVersionsOptions,
  ListVersionsResult,
  ObjectChange,
  ObjectInfo,
  ObjectPart,
  ObjectStoreHooks,
  PartInfo,
  StoredHeaders,
  TagSet,
  UploadInfo,
  VersioningState,
  WriteCondition,
  WriteOptions,
} from './types.js';
import { decodeVersionId } from './version-id.js';
import { checkVersionMarkers, findVersion, listVersions } from './versions.js';

export type { BucketConfigField } from './config-repo.js';
export { MAX_PART_NUMBER, MIN_PART_SIZE } from './multipart.js';
export type { BucketAccessField } from './object-repo.js';
export { sequencer, started, validateKey } from './objects.js';
export type * from './types.js';
export { actorTenant } from './types.js';
export { decodeVersionId, NULL_VERSION } from './version-id.js';

export class ObjectStore {
  readonly #sql: Sql;
  readonly #repo: ObjectRepo;
  readonly #blobs: BlobFiles;
  readonly #buckets: Buckets;
  readonly #objects: Objects;
  readonly #uploads: MultipartUploads;

  /**
   * `shared`: other nodes write to `blobs` too, so an unreferenced blob younger than `graceMs` may be
   * another node's write about to commit, and is left alone. Call `migrate` before anything else.
   */
  constructor(opts: {
    sql: Sql;
    blobs: BlobStore;
    shared?: boolean;
    graceMs?: number;
    hooks?: ObjectStoreHooks;
  }) {
    const hooks = opts.hooks ?? {};
    this.#sql = opts.sql;
    this.#repo = new ObjectRepo(opts.sql);
    this.#blobs = new BlobFiles(opts.blobs, {
      shared: opts.shared ?? false,
      graceMs: opts.graceMs ?? 15 * 60_000,
    });
    this.#buckets = new Buckets(opts.sql, this.#repo, this.#blobs, hooks);
    this.#objects = new Objects(opts.sql, this.#repo, this.#blobs, this.#buckets, hooks);
    this.#uploads = new MultipartUploads(opts.sql, this.#repo, this.#blobs, this.#buckets, this.#objects);
  }

  /** Creates or updates the tables (safe when several nodes start at once). */
  migrate(): Promise<void> {
    return ObjectRepo.migrate(this.#sql);
  }

  /**
   * Recovery (at start, and now and then on a shared store): temp files are uploads that never
   * completed; blobs no row names are writes whose commit never happened (or old versions whose delete
   * did not). Both go.
   */
  recover(): Promise<{ tempFiles: number; orphans: number }> {
    return this.#blobs.recover(() => this.#repo.liveBlobs());
  }

  // ---- buckets ----

  createBucket(tenantId: string, name: string, acl?: string): Promise<BucketInfo> {
    return this.#buckets.create(tenantId, name, acl);
  }

  listBuckets(tenantId: string): Promise<BucketInfo[]> {
    return this.#buckets.list(tenantId);
  }

  /** The tenant's bucket; NoSuchBucket if none has the name, AccessDenied if another tenant owns it. */
  bucket(tenantId: Actor, name: string): Promise<BucketInfo> {
    return this.#buckets.get(tenantId, name);
  }

  deleteBucket(tenantId: Actor, name: string): Promise<void> {
    return this.#buckets.delete(tenantId, name);
  }

  // ---- access control (the S3 API parses and enforces it; the store keeps it) ----

  /** The bucket with its ACL, policy and PublicAccessBlock, whoever owns it; NoSuchBucket if none. */
  bucketAccess(name: string): Promise<BucketAccess> {
    return this.#buckets.access(name);
  }

  async setBucketAccess(
    actor: Actor,
    name: string,
    field: BucketAccessField,
    value: string | null,
  ): Promise<void> {
    await this.#buckets.get(actor, name);
    await this.#repo.setBucketAccess(name, field, value);
  }

  /** The current object's ACL (null: private); NoSuchKey if there is no object. */
  async objectAcl(actor: Actor, bucket: string, key: string): Promise<string | null> {
    await this.#buckets.get(actor, bucket);
    const row = await this.#repo.objectAcl(bucket, key);
    if (!row) throw S3Errors.noSuchKey(key);
    return row.acl;
  }

  /**
   * The ACL of an object of a bucket already read by the caller; undefined when there is no object. With
   * a version id: the ACL set on that version (a noncurrent version whose ACL was replaced is private),
   * NoSuchVersion when there is none.
   */
  async peekObjectAcl(
    bucket: string,
    key: string,
    versionId?: string,
  ): Promise<{ acl: string | null } | undefined> {
    if (versionId === undefined) return this.#repo.objectAcl(bucket, key);
    const found = await findVersion(this.#repo, bucket, key, versionId);
    if (!found) return undefined;
    return { acl: (await this.#repo.versionAcl(bucket, key, found.row.version)) ?? null };
  }

  /**
   * The tags of the current object (or of one version), for policy conditions on
   * s3:ExistingObjectTag; undefined if there is no such object.
   */
  async peekObjectTags(bucket: string, key: string, versionId?: string): Promise<TagSet | undefined> {
    const row =
      versionId === undefined
        ? await this.#repo.object(bucket, key)
        : (await findVersion(this.#repo, bucket, key, versionId))?.row;
    if (!row) return undefined;
    const json = await new ConfigRepo(this.#sql).objectTags(bucket, key, row.version);
    return json === undefined ? [] : (JSON.parse(json) as TagSet);
  }

  // ---- versioning ----

  /** null: the bucket was never versioned. */
  async bucketVersioning(actor: Actor, name: string): Promise<VersioningState | null> {
    await this.#buckets.get(actor, name);
    return ((await this.#repo.bucketVersioning(name))?.versioning ?? null) as VersioningState | null;
  }

  async setBucketVersioning(actor: Actor, name: string, state: VersioningState): Promise<void> {
    await this.#buckets.get(actor, name);
    await this.#repo.setBucketAccess(name, 'versioning', state);
  }

  async listObjectVersions(
    actor: Actor,
    bucket: string,
    opts: ListVersionsOptions,
  ): Promise<ListVersionsResult> {
    await this.#buckets.get(actor, bucket);
    checkVersionMarkers(opts);
    return listVersions(this.#repo, bucket, opts);
  }

  /** Deletes one version or delete marker for good (DELETE ?versionId=). */
  deleteObjectVersion(actor: Actor, bucket: string, key: string, versionId: string): Promise<DeleteOutcome> {
    decodeVersionId(versionId);
    return this.#objects.deleteVersion(actor, bucket, key, versionId);
  }

  /** Sets the current object's ACL (it lasts until the object is overwritten or deleted). */
  async setObjectAcl(actor: Actor, bucket: string, key: string, acl: string): Promise<void> {
    await this.#buckets.get(actor, bucket);
    await this.#repo.transaction(this.#sql, async (r) => {
      const row = await r.objectAcl(bucket, key);
      if (!row) throw S3Errors.noSuchKey(key);
      await r.setObjectAcl(bucket, key, row.version, acl);
    });
  }

  // ---- tagging, CORS and lifecycle (the S3 API validates; the store keeps them) ----

  /** The current object's tags and version; NoSuchKey if there is no object. */
  async objectTagging(actor: Actor, bucket: string, key: string): Promise<{ tags: TagSet; version: number }> {
    await this.#buckets.get(actor, bucket);
    const row = await this.#repo.object(bucket, key);
    if (!row) throw S3Errors.noSuchKey(key);
    if (!row.tag_count) return { tags: [], version: row.version };
    const json = await new ConfigRepo(this.#sql).objectTags(bucket, key, row.version);
    return { tags: json === undefined ? [] : (JSON.parse(json) as TagSet), version: row.version };
  }

  /** The tags of one version (current or not); NoSuchVersion if there is none, 405 for a delete marker. */
  async versionTagging(actor: Actor, bucket: string, key: string, versionId: string): Promise<TagSet> {
    await this.#buckets.get(actor, bucket);
    const found = await findVersion(this.#repo, bucket, key, versionId);
    if (!found) throw S3Errors.noSuchVersion(key, versionId);
    if (found.row.delete_marker) throw S3Errors.methodNotAllowed();
    const json = await new ConfigRepo(this.#sql).objectTags(bucket, key, found.row.version);
    return json === undefined ? [] : (JSON.parse(json) as TagSet);
  }

  /** Replaces (empty: removes) the current object's tags; answers the object's version. */
  async setObjectTagging(actor: Actor, bucket: string, key: string, tags: TagSet): Promise<number> {
    await this.#buckets.get(actor, bucket);
    return this.#repo.transaction(this.#sql, async (r) => {
      const row = await r.objectForUpdate(bucket, key);
      if (!row) throw S3Errors.noSuchKey(key);
      await new ConfigRepo(r.executor).setObjectTags(
        bucket,
        key,
        row.version,
        tags.length === 0 ? null : { json: JSON.stringify(tags), count: tags.length },
      );
      return row.version;
    });
  }

  /** The bucket's tagging, CORS or lifecycle configuration (opaque JSON; null: none). */
  async bucketConfig(actor: Actor, bucket: string, field: BucketConfigField): Promise<string | null> {
    await this.#buckets.get(actor, bucket);
    return new ConfigRepo(this.#sql).bucketConfig(bucket, field);
  }

  /**
   * A bucket's configuration without an owner check: CORS rules, which preflights (unsigned) and the
   * headers of answers to allowed origins apply for any caller; null when none (or no such bucket).
   */
  peekBucketConfig(bucket: string, field: BucketConfigField): Promise<string | null> {
    return new ConfigRepo(this.#sql).bucketConfig(bucket, field);
  }

  async setBucketConfig(
    actor: Actor,
    bucket: string,
    field: BucketConfigField,
    value: string | null,
  ): Promise<void> {
    await this.#buckets.get(actor, bucket);
    await new ConfigRepo(this.#sql).setBucketConfig(bucket, field, value);
  }

  /** Buckets with a lifecycle configuration after `after` in name order (the lifecycle sweep). */
  lifecycleBuckets(after: string, limit: number): Promise<{ bucket: string; lifecycle: string }[]> {
    return new ConfigRepo(this.#sql).lifecycleBuckets(after, limit);
  }

  /** The tags of one version of a key (the lifecycle sweep's tag filters). */
  async versionTags(bucket: string, key: string, version: number): Promise<TagSet> {
    const json = await new ConfigRepo(this.#sql).objectTags(bucket, key, version);
    return json === undefined ? [] : (JSON.parse(json) as TagSet);
  }

  /** Takes or renews the lifecycle sweep's lease (one node sweeps at a time). */
  takeLifecycleLease(node: string, now: number, until: number): Promise<boolean> {
    return new ConfigRepo(this.#sql).takeLifecycleLease(node, now, until);
  }

  // ---- objects ----

  putObject(
    tenantId: Actor,
    bucket: string,
    key: string,
    body: AsyncIterable<Uint8Array>,
    opts: WriteOptions = {},
    eventName: ObjectChange['eventName'] = 'ObjectCreated:Put',
  ): Promise<ObjectInfo> {
    return this.#objects.put(tenantId, bucket, key, body, opts, eventName);
  }

  /** The current object, or the version named (`null` included). */
  headObject(tenantId: Actor, bucket: string, key: string, versionId?: string): Promise<ObjectInfo> {
    return this.#objects.head(tenantId, bucket, key, versionId);
  }

  /** The object's (or the named version's) metadata and its open blob (see Objects.open). */
  openObject(tenantId: Actor, bucket: string, key: string, versionId?: string): Promise<OpenObject> {
    return this.#objects.open(tenantId, bucket, key, versionId);
  }

  /**
   * Deletes the object if it exists (S3 answers 204 either way); a versioned bucket gets a delete marker.
   * `ifVersion`: only that version of it, and `lifecycle`: told as a LifecycleExpiration (the sweep).
   */
  deleteObject(
    tenantId: Actor,
    bucket: string,
    key: string,
    opts: { ifVersion?: number; lifecycle?: boolean } = {},
  ): Promise<DeleteOutcome> {
    return this.#objects.delete(tenantId, bucket, key, opts);
  }

  copyObject(
    tenantId: Actor,
    source: { bucket: string; key: string; versionId?: string },
    target: { bucket: string; key: string },
    opts: {
      replaceMetadata?: { contentType?: string; metadata: Record<string, string>; headers: StoredHeaders };
      acl?: string;
      tags?: TagSet;
      checkSource?: (source: ObjectInfo) => void;
    },
  ): Promise<ObjectInfo & { sourceVersionId: string }> {
    return this.#objects.copy(tenantId, source, target, opts);
  }

  /** The object's metadata and, for a multipart object, its parts (GetObjectAttributes). */
  async objectAttributes(
    tenantId: Actor,
    bucket: string,
    key: string,
  ): Promise<{ info: ObjectInfo; parts: ObjectPart[] | undefined }> {
    const info = await this.#objects.head(tenantId, bucket, key);
    const parts = await this.#repo.objectParts(bucket, key, info.version);
    return { info, parts: parts === undefined ? undefined : (JSON.parse(parts) as ObjectPart[]) };
  }

  /** The part sizes of one version of an object, if it was completed from parts and is current. */
  async objectPartList(bucket: string, key: string, version: number): Promise<ObjectPart[] | undefined> {
    const parts = await this.#repo.objectParts(bucket, key, version);
    return parts === undefined ? undefined : (JSON.parse(parts) as ObjectPart[]);
  }

  listObjects(tenantId: Actor, bucket: string, opts: ListOptions): Promise<ListResult> {
    return this.#objects.list(tenantId, bucket, opts);
  }

  // ---- multipart uploads ----

  createMultipartUpload(
    tenantId: Actor,
    bucket: string,
    key: string,
    opts: CreateUploadOptions = {},
  ): Promise<string> {
    return this.#uploads.create(tenantId, bucket, key, opts);
  }

  upload(tenantId: Actor, bucket: string, key: string, uploadId: string): Promise<UploadInfo> {
    return this.#uploads.get(tenantId, bucket, key, uploadId);
  }

  uploadPart(
    tenantId: Actor,
    bucket: string,
    key: string,
    uploadId: string,
    partNumber: number,
    body: AsyncIterable<Uint8Array>,
    verify?: WriteOptions['verify'],
  ): Promise<PartInfo> {
    return this.#uploads.uploadPart(tenantId, bucket, key, uploadId, partNumber, body, verify);
  }

  listParts(
    tenantId: Actor,
    bucket: string,
    key: string,
    uploadId: string,
    opts: { maxParts?: number; after?: number } = {},
  ): Promise<{ parts: PartInfo[]; isTruncated: boolean }> {
    return this.#uploads.listParts(tenantId, bucket, key, uploadId, opts);
  }

  listUploads(tenantId: Actor, bucket: string, prefix = ''): Promise<UploadInfo[]> {
    return this.#uploads.list(tenantId, bucket, prefix);
  }

  abortMultipartUpload(tenantId: Actor, bucket: string, key: string, uploadId: string): Promise<void> {
    return this.#uploads.abort(tenantId, bucket, key, uploadId);
  }

  /** Concatenates the listed parts (streaming) into the object; its ETag is `md5(part md5s)-N` as S3's. */
  completeMultipartUpload(
    tenantId: Actor,
    bucket: string,
    key: string,
    uploadId: string,
    requested: { partNumber: number; etag: string }[],
    condition?: WriteCondition,
  ): Promise<CompletedUpload> {
    return this.#uploads.complete(tenantId, bucket, key, uploadId, requested, condition);
  }
}
