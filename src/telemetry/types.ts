// What the invocation service reports after every invocation (sync or async), for logs, metrics and
// billing. Telemetry implements the observer; invoke/ calls it and knows nothing of how it is stored.
import type { RecycleReason, StartKind } from '../worker/types.js';

export interface InvocationRecord {
  tenantId: string;
  accountId: string;
  functionName: string;
  functionArn: string;
  version: string;
  requestId: string;
  invocationType: 'RequestResponse' | 'Event';
  start: StartKind;
  /** ms since epoch when the invocation started. */
  timestamp: number;
  durationMs: number;
  billedDurationMs: number;
  memoryMB: number;
  maxMemoryUsedMB: number;
  initDurationMs?: number;
  /** Set when the invocation failed (e.g. 'Runtime.OutOfMemory', 'Sandbox.Timedout', the handler's error type). */
  errorType?: string;
  /** The whole log of the invocation with START/END/REPORT lines. */
  log: string;
  /** The log stream (its environment's AWS_LAMBDA_LOG_STREAM_NAME) the log belongs to. */
  logStreamName?: string;
  /** Its environment was replaced afterwards by a lifecycle tag, and why. */
  recycled?: RecycleReason;
}

export interface InvocationObserver {
  onInvocation(record: InvocationRecord): void;
  /** A request refused for concurrency (429), counted per function. */
  onThrottle?(tenantId: string, functionArn: string): void;
}
