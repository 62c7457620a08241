// The S3-compatible API, path-style (`/bucket/key`) and virtual-hosted–style (`bucket.localhost/key`), over
// the embedded object store. It streams bodies in and out, checks every digest the client sent, and answers
// with S3's XML, headers and error codes.
import { randomBytes } from 'node:crypto';
import { isValidBucketName, ObjectStoreError, S3Errors } from '../../events/objects/errors.js';
import { decodeOrThrow } from '../../uri.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead } from '../surface.js';
import { authorize, mayListKey } from './access.js';
import {
  deleteBucketPolicy,
  deletePublicAccessBlock,
  getBucketAcl,
  getBucketPolicy,
  getBucketPolicyStatus,
  getObjectAcl,
  getPublicAccessBlock,
  putBucketAcl,
  putBucketPolicy,
  putObjectAcl,
  putPublicAccessBlock,
} from './access-config.js';
import { getObjectAttributes } from './attributes.js';
import { createBucket, deleteBucket, headBucket, listObjects, location } from './buckets.js';
import { corsHeaders, deleteBucketCors, getBucketCors, preflight, putBucketCors } from './cors.js';
import { s3ErrorResponse } from './errors.js';
import { deleteBucketLifecycle, getBucketLifecycle, putBucketLifecycle } from './lifecycle.js';
import { listBuckets } from './list-buckets.js';
import { listUploads } from './list-uploads.js';
import { abortUpload, completeUpload, createUpload, listParts, uploadPart } from './multipart.js';
import { getNotification, putNotification } from './notification.js';
import { copyObject, deleteObject, deleteObjects, getObject, putObject } from './objects.js';
import type { PolicyAction } from './policy.js';
import { isFormUpload, postObject } from './post-object.js';
import {
  callerOf,
  first,
  type Handler,
  MAX_XML_BODY,
  type S3Request,
  type S3SurfaceDeps,
} from './request.js';
import { selectObjectContent } from './select.js';
import {
  deleteBucketTagging,
  deleteObjectTagging,
  getBucketTagging,
  getObjectTagging,
  putBucketTagging,
  putObjectTagging,
} from './tagging.js';
import { versionedObjectAction, versioningRoute } from './versioning.js';
import { virtualHostBucket } from './virtual-host.js';

/**
 * What a route needs of its caller: a policy action (owner, policy or ACL decide), the bucket's owner
 * only, any signed tenant (ListBuckets, CreateBucket), a check per key inside the handler (DeleteObjects),
 * or the form's own signature and policy (POST object).
 */
type Need = PolicyAction | 'owner' | 'tenant' | 'per-key' | 'form';
type Route = [Handler, Need];

/** Paths other surfaces own on the shared origin; unsigned requests there are not S3's. */
const FOREIGN_PATHS = /^\/(20\d\d-\d\d-\d\d|kindling|metrics|_)(\/|$)/;

/** S3 subresources (`?tagging`, `?acl`, ...) this store does not implement. */
const UNSUPPORTED_SUBRESOURCES = new Set([
  'accelerate',
  'analytics',
  'encryption',
  'intelligent-tiering',
  'inventory',
  'legal-hold',
  'logging',
  'metrics',
  'object-lock',
  'ownershipControls',
  'replication',
  'requestPayment',
  'restore',
  'retention',
  'torrent',
  'website',
]);

/**
 * Request headers of S3 features this store does not implement: refused by name (NotImplemented) rather
 * than taken and dropped. A write that asked for SSE-C, KMS, an object lock or another storage class would
 * otherwise be stored without it, and its writer believe it protected (an SSE-C object read back without
 * its key). Checked on every request (SSE-C headers on GET, HEAD and copy sources included).
 */
function refuseUnsupportedHeaders(h: RequestHead['headers']): void {
  for (const name of Object.keys(h)) {
    if (
      name.startsWith('x-amz-server-side-encryption') ||
      name.startsWith('x-amz-copy-source-server-side-encryption') ||
      name.startsWith('x-amz-object-lock-') ||
      (name === 'x-amz-bucket-object-lock-enabled' && first(h[name])?.toLowerCase() !== 'false') ||
      name === 'x-amz-website-redirect-location'
    )
      throw S3Errors.notImplemented(name);
  }
  // Objects here are their bucket owner's with ACLs in force (S3's BucketOwnerPreferred); a bucket asked
  // for with ACLs disabled (BucketOwnerEnforced) would otherwise take a public-read ACL it meant to refuse.
  const ownership = first(h['x-amz-object-ownership']);
  if (ownership !== undefined && ownership !== 'BucketOwnerPreferred')
    throw S3Errors.notImplemented(`x-amz-object-ownership ${ownership}`);
  const storageClass = first(h['x-amz-storage-class']);
  if (storageClass !== undefined && storageClass !== 'STANDARD')
    throw S3Errors.notImplemented(`x-amz-storage-class ${storageClass}`);
}

