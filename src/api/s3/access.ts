// Who may do what to a bucket: the decision S3 makes from the bucket policy (an explicit Deny wins, for
// the owner too), ownership, the policy's Allows and the ACL grants, with PublicAccessBlock applied.
// A bucket with no policy costs its owner one comparison.
import { S3Errors } from '../../events/objects/errors.js';
import type { BucketAccess } from '../../events/objects/store.js';
import { type Caller, grantsAllow, type Permission, parseStoredAcl } from './acl.js';
import {
  evaluatePolicy,
  OBJECT_TAG_ACTIONS,
  type Policy,
  type PolicyAction,
  type RequestFacts,
  storedPolicy,
} from './policy.js';
import type { S3SurfaceDeps } from './request.js';

export interface PublicAccessBlock {
  BlockPublicAcls: boolean;
  IgnorePublicAcls: boolean;
  BlockPublicPolicy: boolean;
  RestrictPublicBuckets: boolean;
}
export const PAB_FIELDS = [
  'BlockPublicAcls',
  'IgnorePublicAcls',
  'BlockPublicPolicy',
  'RestrictPublicBuckets',
] as const;
const NO_BLOCK: PublicAccessBlock = {
  BlockPublicAcls: false,
  IgnorePublicAcls: false,
  BlockPublicPolicy: false,
  RestrictPublicBuckets: false,
};

export const publicAccessBlockOf = (b: BucketAccess): PublicAccessBlock =>
  b.publicAccessBlock === null ? NO_BLOCK : (JSON.parse(b.publicAccessBlock) as PublicAccessBlock);

/**
 * What ACLs grant each action: the permission, on the bucket's ACL or the object's (that version's). An
 * action missing here no ACL grants: the owner, or a policy, only (versioning configuration).
 */
const ACL_PERMISSION: Readonly<Partial<Record<PolicyAction, [Permission, 'bucket' | 'object']>>> = {
  's3:GetObject': ['READ', 'object'],
  's3:GetObjectAttributes': ['READ', 'object'],
  's3:GetObjectVersion': ['READ', 'object'],
  's3:PutObject': ['WRITE', 'bucket'],
  's3:DeleteObject': ['WRITE', 'bucket'],
  's3:DeleteObjectVersion': ['WRITE', 'bucket'],
  's3:GetObjectAcl': ['READ_ACP', 'object'],
  's3:PutObjectAcl': ['WRITE_ACP', 'object'],
  's3:AbortMultipartUpload': ['WRITE', 'bucket'],
  's3:ListMultipartUploadParts': ['READ', 'bucket'],
  's3:ListBucket': ['READ', 'bucket'],
  's3:ListBucketVersions': ['READ', 'bucket'],
  's3:ListBucketMultipartUploads': ['READ', 'bucket'],
  's3:GetBucketAcl': ['READ_ACP', 'bucket'],
  's3:PutBucketAcl': ['WRITE_ACP', 'bucket'],
};

/** Whether the bucket grants anything beyond its owner: without a policy or an ACL, only the owner gets in. */
export const sharesAnything = (b: BucketAccess): boolean => b.policy !== null || b.acl !== null;

/**
 * The decision for one request. `objectAcl` is the object's ACL (JSON) for object actions, when the
 * caller is not the owner and the policy did not decide; `undefined` means "not looked up yet".
 */
export function decide(
  b: BucketAccess,
  caller: Caller,
  action: PolicyAction,
  key: string | undefined,
  objectAcl?: string | null,
): 'allow' | 'deny' | 'need-object-acl' {
  const owner = caller.tenantId === b.tenantId;
  let policy: Policy | undefined;
  if (b.policy !== null) {
    policy = storedPolicy(b.policy, b.name);
    const verdict = evaluatePolicy(policy, {
      accountId: caller.accountId,
      action,
      resource: key === undefined ? `arn:aws:s3:::${b.name}` : `arn:aws:s3:::${b.name}/${key}`,
      sourceIp: caller.sourceIp,
      facts: caller.facts,
    });
    if (verdict === 'Deny') return 'deny';
    if (owner) return 'allow';
    // RestrictPublicBuckets: a public policy lets nobody but the owner in.
    if (verdict === 'Allow' && !(policy.isPublic && publicAccessBlockOf(b).RestrictPublicBuckets))
      return 'allow';
  } else if (owner) return 'allow';
  const grantable = ACL_PERMISSION[action];
  if (grantable === undefined) return 'deny';
  const [permission, on] = grantable;
  const ignorePublic = b.publicAccessBlock !== null && publicAccessBlockOf(b).IgnorePublicAcls;
  if (on === 'bucket')
    return grantsAllow(parseStoredAcl(b.acl), caller, permission, ignorePublic) ? 'allow' : 'deny';
  if (objectAcl === undefined) return 'need-object-acl';
  return grantsAllow(parseStoredAcl(objectAcl), caller, permission, ignorePublic) ? 'allow' : 'deny';
}

/**
 * Whether the caller may learn that `key` is missing: s3:ListBucket, judged as a listing of the key as
 * prefix would be (a policy allowing `s3:prefix` "public/*" tells 404 for public/... only), as on S3.
 */
export function mayListKey(b: BucketAccess, caller: Caller, key: string): boolean {
  const facts = caller.facts;
  const asListing: RequestFacts = {
    header: (name) => facts?.header(name),
    query: (name) => (name === 'prefix' ? key : undefined),
  };
  return decide(b, { ...caller, facts: asListing }, 's3:ListBucket', undefined) === 'allow';
}

/**
 * Decides with the object's ACL looked up when needed. An object missing answers NoSuchKey only to a
 * caller who may list the bucket (as S3 does), AccessDenied otherwise: keys cannot be probed.
 */
export async function authorize(
  d: S3SurfaceDeps,
  b: BucketAccess,
  caller: Caller,
  action: PolicyAction,
  key: string | undefined,
  versionId?: string,
): Promise<void> {
  // s3:ExistingObjectTag conditions read the object's tags: looked up only for a policy that tests them.
  if (
    key !== undefined &&
    b.policy !== null &&
    OBJECT_TAG_ACTIONS.has(action) &&
    storedPolicy(b.policy, b.name).usesObjectTags
  ) {
    const tags = new Map(await d.store.peekObjectTags(b.name, key, versionId));
    const facts = caller.facts;
    caller = {
      ...caller,
      facts: {
        header: (name) => facts?.header(name),
        query: (name) => facts?.query(name),
        objectTag: (k) => tags.get(k),
      },
    };
  }
  let verdict = decide(b, caller, action, key);
  if (verdict === 'need-object-acl') {
    // A version's own ACL decides for it: a public current object opens none of its older versions.
    const found = await d.store.peekObjectAcl(b.name, key!, versionId);
    if (found === undefined) {
      if (mayListKey(b, caller, key!))
        throw versionId === undefined ? S3Errors.noSuchKey(key!) : S3Errors.noSuchVersion(key!, versionId);
      throw S3Errors.accessDenied();
    }
    verdict = decide(b, caller, action, key, found.acl);
  }
  if (verdict !== 'allow') throw S3Errors.accessDenied();
}
