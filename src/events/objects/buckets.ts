// Buckets: one namespace across tenants (as S3's), each owned by one tenant.

import type { Sql } from '../../store/sql.js';
import type { BlobFiles } from './blob-files.js';
import { isValidBucketName, S3Errors } from './errors.js';
import type { ObjectRepo } from './object-repo.js';
import {
  type Actor,
  actorTenant,
  type BucketAccess,
  type BucketInfo,
  type ObjectStoreHooks,
} from './types.js';

export class Buckets {
  readonly #sql: Sql;
  readonly #repo: ObjectRepo;
  readonly #blobs: BlobFiles;
  readonly #hooks: ObjectStoreHooks;

  constructor(sql: Sql, repo: ObjectRepo, blobs: BlobFiles, hooks: ObjectStoreHooks) {
    this.#sql = sql;
    this.#repo = repo;
    this.#blobs = blobs;
    this.#hooks = hooks;
  }

  async create(tenantId: string, name: string, acl?: string): Promise<BucketInfo> {
    if (!isValidBucketName(name)) throw S3Errors.invalidBucketName(name);
    const createdAt = new Date();
    // Two nodes creating one name at once: the database's unique name decides, one of them is told.
    if (!(await this.#repo.insertBucketIfAbsent(name, tenantId, createdAt.toISOString()))) {
      const existing = await this.#repo.bucket(name);
      throw existing?.tenant_id === tenantId
        ? S3Errors.bucketAlreadyOwnedByYou(name)
        : S3Errors.bucketAlreadyExists(name);
    }
    // A crash between the two leaves the bucket private: fail closed.
    if (acl !== undefined) await this.#repo.setBucketAccess(name, 'acl', acl);
    return { name, tenantId, createdAt };
  }

  async list(tenantId: string): Promise<BucketInfo[]> {
    return (await this.#repo.bucketsOf(tenantId)).map((r) => ({
      name: r.name,
      tenantId: r.tenant_id,
      createdAt: new Date(r.created_at),
    }));
  }

  /** The bucket with its access configuration, whoever owns it (the S3 API decides who may use it). */
  async access(name: string): Promise<BucketAccess> {
    const row = await this.#repo.bucketAccess(name);
    if (!row) throw isValidBucketName(name) ? S3Errors.noSuchBucket(name) : S3Errors.invalidBucketName(name);
    return {
      name: row.name,
      tenantId: row.tenant_id,
      createdAt: new Date(row.created_at),
      acl: row.acl,
      policy: row.policy,
      publicAccessBlock: row.public_access_block,
      versioning: row.versioning as BucketAccess['versioning'],
    };
  }

  /** The tenant's bucket; NoSuchBucket if none has the name, AccessDenied if another tenant owns it. */
  async get(actor: Actor, name: string): Promise<BucketInfo> {
    if (typeof actor !== 'string' && actor.bucket.name === name) return actor.bucket;
    const tenantId = actorTenant(actor);
    const row = await this.#repo.bucket(name);
    if (!row) throw isValidBucketName(name) ? S3Errors.noSuchBucket(name) : S3Errors.invalidBucketName(name);
    if (row.tenant_id !== tenantId) throw S3Errors.accessDenied();
    return { name: row.name, tenantId: row.tenant_id, createdAt: new Date(row.created_at) };
  }

  async delete(actor: Actor, name: string): Promise<void> {
    await this.get(actor, name);
    const partBlobs = await this.#repo.transaction(this.#sql, async (r) => {
      if (await r.bucketHasObjects(name)) throw S3Errors.bucketNotEmpty(name);
      const blobs = await r.bucketPartBlobs(name);
      await r.deleteBucket(name);
      await this.#hooks.onBucketDeleted?.(name, r.executor);
      return blobs;
    });
    for (const b of partBlobs) await this.#blobs.unlinkQuietly(b);
  }
}
