// S3 version ids: an opaque, URL-safe encoding of the store's internal change number (s3_sequence), so
// anything keyed by (bucket, key, version) addresses one S3 version. A short digest makes a mistyped or
// invented id an InvalidArgument rather than a lookup; it is no secret (access checks guard versions).
import { createHash } from 'node:crypto';
import { S3Errors } from './errors.js';

/** The id S3 gives an object written while the bucket was not versioning (or suspended). */
export const NULL_VERSION = 'null';

const tag = (body: Buffer): Buffer =>
  createHash('sha256').update('kindling-s3-version\0').update(body).digest().subarray(0, 4);

export function encodeVersionId(version: number): string {
  const body = Buffer.alloc(8);
  body.writeBigUInt64BE(BigInt(version));
  return Buffer.concat([body, tag(body)]).toString('base64url');
}

/** The internal version an id names, or null for the `null` version; InvalidArgument for anything else. */
export function decodeVersionId(id: string): number | null {
  if (id === NULL_VERSION) return null;
  if (id === '') throw S3Errors.invalidArgument('Version id cannot be the empty string', 'versionId', id);
  const raw = /^[A-Za-z0-9_-]{16}$/.test(id) ? Buffer.from(id, 'base64url') : undefined;
  if (raw?.length === 12) {
    const body = raw.subarray(0, 8);
    const v = body.readBigUInt64BE();
    if (tag(body).equals(raw.subarray(8)) && v > 0n && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  }
  throw S3Errors.invalidArgument('Invalid version id specified', 'versionId', id);
}

/** The S3 id of a stored row: its own for a versioned write, `null` otherwise. */
export const versionIdOf = (row: { version: number; versioned: number }): string =>
  row.versioned === 1 ? encodeVersionId(row.version) : NULL_VERSION;
