// Objects: put (streamed to a blob file, committed with its row), head, open, delete, copy and list.
// A change commits in one transaction with its notification rows (the hooks).

import { createHash } from 'node:crypto';
import { pipeline, type Readable, Transform } from 'node:stream';
import { BlobCorruptError, BlobMissingError } from '../../store/blobs/blob-store.js';
import type { Sql } from '../../store/sql.js';
import type { BlobFiles } from './blob-files.js';
import type { Buckets } from './buckets.js';
import { commonPrefixOf } from './common-prefix.js';
import { ConfigRepo } from './config-repo.js';
import { MAX_KEY_BYTES, S3Errors } from './errors.js';
import type { ObjectRepo, ObjectRow } from './object-repo.js';
import {
  type Actor,
  actorTenant,
  type Checksum,
  type DeleteOutcome,
  type ListOptions,
  type ListResult,
  type ObjectChange,
  type ObjectInfo,
  type ObjectStoreHooks,
  type StoredHeaders,
  type TagSet,
  type VersioningState,
  type WriteCondition,
  type WriteOptions,
} from './types.js';
import { versionIdOf } from './version-id.js';
import { displace, findVersion, latestMarker, markerHeaders, markerRow, removeVersion } from './versions.js';

export const DEFAULT_CONTENT_TYPE = 'binary/octet-stream';

/** S3's sequencer: an opaque hex string that orders the events of one key. */
export const sequencer = (version: number): string => version.toString(16).toUpperCase().padStart(16, '0');

export function validateKey(key: string): void {
  if (key.length === 0) throw S3Errors.invalidArgument('Object key must not be empty', 'key', '');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw S3Errors.keyTooLong();
}

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
  versionId: versionIdOf(r),
  tagCount: r.tag_count ?? 0,
});

/** Stores a version's tags (none: nothing) and forgets those of versions gone. */
export async function storeTags(
  r: ObjectRepo,
  bucket: string,
  key: string,
  version: number,
  tags: TagSet | undefined,
  replaced: boolean,
): Promise<void> {
  const c = new ConfigRepo(r.executor);
  if (replaced) await c.dropStaleTags(bucket, key);
  if (tags && tags.length > 0)
    await c.setObjectTags(bucket, key, version, { json: JSON.stringify(tags), count: tags.length });
}

/** An object about to be committed: its blob is written, its row not yet. */
export interface NewObject {
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
  /** The object's ACL (opaque JSON), stored for the version this commit makes. */
  acl?: string;
  /** The object's tags, stored for the version this commit makes. */
  tags?: TagSet;
}

/** An object's metadata and its bytes, read on demand (see Objects.open). */
export interface OpenObject {
  info: ObjectInfo;
  read(range?: { start: number; end: number }): Readable;
  close(): void;
}

/**
 * Passes the blob's bytes through, holding the last chunk back until the count (and, for a whole
 * single-part object, the MD5 its ETag records) checked out: a blob changed on disk ends the response
 * with an error, so a client never takes other bytes for the object.
 */
function verified(
  src: Readable,
  expect: { size: number; md5?: string },
  key: string,
  where: string,
): Readable {
  let held: Buffer | undefined;
  let seen = 0;
  const hash = expect.md5 !== undefined ? createHash('md5') : undefined;
  const check = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      hash?.update(chunk);
      const out = held;
      held = chunk;
      cb(null, out);
    },
    flush(cb) {
      if (seen !== expect.size)
        return cb(new BlobCorruptError(key, where, `${seen} bytes where ${expect.size} were stored`));
      if (hash && hash.digest('hex') !== expect.md5)
        return cb(new BlobCorruptError(key, where, 'its MD5 differs from the stored ETag'));
      cb(null, held);
    },
  });
  pipeline(src, check, () => {
    // Errors reach the reader through `check`; nothing else to do.
  });
  return check;
}

/**
 * Resolves with the body once its first bytes (or its end) are there, or rejects with its error: a body
 * unreadable from the start (a block missing or corrupt) answers an error instead of a cut-off 200.
 */
