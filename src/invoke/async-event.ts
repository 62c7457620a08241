// The vocabulary of accepted async events (InvocationType Event) and their attempts. An event is
// written in one SQLite transaction before the 202; its status moves queued → running → succeeded/failed,
// and anything found 'running' at start was in flight when the process died, so it is queued again.
import type { AsyncSource } from './types.js';

export type AsyncEventStatus = 'queued' | 'running' | 'succeeded' | 'failed';
/** Lambda's invocation-record conditions, plus the cases where the function itself is gone. */
export type AsyncCondition = 'Success' | 'RetriesExhausted' | 'EventAgeExceeded' | 'FunctionNotFound';
export type AttemptOutcome = 'success' | 'error' | 'throttled' | 'interrupted' | 'not-found';

export interface AsyncEvent {
  id: number;
  requestId: string;
  tenantId: string;
  functionName: string;
  /** Unqualified ARN. */
  functionArn: string;
  qualifier: string | undefined;
  payload: Buffer;
  source: AsyncSource;
  status: AsyncEventStatus;
  condition: AsyncCondition | undefined;
  /** Completed runs of the function (throttles are not runs and do not use up retries, as on Lambda). */
  attempts: number;
  throttles: number;
  enqueuedAt: number;
  nextAttemptAt: number;
  finishedAt: number | undefined;
  lastErrorType: string | undefined;
  lastErrorMessage: string | undefined;
  /** The last run's HTTP-like status (200 when the function ran, 429 when throttled). */
  lastStatus: number | undefined;
  lastResponse: Buffer | undefined;
  executedVersion: string | undefined;
  /** Where the outcome went (destination or DLQ ARNs), or why it could not be delivered. */
  delivery: string | undefined;
  /** How many function destinations led here (0 for an event from a client or an event source). */
  chainDepth: number;
}

export interface AsyncAttempt {
  n: number;
  startedAt: number;
  endedAt: number | undefined;
  outcome: AttemptOutcome | undefined;
  errorType: string | undefined;
  errorMessage: string | undefined;
}

export interface NewAsyncEvent {
  requestId: string;
  tenantId: string;
  functionName: string;
  functionArn: string;
  qualifier: string | undefined;
  payload: Buffer;
  source: AsyncSource;
  chainDepth?: number;
}

/** The result of one run, written with the event's new state in one transaction. */
export interface AttemptResult {
  outcome: AttemptOutcome;
  errorType?: string;
  errorMessage?: string;
  status?: number;
  response?: Buffer;
  executedVersion?: string;
}

/** Terminal events are kept this long for `kindling events`, then pruned. */
export const RETENTION_MS = 24 * 60 * 60_000;
