// Queue attributes: which SQS attributes a queue accepts, their ranges and defaults, and the parsed
// configuration the engine runs on. Validated here once, whether they come from the API or in-process.
import { SqsErrors } from './errors.js';
import { parsePolicy, type QueuePolicy } from './policy.js';
import type { RedrivePolicy } from './types.js';

interface IntRule {
  min: number;
  max: number;
  default: number;
}

const INT_ATTRIBUTES: Record<string, IntRule> = {
  DelaySeconds: { min: 0, max: 900, default: 0 },
  MaximumMessageSize: { min: 1024, max: 1_048_576, default: 1_048_576 },
  MessageRetentionPeriod: { min: 60, max: 1_209_600, default: 345_600 },
  ReceiveMessageWaitTimeSeconds: { min: 0, max: 20, default: 0 },
  VisibilityTimeout: { min: 0, max: 43_200, default: 30 },
  KmsDataKeyReusePeriodSeconds: { min: 60, max: 86_400, default: 300 },
};

/** Reported back as stored (Policy and RedriveAllowPolicy are validated and enforced; the others have no effect here). */
const STORED_ONLY = new Set(['Policy', 'KmsMasterKeyId', 'SqsManagedSseEnabled', 'RedriveAllowPolicy']);

export const READ_ONLY_ATTRIBUTES = [
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
  'CreatedTimestamp',
  'LastModifiedTimestamp',
  'QueueArn',
] as const;

export const ALL_ATTRIBUTE_NAMES = new Set<string>([
  ...Object.keys(INT_ATTRIBUTES),
  ...STORED_ONLY,
  'RedrivePolicy',
  'FifoQueue',
  'ContentBasedDeduplication',
  'DeduplicationScope',
  'FifoThroughputLimit',
  ...READ_ONLY_ATTRIBUTES,
]);

export const FIFO_NAME_MESSAGE =
  'The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.';

/** FIFO-only attributes and their allowed values (the first is the default). */
const FIFO_ONLY: Record<string, readonly string[]> = {
  ContentBasedDeduplication: ['false', 'true'],
  DeduplicationScope: ['queue', 'messageGroup'],
  FifoThroughputLimit: ['perQueue', 'perMessageGroupId'],
};

export interface QueueConfig {
  fifo: boolean;
  contentBasedDeduplication: boolean;
  /** 'queue' or 'messageGroup': where a deduplication id must be unique. */
  deduplicationScope: string;
  delaySeconds: number;
  maximumMessageSize: number;
  messageRetentionPeriod: number;
  receiveMessageWaitTimeSeconds: number;
  visibilityTimeout: number;
  redrivePolicy: RedrivePolicy | undefined;
  /** The queue's access policy, parsed (another account's calls are checked against it). */
  policy: QueuePolicy | undefined;
}

const invalidValue = (name: string) =>
  SqsErrors.invalidAttributeValue(`Invalid value for the parameter ${name}.`);

const ARN_RE = /^arn:aws:sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,80}(?:\.fifo)?)$/;

export function parseQueueArn(arn: string): { region: string; accountId: string; name: string } | undefined {
  const m = ARN_RE.exec(arn);
  return m ? { region: m[1]!, accountId: m[2]!, name: m[3]! } : undefined;
}

