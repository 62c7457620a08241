// S3 bucket policies, the common subset: Effect, Principal ("*" or tenant accounts), Action (the S3
// actions this store answers, with wildcards), Resource (the bucket and its keys, with wildcards) and
// Condition (IP, string and numeric operators on the keys CONDITION_KEYS lists). Validated once on
// PutBucketPolicy; compiled and cached for evaluation.
import { type Cidr, cidrContains, parseCidr } from '../../cidr.js';
import { ObjectStoreError } from '../../events/objects/errors.js';

/** S3's limit on a bucket policy's size. */
export const MAX_POLICY_BYTES = 20 * 1024;

/** The actions a policy may name here, and whether each applies to objects or to the bucket. */
export const POLICY_ACTIONS: Readonly<Record<string, 'object' | 'bucket'>> = {
  's3:GetObject': 'object',
  's3:GetObjectAttributes': 'object',
  's3:GetObjectVersion': 'object',
  's3:PutObject': 'object',
  's3:DeleteObject': 'object',
  's3:DeleteObjectVersion': 'object',
  's3:GetObjectAcl': 'object',
  's3:PutObjectAcl': 'object',
  's3:AbortMultipartUpload': 'object',
  's3:ListMultipartUploadParts': 'object',
  's3:GetObjectTagging': 'object',
  's3:GetObjectVersionTagging': 'object',
  's3:PutObjectTagging': 'object',
  's3:DeleteObjectTagging': 'object',
  's3:ListBucket': 'bucket',
  's3:ListBucketVersions': 'bucket',
  's3:ListBucketMultipartUploads': 'bucket',
  's3:GetBucketAcl': 'bucket',
  's3:PutBucketAcl': 'bucket',
  's3:GetBucketVersioning': 'bucket',
  's3:PutBucketVersioning': 'bucket',
};
export type PolicyAction = keyof typeof POLICY_ACTIONS;
const ACTION_NAMES = Object.keys(POLICY_ACTIONS);

export const malformedPolicy = (message: string): ObjectStoreError =>
  new ObjectStoreError('MalformedPolicy', message);

interface Statement {
  deny: boolean;
  /** undefined: everyone ("*"), anonymous callers included. */
  accounts: Set<string> | undefined;
  actions: Set<string>;
  /** ARN patterns with IAM wildcards. */
  resources: string[];
  /** Each must hold. */
  conditions: Condition[];
}

type Condition =
  /** The caller's address in (or, negated, outside) one of the ranges. */
  | { kind: 'ip'; ranges: Cidr[]; negate: boolean }
  | {
      kind: 'string';
      key: string;
      /** s3:ExistingObjectTag/<tagKey>: the tag's key, case kept (tag keys are case-sensitive). */
      tagKey?: string;
      match: 'equals' | 'equalsignorecase' | 'like';
      negate: boolean;
      ifExists: boolean;
      values: string[];
    }
  | {
      kind: 'numeric';
      key: string;
      cmp: 'equals' | 'lessthan' | 'lessthanequals' | 'greaterthan' | 'greaterthanequals';
      negate: boolean;
      ifExists: boolean;
      values: number[];
    };

/** What a request says that condition keys read: its headers (lower-case names) and query parameters. */
export interface RequestFacts {
  header(name: string): string | undefined;
  query(name: string): string | undefined;
  /** The value of the object's tag `key` (s3:ExistingObjectTag/<key>), once looked up. */
  objectTag?(key: string): string | undefined;
}

/** The actions whose requests carry s3:ExistingObjectTag/<key>: those on one existing object. */
export const OBJECT_TAG_ACTIONS: ReadonlySet<string> = new Set([
  's3:GetObject',
  's3:GetObjectVersion',
  's3:GetObjectAcl',
  's3:PutObjectAcl',
  's3:GetObjectTagging',
  's3:GetObjectVersionTagging',
  's3:PutObjectTagging',
  's3:DeleteObjectTagging',
]);
const EXISTING_TAG = 's3:existingobjecttag/';

