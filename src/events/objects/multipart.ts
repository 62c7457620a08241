// Multipart uploads: parts stream to their own blob files; completion concatenates the listed parts
// into one object and removes the upload in the object's commit transaction.
import { createHash, randomBytes } from 'node:crypto';
import type { Sql } from '../../store/sql.js';
import type { BlobFiles } from './blob-files.js';
import type { Buckets } from './buckets.js';
import { type ChecksumAlgorithm, hasherFor } from './checksums.js';
import { ObjectStoreError, S3Errors } from './errors.js';
import type { ObjectRepo, PartRow, UploadRow } from './object-repo.js';
import { DEFAULT_CONTENT_TYPE, type Objects, validateKey } from './objects.js';
import type {
  Actor,
  Checksum,
  CompletedUpload,
  ObjectPart,
  PartInfo,
  StoredHeaders,
  UploadInfo,
  WriteCondition,
  WriteOptions,
} from './types.js';
import { actorTenant } from './types.js';

/**
 * How long a completed upload is remembered: a CompleteMultipartUpload retried with the same part list
 * within this time answers the same ETag again (S3 documents no figure; clients retry within minutes).
 */
export const COMPLETION_MEMORY_MS = 24 * 60 * 60_000;

/** The part list as remembered: part numbers and unquoted lower-case ETags, in the order given. */
const partList = (requested: { partNumber: number; etag: string }[]): string =>
  requested.map((p) => `${p.partNumber}:${p.etag.replace(/"/g, '').toLowerCase()}`).join(',');

/** S3's minimum size of every part but the last. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_NUMBER = 10_000;

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

/** What CreateMultipartUpload records for the object it will complete into. */
export interface CreateUploadOptions {
  contentType?: string;
  metadata?: Record<string, string>;
  headers?: StoredHeaders;
  checksumAlgorithm?: string;
  /** The completed object's ACL (opaque JSON). */
  acl?: string;
}

export class MultipartUploads {
  readonly #sql: Sql;
  readonly #repo: ObjectRepo;
  readonly #blobs: BlobFiles;
  readonly #buckets: Buckets;
  readonly #objects: Objects;

  constructor(sql: Sql, repo: ObjectRepo, blobs: BlobFiles, buckets: Buckets, objects: Objects) {
    this.#sql = sql;
    this.#repo = repo;
    this.#blobs = blobs;
    this.#buckets = buckets;
    this.#objects = objects;
  }

