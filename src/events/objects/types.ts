// The object store's vocabulary: what buckets, objects, parts and uploads look like to callers, and the
// hooks notifications attach to.
import type { SqlExecutor } from '../../store/sql.js';
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
  /** S3's version id: `null` unless written while the bucket's versioning was Enabled. */
  versionId: string;
}

export interface BucketInfo {
  name: string;
  tenantId: string;
  createdAt: Date;
}

/** A bucket with its access configuration as stored (opaque JSON the S3 API parses; null when unset). */
export interface BucketAccess extends BucketInfo {
  acl: string | null;
  policy: string | null;
  publicAccessBlock: string | null;
  /** null: never versioned; else `Enabled` or `Suspended`. */
  versioning: VersioningState | null;
}

export type VersioningState = 'Enabled' | 'Suspended';

/**
 * Whom a store call acts for: a tenant id (the store checks the bucket is that tenant's), or a bucket the
 * API already read and authorized the request for, acting as its owner (the store does not read it again).
 */
export type Actor = string | { tenantId: string; bucket: BucketInfo };
export const actorTenant = (a: Actor): string => (typeof a === 'string' ? a : a.tenantId);

export interface PartInfo {
  partNumber: number;
  size: number;
  etag: string;
  lastModified: Date;
  checksum: Checksum | undefined;
}

/** One part of a multipart object, as GetObjectAttributes lists it. */
export interface ObjectPart {
  partNumber: number;
  size: number;
  checksum: Checksum | undefined;
}

/** What CompleteMultipartUpload answers: the new object, or (a retry after success) the remembered answer. */
export type CompletedUpload = Pick<ObjectInfo, 'bucket' | 'key' | 'etag' | 'checksum' | 'versionId'>;

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
    | 'ObjectCreated:Post'
    | 'ObjectCreated:Copy'
    | 'ObjectCreated:CompleteMultipartUpload'
    | 'ObjectRemoved:Delete'
    | 'ObjectRemoved:DeleteMarkerCreated';
  /** The version the change made or removed, when the bucket has versioning configured. */
  versionId?: string;
  size?: number;
  etag?: string;
  sequencer: string;
  time: Date;
}

export interface ObjectStoreHooks {
  /** Runs inside the transaction that commits the change: rows it writes through `q` commit with it. */
  onChange?(change: ObjectChange, q: SqlExecutor): Promise<void>;
  /** Runs inside the transaction that deletes a bucket. */
  onBucketDeleted?(bucket: string, q: SqlExecutor): Promise<void>;
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
  /** The new object's ACL (opaque JSON), stored with it in the same transaction; unset: private. */
  acl?: string;
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

export interface ListVersionsOptions {
  prefix?: string;
  delimiter?: string;
  maxKeys?: number;
  keyMarker?: string;
  /** With keyMarker: the listing resumes after this version of that key. */
  versionIdMarker?: string;
}

export interface VersionEntry {
  key: string;
  versionId: string;
  isLatest: boolean;
  deleteMarker: boolean;
  lastModified: Date;
  etag: string;
  size: number;
  checksumAlgorithm: string | undefined;
}

export interface ListVersionsResult {
  versions: VersionEntry[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** Where the next page starts (when truncated): a key or common prefix, and a version id after a version. */
  nextKeyMarker: string | undefined;
  nextVersionIdMarker: string | undefined;
}

/** What a DELETE did: the version it created (a marker) or removed, when the bucket is versioned. */
export interface DeleteOutcome {
  versionId: string | undefined;
  deleteMarker: boolean;
}
