// Queue policies: the subset of SQS's access policy language the embedded queue enforces (principals as
// accounts or "*", Allow/Deny, sqs: actions and queue ARNs with wildcards; no conditions), the statements
// AddPermission/RemovePermission write, and the check another tenant's call goes through. The owner's
// own calls never consult the policy; a policy only opens the queue to other accounts.
import { SqsError, SqsErrors } from './errors.js';

/** What another account may be granted (SQS: everything else is the owner's alone). */
export const CROSS_ACCOUNT_ACTIONS = [
  'SendMessage',
  'ReceiveMessage',
  'DeleteMessage',
  'ChangeMessageVisibility',
  'GetQueueAttributes',
  'GetQueueUrl',
  'ListDeadLetterSourceQueues',
  'PurgeQueue',
] as const;
export type CrossAccountAction = (typeof CROSS_ACCOUNT_ACTIONS)[number];

/** Actions only the queue's owner may call: AddPermission names them with SQS's "owner" reason. */
const OWNER_ONLY = new Set([
  'AddPermission',
  'RemovePermission',
  'CreateQueue',
  'DeleteQueue',
  'ListQueues',
  'ListQueueTags',
  'SetQueueAttributes',
  'TagQueue',
  'UntagQueue',
  'StartMessageMoveTask',
  'ListMessageMoveTasks',
  'CancelMessageMoveTask',
]);

// SQS's policy quotas.
const MAX_BYTES = 8192;
const MAX_STATEMENTS = 20;
const MAX_PRINCIPALS = 50;
const MAX_ACTIONS = 7;

const LABEL_RE = /^[A-Za-z0-9_-]{1,80}$/;
const ACCOUNT_RE = /^\d{12}$/;
const ROOT_RE = /^arn:aws:iam::(\d{12}):root$/;

interface Statement {
  allow: boolean;
  /** undefined: every account ("*"). */
  accounts: Set<string> | undefined;
  actions: RegExp[];
  resources: RegExp[];
}

/** A parsed, validated policy: what the access check runs on. */
export interface QueuePolicy {
  statements: Statement[];
}

type Json = Record<string, unknown>;

const bad = (reason: string) =>
  SqsErrors.invalidAttributeValue(`Invalid value for the parameter Policy. Reason: ${reason}`);

// SQS answers a policy over its statement quota with OverLimit, whichever call set it.
const tooManyStatements = (n: number) =>
  SqsErrors.overLimit(`${n} statements were found in the submitted policy, max allowed is ${MAX_STATEMENTS}`);

const strings = (v: unknown, what: string): string[] => {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0 || list.some((x) => typeof x !== 'string' || x === ''))
    throw bad(`${what} must be a non-empty string or list of strings.`);
  return list as string[];
};

/** IAM wildcards: `*` any run of characters, `?` one character. */
function glob(pattern: string, flags = ''): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, flags);
}

function principals(p: unknown): Set<string> | undefined {
  if (p === '*') return undefined;
  if (typeof p !== 'object' || p === null || Array.isArray(p))
    throw bad('Principal must be "*" or {"AWS": ...}.');
  const keys = Object.keys(p);
  const other = keys.find((k) => k !== 'AWS');
  // Service and federated principals have nothing to match on this platform: refused, not kept inert.
  if (other !== undefined) throw bad(`Principal type ${other} is not supported; use AWS account principals.`);
  if (keys.length === 0) throw bad('Principal must name at least one account.');
  const ids = strings((p as Json).AWS, 'Principal AWS');
  if (ids.includes('*')) return undefined;
  const out = new Set<string>();
  for (const id of ids) {
    const account = ACCOUNT_RE.test(id) ? id : ROOT_RE.exec(id)?.[1];
    if (account === undefined)
      throw bad(`Principal ${id} is not supported; use an account id or arn:aws:iam::<account>:root.`);
    out.add(account);
  }
  return out;
}