  async create(
    tenantId: Actor,
    bucket: string,
    key: string,
    opts: CreateUploadOptions = {},
  ): Promise<string> {
    await this.#buckets.get(tenantId, bucket);
    validateKey(key);
    const uploadId = randomBytes(24).toString('base64url');
    await this.#repo.insertUpload({
      upload_id: uploadId,
      bucket,
      key,
      content_type: opts.contentType ?? DEFAULT_CONTENT_TYPE,
      metadata: JSON.stringify(opts.metadata ?? {}),
      headers: JSON.stringify(opts.headers ?? {}),
      checksum_algorithm: opts.checksumAlgorithm ?? null,
      initiated: Date.now(),
    });
    if (opts.acl !== undefined) await this.#repo.setUploadAcl(uploadId, opts.acl);
    return uploadId;
  }

  async get(tenantId: Actor, bucket: string, key: string, uploadId: string): Promise<UploadInfo> {
    await this.#buckets.get(tenantId, bucket);
    const row = await this.#uploadRow(this.#repo, bucket, key, uploadId);
    return {
      uploadId,
      bucket,
      key,
      initiated: new Date(row.initiated),
      checksumAlgorithm: row.checksum_algorithm ?? undefined,
    };
  }

  async uploadPart(
    tenantId: Actor,
    bucket: string,
    key: string,
    uploadId: string,
    partNumber: number,
    body: AsyncIterable<Uint8Array>,
    verify?: WriteOptions['verify'],
  ): Promise<PartInfo> {
    await this.get(tenantId, bucket, key, uploadId);
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
      throw S3Errors.invalidArgument(
        'Part number must be an integer between 1 and 10000, inclusive',
        'partNumber',
        String(partNumber),
      );
    }
    const written = await this.#blobs.write(actorTenant(tenantId), body);
    let old: string | undefined;
    const part: PartInfo = {
      partNumber,
      size: written.size,
      etag: written.md5.toString('hex'),
      lastModified: new Date(),
      checksum: undefined,
    };
    try {
      const checksum: Checksum | undefined = verify?.({ md5: written.md5, size: written.size });
      part.checksum = checksum;
      old = await this.#repo.transaction(this.#sql, async (r) => {
        // The upload may have been aborted or completed while the part streamed in (on any node: the
        // row lock makes completion wait for this part, or this part see the upload gone).
        await this.#uploadRow(r, bucket, key, uploadId, true);
        const previous = await r.partBlob(uploadId, partNumber);
        await r.putPart({
          upload_id: uploadId,
          part_number: partNumber,
          blob: written.blob,
          size: written.size,
          etag: part.etag,
          checksum_algorithm: checksum?.algorithm ?? null,
          checksum_value: checksum?.value ?? null,
          last_modified: part.lastModified.getTime(),
        });
        return previous;
      });
    } catch (e) {
      await this.#blobs.unlinkQuietly(written.blob);
      throw e;
    }
    if (old !== undefined) await this.#blobs.unlinkQuietly(old);
    return part;
  }

  async listParts(
    tenantId: Actor,
    bucket: string,
    key: string,
    uploadId: string,
    opts: { maxParts?: number; after?: number } = {},
  ): Promise<{ parts: PartInfo[]; isTruncated: boolean }> {
    await this.get(tenantId, bucket, key, uploadId);
    const max = Math.max(0, Math.min(opts.maxParts ?? 1000, 1000));
    const rows = await this.#repo.partsAfter(uploadId, opts.after ?? 0, max + 1);
    return { parts: rows.slice(0, max).map(toPart), isTruncated: rows.length > max };
  }

  async list(tenantId: Actor, bucket: string, prefix = ''): Promise<UploadInfo[]> {
    await this.#buckets.get(tenantId, bucket);
    return (await this.#repo.uploadsFrom(bucket, prefix))
      .filter((r) => r.key.startsWith(prefix))
      .map((r) => ({
        uploadId: r.upload_id,
        bucket: r.bucket,
        key: r.key,
        initiated: new Date(r.initiated),
        checksumAlgorithm: r.checksum_algorithm ?? undefined,
      }));
  }

  async abort(tenantId: Actor, bucket: string, key: string, uploadId: string): Promise<void> {
    await this.get(tenantId, bucket, key, uploadId);
    const blobs = await this.#repo.transaction(this.#sql, async (r) => {
      await this.#uploadRow(r, bucket, key, uploadId, true);
      const b = await r.partBlobs(uploadId);
      await r.deleteUpload(uploadId);
      return b;
    });
    for (const b of blobs) await this.#blobs.unlinkQuietly(b);
  }

  /**
   * Concatenates the listed parts (streaming) into the object; its ETag is `md5(part md5s)-N` as S3's.
   * An upload completed already answers as it did, when the part list is the same (a client's retry);
   * otherwise NoSuchUpload. `condition` (If-None-Match / If-Match) is checked atomically at commit.
   */
  async complete(
    tenantId: Actor,
    bucket: string,
    key: string,
    uploadId: string,
    requested: { partNumber: number; etag: string }[],
    condition?: WriteCondition,
  ): Promise<CompletedUpload> {
    try {
      return await this.#complete(tenantId, bucket, key, uploadId, requested, condition);
    } catch (e) {
      // Gone before this call or completed by a concurrent one: a retry of a completion that succeeded.
      if (!(e instanceof ObjectStoreError) || e.code !== 'NoSuchUpload') throw e;
      const done = await this.#repo.completion(uploadId);
      if (
        !done ||
        done.bucket !== bucket ||
        done.key !== key ||
        done.parts !== partList(requested) ||
        done.completed_at < Date.now() - COMPLETION_MEMORY_MS
      )
        throw e;
      return {
        bucket,
        key,
        etag: done.etag,
        checksum:
          done.checksum_algorithm && done.checksum_value
            ? { algorithm: done.checksum_algorithm, value: done.checksum_value }
            : undefined,
        versionId: done.version_id,
      };
    }
  }

  async #complete(
    tenantId: Actor,
    bucket: string,
    key: string,
    uploadId: string,
    requested: { partNumber: number; etag: string }[],
    condition: WriteCondition | undefined,
  ): Promise<CompletedUpload> {
    await this.get(tenantId, bucket, key, uploadId);
    if (requested.length === 0) throw S3Errors.invalidRequest('You must specify at least one part');
    const upload = await this.#uploadRow(this.#repo, bucket, key, uploadId);
    const stored = new Map((await this.#repo.parts(uploadId)).map((r) => [r.part_number, r]));
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
    const blobs = this.#blobs;
    async function* concatenated(): AsyncIterable<Uint8Array> {
      for (const row of chosen) {
        const part = await blobs.open(actorTenant(tenantId), row.blob);
        if (part.size !== row.size) {
          part.close();
          throw new Error(
            `part ${row.part_number} of upload ${uploadId}: blob of ${part.size} bytes, ${row.size} stored`,
          );
        }
        yield* part.read() as AsyncIterable<Uint8Array>;
      }
    }
    // The block layer joins the parts' manifests (no byte is read or encrypted again); else a copy.
    const written =
      (await this.#blobs.concat(
        actorTenant(tenantId),
        chosen.map((r) => r.blob),
      )) ?? (await this.#blobs.write(actorTenant(tenantId), concatenated()));
    const expected = chosen.reduce((n, r) => n + r.size, 0);
    if (written.size !== expected) {
      await this.#blobs.unlinkQuietly(written.blob);
      throw new Error(`upload ${uploadId}: its parts hold ${written.size} bytes, ${expected} stored`);
    }
    // A composite checksum (checksum of the parts' checksums, `-N`), when every part carried the same one.
    let checksum: Checksum | undefined;
    const algo = chosen[0]?.checksum_algorithm;
    if (algo && chosen.every((r) => r.checksum_algorithm === algo && r.checksum_value)) {
      const h = hasherFor(algo as ChecksumAlgorithm);
      for (const r of chosen) h.update(Buffer.from(r.checksum_value!, 'base64'));
      checksum = { algorithm: algo, value: `${h.digest().toString('base64')}-${chosen.length}` };
    }
    const acl = await this.#repo.uploadAcl(uploadId);
    let partBlobs: string[] = [];
    try {
      return await this.#objects.commit(
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
          acl,
          condition,
        },
        async (r, version, versionId) => {
          await this.#uploadRow(r, bucket, key, uploadId, true);
          // The parts concatenated above must still be the upload's: a part re-uploaded meanwhile
          // (on any node) would make the object other bytes than its ETag says.
          const now = new Map((await r.parts(uploadId)).map((p) => [p.part_number, p.blob]));
          if (chosen.some((c) => now.get(c.part_number) !== c.blob)) throw S3Errors.invalidPart();
          partBlobs = [...now.values()];
          await r.deleteUpload(uploadId);
          const parts: ObjectPart[] = chosen.map((c) => ({
            partNumber: c.part_number,
            size: c.size,
            checksum:
              c.checksum_algorithm && c.checksum_value
                ? { algorithm: c.checksum_algorithm, value: c.checksum_value }
                : undefined,
          }));
          await r.setObjectParts(bucket, key, version, JSON.stringify(parts));
          const completedAt = Date.now();
          await r.forgetCompletionsBefore(completedAt - COMPLETION_MEMORY_MS);
          await r.rememberCompletion({
            upload_id: uploadId,
            bucket,
            key,
            parts: partList(requested),
            etag,
            checksum_algorithm: checksum?.algorithm ?? null,
            checksum_value: checksum?.value ?? null,
            version_id: versionId,
            completed_at: completedAt,
          });
        },
      );
    } finally {
      for (const b of partBlobs) await this.#blobs.unlinkQuietly(b);
    }
  }

  async #uploadRow(
    r: ObjectRepo,
    bucket: string,
    key: string,
    uploadId: string,
    lock = false,
  ): Promise<UploadRow> {
    const row = await (lock ? r.uploadForUpdate(uploadId) : r.upload(uploadId));
    if (!row || row.bucket !== bucket || row.key !== key) throw S3Errors.noSuchUpload(uploadId);
    return row;
  }
}