export function started(body: Readable): Promise<Readable> {
  return new Promise((resolve, reject) => {
    // The error listener stays: an error before the response pipes the body must not go unhandled.
    const ready = () => resolve(body);
    const failed = (e: Error) => {
      body.off('readable', ready);
      reject(e);
    };
    body.once('readable', ready);
    body.once('error', failed);
  });
}

export class Objects {
  readonly #sql: Sql;
  readonly #repo: ObjectRepo;
  readonly #blobs: BlobFiles;
  readonly #buckets: Buckets;
  readonly #hooks: ObjectStoreHooks;

  constructor(sql: Sql, repo: ObjectRepo, blobs: BlobFiles, buckets: Buckets, hooks: ObjectStoreHooks) {
    this.#sql = sql;
    this.#repo = repo;
    this.#blobs = blobs;
    this.#buckets = buckets;
    this.#hooks = hooks;
  }

  async put(
    tenantId: Actor,
    bucket: string,
    key: string,
    body: AsyncIterable<Uint8Array>,
    opts: WriteOptions = {},
    eventName: ObjectChange['eventName'] = 'ObjectCreated:Put',
  ): Promise<ObjectInfo> {
    await this.#buckets.get(tenantId, bucket);
    validateKey(key);
    // Checked before the body streams in (fail fast) and again at commit (atomic).
    await this.#checkCondition(this.#repo, bucket, key, opts.condition);
    const written = await this.#blobs.write(actorTenant(tenantId), body);
    let checksum: Checksum | undefined;
    try {
      checksum = opts.verify?.({ md5: written.md5, size: written.size });
    } catch (e) {
      await this.#blobs.unlinkQuietly(written.blob);
      throw e;
    }
    return this.commit(tenantId, {
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
      acl: opts.acl,
      tags: opts.tags,
    });
  }

  async head(tenantId: Actor, bucket: string, key: string, versionId?: string): Promise<ObjectInfo> {
    await this.#buckets.get(tenantId, bucket);
    return toInfo(await this.#objectRow(bucket, key, versionId));
  }

  /**
   * The object's metadata and its open blob. An overwrite on any node deletes the old blob after its
   * commit: a blob gone between reading the row and opening it means a newer row, which is read again.
   * A row whose blob is missing (or of another size) is an error, never other bytes.
   */
  async open(tenantId: Actor, bucket: string, key: string, versionId?: string): Promise<OpenObject> {
    await this.#buckets.get(tenantId, bucket);
    for (let attempt = 0; ; attempt++) {
      const row = await this.#objectRow(bucket, key, versionId);
      let reader: Awaited<ReturnType<BlobFiles['open']>>;
      try {
        reader = await this.#blobs.open(actorTenant(tenantId), row.blob);
      } catch (e) {
        if (!(e instanceof BlobMissingError) || attempt >= 3) throw e;
        // A version's blob goes only with its row (permanent delete): re-reading answers NoSuchVersion.
        const now =
          versionId === undefined
            ? await this.#repo.objectBlob(bucket, key)
            : (await this.#objectRow(bucket, key, versionId)).blob;
        if (now === row.blob) throw e;
        continue;
      }
      if (reader.size !== row.size) {
        reader.close();
        throw new BlobCorruptError(
          this.#blobs.key(row.blob),
          this.#blobs.where,
          `${reader.size} bytes where ${row.size} were stored`,
        );
      }
      const whole = /^[0-9a-f]{32}$/.test(row.etag) ? row.etag : undefined;
      return {
        info: toInfo(row),
        read: (range) => {
          const src = reader.read(range);
          const size = range ? range.end - range.start + 1 : row.size;
          return verified(
            src,
            { size, ...(range === undefined && whole !== undefined && { md5: whole }) },
            this.#blobs.key(row.blob),
            this.#blobs.where,
          );
        },
        close: () => reader.close(),
      };
    }
  }

  /**
   * Deletes the object if it exists (S3 answers 204 either way). In a versioned bucket this adds a delete
   * marker instead (the object stays as a noncurrent version; Suspended: the marker is the `null` version).
   * The lifecycle sweep names the version it found expired (a newer object under the key stays) and has
   * the change told as a LifecycleExpiration.
   */
  async delete(
    tenantId: Actor,
    bucket: string,
    key: string,
    opts: { ifVersion?: number; lifecycle?: boolean } = {},
  ): Promise<DeleteOutcome> {
    await this.#buckets.get(tenantId, bucket);
    validateKey(key);
    const done = await this.#repo.transaction(this.#sql, async (r) => {
      const state = (await r.bucketVersioning(bucket))?.versioning as VersioningState | null | undefined;
      if (state === undefined) throw S3Errors.noSuchBucket(bucket);
      // The counter's lock before the key's, in commit's order: the other order deadlocks (PostgreSQL)
      // against a concurrent write of the key. A delete of no object spends a number, harmlessly.
      const version = await r.nextVersion();
      if (state === null) {
        const found = await r.objectForUpdate(bucket, key);
        if (found === undefined) return undefined;
        if (opts.ifVersion !== undefined && found.version !== opts.ifVersion) return undefined;
        await r.deleteObject(bucket, key);
        await storeTags(r, bucket, key, 0, undefined, true);
        const event = opts.lifecycle ? 'LifecycleExpiration:Delete' : 'ObjectRemoved:Delete';
        await this.#changed(r, tenantId, bucket, key, event, version, undefined);
        return { freed: [found.blob], versionId: undefined, deleteMarker: false };
      }
      const current = await r.object(bucket, key);
      if (opts.ifVersion !== undefined && current?.version !== opts.ifVersion) return undefined;
      const freed = await displace(r, state, bucket, key, current);
      if (current) await r.deleteObject(bucket, key);
      // A version displace dropped (the old `null` one, Suspended) takes its tags along.
      await storeTags(r, bucket, key, 0, undefined, true);
      const marker = markerRow(bucket, key, version, state === 'Enabled' ? 1 : 0);
      await r.insertVersion(marker);
      const versionId = versionIdOf(marker);
      const event = opts.lifecycle
        ? 'LifecycleExpiration:DeleteMarkerCreated'
        : 'ObjectRemoved:DeleteMarkerCreated';
      await this.#changed(r, tenantId, bucket, key, event, version, versionId);
      return { freed, versionId, deleteMarker: true };
    });
    if (done === undefined) return { versionId: undefined, deleteMarker: false, changed: false };
    for (const b of done.freed) await this.#blobs.unlinkQuietly(b);
    this.#hooks.afterCommit?.();
    return { versionId: done.versionId, deleteMarker: done.deleteMarker, changed: true };
  }

