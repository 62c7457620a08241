// S3's bucket operations: list, create, head, delete, location, and listing a bucket's objects (v1 and v2).
import { ObjectStoreError, S3Errors } from '../../events/objects/errors.js';
import type { ApiResponse } from '../surface.js';
import { publicAccessBlockOf } from './access.js';
import { aclFromHeaders, canonicalId, checkGrantees, isPublicAcl } from './acl.js';
import { listingEncoding, listingMaxKeys } from './listing-encoding.js';
import { checkLocationConstraint, locationConstraint } from './location-constraint.js';
import { MAX_XML_BODY, quote, requestBody, type S3Request, type S3SurfaceDeps, xml } from './request.js';
import { escapeXml, S3_NS, type XmlElement } from './xml.js';

export async function createBucket(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const ownerId = canonicalId(r.tenant.id);
  const grants = aclFromHeaders(r.headers, ownerId);
  if (grants) await checkGrantees(grants, async (id) => id === ownerId || (await d.isCanonicalUser(id)));
  // Every bucket lives in this server's one region: a LocationConstraint must name it (S3's rules).
  const constraint = locationConstraint((await requestBody(r).readAll(MAX_XML_BODY)).toString('utf8'));
  checkLocationConstraint(constraint, d.region);
  // The owner-only ACL is stored as none (see putBucketAcl).
  const shared =
    grants && !(grants.length === 1 && grants[0]!.id === ownerId && grants[0]!.permission === 'FULL_CONTROL');
  const acl = shared ? JSON.stringify(grants) : undefined;
  try {
    await d.store.createBucket(r.tenant.id, r.bucket, acl);
  } catch (e) {
    // S3's legacy rule for us-east-1: creating a bucket you already own succeeds and resets its ACL.
    if (!(e instanceof ObjectStoreError && e.code === 'BucketAlreadyOwnedByYou')) throw e;
    if (d.region !== 'us-east-1' || constraint !== undefined) throw e;
    // The bucket's PublicAccessBlock holds for the reset ACL as for PutBucketAcl.
    if (
      grants &&
      isPublicAcl(grants) &&
      publicAccessBlockOf(await d.store.bucketAccess(r.bucket)).BlockPublicAcls
    )
      throw S3Errors.accessDenied();
    await d.store.setBucketAccess(r.tenant.id, r.bucket, 'acl', acl ?? null);
  }
  return { status: 200, headers: { location: `/${r.bucket}`, 'x-amz-request-id': r.requestId } };
}

export async function headBucket(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  await d.store.bucket(r.actor, r.bucket);
  return {
    status: 200,
    headers: { 'x-amz-bucket-region': d.region, 'x-amz-request-id': r.requestId },
  };
}

export async function deleteBucket(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  await d.store.deleteBucket(r.actor, r.bucket);
  return { status: 204, headers: { 'x-amz-request-id': r.requestId } };
}

export async function location(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  await d.store.bucket(r.actor, r.bucket);
  // us-east-1 is answered as an empty constraint, as S3 does.
  const region = d.region === 'us-east-1' ? '' : d.region;
  return {
    status: 200,
    headers: { 'content-type': 'application/xml', 'x-amz-request-id': r.requestId },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="${S3_NS}">${escapeXml(region)}</LocationConstraint>`,
  };
}

export async function listObjects(d: S3SurfaceDeps, r: S3Request, v2: boolean): Promise<ApiResponse> {
  const q = r.query;
  const maxKeys = listingMaxKeys(q);
  const { encodingType, enc } = listingEncoding(q);
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  let startAfter: string | undefined;
  const token = q.get('continuation-token') ?? undefined;
  if (v2) {
    startAfter = q.get('start-after') ?? undefined;
    if (token !== undefined) {
      const decoded = Buffer.from(token, 'base64url').toString('utf8');
      if (!token || Buffer.from(decoded, 'utf8').toString('base64url') !== token) {
        throw S3Errors.invalidArgument(
          'The continuation token provided is incorrect',
          'continuation-token',
          token,
        );
      }
      startAfter = decoded;
    }
  } else startAfter = q.get('marker') ?? undefined;
  const page = await d.store.listObjects(r.actor, r.bucket, {
    prefix,
    delimiter,
    maxKeys,
    startAfter,
  });
  const contents = page.contents.map((o) => ({
    Key: enc(o.key),
    LastModified: o.lastModified,
    ETag: quote(o.etag),
    ChecksumAlgorithm: o.checksum?.algorithm,
    Size: o.size,
    Owner:
      v2 && q.get('fetch-owner') !== 'true'
        ? undefined
        : {
            ID: canonicalId(r.access?.tenantId ?? r.tenant.id),
            DisplayName: r.tenant?.id === r.access?.tenantId ? r.tenant.name : undefined,
          },
    StorageClass: 'STANDARD',
  }));
  const common = page.commonPrefixes.map((p) => ({ Prefix: enc(p) }));
  // max-keys=0 lists nothing and, as on S3, is not truncated.
  const isTruncated = maxKeys > 0 && page.isTruncated;
  const next = isTruncated && page.last !== undefined ? page.last : undefined;
  const body: XmlElement = v2
    ? {
        Name: r.bucket,
        Prefix: enc(prefix),
        Delimiter: delimiter ? enc(delimiter) : undefined,
        MaxKeys: maxKeys,
        EncodingType: encodingType,
        KeyCount: contents.length + common.length,
        IsTruncated: isTruncated,
        ContinuationToken: token,
        NextContinuationToken:
          next === undefined ? undefined : Buffer.from(next, 'utf8').toString('base64url'),
        StartAfter: enc(q.get('start-after') ?? undefined),
        Contents: contents,
        CommonPrefixes: common,
      }
    : {
        Name: r.bucket,
        Prefix: enc(prefix),
        Marker: enc(q.get('marker') ?? ''),
        NextMarker: delimiter && next !== undefined ? enc(next) : undefined,
        Delimiter: delimiter ? enc(delimiter) : undefined,
        MaxKeys: maxKeys,
        EncodingType: encodingType,
        IsTruncated: isTruncated,
        Contents: contents,
        CommonPrefixes: common,
      };
  return xml(200, 'ListBucketResult', body, r.requestId);
}