function statement(s: unknown): Statement {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw bad('Statement must be an object.');
  const st = s as Json;
  for (const k of Object.keys(st)) {
    if (k === 'Condition') {
      const c = st.Condition;
      const first =
        typeof c === 'object' && c !== null
          ? Object.entries(c as Json)
              .map(
                ([op, keys]) =>
                  `${op} ${typeof keys === 'object' && keys ? Object.keys(keys).join(', ') : ''}`,
              )
              .join('; ')
          : String(c);
      throw bad(`Condition (${first.trim()}) is not supported by this queue service.`);
    }
    if (!['Sid', 'Effect', 'Principal', 'Action', 'Resource'].includes(k))
      throw bad(`Statement element ${k} is not supported.`);
  }
  if (st.Sid !== undefined && typeof st.Sid !== 'string') throw bad('Sid must be a string.');
  if (st.Effect !== 'Allow' && st.Effect !== 'Deny') throw bad('Effect must be Allow or Deny.');
  if (st.Principal === undefined) throw bad('Statement must have a Principal.');
  if (st.Action === undefined) throw bad('Statement must have an Action.');
  if (st.Resource === undefined) throw bad('Statement must have a Resource.');
  const actions = strings(st.Action, 'Action');
  if (actions.length > MAX_ACTIONS)
    throw bad(`${actions.length} Actions were found, maximum allowed is ${MAX_ACTIONS}.`);
  return {
    allow: st.Effect === 'Allow',
    accounts: principals(st.Principal),
    actions: actions.map((a) => {
      if (a === '*') return /^.*$/;
      if (!/^sqs:[A-Za-z*?]+$/i.test(a)) throw bad(`Action ${a} is not an SQS action.`);
      return glob(a.slice(4), 'i');
    }),
    resources: strings(st.Resource, 'Resource').map((r) => {
      if (r !== '*' && !/^arn:[^:]*:sqs:[^:]*:[^:]*:.+$/.test(r))
        throw bad(`Resource ${r} is not a queue ARN.`);
      return glob(r);
    }),
  };
}

