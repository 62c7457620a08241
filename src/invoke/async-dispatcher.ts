// Accepts async invocations into the durable store and runs them through the sync path with Lambda's
// semantics: retries with doubling backoff, maximum event age, throttles retried without using up retries,
// destinations and the DLQ. Dispatch is rate-matched to each function's concurrency limit and woken
// in-process (an accept, a finished run, or a timer set to the next due retry): no polling.
import type { PlatformConfig } from '../config.js';
import type { FunctionRecord } from '../control/functions.js';
import type { Tenant } from '../control/tenants.js';
import { LambdaErrors } from '../errors.js';
import type { QueueEngine } from '../events/queue/types.js';
import { requestId as newRequestId } from '../ids.js';
import { attemptFromError, attemptFromRun, nextStep, tooOld } from './async-attempt.js';
import { AsyncCompletion } from './async-completion.js';
import { checkDestination, type DestinationDeps } from './async-destinations.js';
import { type AsyncEvent, type AttemptResult, RETENTION_MS } from './async-event.js';
import type { AsyncEventStore } from './async-repo.js';
import { AsyncSlots } from './async-slots.js';
import type { EventInvokeConfigStore } from './event-invoke-config.js';
import type { RunOptions } from './invocation-service.js';
import type { AsyncInvokeOptions, AsyncSource, SyncInvokeResult } from './types.js';

export { MAX_RETRY_DELAY_MS, retryDelayMs } from './async-attempt.js';

/** Lambda's limit on an asynchronous invocation's payload. */
export const MAX_ASYNC_PAYLOAD = 262_144;
const DUE_BATCH = 200;

export interface AsyncDispatcherDeps {
  config: Pick<PlatformConfig, 'retryBaseMs' | 'tenantConcurrency'>;
  store: AsyncEventStore;
  configs: EventInvokeConfigStore;
  tenants: { get(id: string): Tenant | undefined };
  functions: { get(tenantId: string, name: string): FunctionRecord | undefined };
  /** The sync path (InvocationService): resolve a reference, run a resolved function. */
  service: {
    resolve(tenant: Tenant, ref: string, qualifier?: string): FunctionRecord;
    run(tenant: Tenant, rec: FunctionRecord, payload: Buffer, opts: RunOptions): Promise<SyncInvokeResult>;
  };
  queues: QueueEngine;
}