  /** Deletes one version (or delete marker) for good; S3 answers 204 when there was none. */
  async deleteVersion(
    tenantId: Actor,
    bucket: string,
    key: string,
    versionId: string,
  ): Promise<DeleteOutcome> {
    await this.#buckets.get(tenantId, bucket);
    validateKey(key);
    const done = await this.#repo.transaction(this.#sql, async (r) => {
      const versioned = (await r.bucketVersioning(bucket))?.versioning ?? null;
      // The locks in the order the bucket's writers take them (see commit).
      const version = await r.nextVersion();
      if (versioned === null) await r.objectForUpdate(bucket, key);
      const gone = await removeVersion(r, bucket, key, versionId);
      if (!gone) return undefined;
      await storeTags(r, bucket, key, 0, undefined, true);
      await this.#changed(
        r,
        tenantId,
        bucket,
        key,
        'ObjectRemoved:Delete',
        version,
        versioned === null ? undefined : versionId,
      );
      return gone;
    });
    if (done === undefined) return { versionId, deleteMarker: false };
    if (done.blob !== null) await this.#blobs.unlinkQuietly(done.blob);
    this.#hooks.afterCommit?.();
    return { versionId, deleteMarker: done.row.delete_marker === 1 };
  }

  #changed(
    r: ObjectRepo,
    tenantId: Actor,
    bucket: string,
    key: string,
    eventName: ObjectChange['eventName'],
    version: number,
    versionId: string | undefined,
  ): Promise<void> {
    return (
      this.#hooks.onChange?.(
        {
          tenantId: actorTenant(tenantId),
          bucket,
          key,
          eventName,
          ...(versionId !== undefined && { versionId }),
          sequencer: sequencer(version),
          time: new Date(),
        },
        r.executor,
      ) ?? Promise.resolve()
    );
  }

  async copy(
    tenantId: Actor,
    source: { bucket: string; key: string; versionId?: string },
    target: { bucket: string; key: string },
    opts: {
      replaceMetadata?: { contentType?: string; metadata: Record<string, string>; headers: StoredHeaders };
      acl?: string;
      /** The copy's tags; undefined: the source's (x-amz-tagging-directive COPY). */
      tags?: TagSet;
      /** Throws to refuse the copy, given the source as opened (the x-amz-copy-source-if-* conditions). */
      checkSource?: (source: ObjectInfo) => void;
    },
  ): Promise<ObjectInfo & { sourceVersionId: string }> {
    await this.#buckets.get(tenantId, target.bucket);
    validateKey(target.key);
    const src = await this.open(tenantId, source.bucket, source.key, source.versionId);
    try {
      opts.checkSource?.(src.info);
    } catch (e) {
      src.close();
      throw e;
    }
    // Copying a named version onto its own key is how S3 users restore it: allowed as it is.
    const same =
      source.bucket === target.bucket && source.key === target.key && source.versionId === undefined;
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
    let tags = opts.tags;
    if (tags === undefined && src.info.tagCount) {
      let stored: string | undefined;
      try {
        stored = await new ConfigRepo(this.#repo.executor).objectTags(
          source.bucket,
          source.key,
          src.info.version,
        );
      } catch (e) {
        src.close();
        throw e;
      }
      tags = stored === undefined ? undefined : (JSON.parse(stored) as TagSet);
    }
    const body = src.read();
    // finally: the source file closes even when the write is refused before reading it.
    try {
      const info = await this.put(
        tenantId,
        target.bucket,
        target.key,
        body,
        {
          contentType: meta.contentType,
          metadata: meta.metadata,
          headers: meta.headers,
          acl: opts.acl,
          tags,
          // A copy keeps the source's checksum when it covers the whole object.
          verify: () =>
            src.info.checksum && !src.info.checksum.value.includes('-') ? src.info.checksum : undefined,
        },
        'ObjectCreated:Copy',
      );
      return { ...info, sourceVersionId: src.info.versionId };
    } finally {
      body.destroy();
    }
  }

  async list(tenantId: Actor, bucket: string, opts: ListOptions): Promise<ListResult> {
    await this.#buckets.get(tenantId, bucket);
    const prefix = opts.prefix ?? '';
    const delimiter = opts.delimiter ?? '';
    const maxKeys = Math.max(0, Math.min(opts.maxKeys ?? 1000, 1000));
    const contents: ObjectInfo[] = [];
    const commonPrefixes: string[] = [];
    const start = opts.startAfter !== undefined && opts.startAfter > prefix ? opts.startAfter : undefined;
    let cursor = start;
    let last: string | undefined;
    let count = 0;
    batches: for (;;) {
      const rows = await this.#repo.objectsAfter(bucket, cursor ?? null, prefix);
      if (rows.length === 0) return { contents, commonPrefixes, isTruncated: false, last };
      for (const row of rows) {
        cursor = row.key;
        if (!row.key.startsWith(prefix)) return { contents, commonPrefixes, isTruncated: false, last };
        const common = commonPrefixOf(row.key, prefix, delimiter);
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

  /**
   * The current object, or the version named. A key whose latest version is a delete marker answers
   * NoSuchKey with the marker's headers; a marker named by its id is MethodNotAllowed, as S3 answers.
   */
  async #objectRow(bucket: string, key: string, versionId?: string): Promise<ObjectRow> {
    if (versionId !== undefined) {
      const found = await findVersion(this.#repo, bucket, key, versionId);
      if (!found) throw S3Errors.noSuchVersion(key, versionId);
      if (found.row.delete_marker === 1 || found.row.blob === null)
        throw S3Errors.deleteMarkerVersion(markerHeaders(found.row));
      return { ...found.row, blob: found.row.blob };
    }
    const row = await this.#repo.object(bucket, key);
    if (row) return row;
    // Only a miss pays this read; a bucket never versioned has no markers to find.
    const marker = await latestMarker(this.#repo, bucket, key);
    throw S3Errors.noSuchKey(key, marker && markerHeaders(marker));
  }

  async #checkCondition(
    r: ObjectRepo,
    bucket: string,
    key: string,
    c: WriteCondition | undefined,
    /** The current row when the caller read it already (null: there is none). */
    current?: { etag: string } | null,
  ): Promise<void> {
    if (!c || (c.ifNoneMatch === undefined && c.ifMatch === undefined)) return;
    const etag = current === undefined ? await r.objectEtag(bucket, key) : current?.etag;
    if (c.ifNoneMatch === '*' && etag !== undefined) throw S3Errors.preconditionFailed('If-None-Match');
    if (c.ifMatch !== undefined) {
      if (etag === undefined) throw S3Errors.noSuchKey(key);
      if (c.ifMatch !== '*' && c.ifMatch !== etag) throw S3Errors.preconditionFailed('If-Match');
    }
  }

  /**
   * Commits a written blob as the object (replacing any old one, whose blob goes after the commit).
   * `inTransaction` runs inside the same transaction (multipart completion removes its upload there).
   */
  async commit(
    tenantId: Actor,
    o: NewObject,
    inTransaction?: (r: ObjectRepo, version: number, versionId: string) => Promise<void>,
  ): Promise<ObjectInfo> {
    let old: string[] = [];
    let info: ObjectInfo;
    try {
      info = await this.#repo.transaction(this.#sql, async (r) => {
        // The bucket may have been deleted (or the upload aborted) while the body streamed in.
        const b = await r.bucketVersioning(o.bucket);
        if (!b) throw S3Errors.noSuchBucket(o.bucket);
        const state = b.versioning as VersioningState | null;
        // The counter's row lock comes first: commits queue on it (PostgreSQL), so the row read next is
        // the last committed one even for a key no row holds yet (two `If-None-Match: *` writers of a new
        // key would otherwise both see none and the second replace the first), and every writer of a
        // versioned bucket after this one sees the versions it leaves.
        const version = await r.nextVersion();
        // Locked (PostgreSQL): a concurrent writer of the key on another node waits, so the condition
        // and the old blob this commit replaces are the ones it sees.
        const current =
          state === null ? await r.objectForUpdate(o.bucket, o.key) : await r.object(o.bucket, o.key);
        await this.#checkCondition(r, o.bucket, o.key, o.condition, current ?? null);
        const versioned = state === 'Enabled' ? 1 : 0;
        await inTransaction?.(r, version, versionIdOf({ version, versioned }));
        if (state === null) old = current === undefined ? [] : [current.blob];
        else old = await displace(r, state, o.bucket, o.key, current as ObjectRow | undefined);
        const now = Date.now();
        await r.putObject({
          bucket: o.bucket,
          key: o.key,
          blob: o.blob,
          size: o.size,
          etag: o.etag,
          content_type: o.contentType,
          metadata: JSON.stringify(o.metadata),
          headers: JSON.stringify(o.headers),
          checksum_algorithm: o.checksum?.algorithm ?? null,
          checksum_value: o.checksum?.value ?? null,
          parts_count: o.partsCount ?? null,
          last_modified: now,
          version: version,
          versioned,
        });
        if (o.acl !== undefined) await r.setObjectAcl(o.bucket, o.key, version, o.acl);
        await storeTags(r, o.bucket, o.key, version, o.tags, current !== undefined);
        const time = new Date(now);
        await this.#hooks.onChange?.(
          {
            tenantId: actorTenant(tenantId),
            bucket: o.bucket,
            key: o.key,
            eventName: o.eventName,
            ...(state !== null && { versionId: versionIdOf({ version: version, versioned }) }),
            size: o.size,
            etag: o.etag,
            sequencer: sequencer(version),
            time,
          },
          r.executor,
        );
        return {
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
          version: version,
          versionId: versionIdOf({ version: version, versioned }),
        };
      });
    } catch (e) {
      await this.#blobs.unlinkQuietly(o.blob);
      throw e;
    }
    for (const b of old) if (b !== o.blob) await this.#blobs.unlinkQuietly(b);
    this.#hooks.afterCommit?.();
    return info;
  }
}
