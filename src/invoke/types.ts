// The invocation service's contract, used by api/ (Lambda Invoke) and events/ (pollers, notifications,
// schedules, RPC messages). Nothing here knows about HTTP.
import type { Tenant } from '../control/tenants.js';
import type { InvocationResult } from '../worker/types.js';

/** Where a streaming handler's bytes go as written (response streaming); implemented by api/. */
export type { ResponseSink } from '../worker/types.js';

export interface SyncInvokeOptions {
  /** Version or alias qualifier (`$LATEST` when absent). */
  qualifier?: string;
  clientContext?: string;
  requestId?: string;
}

export interface SyncInvokeResult extends InvocationResult {
  functionArn: string;
  executedVersion: string;
}

/** Where an async event came from; recorded with the event and shown by `kindling events`. */
export interface AsyncSource {
  kind: 'api' | 's3' | 'schedule' | 'rpc' | 'destination';
  /** ARN or name of the source (bucket, rule, queue...). */
  arn?: string;
}

export interface AsyncInvokeOptions {
  qualifier?: string;
  requestId?: string;
  source?: AsyncSource;
}

export interface Invoker {
  /** Runs the function now and answers with its result (RequestResponse). */
  invokeSync(
    tenant: Tenant,
    functionRef: string,
    payload: Buffer,
    opts?: SyncInvokeOptions,
  ): Promise<SyncInvokeResult>;
  /**
   * Durably accepts an event for asynchronous invocation (InvocationType Event) and resolves once it is
   * stored: from then on it is never lost (at-least-once), retried per the function's event invoke config.
   */
  invokeAsync(
    tenant: Tenant,
    functionRef: string,
    payload: Buffer,
    opts?: AsyncInvokeOptions,
  ): Promise<{ requestId: string }>;
}
