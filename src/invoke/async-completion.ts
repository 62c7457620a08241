// How an async event ends: its destination record and DLQ message are delivered first (each committed
// where it goes), then the attempt and the event's new status are written in one transaction of the
// async store, conditional on this node still holding the event's claim; or it is requeued for a retry.
// Delivery before the status is at-least-once: a node dying between the two leaves the event claimed,
// another node takes it over and runs it again (Lambda's destinations are at-least-once too).
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

/** The event as it reads once `result` is recorded (what destinations are told). */
export function withAttempt(
  ev: AsyncEvent,
  result: AttemptResult | undefined,
  ageExceeded = false,
): AsyncEvent {
  if (!result) return ageExceeded ? { ...ev, lastErrorType: ev.lastErrorType ?? 'EventAgeExceeded' } : ev;
  const ran = result.outcome === 'success' || result.outcome === 'error';
  return {
    ...ev,
    attempts: ev.attempts + (ran ? 1 : 0),
    throttles: ev.throttles + (result.outcome === 'throttled' ? 1 : 0),
    lastErrorType: result.errorType,
    lastErrorMessage: result.errorMessage,
    lastStatus: result.status ?? ev.lastStatus,
    lastResponse: result.response ?? ev.lastResponse,
    executedVersion: result.executedVersion ?? ev.executedVersion,
  };
}

export interface CompletionDeps {
  store: AsyncEventStore;
  destinations: DestinationDeps;
  /** This node (config.nodeId): every write is conditional on its claim. */
  nodeId: string;
  leaseMs: number;
}

export class AsyncCompletion {
  readonly #d: CompletionDeps;

  constructor(deps: CompletionDeps) {
    this.#d = deps;
  }

  /** Success: the on-success destination, then the attempt and the status. False when the claim was lost. */
  async succeed(
    ev: AsyncEvent,
    tenant: Tenant,
    cfg: EffectiveInvokeConfig,
    result: AttemptResult,
    now: number,
  ): Promise<boolean> {
    const done = withAttempt(ev, result);
    const notes: string[] = [];
    if (cfg.onSuccess) {
      if (!(await this.#holds(ev, now))) return false;
      notes.push(
        await this.#tryDeliver(() =>
          deliverRecord(
            this.#d.destinations,
            tenant,
            cfg.onSuccess!,
            invocationRecord(done, 'Success', now),
            done,
          ),
        ),
      );
    }
    return this.#d.store.complete(ev.id, this.#d.nodeId, now, result, {
      status: 'succeeded',
      condition: 'Success',
      delivery: notes.join('; ') || undefined,
    });
  }

  /** Failure: the on-failure destination and the DLQ, then the last attempt and the status. */
  async fail(
    ev: AsyncEvent,
    tenant: Tenant | undefined,
    rec: FunctionRecord | undefined,
    cfg: EffectiveInvokeConfig,
    condition: AsyncCondition,
    result: AttemptResult | undefined,
    now: number,
  ): Promise<boolean> {
    const done = withAttempt(ev, result, condition === 'EventAgeExceeded');
    const notes: string[] = [];
    const toFailure = tenant && cfg.onFailure;
    const toDlq = tenant && rec?.deadLetterTargetArn;
    if ((toFailure || toDlq) && !(await this.#holds(ev, now))) return false;
    if (tenant && cfg.onFailure) {
      notes.push(
        await this.#tryDeliver(() =>
          deliverRecord(
            this.#d.destinations,
            tenant,
            cfg.onFailure!,
            invocationRecord(done, condition, now),
            done,
          ),
        ),
      );
    }
    if (tenant && rec?.deadLetterTargetArn) {
      notes.push(
        await this.#tryDeliver(() =>
          deliverDeadLetter(this.#d.destinations, tenant, rec.deadLetterTargetArn!, done),
        ),
      );
    }
    return this.#d.store.complete(ev.id, this.#d.nodeId, now, result, {
      status: 'failed',
      condition,
      delivery: notes.join('; ') || undefined,
    });
  }

  /** The attempt recorded and the event back in the queue until `at`. */
  retry(ev: AsyncEvent, result: AttemptResult, now: number, at: number): Promise<boolean> {
    return this.#d.store.complete(ev.id, this.#d.nodeId, now, result, { status: 'queued', at });
  }

  /** Whether this node still holds the event (and its lease is extended): nothing is delivered for a lost claim. */
  #holds(ev: AsyncEvent, now: number): Promise<boolean> {
    return this.#d.store.holds(ev.id, this.#d.nodeId, now + this.#d.leaseMs);
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
