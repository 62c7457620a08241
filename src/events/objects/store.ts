// The embedded object store: buckets per tenant, object metadata in SQLite, object bytes in files under
// the data dir named by an internal id (never by the user's key). Writes stream to a temp file and
// become visible only when the metadata row commits, so an interrupted upload leaves nothing behind.
// This class is the facade callers hold; the concepts live beside it: object-repo.ts (SQL), buckets.ts,
// objects.ts, multipart.ts and blob-files.ts.
import type { Readable } from 'node:stream';
import type { Db } from '../../store/database.js';
import { BlobFiles } from './blob-files.js';
import { Buckets } from './buckets.js';
import { type CreateUploadOptions, MultipartUploads } from './multipart.js';
import { SqliteObjectRepo } from './object-repo.js';
import { Objects } from './objects.js';
import type {
  BucketInfo,
  ListOptions,
  ListResult,
  ObjectChange,
  ObjectInfo,
  ObjectStoreHooks,
  PartInfo,
  StoredHeaders,
  UploadInfo,
  WriteOptions,
} from './types.js';

export { MAX_PART_NUMBER, MIN_PART_SIZE } from './multipart.js';
export { sequencer, validateKey } from './objects.js';
export type * from './types.js';

export class ObjectStore {
  readonly #repo: SqliteObjectRepo;
  readonly #blobs: BlobFiles;
  readonly #buckets: Buckets;
  readonly #objects: Objects;
  readonly #uploads: MultipartUploads;

  constructor(opts: { db: Db; dir: string; hooks?: ObjectStoreHooks }) {
    const hooks = opts.hooks ?? {};
    this.#repo = new SqliteObjectRepo(opts.db);
    this.#blobs = new BlobFiles(opts.dir);
    this.#buckets = new Buckets(this.#repo, this.#blobs, hooks);
    this.#objects = new Objects(this.#repo, this.#blobs, this.#buckets, hooks);
    this.#uploads = new MultipartUploads(this.#repo, this.#blobs, this.#buckets, this.#objects);
  }

  /**
   * Restart recovery: temp files are uploads that never completed; blob files no row names are writes
   * whose commit never happened (or old versions whose unlink did not). Both go.
   */
  recover(): { tempFiles: number; orphans: number } {
    return this.#blobs.recover(this.#repo.liveBlobs());
  }

  // ---- buckets ----

  createBucket(tenantId: string, name: string): BucketInfo {
    return this.#buckets.create(tenantId, name);
  }

  listBuckets(tenantId: string): BucketInfo[] {
    return this.#buckets.list(tenantId);
  }

  /** The tenant's bucket; NoSuchBucket if none has the name, AccessDenied if another tenant owns it. */
  bucket(tenantId: string, name: string): BucketInfo {
    return this.#buckets.get(tenantId, name);
  }

  deleteBucket(tenantId: string, name: string): void {
    this.#buckets.delete(tenantId, name);
  }

  // ---- objects ----

  putObject(
    tenantId: string,
    bucket: string,
    key: string,
    body: AsyncIterable<Uint8Array>,
    opts: WriteOptions = {},
    eventName: ObjectChange['eventName'] = 'ObjectCreated:Put',
  ): Promise<ObjectInfo> {
    return this.#objects.put(tenantId, bucket, key, body, opts, eventName);
  }

  headObject(tenantId: string, bucket: string, key: string): ObjectInfo {
    return this.#objects.head(tenantId, bucket, key);
  }

  /** The object's metadata and an open file on its bytes (see Objects.open). */
  openObject(
    tenantId: string,
    bucket: string,
    key: string,
  ): { info: ObjectInfo; read(range?: { start: number; end: number }): Readable; close(): void } {
    return this.#objects.open(tenantId, bucket, key);
  }

  /** Deletes the object if it exists (S3 answers 204 either way). */
  deleteObject(tenantId: string, bucket: string, key: string): boolean {
    return this.#objects.delete(tenantId, bucket, key);
  }

  copyObject(
    tenantId: string,
    source: { bucket: string; key: string },
    target: { bucket: string; key: string },
    opts: {
      replaceMetadata?: { contentType?: string; metadata: Record<string, string>; headers: StoredHeaders };
    },
  ): Promise<ObjectInfo> {
    return this.#objects.copy(tenantId, source, target, opts);
  }

  listObjects(tenantId: string, bucket: string, opts: ListOptions): ListResult {
    return this.#objects.list(tenantId, bucket, opts);
  }

  // ---- multipart uploads ----

  createMultipartUpload(
    tenantId: string,
    bucket: string,
    key: string,
    opts: CreateUploadOptions = {},
  ): string {
    return this.#uploads.create(tenantId, bucket, key, opts);
  }

  upload(tenantId: string, bucket: string, key: string, uploadId: string): UploadInfo {
    return this.#uploads.get(tenantId, bucket, key, uploadId);
  }

  uploadPart(
    tenantId: string,
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
    tenantId: string,
    bucket: string,
    key: string,
    uploadId: string,
    opts: { maxParts?: number; after?: number } = {},
  ): { parts: PartInfo[]; isTruncated: boolean } {
    return this.#uploads.listParts(tenantId, bucket, key, uploadId, opts);
  }

  listUploads(tenantId: string, bucket: string, prefix = ''): UploadInfo[] {
    return this.#uploads.list(tenantId, bucket, prefix);
  }

  abortMultipartUpload(tenantId: string, bucket: string, key: string, uploadId: string): void {
    this.#uploads.abort(tenantId, bucket, key, uploadId);
  }

  /** Concatenates the listed parts (streaming) into the object; its ETag is `md5(part md5s)-N` as S3's. */
  completeMultipartUpload(
    tenantId: string,
    bucket: string,
    key: string,
    uploadId: string,
    requested: { partNumber: number; etag: string }[],
  ): Promise<ObjectInfo> {
    return this.#uploads.complete(tenantId, bucket, key, uploadId, requested);
  }
}
