// How an async event ends: the attempt recorded with the event's new status, its destination record and
// DLQ message, all in one transaction of the async store; or requeued for a retry.
import type { FunctionRecord } from '../control/functions.js';
import type { Tenant } from '../control/tenants.js';
import {
  type DestinationDeps,
  deliverDeadLetter,
  deliverRecord,
  invocationRecord,
} from './async-destinations.js';
import type { AsyncCondition, AttemptResult } from './async-event.js';
import type { AsyncEventStore } from './async-repo.js';
import type { EffectiveInvokeConfig } from './event-invoke-config.js';

export class AsyncCompletion {
  readonly #store: AsyncEventStore;
  readonly #destinations: DestinationDeps;

  constructor(store: AsyncEventStore, destinations: DestinationDeps) {
    this.#store = store;
    this.#destinations = destinations;
  }

  /** Success: the attempt, the on-success destination and the status, in one transaction. */
  succeed(id: number, tenant: Tenant, cfg: EffectiveInvokeConfig, result: AttemptResult, now: number): void {
    const store = this.#store;
    store.transaction(() => {
      store.recordAttempt(id, result, now);
      const done = store.get(id)!;
      const notes: string[] = [];
      if (cfg.onSuccess)
        notes.push(
          this.#tryDeliver(() =>
            deliverRecord(
              this.#destinations,
              tenant,
              cfg.onSuccess!,
              invocationRecord(done, 'Success', now),
              done,
            ),
          ),
        );
      store.finish(id, 'succeeded', 'Success', notes.join('; ') || undefined, now);
    });
  }

  /** Failure handling in one transaction: the last attempt, the on-failure destination, the DLQ, the status. */
  fail(
    id: number,
    tenant: Tenant | undefined,
    rec: FunctionRecord | undefined,
    cfg: EffectiveInvokeConfig,
    condition: AsyncCondition,
    result: AttemptResult | undefined,
    now = Date.now(),
  ): void {
    const store = this.#store;
    store.transaction(() => {
      if (result) store.recordAttempt(id, result, now);
      else store.dropOpenAttempt(id);
      const ev = store.get(id)!;
      const notes: string[] = [];
      if (tenant && cfg.onFailure) {
        notes.push(
          this.#tryDeliver(() =>
            deliverRecord(
              this.#destinations,
              tenant,
              cfg.onFailure!,
              invocationRecord(ev, condition, now),
              ev,
            ),
          ),
        );
      }
      if (tenant && rec?.deadLetterTargetArn) {
        notes.push(
          this.#tryDeliver(() => deliverDeadLetter(this.#destinations, tenant, rec.deadLetterTargetArn!, ev)),
        );
      }
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

  #tryDeliver(send: () => string): string {
    try {
      return send();
    } catch (e) {
      const msg = `delivery failed: ${(e as Error).message}`;
      console.error(`kindling: async: ${msg}`);
      return msg;
    }
  }
}