function parseRedrivePolicy(value: string): RedrivePolicy {
  const bad = (reason: string) =>
    SqsErrors.invalidParameterValue(
      `Value ${value} for parameter RedrivePolicy is invalid. Reason: ${reason}`,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch {
    throw bad('Redrive policy is not a valid JSON map.');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw bad('Redrive policy is not a valid JSON map.');
  const map = raw as Record<string, unknown>;
  for (const k of ['maxReceiveCount', 'deadLetterTargetArn'])
    if (!(k in map)) throw bad(`Redrive policy does not contain mandatory attribute: ${k}.`);
  const { deadLetterTargetArn, maxReceiveCount } = map;
  const count = typeof maxReceiveCount === 'string' ? Number(maxReceiveCount) : maxReceiveCount;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 1000) {
    throw bad(
      `Invalid value for maxReceiveCount: ${String(maxReceiveCount)}, valid values are from 1 to 1000 both inclusive.`,
    );
  }
  if (typeof deadLetterTargetArn !== 'string' || !parseQueueArn(deadLetterTargetArn))
    throw bad('Dead-letter target ARN should be fully qualified ARN.');
  if (Object.keys(map).length > 2)
    throw bad('Only following attributes are supported: [maxReceiveCount, deadLetterTargetArn].');
  return { deadLetterTargetArn, maxReceiveCount: count };
}

export interface RedriveAllowPolicy {
  redrivePermission: 'allowAll' | 'denyAll' | 'byQueue';
  sourceQueueArns?: string[];
}

/** A dead-letter queue's RedriveAllowPolicy: which source queues may name it in their RedrivePolicy. */
export function parseRedriveAllowPolicy(value: string): RedriveAllowPolicy {
  const unsupported = () =>
    SqsErrors.invalidParameterValue(
      "Invalid value for the parameter RedriveAllowPolicy. Reason: Amazon SQS can't create the redrive allow policy, as it’s in an unsupported format.",
    );
  const bad = (reason: string) =>
    SqsErrors.invalidParameterValue(
      `Value ${value} for parameter RedriveAllowPolicy is invalid. Reason: Amazon SQS can't create the redrive allow policy. ${reason}`,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch {
    throw unsupported();
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw unsupported();
  const p = raw as Record<string, unknown>;
  if (Object.keys(p).some((k) => k !== 'redrivePermission' && k !== 'sourceQueueArns')) throw unsupported();
  const perm = p.redrivePermission;
  if (perm !== 'allowAll' && perm !== 'denyAll' && perm !== 'byQueue') throw unsupported();
  const arns = p.sourceQueueArns;
  if (arns !== undefined) {
    if (!Array.isArray(arns) || arns.some((a) => typeof a !== 'string')) throw unsupported();
    if (perm !== 'byQueue')
      throw bad('To specify one or more source queue ARNs, you must set redrivePermission to byQueue.');
    if (arns.length > 10) throw bad('The maximum number of source queue ARNs you can specify is 10.');
  }
  if (perm === 'byQueue' && (!Array.isArray(arns) || arns.length === 0))
    throw bad(
      'When you specify the byQueue permission type, you must also specify one or more sourceQueueArns values.',
    );
  return perm === 'byQueue'
    ? { redrivePermission: perm, sourceQueueArns: arns as string[] }
    : { redrivePermission: perm };
}

/**
 * Validates attributes a caller sets (CreateQueue/SetQueueAttributes) and returns them normalized
 * (integers without leading zeros, RedrivePolicy as compact JSON). Empty RedrivePolicy removes it.
 */
export function normalizeAttributes(
  attrs: Record<string, string>,
  fifo: boolean,
  creating: boolean,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(attrs)) {
    if (typeof value !== 'string') throw invalidValue(name);
    const rule = INT_ATTRIBUTES[name];
    if (rule) {
      if (!/^\s*-?\d+\s*$/.test(value)) throw invalidValue(name);
      const n = Number(value);
      if (n < rule.min || n > rule.max) throw invalidValue(name);
      out[name] = String(n);
    } else if (name === 'RedrivePolicy') {
      out[name] = value === '' ? '' : JSON.stringify(parseRedrivePolicy(value));
    } else if (name === 'FifoQueue') {
      // The queue type follows from the name and never changes; it is not stored.
      if (value !== 'true' && value !== 'false') throw invalidValue(name);
      if ((value === 'true') !== fifo) {
        if (!creating) throw invalidValue(name);
        throw SqsErrors.invalidParameterValue(FIFO_NAME_MESSAGE);
      }
    } else if (FIFO_ONLY[name]) {
      if (!fifo) throw SqsErrors.invalidAttributeName(name);
      if (!FIFO_ONLY[name].includes(value)) throw invalidValue(name);
      out[name] = value;
    } else if (name === 'SqsManagedSseEnabled') {
      if (value !== 'true' && value !== 'false') throw invalidValue(name);
      out[name] = value;
    } else if (name === 'RedriveAllowPolicy') {
      if (value !== '') parseRedriveAllowPolicy(value);
      out[name] = value;
    } else if (name === 'Policy') {
      // Validated here so the stored text always parses; '' removes the policy.
      if (value !== '') parsePolicy(value);
      out[name] = value;
    } else if (STORED_ONLY.has(name)) {
      out[name] = value;
    } else {
      throw SqsErrors.invalidAttributeName(name);
    }
  }
  return out;
}

/** The configuration a queue runs on, from its stored (already normalized) attributes. */
export function queueConfig(stored: Record<string, string>, fifo: boolean): QueueConfig {
  const int = (name: string) => {
    const v = stored[name];
    return v === undefined ? INT_ATTRIBUTES[name]!.default : Number(v);
  };
  const redrive = stored.RedrivePolicy ? (JSON.parse(stored.RedrivePolicy) as RedrivePolicy) : undefined;
  return {
    fifo,
    contentBasedDeduplication: fifo && stored.ContentBasedDeduplication === 'true',
    deduplicationScope: stored.DeduplicationScope ?? 'queue',
    delaySeconds: int('DelaySeconds'),
    maximumMessageSize: int('MaximumMessageSize'),
    messageRetentionPeriod: int('MessageRetentionPeriod'),
    receiveMessageWaitTimeSeconds: int('ReceiveMessageWaitTimeSeconds'),
    visibilityTimeout: int('VisibilityTimeout'),
    redrivePolicy: redrive,
    policy: stored.Policy ? parsePolicy(stored.Policy) : undefined,
  };
}

/** Every settable attribute's current value, defaults included (what GetQueueAttributes All reports). */
export function effectiveAttributes(stored: Record<string, string>, fifo: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, rule] of Object.entries(INT_ATTRIBUTES)) {
    if (name === 'KmsDataKeyReusePeriodSeconds' && stored.KmsMasterKeyId === undefined) continue;
    out[name] = stored[name] ?? String(rule.default);
  }
  out.SqsManagedSseEnabled = stored.SqsManagedSseEnabled ?? 'false';
  for (const name of STORED_ONLY)
    if (stored[name] !== undefined && stored[name] !== '') out[name] = stored[name]!;
  if (stored.RedrivePolicy) out.RedrivePolicy = stored.RedrivePolicy;
  if (fifo) {
    out.FifoQueue = 'true';
    for (const [name, values] of Object.entries(FIFO_ONLY)) out[name] = stored[name] ?? values[0]!;
  }
  return out;
}

/** CreateQueue on an existing name succeeds only when every given attribute equals the current value. */
export function sameAttributes(
  given: Record<string, string>,
  stored: Record<string, string>,
  fifo: boolean,
): boolean {
  const current = effectiveAttributes(stored, fifo);
  return Object.entries(given).every(([k, v]) => (current[k] ?? '') === v);
}
