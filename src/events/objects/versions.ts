// Versioning's moves between s3_objects (the current object) and s3_versions (every other version and
// the delete markers), and ListObjectVersions. A bucket never versioned has no s3_versions rows and never
// reaches this module on a read or write of its current objects.
// Every function here runs inside a transaction that already took the next sequence number: that row
// lock serialises the writers (PostgreSQL), so each sees the key's versions as the last commit left them.
import { commonPrefixOf } from './common-prefix.js';
import { S3Errors } from './errors.js';
import type { ObjectRepo, ObjectRow, VersionRow } from './object-repo.js';
import type { ListVersionsOptions, ListVersionsResult, VersioningState } from './types.js';
import { decodeVersionId, encodeVersionId, NULL_VERSION, versionIdOf } from './version-id.js';

/**
 * Makes room for a new current version (object or delete marker) of the key: the current object becomes
 * a noncurrent version unless the new one replaces it as the `null` version (Suspended), and a
 * noncurrent `null` version goes when a new `null` one arrives. Returns the blobs no row names any more.
 */
export async function displace(
  r: ObjectRepo,
  state: VersioningState,
  bucket: string,
  key: string,
  current: ObjectRow | undefined,
): Promise<string[]> {
  const freed: string[] = [];
  if (state === 'Suspended') {
    const old = await r.version(bucket, key, { null: true });
    if (old) {
      await r.deleteVersion(bucket, key, old.version);
      if (old.blob !== null) freed.push(old.blob);
    }
  }
  if (current) {
    if (state === 'Enabled' || current.versioned === 1)
      await r.insertVersion({ ...current, delete_marker: 0 });
    else freed.push(current.blob);
  }
  return freed;
}

export const markerRow = (bucket: string, key: string, version: number, versioned: number): VersionRow => ({
  bucket,
  key,
  version,
  versioned,
  delete_marker: 1,
  blob: null,
  size: 0,
  etag: '',
  content_type: '',
  metadata: '{}',
  headers: '{}',
  checksum_algorithm: null,
  checksum_value: null,
  parts_count: null,
  last_modified: Date.now(),
});

const isVersion = (row: { version: number; versioned: number }, want: number | null): boolean =>
  want === null ? row.versioned === 0 : row.versioned === 1 && row.version === want;

/** The version an id names: the current object, a noncurrent version or a marker; undefined if none. */
export async function findVersion(
  r: ObjectRepo,
  bucket: string,
  key: string,
  versionId: string,
): Promise<{ row: VersionRow; current: boolean } | undefined> {
  const want = decodeVersionId(versionId);
  const current = await r.object(bucket, key);
  if (current && isVersion(current, want)) return { row: { ...current, delete_marker: 0 }, current: true };
  const row = await r.version(bucket, key, want === null ? { null: true } : { version: want });
  return row && { row, current: false };
}

/** The headers S3 sends about a delete marker (on 404s and 405s). */
export const markerHeaders = (row: VersionRow): Record<string, string> => ({
  'x-amz-delete-marker': 'true',
  'x-amz-version-id': versionIdOf(row),
  'last-modified': new Date(row.last_modified).toUTCString(),
});

/**
 * Removes one version for good; when it was the latest, the next newest becomes current (an object is
 * moved back into s3_objects; a marker stays where it is, latest by being newest). Undefined when the
 * version does not exist (S3 answers 204 all the same).
 */
export async function removeVersion(
  r: ObjectRepo,
  bucket: string,
  key: string,
  versionId: string,
): Promise<{ row: VersionRow; blob: string | null } | undefined> {
  const found = await findVersion(r, bucket, key, versionId);
  if (!found) return undefined;
  const { row } = found;
  if (found.current) await r.deleteObject(bucket, key);
  else await r.deleteVersion(bucket, key, row.version);
  if (found.current || !(await r.object(bucket, key))) {
    const next = await r.newestVersion(bucket, key);
    if (next && next.delete_marker === 0 && next.blob !== null) {
      await r.deleteVersion(bucket, key, next.version);
      await r.putObject({ ...next, blob: next.blob });
    }
  }
  return { row, blob: row.blob };
}

