// S3's access configuration operations: Get/PutBucketAcl, Get/PutObjectAcl, Get/Put/DeleteBucketPolicy,
// GetBucketPolicyStatus, Get/Put/DeletePublicAccessBlock, and the ACL a write request sets by header.
import { ObjectStoreError, S3Errors } from '../../events/objects/errors.js';
import type { BucketAccess } from '../../events/objects/store.js';
import type { ApiResponse } from '../surface.js';
import { authorize, PAB_FIELDS, type PublicAccessBlock, publicAccessBlockOf } from './access.js';
import {
  aclFromHeaders,
  aclFromXml,
  aclXml,
  canonicalId,
  checkGrantees,
  type Grant,
  hasAclHeaders,
  isPublicAcl,
  parseStoredAcl,
} from './acl.js';
import { MAX_POLICY_BYTES, parsePolicy, storedPolicy } from './policy.js';
import {
  callerOf,
  first,
  MAX_XML_BODY,
  requestBody,
  type S3Request,
  type S3SurfaceDeps,
  xml,
} from './request.js';
import { parseXml, textOf } from './xml.js';

const noSuchPolicy = (bucket: string) =>
  new ObjectStoreError('NoSuchBucketPolicy', 'The bucket policy does not exist', { BucketName: bucket });
const noSuchPab = (bucket: string) =>
  new ObjectStoreError(
    'NoSuchPublicAccessBlockConfiguration',
    'The public access block configuration was not found',
    { BucketName: bucket },
  );

const accessOf = (r: S3Request): BucketAccess => r.access!;
const ownerOf = (r: S3Request) => {
  const b = accessOf(r);
  return { id: canonicalId(b.tenantId), name: r.tenant?.id === b.tenantId ? r.tenant.name : undefined };
};
const ok = (r: S3Request, status = 200): ApiResponse => ({
  status,
  headers: { 'x-amz-request-id': r.requestId },
});

/** Grants are checked (grantees exist, PublicAccessBlock) before anything is stored. */
async function vetted(d: S3SurfaceDeps, r: S3Request, grants: Grant[]): Promise<string> {
  await checkGrantees(
    grants,
    async (id) => id === canonicalId(accessOf(r).tenantId) || (await d.isCanonicalUser(id)),
  );
  if (isPublicAcl(grants) && publicAccessBlockOf(accessOf(r)).BlockPublicAcls) throw S3Errors.accessDenied();
  return JSON.stringify(grants);
}

/**
 * The ACL a write (PutObject, CopyObject, CreateMultipartUpload) sets by header, vetted; undefined when
 * it sets none. A caller other than the owner needs s3:PutObjectAcl too, as the object becomes the owner's.
 */
export async function requestAcl(d: S3SurfaceDeps, r: S3Request): Promise<string | undefined> {
  if (!hasAclHeaders(r.headers)) return undefined;
  const b = accessOf(r);
  const grants = aclFromHeaders(r.headers, canonicalId(b.tenantId));
  if (!grants) return undefined;
  // The owner too once the bucket has a policy: a Deny on s3:PutObjectAcl binds it (as for every action).
  if (r.tenant?.id !== b.tenantId || b.policy !== null)
    await authorize(d, b, callerOf(r), 's3:PutObjectAcl', r.key);
  return vetted(d, r, grants);
}

/** The ACL a Put*Acl request sets: by header, or by an AccessControlPolicy body (not both). */
async function aclOfPut(d: S3SurfaceDeps, r: S3Request): Promise<string> {
  const body = await requestBody(r).readAll(MAX_XML_BODY);
  const ownerId = canonicalId(accessOf(r).tenantId);
  const fromHeaders = aclFromHeaders(r.headers, ownerId);
  if (fromHeaders && body.length > 0)
    throw S3Errors.invalidRequest('This request does not support both an ACL body and ACL headers');
  const grants =
    fromHeaders ?? (body.length > 0 ? aclFromXml(parseXml(body.toString('utf8')), ownerId) : undefined);
  if (!grants) throw S3Errors.invalidRequest('Missing required header or body for this request: an ACL');
  return vetted(d, r, grants);
}

/**
 * A copy's source must be readable by the caller (s3:GetObject) and belong to the target bucket's owner:
 * objects are their bucket owner's, and a copy across owners is not supported (AccessDenied).
 */
