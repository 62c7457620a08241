// One async attempt, decided without side effects: what a run's outcome was (attemptFromRun /
// attemptFromError) and what happens next (nextStep): finish as succeeded or failed, or retry at a time.
// Lambda's rules: errors use up MaximumRetryAttempts with doubling backoff; throttles and the platform's
// own failures are retried until the event is too old without using up retries.
import { errorTypeOf, isDomainError, isNotFound, KindlingError } from '../errors.js';
import { errorMessageOf } from './async-destinations.js';
import type { AsyncCondition, AsyncEvent, AttemptResult } from './async-event.js';
import type { SyncInvokeResult } from './types.js';

/** Retry delays double from config.retryBaseMs up to this. */
export const MAX_RETRY_DELAY_MS = 5 * 60_000;

export const retryDelayMs = (baseMs: number, n: number): number =>
  Math.min(baseMs * 2 ** Math.max(0, n - 1), MAX_RETRY_DELAY_MS);

/** The limits an attempt is judged by (the function's effective event-invoke config). */
export interface AttemptLimits {
  maxRetries: number;
  maxEventAgeSec: number;
}

export type NextStep =
  | { kind: 'succeed' }
  | { kind: 'fail'; condition: AsyncCondition }
  | { kind: 'retry'; at: number; throttled: boolean };

/** The attempt a completed run of the function makes (it ran: success or a function error). */
export function attemptFromRun(out: SyncInvokeResult): AttemptResult {
  return out.functionError
    ? {
        outcome: 'error',
        errorType: out.errorType ?? 'Unhandled',
        errorMessage: errorMessageOf({
          lastStatus: 200,
          lastResponse: out.payload,
          lastErrorMessage: undefined,
        }),
        status: 200,
        response: out.payload,
        executedVersion: out.executedVersion,
      }
    : { outcome: 'success', status: 200, response: out.payload, executedVersion: out.executedVersion };
}

/** The attempt a run that could not start makes: the function is gone, or throttled / failed inside. */
export function attemptFromError(e: unknown): AttemptResult {
  const k = e instanceof KindlingError || isDomainError(e) ? e : undefined;
  if (isNotFound(e)) {
    return { outcome: 'not-found', errorType: errorTypeOf(e), errorMessage: k!.message, status: 404 };
  }
  // Throttles (429) and the platform's own failures are retried until the event is too old, and
  // do not use up MaximumRetryAttempts (Lambda does the same for throttles and 5xx errors).
  if (!k) console.error('kindling: async invocation failed inside the platform:', e);
  return {
    outcome: 'throttled',
    errorType: errorTypeOf(e),
    errorMessage: k?.message ?? (e as Error).message,
    // The status Lambda's Invoke would have answered, as the destination record reports it.
    status: isDomainError(e, 'Throttled') ? 429 : k instanceof KindlingError ? k.status : 500,
  };
}

/** Before running: an event already past its maximum age is not run. */
export function tooOld(ev: Pick<AsyncEvent, 'enqueuedAt'>, limits: AttemptLimits, now: number): boolean {
  return now - ev.enqueuedAt > limits.maxEventAgeSec * 1000;
}

/** After an attempt: what becomes of the event. */
export function nextStep(
  ev: Pick<AsyncEvent, 'attempts' | 'throttles' | 'enqueuedAt'>,
  result: AttemptResult,
  limits: AttemptLimits,
  retryBaseMs: number,
  now: number,
): NextStep {
  if (result.outcome === 'success') return { kind: 'succeed' };
  if (result.outcome === 'not-found') return { kind: 'fail', condition: 'FunctionNotFound' };
  const attempts = ev.attempts + (result.outcome === 'error' ? 1 : 0);
  const throttles = ev.throttles + (result.outcome === 'throttled' ? 1 : 0);
  if (result.outcome === 'error' && attempts > limits.maxRetries) {
    return { kind: 'fail', condition: 'RetriesExhausted' };
  }
  const delay = retryDelayMs(retryBaseMs, result.outcome === 'error' ? attempts : throttles);
  // A retry that would start past the maximum age is not made: the event is discarded now.
  if (now + delay - ev.enqueuedAt > limits.maxEventAgeSec * 1000) {
    return { kind: 'fail', condition: 'EventAgeExceeded' };
  }
  return { kind: 'retry', at: now + delay, throttled: result.outcome === 'throttled' };
}
