// S3 access control lists: canonical user ids, canned ACLs, the x-amz-grant-* headers, the
// AccessControlPolicy XML both ways, and what a list of grants allows. Stored as JSON (opaque to the store).

import { createHash } from 'node:crypto';
import { ObjectStoreError, S3Errors } from '../../events/objects/errors.js';
import type { RequestHead } from '../surface.js';
import type { RequestFacts } from './policy.js';
import { childOf, childrenOf, escapeXml, S3_NS, textOf, type XmlNode } from './xml.js';

export const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers';
export const AUTHENTICATED_USERS = 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers';
/** S3 allows at most this many grants in one ACL. */
export const MAX_GRANTS = 100;

export type Permission = 'FULL_CONTROL' | 'READ' | 'WRITE' | 'READ_ACP' | 'WRITE_ACP';
const PERMISSIONS: readonly Permission[] = ['FULL_CONTROL', 'READ', 'WRITE', 'READ_ACP', 'WRITE_ACP'];

/** A grantee is a tenant (its canonical id) or one of S3's two global groups. */
export interface Grant {
  id?: string;
  uri?: string;
  permission: Permission;
}

/** Who is asking, as ACLs see it: a tenant's canonical id, or nobody (anonymous). */
export interface AclCaller {
  canonicalId: string | undefined;
}

/** The caller as access decisions see it; `tenantId` and `accountId` unset for anonymous requests. */
export interface Caller extends AclCaller {
  tenantId: string | undefined;
  accountId: string | undefined;
  /** IPv4 address as a number; undefined for IPv6. */
  sourceIp: number | undefined;
  /** What the request says, for policy conditions; undefined: no condition key is present. */
  facts?: RequestFacts;
}

const canonicalIds = new Map<string, string>();

/**
 * A tenant's canonical user id: 64 hex digits derived from its (immutable) tenant id, so it is stable
 * across restarts and nodes and needs no storage. It names the tenant in ACLs and in Owner elements.
 */
export function canonicalId(tenantId: string): string {
  let id = canonicalIds.get(tenantId);
  if (id === undefined) {
    id = createHash('sha256').update(`kindling canonical user\n${tenantId}`).digest('hex');
    if (canonicalIds.size > 10_000) canonicalIds.clear();
    canonicalIds.set(tenantId, id);
  }
  return id;
}

export const malformedAcl = (): ObjectStoreError =>
  new ObjectStoreError(
    'MalformedACLError',
    'The XML you provided was not well-formed or did not validate against our published schema',
  );

/** The grants a canned ACL stands for; the owner always holds FULL_CONTROL (objects belong to the bucket's owner). */
export function cannedGrants(name: string, ownerId: string): Grant[] {
  const owner: Grant = { id: ownerId, permission: 'FULL_CONTROL' };
  switch (name) {
    case 'private':
    case 'bucket-owner-read':
    case 'bucket-owner-full-control':
      return [owner];
    case 'public-read':
      return [owner, { uri: ALL_USERS, permission: 'READ' }];
    case 'public-read-write':
      return [owner, { uri: ALL_USERS, permission: 'READ' }, { uri: ALL_USERS, permission: 'WRITE' }];
    case 'authenticated-read':
      return [owner, { uri: AUTHENTICATED_USERS, permission: 'READ' }];
    case 'aws-exec-read':
    case 'log-delivery-write':
      throw S3Errors.notImplemented(`x-amz-acl: ${name}`);
    default:
      throw S3Errors.invalidArgument(`${name} is not a canned ACL`, 'x-amz-acl', name);
  }
}

const GRANT_HEADERS: readonly [string, Permission][] = [
  ['x-amz-grant-full-control', 'FULL_CONTROL'],
  ['x-amz-grant-read', 'READ'],
  ['x-amz-grant-write', 'WRITE'],
  ['x-amz-grant-read-acp', 'READ_ACP'],
  ['x-amz-grant-write-acp', 'WRITE_ACP'],
];

const headerOf = (h: RequestHead['headers'], name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
};

/** Whether the request sets an ACL by header (x-amz-acl or x-amz-grant-*). */
export function hasAclHeaders(h: RequestHead['headers']): boolean {
  return h['x-amz-acl'] !== undefined || GRANT_HEADERS.some(([name]) => h[name] !== undefined);
}

/** `id="…", uri="…"` pairs of one x-amz-grant-* header. */
function parseGrantHeader(name: string, value: string, permission: Permission): Grant[] {
  const out: Grant[] = [];
  const item = /\s*(id|uri|emailAddress)\s*=\s*"([^"]*)"\s*(?:,|$)/gy;
  let end = 0;
  for (let m = item.exec(value); m; m = item.exec(value)) {
    end = item.lastIndex;
    // Tenants have no e-mail addresses: no address matches one, as S3 answers for an unknown address.
    if (m[1] === 'emailAddress') throw S3Errors.unresolvableEmail(m[2]!);
    out.push(m[1] === 'id' ? { id: m[2]!, permission } : { uri: m[2]!, permission });
    if (end >= value.length) break;
  }
  if (out.length === 0 || value.slice(end).trim() !== '')
    throw S3Errors.invalidArgument('Invalid grant header', name, value);
  return out;
}