export class S3Surface implements ApiSurface {
  readonly name = 's3';
  readonly services = ['s3'] as const;
  readonly streaming = true;
  readonly unsignedPreflight = true;
  readonly #deps: S3SurfaceDeps;

  constructor(deps: S3SurfaceDeps) {
    this.#deps = deps;
  }

  matches(head: RequestHead): boolean {
    if (head.service === 's3') return true;
    if (head.service) return false;
    // Unsigned: only plain S3-looking requests, so other APIs' unsigned calls reach their own surfaces.
    if (head.headers['x-amz-target'] || head.query.has('Action')) return false;
    if (this.#hostBucket(head, true) !== undefined) return true;
    if (FOREIGN_PATHS.test(head.rawPath)) return false;
    const bucket = head.rawPath.split('/')[1] ?? '';
    return bucket === '' ? head.method === 'GET' : isValidBucketName(bucket);
  }

  /**
   * Unsigned requests reach S3 only (matches() keeps other APIs' paths out) and only what an ACL or a
   * policy opens to everyone; everything else answers AccessDenied.
   */
  allowAnonymous(): boolean {
    return true;
  }

  maxBodyBytes(): number {
    return MAX_XML_BODY;
  }

  async handle(req: ApiRequest): Promise<ApiResponse> {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const rest = req.rawPath.replace(/^\//, '');
    const byHost = this.#hostBucket(req, false);
    const slash = byHost !== undefined ? -1 : rest.indexOf('/');
    const bucket = byHost ?? (slash < 0 ? rest : rest.slice(0, slash));
    const keyPath = byHost !== undefined ? rest : slash < 0 ? '' : rest.slice(slash + 1);
    const key = decodeOrThrow(keyPath, 'path');
    let name = byHost ?? decodeOrThrow(bucket, 'path');
    // S3 reserves the suffix for access point aliases: a name like it is never a bucket's own.
    // An alias that is not one of the tenant's access points is no bucket (another tenant's included).
    // (A preflight has no tenant: for it an alias is no bucket with CORS rules.)
    if (name.endsWith('-s3alias') && this.#deps.accessPointAlias && req.method !== 'OPTIONS')
      name = (await this.#deps.accessPointAlias(req.tenant.id, name)) ?? throwNoSuchBucket(name);
    const r: S3Request = Object.assign(Object.create(null) as S3Request, req, {
      bucket: name,
      key,
      requestId,
      actor: '',
    });
    // A browser's preflight: unsigned, answered from the bucket's CORS rules alone.
    if (r.method === 'OPTIONS') return preflight(this.#deps, r);
    if (r.headers.origin === undefined) return this.#dispatch(r);
    let out: ApiResponse;
    try {
      out = await this.#dispatch(r);
    } catch (e) {
      // The error is answered by errorResponse with this request's head: a browser reads it when allowed.
      const h = await corsHeaders(this.#deps, r).catch(() => undefined);
      if (h) corsOfErrors.set(req, h);
      throw e;
    }
    const h = await corsHeaders(this.#deps, r);
    return h ? { ...out, headers: { ...out.headers, ...h } } : out;
  }

  async #dispatch(r: S3Request): Promise<ApiResponse> {
    const [handler, need] = this.#route(r);
    const tenant = r.tenant as S3Request['tenant'] | undefined;
    if (need === 'tenant') {
      if (!tenant) throw S3Errors.accessDenied();
      r.actor = tenant.id;
      return handler(r);
    }
    // One read: the bucket, its owner and access configuration; store calls then act as its owner.
    const b = await this.#deps.store.bucketAccess(r.bucket);
    r.access = b;
    r.actor = { tenantId: b.tenantId, bucket: b };
    await this.#checkExpectedOwner(r, b.tenantId);
    if (need === 'form') return handler(r);
    const owner = tenant?.id === b.tenantId;
    if (owner && b.policy === null) return handler(r);
    if (need === 'owner') {
      if (!owner) throw S3Errors.accessDenied();
      return handler(r);
    }
    if (need === 'per-key') {
      if (!owner && b.policy === null && b.acl === null) throw S3Errors.accessDenied();
      return handler(r);
    }
    const caller = callerOf(r);
    const versionId = r.key ? (r.query.get('versionId') ?? undefined) : undefined;
    await authorize(this.#deps, b, caller, need, r.key || undefined, versionId);
    if (owner) return handler(r);
    try {
      return await handler(r);
    } catch (e) {
      // A missing key is told only to a caller who may list the bucket, as S3 does.
      if (
        e instanceof ObjectStoreError &&
        (e.code === 'NoSuchKey' || e.code === 'NoSuchVersion') &&
        !mayListKey(b, caller, r.key)
      )
        throw S3Errors.accessDenied();
      throw e;
    }
  }

  /** `x-amz-expected-bucket-owner`: a request meant for another account's bucket is refused, as on S3. */
  async #checkExpectedOwner(r: S3Request, ownerId: string): Promise<void> {
    const expected = first(r.headers['x-amz-expected-bucket-owner']);
    if (expected === undefined) return;
    const tenant = r.tenant as S3Request['tenant'] | undefined;
    const owner =
      tenant?.id === ownerId
        ? tenant.accountId === expected
        : /^\d{12}$/.test(expected) && (await this.#deps.accountTenant?.(expected)) === ownerId;
    if (!owner) throw S3Errors.accessDenied();
  }

  /** The bucket a virtual-hosted–style Host names; `lenient` (routing) takes an invalid label as S3's too. */
  #hostBucket(head: RequestHead, lenient: boolean): string | undefined {
    const host = head.headers.host;
    try {
      return virtualHostBucket(host, this.#deps.virtualHostDomains ?? []);
    } catch (e) {
      if (lenient) return host;
      throw e;
    }
  }

  #route(r: S3Request): Route {
    const q = r.query;
    const m = r.method;
    const d = this.#deps;
    // A subresource this store does not implement must not fall through to a plain PUT or GET: a
    // PutObjectTagging would otherwise overwrite the object with its XML body.
    for (const name of q.keys()) {
      if (UNSUPPORTED_SUBRESOURCES.has(name)) throw S3Errors.notImplemented(`?${name}`);
    }
    refuseUnsupportedHeaders(r.headers);
    if (q.has('attributes')) {
      if (!r.key) throw S3Errors.notImplemented('?attributes on a bucket');
      if (m === 'GET')
        return [
          (x) => getObjectAttributes(d, x),
          q.has('versionId') ? 's3:GetObjectVersion' : 's3:GetObject',
        ];
      throw S3Errors.methodNotAllowed();
    }
    if (!r.bucket) {
      if (m === 'GET') return [(x) => listBuckets(d, x), 'tenant'];
      throw S3Errors.methodNotAllowed();
    }
    if (!r.key) {
      const versioning = versioningRoute(d, r);
      if (versioning) return versioning;
      if (q.has('notification')) {
        if (m === 'PUT') return [(x) => putNotification(d, x), 'owner'];
        if (m === 'GET') return [(x) => getNotification(d, x), 'owner'];
      }
      if (q.has('acl')) {
        if (m === 'PUT') return [(x) => putBucketAcl(d, x), 's3:PutBucketAcl'];
        if (m === 'GET') return [(x) => getBucketAcl(d, x), 's3:GetBucketAcl'];
        throw S3Errors.methodNotAllowed();
      }
      if (q.has('policy')) {
        if (m === 'PUT') return [(x) => putBucketPolicy(d, x), 'owner'];
        if (m === 'GET') return [(x) => getBucketPolicy(d, x), 'owner'];
        if (m === 'DELETE') return [(x) => deleteBucketPolicy(d, x), 'owner'];
        throw S3Errors.methodNotAllowed();
      }
      if (q.has('policyStatus')) {
        if (m === 'GET') return [(x) => getBucketPolicyStatus(d, x), 'owner'];
        throw S3Errors.methodNotAllowed();
      }
      if (q.has('tagging')) {
        if (m === 'PUT') return [(x) => putBucketTagging(d, x), 'owner'];
        if (m === 'GET') return [(x) => getBucketTagging(d, x), 'owner'];
        if (m === 'DELETE') return [(x) => deleteBucketTagging(d, x), 'owner'];
        throw S3Errors.methodNotAllowed();
      }
      if (q.has('cors')) {
        if (m === 'PUT') return [(x) => putBucketCors(d, x), 'owner'];
        if (m === 'GET') return [(x) => getBucketCors(d, x), 'owner'];
        if (m === 'DELETE') return [(x) => deleteBucketCors(d, x), 'owner'];
        throw S3Errors.methodNotAllowed();
      }
      if (q.has('lifecycle')) {
        if (m === 'PUT') return [(x) => putBucketLifecycle(d, x), 'owner'];
        if (m === 'GET') return [(x) => getBucketLifecycle(d, x), 'owner'];
        if (m === 'DELETE') return [(x) => deleteBucketLifecycle(d, x), 'owner'];
        throw S3Errors.methodNotAllowed();
      }
      if (q.has('publicAccessBlock')) {
        if (m === 'PUT') return [(x) => putPublicAccessBlock(d, x), 'owner'];
        if (m === 'GET') return [(x) => getPublicAccessBlock(d, x), 'owner'];
        if (m === 'DELETE') return [(x) => deletePublicAccessBlock(d, x), 'owner'];
        throw S3Errors.methodNotAllowed();
      }
      if (m === 'PUT') return [(x) => createBucket(d, x), 'tenant'];
      if (m === 'HEAD') return [(x) => headBucket(d, x), 's3:ListBucket'];
      if (m === 'DELETE') return [(x) => deleteBucket(d, x), 'owner'];
      if (m === 'POST' && q.has('delete')) return [(x) => deleteObjects(d, x), 'per-key'];
      if (m === 'POST' && isFormUpload(r)) return [(x) => postObject(d, x), 'form'];
      if (m === 'GET') {
        if (q.has('location')) return [(x) => location(d, x), 'owner'];
        if (q.has('uploads')) return [(x) => listUploads(d, x), 's3:ListBucketMultipartUploads'];
        return [(x) => listObjects(d, x, q.get('list-type') === '2'), 's3:ListBucket'];
      }
      throw S3Errors.methodNotAllowed();
    }
    const versioned = versionedObjectAction(r);
    if (versioned === 's3:GetObjectVersion') return [(x) => getObject(d, x, m === 'HEAD'), versioned];
    if (versioned === 's3:DeleteObjectVersion') return [(x) => deleteObject(d, x), versioned];
    if (versioned === 's3:GetObjectVersionTagging') return [(x) => getObjectTagging(d, x), versioned];
    if (q.has('acl')) {
      if (m === 'PUT') return [(x) => putObjectAcl(d, x), 's3:PutObjectAcl'];
      if (m === 'GET') return [(x) => getObjectAcl(d, x), 's3:GetObjectAcl'];
      throw S3Errors.methodNotAllowed();
    }
    if (q.has('tagging')) {
      if (m === 'PUT') return [(x) => putObjectTagging(d, x), 's3:PutObjectTagging'];
      if (m === 'GET') return [(x) => getObjectTagging(d, x), 's3:GetObjectTagging'];
      if (m === 'DELETE') return [(x) => deleteObjectTagging(d, x), 's3:DeleteObjectTagging'];
      throw S3Errors.methodNotAllowed();
    }
    if (q.has('cors') || q.has('lifecycle')) throw S3Errors.methodNotAllowed();
    if (q.has('uploadId')) {
      if (m === 'PUT' && q.has('partNumber')) return [(x) => uploadPart(d, x), 's3:PutObject'];
      if (m === 'GET') return [(x) => listParts(d, x), 's3:ListMultipartUploadParts'];
      if (m === 'POST') return [(x) => completeUpload(d, x), 's3:PutObject'];
      if (m === 'DELETE') return [(x) => abortUpload(d, x), 's3:AbortMultipartUpload'];
      throw S3Errors.invalidRequest('This operation does not take an uploadId (or is missing partNumber)');
    }
    if (m === 'POST' && q.has('uploads')) return [(x) => createUpload(d, x), 's3:PutObject'];
    // S3 Select reads the object: GetObject's permission, as on S3.
    if (q.has('select')) {
      if (m === 'POST') return [(x) => selectObjectContent(d, x), 's3:GetObject'];
      throw S3Errors.methodNotAllowed();
    }
    if (m === 'PUT')
      return r.headers['x-amz-copy-source']
        ? [(x) => copyObject(d, x), 's3:PutObject']
        : [(x) => putObject(d, x), 's3:PutObject'];
    if (m === 'GET' || m === 'HEAD') return [(x) => getObject(d, x, m === 'HEAD'), 's3:GetObject'];
    if (m === 'DELETE') return [(x) => deleteObject(d, x), 's3:DeleteObject'];
    throw S3Errors.methodNotAllowed();
  }

  errorResponse(err: unknown, head: RequestHead): ApiResponse {
    const out = s3ErrorResponse(err, head);
    const cors = corsOfErrors.get(head);
    return cors ? { ...out, headers: { ...out.headers, ...cors } } : out;
  }
}

/** The CORS headers of requests that failed, by their head (the object errorResponse is handed). */
const corsOfErrors = new WeakMap<RequestHead, Record<string, string>>();

const throwNoSuchBucket = (name: string): never => {
  throw S3Errors.noSuchBucket(name);
};
