// S3 bucket versioning on the wire: Get/PutBucketVersioning, ListObjectVersions (`?versions`), the
// routing of `?versionId=` and the `x-amz-version-id` header the object operations answer with.
import { S3Errors } from '../../events/objects/errors.js';
import { NULL_VERSION } from '../../events/objects/version-id.js';
import type { ApiResponse } from '../surface.js';
import { canonicalId } from './acl.js';
import { listingEncoding, listingMaxKeys } from './listing-encoding.js';
import type { PolicyAction } from './policy.js';
import {
  first,
  type Handler,
  MAX_XML_BODY,
  quote,
  requestBody,
  type S3Request,
  type S3SurfaceDeps,
  xml,
} from './request.js';
import { parseXml, textOf, type XmlElement } from './xml.js';

/**
 * `x-amz-version-id` for an answer about `versionId`: S3 sends it once the bucket has versioning
 * configured (`null` for objects written before or while suspended), never for a bucket never versioned.
 */
export function versionHeader(r: S3Request, versionId: string | undefined): Record<string, string> {
  if (versionId === undefined) return {};
  if (versionId === NULL_VERSION && !r.access?.versioning) return {};
  return { 'x-amz-version-id': versionId };
}

/** The bucket-level versioning routes, or undefined when the request is none of them. */
export function versioningRoute(d: S3SurfaceDeps, r: S3Request): [Handler, PolicyAction] | undefined {
  const q = r.query;
  if (q.has('versioning')) {
    if (r.method === 'GET') return [(x) => getBucketVersioning(d, x), 's3:GetBucketVersioning'];
    if (r.method === 'PUT') return [(x) => putBucketVersioning(d, x), 's3:PutBucketVersioning'];
    throw S3Errors.methodNotAllowed();
  }
  if (q.has('versions')) {
    if (r.method === 'GET') return [(x) => listObjectVersions(d, x), 's3:ListBucketVersions'];
    throw S3Errors.methodNotAllowed();
  }
  return undefined;
}

/** The action an object request with `?versionId=` needs; NotImplemented where the store ignores it. */
export function versionedObjectAction(r: S3Request): PolicyAction | undefined {
  if (!r.query.has('versionId')) return undefined;
  // `x-id` is the SDK's operation name; `response-*` override GET's headers.
  const others = [...r.query.keys()].filter(
    (k) => k !== 'versionId' && k !== 'x-id' && !k.startsWith('response-'),
  );
  if (others.length === 0 && (r.method === 'GET' || r.method === 'HEAD')) return 's3:GetObjectVersion';
  if (others.length === 0 && r.method === 'DELETE') return 's3:DeleteObjectVersion';
  // The tags of one version can be read; setting or removing them is the current object's only.
  if (others.length === 1 && others[0] === 'tagging' && r.method === 'GET')
    return 's3:GetObjectVersionTagging';
  throw S3Errors.notImplemented(`?versionId with ${others.length ? `?${others[0]}` : r.method}`);
}

async function getBucketVersioning(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const state = await d.store.bucketVersioning(r.actor, r.bucket);
  return xml(200, 'VersioningConfiguration', state === null ? {} : { Status: state }, r.requestId);
}

async function putBucketVersioning(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  await d.store.bucket(r.actor, r.bucket);
  if (first(r.headers['x-amz-mfa']) !== undefined) throw S3Errors.notImplemented('x-amz-mfa (MFA delete)');
  const doc = parseXml((await requestBody(r).readAll(MAX_XML_BODY)).toString('utf8'));
  if (doc.name !== 'VersioningConfiguration') throw S3Errors.malformedXml();
  for (const c of doc.children) {
    if (c.name !== 'Status' && c.name !== 'MfaDelete') throw S3Errors.malformedXml();
  }
  const mfa = textOf(doc, 'MfaDelete')?.trim();
  if (mfa !== undefined && mfa !== 'Disabled') {
    if (mfa !== 'Enabled') throw S3Errors.malformedXml();
    throw S3Errors.notImplemented('MfaDelete');
  }
  const status = textOf(doc, 'Status')?.trim();
  if (status !== undefined) {
    if (status !== 'Enabled' && status !== 'Suspended') throw S3Errors.malformedXml();
    await d.store.setBucketVersioning(r.actor, r.bucket, status);
  }
  return { status: 200, headers: { 'x-amz-request-id': r.requestId } };
}

async function listObjectVersions(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const q = r.query;
  const maxKeys = listingMaxKeys(q);
  // The same encoder as the other listings: S3 escapes all but RFC 3986's unreserved characters and `/`.
  const { encodingType, enc } = listingEncoding(q);
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const keyMarker = q.get('key-marker') ?? '';
  const versionIdMarker = q.get('version-id-marker') ?? undefined;
  const page = await d.store.listObjectVersions(r.actor, r.bucket, {
    prefix,
    delimiter,
    maxKeys,
    keyMarker,
    versionIdMarker,
  });
  const owner = {
    ID: canonicalId(r.access?.tenantId ?? r.tenant.id),
    DisplayName: r.tenant?.id === r.access?.tenantId ? r.tenant.name : undefined,
  };
  const versions: XmlElement[] = [];
  const markers: XmlElement[] = [];
  for (const v of page.versions) {
    if (v.deleteMarker)
      markers.push({
        Key: enc(v.key),
        VersionId: v.versionId,
        IsLatest: v.isLatest,
        LastModified: v.lastModified,
        Owner: owner,
      });
    else
      versions.push({
        ETag: quote(v.etag),
        ChecksumAlgorithm: v.checksumAlgorithm,
        Size: v.size,
        StorageClass: 'STANDARD',
        Key: enc(v.key),
        VersionId: v.versionId,
        IsLatest: v.isLatest,
        LastModified: v.lastModified,
        Owner: owner,
      });
  }
  return xml(
    200,
    'ListVersionsResult',
    {
      Name: r.bucket,
      Prefix: enc(prefix),
      KeyMarker: enc(keyMarker),
      VersionIdMarker: versionIdMarker ?? '',
      NextKeyMarker: page.isTruncated ? enc(page.nextKeyMarker) : undefined,
      NextVersionIdMarker: page.isTruncated ? page.nextVersionIdMarker : undefined,
      MaxKeys: maxKeys,
      Delimiter: delimiter ? enc(delimiter) : undefined,
      EncodingType: encodingType,
      IsTruncated: page.isTruncated,
      Version: versions,
      DeleteMarker: markers,
      CommonPrefixes: page.commonPrefixes.map((p) => ({ Prefix: enc(p) })),
    },
    r.requestId,
  );
}