/**
 * The ACL a request's headers set, or undefined when it sets none. A canned ACL and grant headers together
 * are refused, as S3 refuses them.
 */
export function aclFromHeaders(h: RequestHead['headers'], ownerId: string): Grant[] | undefined {
  const canned = headerOf(h, 'x-amz-acl');
  const grants: Grant[] = [];
  for (const [name, permission] of GRANT_HEADERS) {
    const v = headerOf(h, name);
    if (v !== undefined) grants.push(...parseGrantHeader(name, v, permission));
  }
  if (canned !== undefined && grants.length > 0)
    throw S3Errors.invalidRequest('Specifying both Canned ACLs and Header Grants is not allowed');
  if (canned !== undefined) return cannedGrants(canned.trim(), ownerId);
  return grants.length > 0 ? grants : undefined;
}

/** AccessControlPolicy XML → grants; its Owner must be the bucket's owner. */
export function aclFromXml(doc: XmlNode, ownerId: string): Grant[] {
  if (doc.name !== 'AccessControlPolicy') throw malformedAcl();
  const owner = childOf(doc, 'Owner');
  const list = childOf(doc, 'AccessControlList');
  if (!owner || !list) throw malformedAcl();
  if (textOf(owner, 'ID')?.trim() !== ownerId) throw S3Errors.accessDenied();
  const grants = childrenOf(list, 'Grant').map((g): Grant => {
    const grantee = childOf(g, 'Grantee');
    const permission = textOf(g, 'Permission')?.trim() as Permission;
    if (!grantee || !PERMISSIONS.includes(permission)) throw malformedAcl();
    const id = textOf(grantee, 'ID')?.trim();
    const uri = textOf(grantee, 'URI')?.trim();
    const email = textOf(grantee, 'EmailAddress');
    if (email !== undefined) throw S3Errors.unresolvableEmail(email.trim());
    if ((id === undefined) === (uri === undefined)) throw malformedAcl();
    return id !== undefined ? { id, permission } : { uri: uri!, permission };
  });
  if (grants.length > MAX_GRANTS) throw malformedAcl();
  return grants;
}

/** Checks every grantee exists: a known tenant's canonical id or one of the two groups (InvalidArgument otherwise). */
export async function checkGrantees(
  grants: Grant[],
  isCanonicalId: (id: string) => Promise<boolean>,
): Promise<void> {
  for (const g of grants) {
    if (g.uri !== undefined) {
      if (g.uri !== ALL_USERS && g.uri !== AUTHENTICATED_USERS)
        throw S3Errors.invalidArgument('Invalid group uri', 'uri', g.uri);
    } else if (!/^[0-9a-f]{64}$/.test(g.id ?? '') || !(await isCanonicalId(g.id!))) {
      throw S3Errors.invalidArgument('Invalid id', 'CanonicalUser/ID', g.id ?? '');
    }
  }
}

export const isPublicAcl = (grants: readonly Grant[]): boolean => grants.some((g) => g.uri !== undefined);

export function parseStoredAcl(json: string | null): Grant[] | undefined {
  return json === null ? undefined : (JSON.parse(json) as Grant[]);
}

/** Whether the grants give the caller `permission` (FULL_CONTROL gives every one). */
export function grantsAllow(
  grants: readonly Grant[] | undefined,
  caller: AclCaller,
  permission: Permission,
  ignorePublic: boolean,
): boolean {
  if (!grants) return false;
  for (const g of grants) {
    if (g.permission !== permission && g.permission !== 'FULL_CONTROL') continue;
    if (g.id !== undefined) {
      if (g.id === caller.canonicalId) return true;
    } else if (!ignorePublic) {
      if (g.uri === ALL_USERS) return true;
      if (g.uri === AUTHENTICATED_USERS && caller.canonicalId !== undefined) return true;
    }
  }
  return false;
}

/** GetBucketAcl / GetObjectAcl: the AccessControlPolicy document (Grantee carries its xsi:type). */
export function aclXml(owner: { id: string; name: string | undefined }, grants: readonly Grant[]): string {
  const grantXml = grants
    .map((g) => {
      const grantee =
        g.id !== undefined
          ? `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>${escapeXml(g.id)}</ID>${g.id === owner.id && owner.name ? `<DisplayName>${escapeXml(owner.name)}</DisplayName>` : ''}</Grantee>`
          : `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>${escapeXml(g.uri!)}</URI></Grantee>`;
      return `<Grant>${grantee}<Permission>${g.permission}</Permission></Grant>`;
    })
    .join('');
  const ownerXml = `<Owner><ID>${escapeXml(owner.id)}</ID>${owner.name ? `<DisplayName>${escapeXml(owner.name)}</DisplayName>` : ''}</Owner>`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<AccessControlPolicy xmlns="${S3_NS}">${ownerXml}<AccessControlList>${grantXml}</AccessControlList></AccessControlPolicy>`;
}