/**
 * The condition keys a policy may test here (lower-case), with the actions whose requests carry them
 * (undefined: every request) and where the value comes from. For any other action the key is absent
 * from the request, as on S3, so a header a request does not use cannot satisfy a condition.
 */
const LIST_ACTIONS = ['s3:ListBucket', 's3:ListBucketVersions'];
const ACL_ACTIONS = ['s3:PutObject', 's3:PutObjectAcl', 's3:PutBucketAcl'];
const CONDITION_KEYS: Readonly<
  Record<string, { actions?: string[]; read: (f: RequestFacts) => string | undefined }>
> = {
  'aws:referer': { read: (f) => f.header('referer') },
  'aws:useragent': { read: (f) => f.header('user-agent') },
  's3:prefix': { actions: LIST_ACTIONS, read: (f) => f.query('prefix') },
  's3:delimiter': { actions: LIST_ACTIONS, read: (f) => f.query('delimiter') },
  's3:max-keys': { actions: LIST_ACTIONS, read: (f) => f.query('max-keys') },
  's3:x-amz-acl': { actions: ACL_ACTIONS, read: (f) => f.header('x-amz-acl') },
  ...Object.fromEntries(
    ['read', 'write', 'read-acp', 'write-acp', 'full-control'].map((g) => [
      `s3:x-amz-grant-${g}`,
      { actions: ACL_ACTIONS, read: (f: RequestFacts) => f.header(`x-amz-grant-${g}`) },
    ]),
  ),
  's3:x-amz-copy-source': {
    actions: ['s3:PutObject'],
    // "bucket/key" as S3 matches it: decoded, without the leading slash.
    read: (f) => {
      const v = f.header('x-amz-copy-source');
      if (v === undefined) return undefined;
      let decoded = v;
      try {
        decoded = decodeURIComponent(v);
      } catch {}
      return decoded.startsWith('/') ? decoded.slice(1) : decoded;
    },
  },
  's3:x-amz-metadata-directive': {
    actions: ['s3:PutObject'],
    read: (f) => f.header('x-amz-metadata-directive'),
  },
  's3:x-amz-storage-class': { actions: ['s3:PutObject'], read: (f) => f.header('x-amz-storage-class') },
};
const STRING_OPS = ['equals', 'equalsignorecase', 'like'] as const;
const NUMERIC_OPS = ['equals', 'lessthan', 'lessthanequals', 'greaterthan', 'greaterthanequals'] as const;
const OPERATOR_NAMES =
  'IpAddress, NotIpAddress, StringEquals, StringNotEquals, StringEqualsIgnoreCase, ' +
  'StringNotEqualsIgnoreCase, StringLike, StringNotLike, NumericEquals, NumericNotEquals, ' +
  'NumericLessThan(Equals), NumericGreaterThan(Equals), each but the IP ones also ...IfExists';

export interface Policy {
  statements: Statement[];
  /** S3's "public": an Allow to everyone not pinned to source addresses. */
  isPublic: boolean;
  /** The accounts the policy names (PutBucketPolicy checks they exist). */
  accounts: Set<string>;
  /** Whether a condition reads s3:ExistingObjectTag (evaluation then needs the object's tags). */
  usesObjectTags: boolean;
}

export interface PolicyRequest {
  accountId: string | undefined;
  action: string;
  /** arn:aws:s3:::bucket or arn:aws:s3:::bucket/key */
  resource: string;
  /** The caller's IPv4 address; undefined for IPv6 callers (no range matches them). */
  sourceIp: number | undefined;
  /** Where condition keys are read; undefined: every key is absent. */
  facts?: RequestFacts;
}

const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);
/**
 * IAM's wildcards (`*` any run, `?` one character), matched in O(pattern × text) without a regular
 * expression: a tenant's pattern of many stars must not backtrack exponentially on the shared server.
 */
export function wildcardMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === text[t])) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else return false;
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

