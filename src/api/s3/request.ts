// S3's request conventions shared by the route modules: the request with its bucket and key, the
// XML answer, user metadata and stored headers, ranges, conditional reads and writes, copy sources.

import { parseIpv4 } from '../../cidr.js';
import type { Tenant } from '../../control/tenants.js';
import type { BucketNotifications } from '../../events/notifications/notifications.js';
import { headerOfAlgorithm } from '../../events/objects/checksums.js';
import { S3Errors } from '../../events/objects/errors.js';
import type {
  Actor,
  BucketAccess,
  ObjectInfo,
  ObjectStore,
  StoredHeaders,
  WriteCondition,
} from '../../events/objects/store.js';
import { decodeVersionId } from '../../events/objects/version-id.js';
import { tryDecode } from '../../uri.js';
import type { ApiRequest, ApiResponse, RequestHead } from '../surface.js';
import { type Caller, canonicalId } from './acl.js';
import { S3RequestBody } from './body.js';
import { hostId } from './errors.js';
import { type XmlElement, xmlDocument } from './xml.js';

export interface S3SurfaceDeps {
  store: ObjectStore;
  notifications: BucketNotifications;
  region: string;
  /** Base domains of virtual-hosted–style requests (`<bucket>.<domain>`); none: path style only. */
  virtualHostDomains?: readonly string[];
  /** The bucket an access point alias (`...-s3alias`) of the tenant stands for, if it is one. */
  accessPointAlias?: (tenantId: string, alias: string) => Promise<string | undefined>;
  /** Whether a canonical user id is a tenant's (ACL grants to anyone else are refused). */
  isCanonicalUser: (id: string) => Promise<boolean>;
  /** An access key's secret and tenant (POST object checks the form's signature itself); unset: refused. */
  resolveKey?: (
    accessKeyId: string,
  ) => Promise<{ key: { secretAccessKey: string; sessionToken: string | null }; tenant: Tenant } | undefined>;
  /** Whether a 12-digit account id is a tenant's (policy principals must be). */
  isAccount: (accountId: string) => Promise<boolean>;
  /** The tenant id of a 12-digit account id (`x-amz-expected-bucket-owner`), if it is a tenant's. */
  accountTenant?: (accountId: string) => Promise<string | undefined>;
}

/** XML request bodies (DeleteObjects of 1000 keys is the largest) stay well under this. */
export const MAX_XML_BODY = 2 * 1024 * 1024;
const STORED_HEADERS = [
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-language',
  'expires',
] as const;

export type Handler = (req: S3Request) => Promise<ApiResponse>;

export interface S3Request extends ApiRequest {
  bucket: string;
  key: string;
  requestId: string;
  /** Whom store calls act for: the caller's tenant, or the bucket (as its owner) once authorized. */
  actor: Actor;
  /** The bucket with its access configuration, read once by the surface (bucket operations only). */
  access?: BucketAccess;
  caller?: Caller;
}

/** The caller as access decisions see it (anonymous: no tenant), computed once per request. */
export function callerOf(r: S3Request): Caller {
  if (r.caller) return r.caller;
  const t = r.tenant as ApiRequest['tenant'] | undefined;
  const addr = r.raw.socket.remoteAddress ?? '';
  r.caller = {
    tenantId: t?.id,
    accountId: t?.accountId,
    canonicalId: t ? canonicalId(t.id) : undefined,
    sourceIp: parseIpv4(addr.startsWith('::ffff:') ? addr.slice(7) : addr),
    facts: {
      header: (name) => first(r.headers[name]),
      query: (name) => r.query.get(name) ?? undefined,
    },
  };
  return r.caller;
}

export const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
export const quote = (etag: string): string => `"${etag}"`;

export function xml(
  status: number,
  root: string,
  body: XmlElement,
  requestId: string,
  extra: Record<string, string> = {},
): ApiResponse {
  return {
    status,
    headers: {
      'content-type': 'application/xml',
      'x-amz-request-id': requestId,
      'x-amz-id-2': hostId(requestId),
      ...extra,
    },
    body: xmlDocument(root, body),
  };
}

