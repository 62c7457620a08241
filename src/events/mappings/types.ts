// Event source mappings: what connects a queue (embedded SQS-compatible, or a Redis stream) to a function
// or, for RPC queues, to whichever function each message names. Shared by the store, the poller manager
// and the Lambda API routes.
import type { Tenant } from '../../control/tenants.js';

export type MappingState =
  | 'Creating'
  | 'Enabling'
  | 'Enabled'
  | 'Disabling'
  | 'Disabled'
  | 'Updating'
  | 'Deleting';

/** The tag that marks a mapping as an RPC mapping (no FunctionName; each message names its function). */
export const RPC_TAG = 'kindling:rpc';
/** Redis sources only: seconds an unacknowledged entry stays leased before another delivery claims it. */
export const VISIBILITY_TAG = 'kindling:visibility-timeout';

/** StateTransitionReason of a mapping stopped because its function or queue disappeared. */
export const FUNCTION_GONE_REASON = 'PROBLEM: Function not found';
export const QUEUE_GONE_REASON = 'PROBLEM: Queue not found';

export interface SqsSource {
  kind: 'sqs';
  /** `arn:aws:sqs:<region>:<account>:<name>` of one of the tenant's embedded queues. */
  queueArn: string;
}

export interface RedisSource {
  kind: 'redis';
  /** `redis://host:port[/db]` URLs; the first reachable one is used. */
  urls: string[];
  stream: string;
}

export type MappingSource = SqsSource | RedisSource;

/** One mapping as stored (JSON in SQLite) and handed to pollers. */
export interface Mapping {
  uuid: string;
  tenantId: string;
  accountId: string;
  source: MappingSource;
  /** Unqualified or qualified function ARN; null for an RPC mapping. */
  functionArn: string | null;
  rpc: boolean;
  batchSize: number;
  maximumBatchingWindowInSeconds: number;
  /** What the user asked for; State follows it (and the poller's fate). */
  enabled: boolean;
  state: MappingState;
  stateTransitionReason: string;
  reportBatchItemFailures: boolean;
  /** ScalingConfig.MaximumConcurrency (2–1000), or null for the platform default. */
  maximumConcurrency: number | null;
  /** Redis: deliveries allowed = retries + 1 before the dead-letter stream; null = default. */
  maximumRetryAttempts: number | null;
  /** Redis: where a new consumer group starts (TRIM_HORIZON: the whole stream; LATEST: new entries). */
  startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  tags: Record<string, string>;
  /** ms since the epoch. */
  lastModified: number;
  lastProcessingResult: string;
}

/** What the mappings part needs to know about functions (the control plane answers). */
export interface FunctionDirectory {
  /**
   * Resolves a function name, partial or full ARN (optionally qualified) among the tenant's own
   * functions; undefined when the tenant has no such function.
   */
  find(
    tenant: Tenant,
    ref: string,
  ): Promise<
    | { functionArn: string; functionName: string; reservedConcurrency: number | null; timeoutSec: number }
    | undefined
  >;
}

/** Finds a tenant by id (mappings store the id; invocations want the whole tenant). */
export interface TenantLookup {
  get(id: string): Promise<Tenant | undefined>;
}
