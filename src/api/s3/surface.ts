// The S3-compatible API, path-style (`/bucket/key`), over the embedded object store. It streams bodies
// in and out, checks every digest the client sent, and answers with S3's XML, headers and error codes.
import { randomBytes } from 'node:crypto';
import { isValidBucketName, S3Errors } from '../../events/objects/errors.js';
import { decodeOrThrow } from '../../uri.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead } from '../surface.js';
import { createBucket, deleteBucket, headBucket, listBuckets, listObjects, location } from './buckets.js';
import { s3ErrorResponse } from './errors.js';
import {
  abortUpload,
  completeUpload,
  createUpload,
  listParts,
  listUploads,
  uploadPart,
} from './multipart.js';
import { getNotification, putNotification } from './notification.js';
import { copyObject, deleteObject, deleteObjects, getObject, putObject } from './objects.js';
import { check, type Handler, MAX_XML_BODY, type S3Request, type S3SurfaceDeps, xml } from './request.js';
import { selectObjectContent } from './select.js';

/** Paths other surfaces own on the shared origin; unsigned requests there are not S3's. */
const FOREIGN_PATHS = /^\/(20\d\d-\d\d-\d\d|kindling|metrics|_)(\/|$)/;

/** S3 subresources (`?tagging`, `?acl`, ...) this store does not implement. */
const UNSUPPORTED_SUBRESOURCES = new Set([
  'acl',
  'accelerate',
  'analytics',
  'attributes',
  'cors',
  'encryption',
  'intelligent-tiering',
  'inventory',
  'legal-hold',
  'lifecycle',
  'logging',
  'metrics',
  'object-lock',
  'ownershipControls',
  'policy',
  'policyStatus',
  'publicAccessBlock',
  'replication',
  'requestPayment',
  'restore',
  'retention',
  'tagging',
  'torrent',
  'versionId',
  'versions',
  'website',
]);

export class S3Surface implements ApiSurface {
  readonly name = 's3';
  readonly services = ['s3'] as const;
  readonly streaming = true;
  readonly #deps: S3SurfaceDeps;

  constructor(deps: S3SurfaceDeps) {
    this.#deps = deps;
  }

  matches(head: RequestHead): boolean {
    if (head.service === 's3') return true;
    if (head.service) return false;
    // Unsigned: only plain S3-looking requests, so other APIs' unsigned calls reach their own surfaces.
    if (head.headers['x-amz-target'] || head.query.has('Action') || FOREIGN_PATHS.test(head.rawPath))
      return false;
    const bucket = head.rawPath.split('/')[1] ?? '';
    return bucket === '' ? head.method === 'GET' : isValidBucketName(bucket);
  }

  maxBodyBytes(): number {
    return MAX_XML_BODY;
  }

  async handle(req: ApiRequest): Promise<ApiResponse> {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const rest = req.rawPath.replace(/^\//, '');
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const key = slash < 0 ? '' : decodeOrThrow(rest.slice(slash + 1), 'path');
    const r: S3Request = Object.assign(Object.create(null) as S3Request, req, {
      bucket: decodeOrThrow(bucket, 'path'),
      key,
      requestId,
    });
    const handler = this.#route(r);
    return handler(r);
  }

  #route(r: S3Request): Handler {
    const q = r.query;
    const m = r.method;
    // A subresource this store does not implement must not fall through to a plain PUT or GET: a
    // PutObjectTagging would otherwise overwrite the object with its XML body.
    for (const name of q.keys()) {
      if (UNSUPPORTED_SUBRESOURCES.has(name) || (name === 'versioning' && m !== 'GET'))
        throw S3Errors.notImplemented(`?${name}`);
    }
    if (!r.bucket) {
      if (m === 'GET') return (x) => listBuckets(this.#deps, x);
      throw S3Errors.methodNotAllowed();
    }
    if (!r.key) {
      if (q.has('notification')) {
        if (m === 'PUT') return (x) => putNotification(this.#deps, x);
        if (m === 'GET') return (x) => getNotification(this.#deps, x);
      }
      if (m === 'PUT') return (x) => createBucket(this.#deps, x);
      if (m === 'HEAD') return (x) => headBucket(this.#deps, x);
      if (m === 'DELETE') return (x) => deleteBucket(this.#deps, x);
      if (m === 'POST' && q.has('delete')) return (x) => deleteObjects(this.#deps, x);
      if (m === 'GET') {
        if (q.has('location')) return (x) => location(this.#deps, x);
        if (q.has('uploads')) return (x) => listUploads(this.#deps, x);
        if (q.has('versioning'))
          return async (x) =>
            check(this.#deps, x, () => xml(200, 'VersioningConfiguration', {}, x.requestId));
        return (x) => listObjects(this.#deps, x, q.get('list-type') === '2');
      }
      throw S3Errors.methodNotAllowed();
    }
    if (q.has('uploadId')) {
      if (m === 'PUT' && q.has('partNumber')) return (x) => uploadPart(this.#deps, x);
      if (m === 'GET') return (x) => listParts(this.#deps, x);
      if (m === 'POST') return (x) => completeUpload(this.#deps, x);
      if (m === 'DELETE') return (x) => abortUpload(this.#deps, x);
      throw S3Errors.invalidRequest('This operation does not take an uploadId (or is missing partNumber)');
    }
    if (m === 'POST' && q.has('uploads')) return (x) => createUpload(this.#deps, x);
    if (q.has('select')) {
      if (m === 'POST') return (x) => selectObjectContent(this.#deps, x);
      throw S3Errors.methodNotAllowed();
    }
    if (m === 'PUT')
      return r.headers['x-amz-copy-source']
        ? (x) => copyObject(this.#deps, x)
        : (x) => putObject(this.#deps, x);
    if (m === 'GET' || m === 'HEAD') return (x) => getObject(this.#deps, x, m === 'HEAD');
    if (m === 'DELETE') return (x) => deleteObject(this.#deps, x);
    throw S3Errors.methodNotAllowed();
  }

  errorResponse(err: unknown, head: RequestHead): ApiResponse {
    return s3ErrorResponse(err, head);
  }
}
