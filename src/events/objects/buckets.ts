// Buckets: one namespace across tenants (as S3's), each owned by one tenant.
import type { BlobFiles } from './blob-files.js';
import { isValidBucketName, S3Errors } from './errors.js';
import type { SqliteObjectRepo } from './object-repo.js';
import type { BucketInfo, ObjectStoreHooks } from './types.js';

export class Buckets {
  readonly #repo: SqliteObjectRepo;
  readonly #blobs: BlobFiles;
  readonly #hooks: ObjectStoreHooks;

  constructor(repo: SqliteObjectRepo, blobs: BlobFiles, hooks: ObjectStoreHooks) {
    this.#repo = repo;
    this.#blobs = blobs;
    this.#hooks = hooks;
  }

  create(tenantId: string, name: string): BucketInfo {
    if (!isValidBucketName(name)) throw S3Errors.invalidBucketName(name);
    const existing = this.#repo.bucket(name);
    if (existing) {
      throw existing.tenant_id === tenantId
        ? S3Errors.bucketAlreadyOwnedByYou(name)
        : S3Errors.bucketAlreadyExists(name);
    }
    const createdAt = new Date();
    this.#repo.insertBucket(name, tenantId, createdAt.toISOString());
    return { name, tenantId, createdAt };
  }

  list(tenantId: string): BucketInfo[] {
    return this.#repo
      .bucketsOf(tenantId)
      .map((r) => ({ name: r.name, tenantId: r.tenant_id, createdAt: new Date(r.created_at) }));
  }

  /** The tenant's bucket; NoSuchBucket if none has the name, AccessDenied if another tenant owns it. */
  get(tenantId: string, name: string): BucketInfo {
    const row = this.#repo.bucket(name);
    if (!row) throw isValidBucketName(name) ? S3Errors.noSuchBucket(name) : S3Errors.invalidBucketName(name);
    if (row.tenant_id !== tenantId) throw S3Errors.accessDenied();
    return { name: row.name, tenantId: row.tenant_id, createdAt: new Date(row.created_at) };
  }

  delete(tenantId: string, name: string): void {
    this.get(tenantId, name);
    const partBlobs = this.#repo.transaction(() => {
      if (this.#repo.bucketHasObjects(name)) throw S3Errors.bucketNotEmpty(name);
      const blobs = this.#repo.bucketPartBlobs(name);
      this.#repo.deleteBucket(name);
      this.#hooks.onBucketDeleted?.(name);
      return blobs;
    });
    for (const b of partBlobs) this.#blobs.unlink(b);
  }
}