function principalAccounts(p: unknown): Set<string> | undefined {
  if (p === '*') return undefined;
  if (p === null || typeof p !== 'object' || Array.isArray(p))
    throw malformedPolicy('Invalid principal in policy');
  const keys = Object.keys(p);
  if (keys.length !== 1 || keys[0] !== 'AWS') throw malformedPolicy('Invalid principal in policy');
  const values = asList((p as { AWS: unknown }).AWS);
  if (values.includes('*')) return undefined;
  const accounts = new Set<string>();
  for (const v of values) {
    const m = typeof v === 'string' ? /^(?:(\d{12})|arn:aws:iam::(\d{12}):root)$/.exec(v) : null;
    if (!m) throw malformedPolicy('Invalid principal in policy');
    accounts.add(m[1] ?? m[2]!);
  }
  return accounts;
}

function actionsOf(v: unknown): Set<string> {
  const out = new Set<string>();
  for (const a of asList(v)) {
    if (typeof a !== 'string' || !/^(\*|s3:[A-Za-z*?]+)$/.test(a))
      throw malformedPolicy('Policy has invalid action');
    if (/[*?]/.test(a)) {
      const matched = ACTION_NAMES.filter((n) => wildcardMatch(a.toLowerCase(), n.toLowerCase()));
      if (matched.length === 0)
        throw malformedPolicy(`Policy action ${a} matches no action this store supports`);
      for (const n of matched) out.add(n);
    } else {
      const name = ACTION_NAMES.find((n) => n.toLowerCase() === a.toLowerCase());
      if (!name) throw malformedPolicy(`Policy has an action this store does not support: ${a}`);
      out.add(name);
    }
  }
  return out;
}