/** The `x-amz-meta-*` headers of a request, keyed without the prefix (S3 lower-cases them). */
export function userMetadata(headers: RequestHead['headers']): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith('x-amz-meta-') && v !== undefined)
      meta[k.slice('x-amz-meta-'.length)] = Array.isArray(v) ? v.join(',') : v;
  }
  if (Buffer.byteLength(JSON.stringify(meta)) > 2048 + 64) {
    throw S3Errors.invalidArgument('Your metadata headers exceed the maximum allowed metadata size.');
  }
  return meta;
}

export function storedHeaders(headers: RequestHead['headers']): StoredHeaders {
  const out: StoredHeaders = {};
  for (const h of STORED_HEADERS) {
    let v = first(headers[h]);
    // `aws-chunked` describes the request's framing, not the object.
    if (h === 'content-encoding' && v)
      v = v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s && s !== 'aws-chunked')
        .join(', ');
    if (v) out[h] = v;
  }
  return out;
}

export function objectHeaders(info: ObjectInfo, withChecksum: boolean): Record<string, string> {
  const h: Record<string, string> = {
    etag: quote(info.etag),
    'last-modified': info.lastModified.toUTCString(),
    'content-type': info.contentType,
    'accept-ranges': 'bytes',
  };
  for (const [k, v] of Object.entries(info.headers)) if (v) h[k] = v;
  for (const [k, v] of Object.entries(info.metadata)) h[`x-amz-meta-${k}`] = v;
  if (info.partsCount !== undefined) h['x-amz-mp-parts-count'] = String(info.partsCount);
  if (withChecksum && info.checksum)
    h[headerOfAlgorithm(info.checksum.algorithm as 'CRC32')] = info.checksum.value;
  return h;
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n`; undefined when S3 would ignore the header (unparseable, several ranges). */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) throw S3Errors.invalidRange(size, header.trim());
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) throw S3Errors.invalidRange(size, header.trim());
  return { start, end };
}

/** GET and HEAD preconditions (see conditions.ts). */
export { readConditions as checkConditions } from './conditions.js';

/** S3's conditional writes: `If-None-Match: *` (create only) and `If-Match: "etag"` (replace that version). */
export function writeCondition(h: RequestHead['headers']): WriteCondition | undefined {
  const none = first(h['if-none-match'])?.trim();
  const match = first(h['if-match'])?.trim();
  if (none === undefined && match === undefined) return undefined;
  if (none !== undefined && none !== '*') throw S3Errors.notImplemented('If-None-Match other than *');
  return { ifNoneMatch: none === '*' ? '*' : undefined, ifMatch: match?.replace(/"/g, '') };
}

/** `x-amz-copy-source`: `[/]bucket/key[?versionId=...]`, URL-encoded. */
export function copySource(raw: string): { bucket: string; key: string; versionId?: string } {
  let source: string;
  const q = raw.indexOf('?');
  let versionId: string | undefined;
  if (q >= 0) {
    const m = /^versionId=([^&]*)$/.exec(raw.slice(q + 1));
    if (!m)
      throw S3Errors.invalidArgument(
        'Invalid copy source: only versionId may follow ?',
        'x-amz-copy-source',
        raw,
      );
    versionId = tryDecode(m[1]!) ?? m[1]!;
    decodeVersionId(versionId);
  }
  try {
    source = decodeURIComponent((q >= 0 ? raw.slice(0, q) : raw).replace(/^\//, ''));
  } catch {
    throw S3Errors.invalidArgument('Invalid copy source encoding', 'x-amz-copy-source', raw);
  }
  const slash = source.indexOf('/');
  if (slash <= 0 || slash === source.length - 1) {
    throw S3Errors.invalidArgument('Invalid copy source object key', 'x-amz-copy-source', raw);
  }
  return {
    bucket: source.slice(0, slash),
    key: source.slice(slash + 1),
    ...(versionId !== undefined && { versionId }),
  };
}

/** Answers once the bucket is known to exist (a subresource of a missing bucket is NoSuchBucket). */
export async function check(d: S3SurfaceDeps, r: S3Request, then: () => ApiResponse): Promise<ApiResponse> {
  await d.store.bucket(r.actor, r.bucket);
  return then();
}

export const requestBody = (r: S3Request): S3RequestBody =>
  new S3RequestBody(r.raw, r.headers, r.signedPayload);