export async function authorizeCopySource(
  d: S3SurfaceDeps,
  r: S3Request,
  source: { bucket: string; key: string; versionId?: string },
): Promise<void> {
  const b = source.bucket === r.bucket && r.access ? r.access : await d.store.bucketAccess(source.bucket);
  const versioned = source.versionId !== undefined;
  await authorize(
    d,
    b,
    callerOf(r),
    versioned ? 's3:GetObjectVersion' : 's3:GetObject',
    source.key,
    source.versionId,
  );
  if (b.tenantId !== accessOf(r).tenantId) throw S3Errors.accessDenied();
  // `x-amz-source-expected-bucket-owner`: a source bucket of another account is refused, as on S3.
  const expected = first(r.headers['x-amz-source-expected-bucket-owner']);
  if (expected !== undefined) {
    const owner =
      r.tenant?.id === b.tenantId
        ? r.tenant.accountId === expected
        : /^\d{12}$/.test(expected) && (await d.accountTenant?.(expected)) === b.tenantId;
    if (!owner) throw S3Errors.accessDenied();
  }
}

const ownerOnly = (ownerId: string): Grant[] => [{ id: ownerId, permission: 'FULL_CONTROL' }];

export async function getBucketAcl(_d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const owner = ownerOf(r);
  const grants = parseStoredAcl(accessOf(r).acl) ?? ownerOnly(owner.id);
  return rawXml(r, aclXml(owner, grants));
}

export async function putBucketAcl(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const acl = await aclOfPut(d, r);
  // The owner-only ACL is stored as none: the owner's requests then skip ACL work altogether.
  const none = acl === JSON.stringify(ownerOnly(canonicalId(accessOf(r).tenantId)));
  await d.store.setBucketAccess(r.actor, r.bucket, 'acl', none ? null : acl);
  return ok(r);
}

export async function getObjectAcl(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const owner = ownerOf(r);
  const grants = parseStoredAcl(await d.store.objectAcl(r.actor, r.bucket, r.key)) ?? ownerOnly(owner.id);
  return rawXml(r, aclXml(owner, grants));
}

export async function putObjectAcl(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  await d.store.setObjectAcl(r.actor, r.bucket, r.key, await aclOfPut(d, r));
  return ok(r);
}

export async function getBucketPolicy(_d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const policy = accessOf(r).policy;
  if (policy === null) throw noSuchPolicy(r.bucket);
  return {
    status: 200,
    headers: { 'content-type': 'application/json', 'x-amz-request-id': r.requestId },
    body: policy,
  };
}

export async function putBucketPolicy(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const body = await requestBody(r).readAll(MAX_XML_BODY);
  if (body.length > MAX_POLICY_BYTES)
    throw new ObjectStoreError('PolicyTooLarge', 'Policy exceeds the maximum allowed document size.');
  const text = body.toString('utf8');
  const policy = parsePolicy(text, r.bucket);
  for (const account of policy.accounts)
    if (!(await d.isAccount(account)))
      throw new ObjectStoreError('MalformedPolicy', 'Invalid principal in policy');
  if (policy.isPublic && publicAccessBlockOf(accessOf(r)).BlockPublicPolicy) throw S3Errors.accessDenied();
  await d.store.setBucketAccess(r.actor, r.bucket, 'policy', text);
  return ok(r, 204);
}

export async function deleteBucketPolicy(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  await d.store.setBucketAccess(r.actor, r.bucket, 'policy', null);
  return ok(r, 204);
}

export async function getBucketPolicyStatus(_d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const text = accessOf(r).policy;
  if (text === null) throw noSuchPolicy(r.bucket);
  return xml(200, 'PolicyStatus', { IsPublic: storedPolicy(text, r.bucket).isPublic }, r.requestId);
}

export async function getPublicAccessBlock(_d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  if (accessOf(r).publicAccessBlock === null) throw noSuchPab(r.bucket);
  const pab = publicAccessBlockOf(accessOf(r));
  return xml(200, 'PublicAccessBlockConfiguration', { ...pab }, r.requestId);
}

export async function putPublicAccessBlock(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const doc = parseXml((await requestBody(r).readAll(MAX_XML_BODY)).toString('utf8'));
  if (doc.name !== 'PublicAccessBlockConfiguration') throw S3Errors.malformedXml();
  const pab = {} as PublicAccessBlock;
  for (const c of doc.children)
    if (!(PAB_FIELDS as readonly string[]).includes(c.name)) throw S3Errors.malformedXml();
  for (const f of PAB_FIELDS) {
    const v = textOf(doc, f)?.trim();
    if (v !== undefined && v !== 'true' && v !== 'false') throw S3Errors.malformedXml();
    pab[f] = v === 'true';
  }
  await d.store.setBucketAccess(r.actor, r.bucket, 'public_access_block', JSON.stringify(pab));
  return ok(r);
}

export async function deletePublicAccessBlock(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  await d.store.setBucketAccess(r.actor, r.bucket, 'public_access_block', null);
  return ok(r, 204);
}

function rawXml(r: S3Request, body: string): ApiResponse {
  return {
    status: 200,
    headers: { 'content-type': 'application/xml', 'x-amz-request-id': r.requestId },
    body,
  };
}
