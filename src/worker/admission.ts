// Admission: per-function reserved concurrency and per-tenant limits, with a bounded wait buffer per
// function. A request either gets a slot at once, waits in its function's buffer (up to queueDepth, for
// queueWaitMs), or is throttled. Every throttle is decided, and reported, here.
import type { PlatformConfig } from '../config.js';
import { type DomainError, LambdaErrors } from '../errors.js';
import type { FunctionVersionSpec } from './types.js';

interface FnState {
  active: number;
  queue: Waiter[];
}

interface Waiter {
  tenantId: string;
  reserved: number | undefined;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class Admission {
  private readonly fns = new Map<string, FnState>();
  private readonly waitingFns = new Set<string>();
  private readonly tenantActive = new Map<string, number>();
  private readonly tenantLimit = new Map<string, number>();

  constructor(
    private readonly config: Pick<PlatformConfig, 'tenantConcurrency' | 'queueDepth' | 'queueWaitMs'>,
    /** Told of every throttled request (telemetry). */
    private readonly onThrottle: (tenantId: string, functionArn: string) => void = () => {},
  ) {}

  private fnState(arn: string): FnState {
    let s = this.fns.get(arn);
    if (s === undefined) {
      s = { active: 0, queue: [] };
      this.fns.set(arn, s);
    }
    return s;
  }

  private canRun(fn: FnState, tenantId: string, reserved: number | undefined): boolean {
    if (reserved !== undefined && fn.active >= reserved) return false;
    return (
      (this.tenantActive.get(tenantId) ?? 0) <
      (this.tenantLimit.get(tenantId) ?? this.config.tenantConcurrency)
    );
  }

  private occupy(fn: FnState, tenantId: string): void {
    fn.active++;
    this.tenantActive.set(tenantId, (this.tenantActive.get(tenantId) ?? 0) + 1);
  }

  /** Reports a throttle and builds Lambda's error for it. */
  throttle(spec: FunctionVersionSpec, reserved: boolean): DomainError {
    this.onThrottle(spec.tenantId, spec.functionArn);
    return reserved
      ? LambdaErrors.tooManyRequests('Rate Exceeded.', 'ReservedFunctionConcurrentInvocationLimitExceeded')
      : LambdaErrors.tooManyRequests('Rate Exceeded.', 'ConcurrentInvocationLimitExceeded');
  }

  /**
   * Takes a slot for the request: undefined when granted at once, a promise when it waits in the buffer.
   * Throws (or rejects with) TooManyRequestsException when throttled.
   */
  acquire(spec: FunctionVersionSpec, tenantConcurrency: number): Promise<void> | undefined {
    const reserved = spec.reservedConcurrency;
    if (reserved === 0) throw this.throttle(spec, true);
    this.tenantLimit.set(spec.tenantId, tenantConcurrency);
    const fn = this.fnState(spec.functionArn);
    if (fn.queue.length === 0 && this.canRun(fn, spec.tenantId, reserved)) {
      this.occupy(fn, spec.tenantId);
      return undefined;
    }
    const overReserved = reserved !== undefined && fn.active >= reserved;
    if (fn.queue.length >= this.config.queueDepth) throw this.throttle(spec, overReserved);
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        tenantId: spec.tenantId,
        reserved,
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = fn.queue.indexOf(w);
          if (i >= 0) fn.queue.splice(i, 1);
          if (fn.queue.length === 0) this.waitingFns.delete(spec.functionArn);
          reject(this.throttle(spec, reserved !== undefined && fn.active >= reserved));
        }, this.config.queueWaitMs),
      };
      fn.queue.push(w);
      this.waitingFns.add(spec.functionArn);
    });
  }

  release(spec: FunctionVersionSpec): void {
    const fn = this.fnState(spec.functionArn);
    fn.active--;
    this.tenantActive.set(spec.tenantId, (this.tenantActive.get(spec.tenantId) ?? 1) - 1);
    if (this.waitingFns.size === 0) return;
    // A freed slot may unblock this function's buffer, or another function of the same tenant.
    for (const arn of [...this.waitingFns]) {
      const f = this.fns.get(arn);
      if (f === undefined) continue;
      while (f.queue.length > 0) {
        const w = f.queue[0]!;
        if (!this.canRun(f, w.tenantId, w.reserved)) break;
        f.queue.shift();
        clearTimeout(w.timer);
        this.occupy(f, w.tenantId);
        w.resolve();
      }
      if (f.queue.length === 0) this.waitingFns.delete(arn);
    }
  }

  /** Ends every waiting request with `error` (the worker is draining). */
  rejectWaiting(error: Error): void {
    for (const fn of this.fns.values()) {
      for (const w of fn.queue.splice(0)) {
        clearTimeout(w.timer);
        w.reject(error);
      }
    }
    this.waitingFns.clear();
  }
}
