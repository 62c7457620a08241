// The worker's bookkeeping around one execution environment: which version it serves, when it was last
// used, its idle timer and whether it is frozen. The environment itself (runtimes/) knows none of this.
import type { EnvState, ExecutionEnvironment } from '../runtimes/runtime.js';
import type { FunctionVersionSpec } from './types.js';

export class EnvSlot {
  /** The version it is bound to (set before binding starts). */
  spec: FunctionVersionSpec | undefined;
  lastUsed = Date.now();
  /** How many times it was parked idle: a step scheduled for an earlier park is stale. */
  parked = 0;
  /** `invocations` when it was last asked to give back memory before a freeze (keep-alive.ts). */
  trimmedAt = 0;
  idleTimer: NodeJS.Timeout | undefined;
  /** Its processes are stopped (idle); thawed before the next request. */
  frozen = false;
  /** Retire as soon as the running request finishes (its version was replaced). */
  retireWhenIdle = false;
  /** Requests it has answered since it was bound (kindling:recycle-after-invocations counts these). */
  invocations = 0;
  /** Prewarmed: kept idle at least until this time (ms since epoch), whatever the keep-alive. */
  keepUntil: number | undefined;
  /** Prewarmed: its init's output, logged with its first request. */
  initLog: string | undefined;
  /** Its AWS_LAMBDA_LOG_STREAM_NAME, set when it is bound; every invocation's log is reported under it. */
  logStreamName: string | undefined;

  constructor(readonly env: ExecutionEnvironment) {}

  get id(): string {
    return this.env.id;
  }

  get state(): EnvState {
    return this.env.state;
  }
}