/** The latest delete marker of a key with no current object, if that is what its latest version is. */
export async function latestMarker(
  r: ObjectRepo,
  bucket: string,
  key: string,
): Promise<VersionRow | undefined> {
  const newest = await r.newestVersion(bucket, key);
  return newest?.delete_marker === 1 ? newest : undefined;
}

/** ListObjectVersions: versions by key, newest first, common prefixes rolled up, `maxKeys` entries a page. */
export async function listVersions(
  r: ObjectRepo,
  bucket: string,
  opts: ListVersionsOptions,
): Promise<ListVersionsResult> {
  const prefix = opts.prefix ?? '';
  const delimiter = opts.delimiter ?? '';
  const maxKeys = Math.max(0, Math.min(opts.maxKeys ?? 1000, 1000));
  const keyMarker = opts.keyMarker || undefined;
  const out: ListVersionsResult = {
    versions: [],
    commonPrefixes: [],
    isTruncated: false,
    nextKeyMarker: undefined,
    nextVersionIdMarker: undefined,
  };
  // (key, version): rows after it in (key, version DESC) order. Version -1 skips every version of the key.
  let cursor: { key: string; version: number } | null = null;
  // The key whose latest version an earlier page listed already.
  let latestKey: string | undefined;
  if (keyMarker !== undefined) {
    cursor = { key: keyMarker, version: -1 };
    if (opts.versionIdMarker) {
      const at = await findVersion(r, bucket, keyMarker, opts.versionIdMarker);
      if (at) {
        cursor.version = at.row.version;
        latestKey = keyMarker;
      }
    }
  }
  let count = 0;
  const truncate = () => {
    out.isTruncated = true;
    return out;
  };
  for (;;) {
    const rows = await r.versionsAfter(bucket, cursor, prefix, 256);
    if (rows.length === 0) return out;
    for (const row of rows) {
      if (!row.key.startsWith(prefix)) return out;
      cursor = { key: row.key, version: row.version };
      const common = commonPrefixOf(row.key, prefix, delimiter);
      const seen =
        common !== undefined &&
        (common === out.commonPrefixes[out.commonPrefixes.length - 1] ||
          (keyMarker !== undefined && common <= keyMarker));
      if (!seen && count === maxKeys) return truncate();
      if (common !== undefined) {
        if (!seen) {
          out.commonPrefixes.push(common);
          out.nextKeyMarker = common;
          out.nextVersionIdMarker = undefined;
          count++;
        }
        // Past every key under the prefix (see Objects.list).
        cursor = { key: `${common}\u{10FFFF}`, version: -1 };
        break;
      }
      const versionId = versionIdOf(row);
      out.versions.push({
        key: row.key,
        versionId,
        isLatest: row.key !== latestKey,
        deleteMarker: row.delete_marker === 1,
        lastModified: new Date(row.last_modified),
        etag: row.etag,
        size: row.size,
        checksumAlgorithm: row.checksum_algorithm ?? undefined,
      });
      latestKey = row.key;
      out.nextKeyMarker = row.key;
      out.nextVersionIdMarker = versionId;
      count++;
    }
  }
}

/** Refuses a version-id-marker without a key marker, as S3 does; a garbage marker is InvalidArgument. */
export function checkVersionMarkers(opts: ListVersionsOptions): void {
  if (opts.versionIdMarker !== undefined && !opts.keyMarker)
    throw S3Errors.invalidArgument(
      'A version-id marker cannot be specified without a key marker.',
      'version-id-marker',
      opts.versionIdMarker,
    );
  if (opts.versionIdMarker) decodeVersionId(opts.versionIdMarker);
}

export { encodeVersionId, NULL_VERSION };