function parseDocument(text: string): Json {
  if (Buffer.byteLength(text, 'utf8') > MAX_BYTES) throw bad(`Policy is longer than ${MAX_BYTES} bytes.`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad('Policy is not valid JSON.');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw bad('Policy must be a JSON object.');
  return doc as Json;
}

/** Validates a policy document (SetQueueAttributes, CreateQueue) and returns it parsed. */
export function parsePolicy(text: string): QueuePolicy {
  const doc = parseDocument(text);
  for (const k of Object.keys(doc)) {
    if (!['Version', 'Id', 'Statement'].includes(k)) throw bad(`Policy element ${k} is not supported.`);
  }
  if (doc.Version !== undefined && doc.Version !== '2012-10-17' && doc.Version !== '2008-10-17')
    throw bad('Version must be 2012-10-17 or 2008-10-17.');
  if (doc.Id !== undefined && typeof doc.Id !== 'string') throw bad('Id must be a string.');
  const list = Array.isArray(doc.Statement)
    ? doc.Statement
    : doc.Statement === undefined
      ? []
      : [doc.Statement];
  if (list.length === 0) throw bad('Policy must have at least one Statement.');
  if (list.length > MAX_STATEMENTS) throw tooManyStatements(list.length);
  const statements = list.map(statement);
  const principalCount = statements.reduce((n, s) => n + (s.accounts?.size ?? 1), 0);
  if (principalCount > MAX_PRINCIPALS)
    throw bad(`${principalCount} principals were found, maximum allowed is ${MAX_PRINCIPALS}.`);
  return { statements };
}

/**
 * Whether `account` (not the owner) may call `action` on the queue: an explicit Deny wins, then any Allow;
 * nothing granted is no access. Owner-only actions are never granted, whatever a statement says.
 */
export function allows(
  policy: QueuePolicy | undefined,
  account: string,
  action: CrossAccountAction,
  arn: string,
): boolean {
  if (!policy) return false;
  let allowed = false;
  for (const s of policy.statements) {
    if (s.accounts && !s.accounts.has(account)) continue;
    if (!s.actions.some((a) => a.test(action))) continue;
    if (!s.resources.some((r) => r.test(arn))) continue;
    if (!s.allow) return false;
    allowed = true;
  }
  return allowed;
}

const invalidParameter = (value: string, name: string, reason: string) =>
  SqsErrors.invalidParameterValue(`Value ${value} for parameter ${name} is invalid. Reason: ${reason}`);

/** The policy text after AddPermission: a statement labelled `label` granting `actions` to `accounts`. */
export function addPermission(
  current: string | undefined,
  queueArn: string,
  label: string | undefined,
  accounts: readonly string[] | undefined,
  actions: readonly string[] | undefined,
): string {
  if (label === undefined || label === '')
    throw SqsErrors.missingParameter('The request must contain the parameter Label.');
  if (!LABEL_RE.test(label))
    throw invalidParameter(
      label,
      'Label',
      'Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length.',
    );
  if (!accounts || accounts.length === 0)
    throw SqsErrors.missingParameter('The request must contain the parameter AWSAccountIds.');
  if (!actions || actions.length === 0)
    throw SqsErrors.missingParameter('The request must contain the parameter Actions.');
  if (actions.length > MAX_ACTIONS)
    throw SqsErrors.overLimit(`${actions.length} Actions were found, maximum allowed is ${MAX_ACTIONS}.`);
  for (const a of actions) {
    if (a === '*' || (CROSS_ACCOUNT_ACTIONS as readonly string[]).includes(a)) continue;
    throw invalidParameter(
      `SQS:${a}`,
      'ActionName',
      OWNER_ONLY.has(a)
        ? 'Only the queue owner is allowed to invoke this action.'
        : 'Please refer to the appropriate WSDL for a list of valid actions.',
    );
  }
  // Any 12-digit id is accepted, as on SQS: whether an account exists on this platform is not disclosed.
  const badId = accounts.find((id) => !ACCOUNT_RE.test(id));
  if (badId !== undefined) throw invalidParameter(`[${badId}]`, 'PrincipalId', 'Unable to verify.');
  const doc: Json = current
    ? parseDocument(current)
    : { Version: '2012-10-17', Id: `${queueArn}/SQSDefaultPolicy`, Statement: [] };
  const list = Array.isArray(doc.Statement)
    ? (doc.Statement as Json[])
    : doc.Statement
      ? [doc.Statement as Json]
      : [];
  if (list.some((s) => s.Sid === label)) throw invalidParameter(label, 'Label', 'Already exists.');
  if (list.length + 1 > MAX_STATEMENTS) throw tooManyStatements(list.length + 1);
  const ps = [...new Set(accounts)].map((id) => `arn:aws:iam::${id}:root`);
  const as = [...new Set(actions)].map((a) => `SQS:${a}`);
  list.push({
    Sid: label,
    Effect: 'Allow',
    Principal: { AWS: ps.length === 1 ? ps[0] : ps },
    Action: as.length === 1 ? as[0] : as,
    Resource: queueArn,
  });
  doc.Statement = list;
  const text = JSON.stringify(doc);
  // The quotas of the whole policy; reported as OverLimit here, as AddPermission's own limit.
  try {
    parsePolicy(text);
  } catch (e) {
    if (e instanceof SqsError && e.queryCode === 'OverLimit') throw e;
    throw SqsErrors.overLimit(
      (e as Error).message.replace(/^Invalid value for the parameter Policy\. Reason: /, ''),
    );
  }
  return text;
}

/** The policy text after RemovePermission, or '' when no statement is left. */
export function removePermission(current: string | undefined, label: string | undefined): string {
  if (label === undefined || label === '')
    throw SqsErrors.missingParameter('The request must contain the parameter Label.');
  const doc = current ? parseDocument(current) : undefined;
  const list = !doc
    ? []
    : Array.isArray(doc.Statement)
      ? (doc.Statement as Json[])
      : doc.Statement
        ? [doc.Statement as Json]
        : [];
  const kept = list.filter((s) => s.Sid !== label);
  if (!doc || kept.length === list.length)
    throw invalidParameter(label, 'Label', "can't find label on existing policy.");
  if (kept.length === 0) return '';
  doc.Statement = kept;
  return JSON.stringify(doc);
}