function conditionsOf(v: unknown): Condition[] {
  if (v === undefined) return [];
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw malformedPolicy('Invalid Condition');
  const out: Condition[] = [];
  for (const [op, body] of Object.entries(v)) {
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw malformedPolicy('Invalid Condition');
    const unsupported = () =>
      malformedPolicy(`Condition operator ${op} is not supported by this store (${OPERATOR_NAMES})`);
    for (const [rawKey, values] of Object.entries(body)) {
      const key = rawKey.toLowerCase();
      if (op === 'IpAddress' || op === 'NotIpAddress') {
        if (key !== 'aws:sourceip')
          throw malformedPolicy(`Condition key ${rawKey} is not supported by ${op} (aws:SourceIp)`);
        const ranges = asList(values).map((s) => {
          const c = typeof s === 'string' ? parseCidr(s.trim()) : { error: 'not a string' };
          if ('error' in c)
            throw malformedPolicy(`Invalid aws:SourceIp value ${JSON.stringify(s)}: ${c.error}`);
          return c;
        });
        out.push({ kind: 'ip', ranges, negate: op === 'NotIpAddress' });
        continue;
      }
      const m = /^(String|Numeric)(Not)?([A-Za-z]+?)(IfExists)?$/.exec(op);
      if (!m) throw unsupported();
      const family = m[1]!;
      const negate = m[2] !== undefined;
      const name = m[3]!.toLowerCase();
      const ifExists = m[4] !== undefined;
      const tagKey = key.startsWith(EXISTING_TAG) ? rawKey.slice(EXISTING_TAG.length) : undefined;
      if (tagKey === '') throw malformedPolicy(`Condition key ${rawKey} names no tag`);
      if (tagKey !== undefined && family !== 'String')
        throw malformedPolicy(`Condition key ${rawKey} takes String operators only`);
      if (CONDITION_KEYS[key] === undefined && tagKey === undefined)
        throw malformedPolicy(
          `Condition key ${rawKey} is not supported by this store (aws:SourceIp, ${Object.keys(CONDITION_KEYS).join(', ')}, s3:ExistingObjectTag/<key>)`,
        );
      const list = asList(values);
      if (
        list.length === 0 ||
        list.some((x) => typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean')
      )
        throw malformedPolicy(`Invalid Condition value for ${rawKey}`);
      if (family === 'String') {
        const match = STRING_OPS.find((o) => o === name);
        // StringNotLike, but not "StringNotLessThan": negation only of the three string tests.
        if (match === undefined) throw unsupported();
        out.push({ kind: 'string', key, tagKey, match, negate, ifExists, values: list.map(String) });
      } else {
        const cmp = NUMERIC_OPS.find((o) => o === name);
        if (cmp === undefined || (negate && cmp !== 'equals')) throw unsupported();
        const nums = list.map((x) => Number(x));
        if (nums.some((n) => !Number.isFinite(n)))
          throw malformedPolicy(`Invalid Condition value for ${rawKey}: not a number`);
        out.push({ kind: 'numeric', key, cmp, negate, ifExists, values: nums });
      }
    }
  }
  return out;
}

/** Whether one condition holds for the request (IAM's rules for absent keys and negation). */
function conditionHolds(c: Condition, req: PolicyRequest): boolean {
  if (c.kind === 'ip') {
    const inside = req.sourceIp !== undefined && c.ranges.some((r) => cidrContains(r, req.sourceIp!));
    return c.negate ? !inside : inside;
  }
  let value: string | undefined;
  if (c.kind === 'string' && c.tagKey !== undefined)
    value = OBJECT_TAG_ACTIONS.has(req.action) ? req.facts?.objectTag?.(c.tagKey) : undefined;
  else {
    const def = CONDITION_KEYS[c.key]!;
    value =
      req.facts === undefined || (def.actions !== undefined && !def.actions.includes(req.action))
        ? undefined
        : def.read(req.facts);
  }
  // Absent: ...IfExists holds; otherwise a positive test fails and a negated one holds.
  if (value === undefined) return c.ifExists || c.negate;
  let any: boolean;
  if (c.kind === 'string') {
    if (c.match === 'equals') any = c.values.includes(value);
    else if (c.match === 'like') any = c.values.some((p) => wildcardMatch(p, value));
    else {
      const lower = value.toLowerCase();
      any = c.values.some((x) => x.toLowerCase() === lower);
    }
  } else {
    // A value that is not a number matches no numeric test.
    const n = /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : Number.NaN;
    any = c.values.some((x) =>
      c.cmp === 'equals'
        ? n === x
        : c.cmp === 'lessthan'
          ? n < x
          : c.cmp === 'lessthanequals'
            ? n <= x
            : c.cmp === 'greaterthan'
              ? n > x
              : n >= x,
    );
  }
  return c.negate ? !any : any;
}

/** Parses and validates a policy for `bucket` as PutBucketPolicy does; MalformedPolicy naming what is wrong. */
export function parsePolicy(text: string, bucket: string): Policy {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw malformedPolicy("Policies must be valid JSON and the first byte must be '{'");
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw malformedPolicy("Policies must be valid JSON and the first byte must be '{'");
  const top = doc as Record<string, unknown>;
  for (const k of Object.keys(top))
    if (!['Version', 'Id', 'Statement'].includes(k)) throw malformedPolicy(`Unknown field ${k}`);
  if (top.Version !== undefined && top.Version !== '2012-10-17' && top.Version !== '2008-10-17')
    throw malformedPolicy('The policy must contain a valid version string');
  if (top.Statement === undefined) throw malformedPolicy('Missing required field Statement');
  const raw = asList(top.Statement);
  if (raw.length === 0) throw malformedPolicy('Could not parse the policy: Statement is empty!');
  const accounts = new Set<string>();
  let isPublic = false;
  const statements = raw.map((s): Statement => {
    if (s === null || typeof s !== 'object' || Array.isArray(s))
      throw malformedPolicy('Statement is not an object');
    const st = s as Record<string, unknown>;
    for (const k of Object.keys(st)) {
      if (k === 'NotPrincipal' || k === 'NotAction' || k === 'NotResource')
        throw malformedPolicy(`${k} is not supported by this store`);
      if (!['Sid', 'Effect', 'Principal', 'Action', 'Resource', 'Condition'].includes(k))
        throw malformedPolicy(`Unknown field ${k}`);
    }
    for (const k of ['Effect', 'Principal', 'Action', 'Resource'])
      if (st[k] === undefined) throw malformedPolicy(`Missing required field ${k}`);
    if (st.Effect !== 'Allow' && st.Effect !== 'Deny')
      throw malformedPolicy(`Invalid effect: ${String(st.Effect)}`);
    const stAccounts = principalAccounts(st.Principal);
    for (const a of stAccounts ?? []) accounts.add(a);
    const actions = actionsOf(st.Action);
    const kinds = asList(st.Resource).flatMap((r) => {
      const k = typeof r === 'string' ? resourceKinds(r, bucket) : [];
      if (k.length === 0) throw malformedPolicy('Policy has invalid resource');
      return k;
    });
    // An action no resource of the statement can name is S3's error, not a statement that never matches.
    for (const a of actions)
      if (!kinds.includes(POLICY_ACTIONS[a]!) && !/[*?]/.test(String(st.Action)))
        throw malformedPolicy('Action does not apply to any resource(s) in statement');
    const conditions = conditionsOf(st.Condition);
    const deny = st.Effect === 'Deny';
    // Pinned to addresses (every range at least a /8) makes an Allow to everyone non-public, as S3 judges
    // it; conditions on what the request says (Referer, prefix, headers) do not: anyone can say it.
    const pinned = conditions.some(
      (c) => c.kind === 'ip' && !c.negate && c.ranges.every((r) => r.prefix >= 8),
    );
    if (!deny && stAccounts === undefined && !pinned) isPublic = true;
    return {
      deny,
      accounts: stAccounts,
      actions,
      resources: asList(st.Resource) as string[],
      conditions,
    };
  });
  const usesObjectTags = statements.some((st) =>
    st.conditions.some((c) => c.kind === 'string' && c.tagKey !== undefined),
  );
  return { statements, isPublic, accounts, usesObjectTags };
}

/**
 * What a Resource of a policy on `bucket` can name there: the bucket, its objects, or both
 * (`arn:aws:s3:::*` names both, as on S3). None: the resource is another bucket's, refused.
 */
function resourceKinds(r: string, bucket: string): ('bucket' | 'object')[] {
  const arn = 'arn:aws:s3:::';
  if (!r.startsWith(arn)) return [];
  const rest = r.slice(arn.length);
  const slash = rest.indexOf('/');
  const kinds: ('bucket' | 'object')[] = [];
  if (wildcardMatch(rest, bucket)) kinds.push('bucket');
  // A `*` in the bucket part may span the slash: `arn:aws:s3:::*` also names every key.
  const bucketPart = slash < 0 ? rest : rest.slice(0, slash);
  if ((slash >= 0 || rest.includes('*')) && wildcardMatch(bucketPart, bucket)) kinds.push('object');
  return kinds;
}

const compiled = new Map<string, Policy>();

/** A stored (already validated) policy, compiled once per node. */
export function storedPolicy(text: string, bucket: string): Policy {
  const id = `${bucket}\n${text}`;
  let p = compiled.get(id);
  if (!p) {
    p = parsePolicy(text, bucket);
    if (compiled.size > 1000) compiled.clear();
    compiled.set(id, p);
  }
  return p;
}

/** 'Deny' if a Deny statement matches, 'Allow' if only Allows do, undefined if none. */
export function evaluatePolicy(policy: Policy, req: PolicyRequest): 'Allow' | 'Deny' | undefined {
  let allowed = false;
  for (const st of policy.statements) {
    if (st.accounts !== undefined && (req.accountId === undefined || !st.accounts.has(req.accountId)))
      continue;
    if (!st.actions.has(req.action)) continue;
    if (!st.resources.some((r) => wildcardMatch(r, req.resource))) continue;
    if (!st.conditions.every((c) => conditionHolds(c, req))) continue;
    if (st.deny) return 'Deny';
    allowed = true;
  }
  return allowed ? 'Allow' : undefined;
}