export class AsyncDispatcher {
  readonly #d: AsyncDispatcherDeps;
  readonly #destinations: DestinationDeps;
  readonly #completion: AsyncCompletion;
  readonly #slots = new AsyncSlots();
  readonly #running = new Map<number, Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #wakePending = false;
  #pending: {
    tenant: Tenant;
    rec: FunctionRecord;
    payload: Buffer;
    opts: AsyncInvokeOptions;
    resolve: () => void;
    reject: (e: unknown) => void;
  }[] = [];
  readonly #kicked = new Set<string>();
  #kickPending = false;
  #stopping = false;
  #closed = false;
  #pruneTimer: NodeJS.Timeout | undefined;

  constructor(deps: AsyncDispatcherDeps) {
    this.#d = deps;
    this.#destinations = {
      queues: deps.queues,
      resolveFunction: (tenant, arn) => deps.service.resolve(tenant, arn),
      acceptEvent: (tenant, rec, payload, sourceArn, chainDepth) =>
        this.accept(tenant, rec, payload, { source: { kind: 'destination', arn: sourceArn } }, chainDepth),
    };
    this.#completion = new AsyncCompletion(deps.store, this.#destinations);
  }

  get destinations(): DestinationDeps {
    return this.#destinations;
  }

  /** Validates a destination ARN for PutFunctionEventInvokeConfig. */
  checkDestination(tenant: Tenant, arn: string): Promise<void> {
    return checkDestination(this.#destinations, tenant, arn);
  }

  /** Invoker.invokeAsync: resolves once the event is durably stored. */
  async invokeAsync(
    tenant: Tenant,
    functionRef: string,
    payload: Buffer,
    opts: AsyncInvokeOptions = {},
  ): Promise<{ requestId: string }> {
    if (payload.length > MAX_ASYNC_PAYLOAD) {
      throw LambdaErrors.tooLarge(
        `Request must be smaller than ${MAX_ASYNC_PAYLOAD} bytes for the Invoke operation`,
      );
    }
    if (this.#stopping) throw LambdaErrors.service('The server is shutting down.');
    const rec = this.#d.service.resolve(tenant, functionRef, opts.qualifier);
    const requestId = opts.requestId ?? newRequestId();
    await new Promise<void>((resolve, reject) => {
      this.#pending.push({ tenant, rec, payload, opts: { ...opts, requestId }, resolve, reject });
      if (this.#pending.length === 1) setImmediate(() => this.#flush());
    });
    return { requestId };
  }

  /**
   * Group commit: the accepts of one event-loop turn are stored in one transaction, and each caller
   * is answered only after it committed (a commit, not a row, is what costs).
   */
  #flush(): void {
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    try {
      this.#d.store.transaction(() => {
        for (const b of batch) this.accept(b.tenant, b.rec, b.payload, b.opts);
      });
    } catch {
      // One bad entry must not fail the others: store them one by one.
      for (const b of batch) {
        try {
          this.accept(b.tenant, b.rec, b.payload, b.opts);
        } catch (e) {
          b.reject(e);
          continue;
        }
        b.resolve();
      }
      return;
    }
    for (const b of batch) b.resolve();
  }

  /**
   * Stores an event synchronously (one INSERT; inside the caller's transaction when it holds one, as
   * schedules and function destinations do) and wakes dispatch once the current task is done.
   */
  accept(
    tenant: Tenant,
    rec: FunctionRecord,
    payload: Buffer,
    opts: AsyncInvokeOptions = {},
    chainDepth = 0,
  ): string {
    const requestId = opts.requestId ?? newRequestId();
    const source: AsyncSource = opts.source ?? { kind: 'api' };
    this.#d.store.insert({
      requestId,
      tenantId: tenant.id,
      functionName: rec.name,
      functionArn: rec.arn,
      qualifier: opts.qualifier,
      payload,
      source,
      chainDepth,
    });
    this.#kick(`${tenant.id}|${rec.arn}`);
    return requestId;
  }

  start(): void {
    const recovered = this.#d.store.recover();
    if (recovered > 0)
      console.log(`kindling: async: ${recovered} event(s) in flight at the last stop are queued again`);
    this.#d.store.prune(Date.now() - RETENTION_MS);
    this.#pruneTimer = setInterval(() => this.#d.store.prune(Date.now() - RETENTION_MS), 60 * 60_000);
    this.#pruneTimer.unref();
    this.wake();
  }

  /** A full scan for due events of every function (start, retry timer, concurrency change); once per tick. */
  wake(): void {
    if (this.#wakePending || this.#stopping) return;
    this.#wakePending = true;
    setImmediate(() => {
      this.#wakePending = false;
      this.#pump();
    });
  }

  /**
   * A function got an event or a free slot: start its due events with one indexed query for that function,
   * so a busy function's backlog is never rescanned per accept. Coalesced per tick.
   */
  #kick(key: string): void {
    if (this.#stopping || this.#closed) return;
    this.#kicked.add(key);
    if (this.#kickPending) return;
    this.#kickPending = true;
    setImmediate(() => {
      this.#kickPending = false;
      const keys = [...this.#kicked];
      this.#kicked.clear();
      if (this.#stopping || this.#closed) return;
      const now = Date.now();
      for (const key of keys) {
        const sep = key.indexOf('|');
        for (;;) {
          const room = this.#slots.room(key, now, DUE_BATCH);
          if (room <= 0) break;
          const ids = this.#d.store.dueFor(
            key.slice(0, sep),
            key.slice(sep + 1),
            now,
            Math.min(room, DUE_BATCH),
          );
          let started = 0;
          for (const id of ids) if (this.#start(id, key, now)) started++;
          if (started === 0) break;
        }
      }
    });
  }

  /**
   * A function's concurrency changed: its throttled events need not wait out their backoff.
   * Called by the part on function updates.
   */
  functionChanged(tenantId: string, functionArn: string): void {
    if (this.#closed) return;
    this.#slots.unpause(`${tenantId}|${functionArn}`);
    this.#d.store.releaseThrottled(tenantId, functionArn, Date.now());
    this.wake();
  }

  #limitFor(tenant: Tenant | undefined, rec: FunctionRecord | undefined): number {
    if (!tenant || !rec) return 1;
    // Reserved concurrency 0 still gets one probe at a time: it is throttled and retried, never dropped.
    if (rec.reservedConcurrency === 0) return 1;
    return rec.reservedConcurrency ?? tenant.concurrencyLimit ?? this.#d.config.tenantConcurrency;
  }

  #pump(): void {
    if (this.#stopping || this.#closed) return;
    const now = Date.now();
    for (;;) {
      const due = this.#d.store.due(now, this.#slots.fullKeys(now), DUE_BATCH, this.#slots.fullTenants());
      let started = 0;
      for (const d of due) if (this.#start(d.id, `${d.tenantId}|${d.functionArn}`, now)) started++;
      if (started === 0) break;
    }
    // Events due by `now` were started or wait for a slot (a finishing run kicks their function).
    const next = this.#d.store.nextDueAfter(now);
    if (next !== undefined) this.#armAt(next);
  }

  /** Claims and runs one queued event unless its function or its tenant is at its limit. */
  #start(id: number, key: string, now: number): boolean {
    if (!this.#slots.canStart(key, now)) return false;
    let ev: AsyncEvent | undefined;
    try {
      ev = this.#d.store.claim(id, now);
    } catch (e) {
      // A row that fails validation on read-back can never run: set it aside instead of retrying it forever.
      console.error(`kindling: async: event ${id} is unreadable and is set aside:`, e);
      this.#d.store.setAside(id, String((e as Error).message ?? e));
      return false;
    }
    if (!ev) return false;
    const tenant = this.#d.tenants.get(ev.tenantId);
    const found = tenant && this.#d.functions.get(ev.tenantId, ev.functionName);
    // A function deleted and created again under the same name is another function.
    const rec = found?.arn === ev.functionArn ? found : undefined;
    this.#slots.take(
      key,
      this.#limitFor(tenant, rec),
      tenant?.concurrencyLimit ?? this.#d.config.tenantConcurrency,
    );
    const p = this.#run(ev, tenant, rec)
      .catch((e) => console.error('kindling: async dispatch failed:', e))
      .finally(() => {
        this.#running.delete(ev.id);
        // Other functions of a tenant that was full may be waiting: they need a full scan.
        if (this.#slots.release(key)) this.wake();
        this.#kick(key);
      });
    this.#running.set(ev.id, p);
    return true;
  }

  /** Sleeps until `at` (or an earlier time already armed), then scans for due events. */
  #armAt(at: number): void {
    if (this.#stopping || this.#closed || at >= this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    // setTimeout's ceiling is about 24.8 days; a long wait just re-arms.
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Number.POSITIVE_INFINITY;
        this.#pump();
      },
      Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1),
    );
  }

  async #run(ev: AsyncEvent, tenant: Tenant | undefined, rec: FunctionRecord | undefined): Promise<void> {
    const cfg = this.#d.configs.effective(ev.tenantId, ev.functionArn);
    if (!tenant || !rec) {
      await this.#completion.fail(ev.id, tenant, undefined, cfg, 'FunctionNotFound', {
        outcome: 'not-found',
        errorType: 'ResourceNotFoundException',
        errorMessage: `Function not found: ${ev.functionArn}`,
        status: 404,
      });
      return;
    }
    if (tooOld(ev, cfg, Date.now())) {
      await this.#completion.fail(ev.id, tenant, rec, cfg, 'EventAgeExceeded', undefined);
      return;
    }
    let result: AttemptResult;
    try {
      const out = await this.#d.service.run(tenant, rec, ev.payload, {
        requestId: ev.requestId,
        invocationType: 'Event',
        ...(ev.qualifier !== undefined && { qualifier: ev.qualifier }),
      });
      result = attemptFromRun(out);
    } catch (e) {
      result = attemptFromError(e);
    }
    // Shutting down: stop() has already put this event back in the queue (or the store is closed).
    if (this.#closed) return;
    const now = Date.now();
    const step = nextStep(ev, result, cfg, this.#d.config.retryBaseMs, now);
    if (result.outcome === 'throttled') {
      // The function has no room now: hold all its events back briefly, not just this one.
      this.#slots.pause(`${ev.tenantId}|${ev.functionArn}`, now + this.#d.config.retryBaseMs);
      this.#armAt(now + this.#d.config.retryBaseMs);
    }
    switch (step.kind) {
      case 'succeed':
        await this.#completion.succeed(ev.id, tenant, cfg, result, now);
        return;
      case 'fail':
        await this.#completion.fail(
          ev.id,
          tenant,
          step.condition === 'FunctionNotFound' ? undefined : rec,
          cfg,
          step.condition,
          result,
        );
        return;
      case 'retry':
        this.#completion.retry(ev.id, result, now, step.at);
        this.#armAt(step.at);
        return;
    }
  }

  /** Stop dispatching; let running events finish until the deadline, then put the rest back in the queue. */
  async stop(deadlineMs: number): Promise<void> {
    this.#stopping = true;
    // Accepts waiting for their group commit are stored now: they were promised a 202.
    if (this.#pending.length > 0) this.#flush();
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#pruneTimer) clearInterval(this.#pruneTimer);
    const wait = Math.max(0, deadlineMs - Date.now());
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#running.values()]),
      new Promise<void>((resolve) => {
        t = setTimeout(resolve, wait);
      }),
    ]);
    if (t) clearTimeout(t);
    const left = [...this.#running.keys()];
    if (left.length > 0) this.#d.store.release(left);
    this.#closed = true;
  }
}
