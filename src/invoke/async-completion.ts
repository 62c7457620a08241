// How an async event ends: its destination record and DLQ message sent, then the attempt recorded with the
// event's new status in one transaction of the async store; or requeued for a retry.
import type { FunctionRecord } from '../control/functions.js';
import type { Tenant } from '../control/tenants.js';
import {
  type DestinationDeps,
  deliverDeadLetter,
  deliverRecord,
  invocationRecord,
} from './async-destinations.js';
import type { AsyncCondition, AsyncEvent, AttemptResult } from './async-event.js';
import type { AsyncEventStore } from './async-repo.js';
import type { EffectiveInvokeConfig } from './event-invoke-config.js';

/** The event as recordAttempt leaves it (the records describe the attempt just made). */
function attemptView(ev: AsyncEvent, result: AttemptResult): Partial<AsyncEvent> {
  const ran = result.outcome === 'success' || result.outcome === 'error';
  return {
    attempts: ev.attempts + (ran ? 1 : 0),
    throttles: ev.throttles + (result.outcome === 'throttled' ? 1 : 0),
    lastErrorType: result.errorType,
    lastErrorMessage: result.errorMessage,
    lastStatus: result.status ?? ev.lastStatus,
    lastResponse: result.response ?? ev.lastResponse,
    executedVersion: result.executedVersion ?? ev.executedVersion,
  };
}

export class AsyncCompletion {
  readonly #store: AsyncEventStore;
  readonly #destinations: DestinationDeps;

  constructor(store: AsyncEventStore, destinations: DestinationDeps) {
    this.#store = store;
    this.#destinations = destinations;
  }

  /**
   * Success: the on-success destination first (the queue engine is async and may live in another store),
   * then the attempt and the status in one transaction. A kill in between delivers the record again when
   * the event is recovered: at least once, never lost.
   */
  async succeed(
    id: number,
    tenant: Tenant,
    cfg: EffectiveInvokeConfig,
    result: AttemptResult,
    now: number,
  ): Promise<void> {
    const store = this.#store;
    const notes: string[] = [];
    if (cfg.onSuccess) {
      const ev = store.get(id)!;
      const done = { ...ev, ...attemptView(ev, result) };
      notes.push(
        await this.#tryDeliver(() =>
          deliverRecord(
            this.#destinations,
            tenant,
            cfg.onSuccess!,
            invocationRecord(done, 'Success', now),
            done,
          ),
        ),
      );
    }
    store.transaction(() => {
      store.recordAttempt(id, result, now);
      store.finish(id, 'succeeded', 'Success', notes.join('; ') || undefined, now);
    });
  }

  /** Failure: the on-failure destination and the DLQ first (as succeed), then the attempt and status in one transaction. */
  async fail(
    id: number,
    tenant: Tenant | undefined,
    rec: FunctionRecord | undefined,
    cfg: EffectiveInvokeConfig,
    condition: AsyncCondition,
    result: AttemptResult | undefined,
    now = Date.now(),
  ): Promise<void> {
    const store = this.#store;
    const before = store.get(id)!;
    const ev = result ? { ...before, ...attemptView(before, result) } : before;
    const notes: string[] = [];
    if (tenant && cfg.onFailure) {
      notes.push(
        await this.#tryDeliver(() =>
          deliverRecord(this.#destinations, tenant, cfg.onFailure!, invocationRecord(ev, condition, now), ev),
        ),
      );
    }
    if (tenant && rec?.deadLetterTargetArn) {
      notes.push(
        await this.#tryDeliver(() =>
          deliverDeadLetter(this.#destinations, tenant, rec.deadLetterTargetArn!, ev),
        ),
      );
    }
    store.transaction(() => {
      if (result) store.recordAttempt(id, result, now);
      else store.dropOpenAttempt(id);
      if (condition === 'EventAgeExceeded' && !result) store.markAgeExceeded(id);
      store.finish(id, 'failed', condition, notes.join('; ') || undefined, now);
    });
  }

  /** The attempt recorded and the event back in the queue until `at`. */
  retry(id: number, result: AttemptResult, now: number, at: number): void {
    this.#store.transaction(() => {
      this.#store.recordAttempt(id, result, now);
      this.#store.requeue(id, at);
    });
  }

  async #tryDeliver(send: () => Promise<string>): Promise<string> {
    try {
      return await send();
    } catch (e) {
      const msg = `delivery failed: ${(e as Error).message}`;
      console.error(`kindling: async: ${msg}`);
      return msg;
    }
  }
}
