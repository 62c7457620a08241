// Accepts async invocations into the durable store and runs them through the sync path with Lambda's
// semantics: retries with doubling backoff, maximum event age, throttles retried without using up retries,
// destinations and the DLQ.
//
// Every node dispatches. Events are claimed, not owned: a node claims a function's due events in one
// transaction (SKIP LOCKED), runs them under a lease on the store's clock that it renews every leaseMs/3,
// and every write that ends a run is conditional on the claim. A node that dies (SIGKILL) stops renewing;
// any node's periodic scan (at most every second) queues its events again once their leases ran out, and
// they run again (at least once). Nodes wake each other with `sql.notify('kindling_async', …)` for new
// events, freed slots and retries: no sleep-polling on the hot path; locally, an accept, a finished run or
// a timer set to the next due retry wakes dispatch.
//
// Concurrency: on PostgreSQL a claim counts the running claims of the function and of the tenant in the
// database (live leases, any node), so reserved concurrency and the tenant limit hold across the cluster;
// on SQLite (one node by construction) this node's ledger is the whole truth and no count is needed.
import type { PlatformConfig } from '../config.js';
import { parseFunctionArn } from '../control/arn.js';
import type { FunctionRecord } from '../control/functions.js';
import type { Tenant } from '../control/tenants.js';
import { LambdaErrors } from '../errors.js';
import type { QueueEngine } from '../events/queue/types.js';
import { requestId as newRequestId } from '../ids.js';
import { StoreClock } from '../store/clock.js';
import { type Sql, type SqlExecutor, StoreUnavailableError } from '../store/sql.js';
import { attemptFromError, attemptFromRun, nextStep, tooOld } from './async-attempt.js';
import { AsyncCompletion } from './async-completion.js';
import { checkDestination, type DestinationDeps } from './async-destinations.js';
import { type AsyncEvent, type AttemptResult, type NewAsyncEvent, RETENTION_MS } from './async-event.js';
import type { AsyncEventStore, Claimed } from './async-repo.js';
import { AsyncSlots } from './async-slots.js';
import type { EventInvokeConfigStore } from './event-invoke-config.js';
import type { RunOptions } from './invocation-service.js';
import type { AsyncInvokeOptions, AsyncSource, SyncInvokeResult } from './types.js';

export { MAX_RETRY_DELAY_MS, retryDelayMs } from './async-attempt.js';

/** Lambda's limit on an asynchronous invocation's payload. */
export const MAX_ASYNC_PAYLOAD = 262_144;
/** The channel nodes wake each other on. Payload: the sender's node id, then one line per function key
 * (`tenantId|functionArn`) or `at:<store ms>` (a retry due then); no lines: scan everything. */
export const ASYNC_CHANNEL = 'kindling_async';
const DUE_BATCH = 200;
/** NOTIFY payloads stay under PostgreSQL's 8000-byte limit; a longer list becomes "scan everything". */
const MAX_NOTIFY_BYTES = 7_000;

type Maybe<T> = T | Promise<T>;

export interface AsyncDispatcherDeps {
  config: Pick<PlatformConfig, 'retryBaseMs' | 'tenantConcurrency' | 'nodeId' | 'leaseMs'>;
  /** The store's clock and notifications (the same store `store` writes to). */
  sql: Pick<Sql, 'dialect' | 'now' | 'notify' | 'listen'>;
  store: AsyncEventStore;
  configs: EventInvokeConfigStore;
  tenants: { get(id: string): Maybe<Tenant | undefined> };
  functions: { get(tenantId: string, name: string): Maybe<FunctionRecord | undefined> };
  /** The sync path (InvocationService): resolve a reference, run a resolved function. */
  service: {
    resolve(tenant: Tenant, ref: string, qualifier?: string): Maybe<FunctionRecord>;
    run(tenant: Tenant, rec: FunctionRecord, payload: Buffer, opts: RunOptions): Promise<SyncInvokeResult>;
  };
  queues: QueueEngine;
  /** This node's wall clock (tests skew it). Only timers use it; every stored time is the store's. */
  clock?: () => number;
  /** How often lapsed leases and due events are looked for (default: a second, or leaseMs / 3 if less). */
  scanMs?: number;
  /** Count the cluster's running claims against limits (default: on PostgreSQL). */
  sharedLimits?: boolean;
}

interface PendingAccept {
  tenant: Tenant;
  rec: FunctionRecord;
  payload: Buffer;
  opts: AsyncInvokeOptions;
  resolve: () => void;
  reject: (e: unknown) => void;
}

const log = (what: string) => (e: unknown) => console.error(`kindling: async: ${what}:`, e);

export class AsyncDispatcher {
  readonly #d: AsyncDispatcherDeps;
  readonly #destinations: DestinationDeps;
  readonly #completion: AsyncCompletion;
  readonly #slots = new AsyncSlots();
  readonly #running = new Map<number, Promise<void>>();
  readonly #clock: () => number;
  readonly #shared: boolean;
  readonly #scanMs: number;
  /** Store time minus this node's clock, as last measured: turns store times into timer delays. */
  #offset = 0;
  /** The store's clock without a round trip, once its offset is measured (start). */
  readonly #storeClock: StoreClock;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #scanTimer: NodeJS.Timeout | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  #unlisten: (() => void) | undefined;
  #wakePending = false;
  #pending: PendingAccept[] = [];
  readonly #flushing = new Set<Promise<void>>();
  /** Functions to fill (claim and start their due events); `#filling` holds the ones being filled now. */
  readonly #kicked = new Set<string>();
  readonly #filling = new Map<string, Promise<void>>();
  #kickPending = false;
  /** Keys (and retry times) to tell the other nodes about, sent once per tick. */
  readonly #outbox = new Set<string>();
  #outboxPending = false;
  #stopping = false;
  #closed = false;

  constructor(deps: AsyncDispatcherDeps) {
    this.#d = deps;
    this.#clock = deps.clock ?? Date.now;
    this.#storeClock = new StoreClock(deps.sql, this.#clock);
    this.#shared = deps.sharedLimits ?? deps.sql.dialect === 'postgres';
    this.#scanMs = deps.scanMs ?? Math.max(50, Math.min(1_000, Math.floor(deps.config.leaseMs / 3)));
    this.#destinations = {
      queues: deps.queues,
      resolveFunction: (tenant, arn) => deps.service.resolve(tenant, arn),
      acceptEvent: (tenant, rec, payload, sourceArn, chainDepth) =>
        this.accept(tenant, rec, payload, { source: { kind: 'destination', arn: sourceArn } }, chainDepth),
    };
    this.#completion = new AsyncCompletion({
      store: deps.store,
      destinations: this.#destinations,
      nodeId: deps.config.nodeId,
      leaseMs: deps.config.leaseMs,
    });
  }

  get destinations(): DestinationDeps {
    return this.#destinations;
  }

  /** Validates a destination ARN for PutFunctionEventInvokeConfig. */
  checkDestination(tenant: Tenant, arn: string): Promise<void> {
    return checkDestination(this.#destinations, tenant, arn);
  }

  /** Invoker.invokeAsync: resolves once the event is committed (and not before: the 202 follows it). */
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
    const rec = await this.#d.service.resolve(tenant, functionRef, opts.qualifier);
    if (this.#closed) throw LambdaErrors.service('The server is shutting down.');
    const requestId = opts.requestId ?? newRequestId();
    await new Promise<void>((resolve, reject) => {
      this.#pending.push({ tenant, rec, payload, opts: { ...opts, requestId }, resolve, reject });
      if (this.#pending.length === 1) setImmediate(() => this.#startFlush());
    });
    return { requestId };
  }

  #startFlush(): void {
    const p = this.#flush().finally(() => this.#flushing.delete(p));
    this.#flushing.add(p);
  }

  /**
   * Group commit: the accepts of one event-loop turn are stored in one transaction, and each caller
   * is answered only after it committed (a commit, not a row, is what costs).
   */
  async #flush(): Promise<void> {
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    const row = (b: PendingAccept): NewAsyncEvent => ({
      requestId: b.opts.requestId!,
      tenantId: b.tenant.id,
      functionName: b.rec.name,
      functionArn: b.rec.arn,
      // A qualified name or ARN (`fn:live`) runs that alias or version when the event is dispatched.
      qualifier: b.opts.qualifier ?? b.rec.qualifier,
      payload: b.payload,
      source: b.opts.source ?? { kind: 'api' },
      chainDepth: 0,
    });
    const keys = new Set(batch.map((b) => `${b.tenant.id}|${b.rec.arn}`));
    try {
      const now = await this.#storeNow();
      await this.#d.store.insertAll(batch.map(row), now);
    } catch {
      // One bad entry must not fail the others: store them one by one.
      for (const b of batch) {
        try {
          await this.#d.store.insert(row(b), await this.#storeNow());
        } catch (e) {
          b.reject(unavailable(e));
          continue;
        }
        b.resolve();
      }
      this.#announce(keys);
      return;
    }
    for (const b of batch) b.resolve();
    this.#announce(keys);
  }

  /**
   * Stores one event (its own commit; or inside the caller's transaction `q`, as schedules do, when it is
   * durable at the caller's commit) and wakes dispatch on every node.
   */
  async accept(
    tenant: Tenant,
    rec: FunctionRecord,
    payload: Buffer,
    opts: AsyncInvokeOptions = {},
    chainDepth = 0,
    q?: SqlExecutor,
  ): Promise<string> {
    const requestId = opts.requestId ?? newRequestId();
    const source: AsyncSource = opts.source ?? { kind: 'api' };
    const key = `${tenant.id}|${rec.arn}`;
    await this.#d.store.insert(
      {
        requestId,
        tenantId: tenant.id,
        functionName: rec.name,
        functionArn: rec.arn,
        qualifier: opts.qualifier ?? rec.qualifier,
        payload,
        source,
        chainDepth,
      },
      await this.#storeNow(),
      q,
    );
    if (q?.dialect === 'postgres') {
      // Sent at the caller's commit (NOTIFY is transactional), to every node including this one.
      await q.run('SELECT pg_notify(?, ?)', [ASYNC_CHANNEL, `\n${key}`]);
    } else {
      // SQLite: a kick's query waits for the caller's transaction to end, so it sees the row.
      this.#announce([key]);
    }
    return requestId;
  }

  async start(): Promise<void> {
    await this.#d.store.ready();
    await this.#storeClock.start();
    this.#unlisten = await this.#d.sql.listen(ASYNC_CHANNEL, (p) => this.#heard(p));
    const now = await this.#storeNow();
    if (this.#d.sql.dialect === 'sqlite') {
      // One node by construction: whatever was running belonged to the process that died.
      const keys = await this.#d.store.takeOver(now, true);
      if (keys.length > 0) console.log('kindling: async: events in flight at the last stop are queued again');
    }
    await this.#d.store.prune(now - RETENTION_MS);
    this.#pruneTimer = setInterval(() => {
      void this.#storeNow()
        .then((t) => this.#d.store.prune(t - RETENTION_MS))
        .catch(log('prune failed'));
    }, 60 * 60_000);
    this.#pruneTimer.unref();
    this.#scanTimer = setInterval(() => void this.#scan().catch(log('scan failed')), this.#scanMs);
    this.#scanTimer.unref();
    const renewEvery = Math.max(10, Math.floor(this.#d.config.leaseMs / 3));
    this.#renewTimer = setInterval(() => void this.#renew().catch(log('lease renewal failed')), renewEvery);
    this.#renewTimer.unref();
    this.wake();
  }

  /** A full scan for due events of every function (start, retry timer, concurrency change); once per tick. */
  wake(): void {
    if (this.#wakePending || this.#stopping) return;
    this.#wakePending = true;
    setImmediate(() => {
      this.#wakePending = false;
      void this.#pump().catch(log('dispatch failed'));
    });
  }

  /**
   * A function's concurrency changed: its throttled events need not wait out their backoff.
   * Called by the part on function updates.
   */
  async functionChanged(tenantId: string, functionArn: string): Promise<void> {
    if (this.#closed) return;
    const key = `${tenantId}|${functionArn}`;
    this.#slots.unpause(key);
    await this.#d.store.releaseThrottled(tenantId, functionArn, await this.#storeNow());
    this.#announce([key]);
  }

  /**
   * The store's clock: estimated from the measured offset (kept current by StoreClock) once started, so
   * accepts and claims cost no extra round trip; asked of the store before that.
   */
  async #storeNow(): Promise<number> {
    if (this.#storeClock.synced) return this.#storeClock.now();
    const t = await this.#d.sql.now();
    this.#offset = t - this.#clock();
    return t;
  }

  /** A store time from this node's clock and the last measured offset (for timers only). */
  #estimatedStoreNow(): number {
    if (this.#storeClock.synced) return this.#storeClock.now();
    return this.#clock() + this.#offset;
  }

  /** Wakes this node's dispatch for these functions and tells the other nodes. */
  #announce(keys: Iterable<string>): void {
    for (const k of keys) {
      this.#kick(k);
      this.#tellOthers(k);
    }
  }

  #tellOthers(line: string): void {
    if (this.#closed) return;
    this.#outbox.add(line);
    if (this.#outboxPending) return;
    this.#outboxPending = true;
    setImmediate(() => {
      this.#outboxPending = false;
      const lines = [...this.#outbox];
      this.#outbox.clear();
      let payload = [this.#d.config.nodeId, ...lines].join('\n');
      if (Buffer.byteLength(payload) > MAX_NOTIFY_BYTES) payload = this.#d.config.nodeId;
      // Losing a wake-up costs at most one scan period (the periodic scan finds the work).
      void this.#d.sql.notify(ASYNC_CHANNEL, payload).catch(log('notify failed'));
    });
  }

  /** Another node (or a transaction's NOTIFY) says: these functions have work, or a retry is due then. */
  #heard(payload: string): void {
    if (this.#stopping) return;
    const [origin, ...lines] = payload.split('\n');
    if (origin === this.#d.config.nodeId) return;
    if (lines.length === 0) {
      this.wake();
      return;
    }
    for (const line of lines) {
      if (line.startsWith('at:')) this.#armAt(Number(line.slice(3)));
      else if (line) this.#kick(line);
    }
  }

  /**
   * A function got an event or a free slot: claim and start its due events (an indexed query for that
   * function, so a busy function's backlog is never rescanned per accept). Coalesced per tick; one fill
   * per function at a time.
   */
  #kick(key: string): void {
    if (this.#stopping || this.#closed) return;
    this.#kicked.add(key);
    if (this.#kickPending) return;
    this.#kickPending = true;
    setImmediate(() => {
      this.#kickPending = false;
      for (const k of [...this.#kicked]) {
        if (this.#filling.has(k)) continue;
        this.#kicked.delete(k);
        const p = this.#fill(k)
          .catch(log(`dispatch of ${k} failed`))
          .finally(() => {
            this.#filling.delete(k);
            // Kicked again while being filled: fill again.
            if (this.#kicked.has(k)) {
              this.#kicked.delete(k);
              this.#kick(k);
            }
          });
        this.#filling.set(k, p);
      }
    });
  }

  async #fill(key: string): Promise<void> {
    while (!this.#stopping && !this.#closed) {
      if ((await this.#claimAndStart(key)) === 0) return;
    }
  }

  #limitFor(tenant: Tenant | undefined, rec: FunctionRecord | undefined): number {
    if (!tenant || !rec) return 1;
    // Reserved concurrency 0 still gets one probe at a time: it is throttled and retried, never dropped.
    if (rec.reservedConcurrency === 0) return 1;
    return rec.reservedConcurrency ?? tenant.concurrencyLimit ?? this.#d.config.tenantConcurrency;
  }

  /** Claims as many of the function's due events as its limits allow and starts them; returns how many. */
  async #claimAndStart(key: string): Promise<number> {
    if (!this.#slots.canStart(key, this.#clock())) return 0;
    const sep = key.indexOf('|');
    const tenantId = key.slice(0, sep);
    const functionArn = key.slice(sep + 1);
    const tenant = await this.#d.tenants.get(tenantId);
    const name = parseFunctionArn(functionArn)?.name;
    const found = tenant && name !== undefined ? await this.#d.functions.get(tenantId, name) : undefined;
    // A function deleted and created again under the same name is another function.
    const rec = found?.arn === functionArn ? found : undefined;
    const functionLimit = this.#limitFor(tenant, rec);
    const tenantLimit = tenant?.concurrencyLimit ?? this.#d.config.tenantConcurrency;
    const room = Math.min(this.#slots.room(key, this.#clock(), functionLimit, tenantLimit), DUE_BATCH);
    if (room <= 0) return 0;
    // The slots are reserved while the claim is made: fills of the tenant's other functions run meanwhile.
    this.#slots.take(key, functionLimit, tenantLimit, room);
    let claimed: Claimed = { events: [], setAside: 0 };
    try {
      const now = await this.#storeNow();
      claimed = await this.#d.store.claim(
        tenantId,
        functionArn,
        room,
        { nodeId: this.#d.config.nodeId, now, leaseUntil: now + this.#d.config.leaseMs },
        this.#shared ? { function: functionLimit, tenant: tenantLimit } : undefined,
      );
      if (this.#stopping && claimed.events.length > 0) {
        // Claimed while stop began: hand them straight back.
        const ids = claimed.events.map((e) => e.id);
        claimed = { events: [], setAside: 0 };
        await this.#d.store.release(ids, this.#d.config.nodeId, now);
      }
    } finally {
      if (this.#slots.release(key, room - claimed.events.length)) this.wake();
    }
    for (const ev of claimed.events) this.#start(ev, key, tenant, rec);
    return claimed.events.length + claimed.setAside;
  }

  /** Due events of every function: each function's are claimed by its fill. The next retry arms a timer. */
  async #pump(): Promise<void> {
    if (this.#stopping || this.#closed) return;
    const now = await this.#storeNow();
    for (const key of await this.#d.store.dueFunctions(now, DUE_BATCH)) this.#kick(key);
    const next = await this.#d.store.nextDueAfter(now);
    if (next !== undefined) this.#armAt(next);
  }

  /** The periodic scan: claims whose leases ran out (their node died) go back to the queue, then a pump. */
  async #scan(): Promise<void> {
    if (this.#stopping || this.#closed) return;
    const keys = await this.#d.store.takeOver(await this.#storeNow());
    if (keys.length > 0) {
      console.error(`kindling: async: took over events of ${keys.length} function(s) whose claims lapsed`);
      this.#announce(keys);
    }
    await this.#pump();
  }

  async #renew(): Promise<void> {
    if (this.#closed || this.#running.size === 0) return;
    const now = await this.#storeNow();
    await this.#d.store.renew(this.#d.config.nodeId, now + this.#d.config.leaseMs);
  }

  /** Runs a claimed event in the slot reserved for it. */
  #start(ev: AsyncEvent, key: string, tenant: Tenant | undefined, rec: FunctionRecord | undefined): void {
    const p = this.#run(ev, tenant, rec)
      .catch(log('dispatch failed'))
      .finally(() => {
        this.#running.delete(ev.id);
        // Other functions of a tenant that was full may be waiting: they need a full scan.
        if (this.#slots.release(key)) this.wake();
        this.#kick(key);
        // A slot counted in the database is free: nodes waiting for it may claim.
        if (this.#shared) this.#tellOthers(key);
      });
    this.#running.set(ev.id, p);
  }

  /** Sleeps until store time `at` (or an earlier time already armed), then scans for due events. */
  #armAt(at: number): void {
    if (this.#stopping || this.#closed || !Number.isFinite(at) || at >= this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    // setTimeout's ceiling is about 24.8 days; a long wait just re-arms.
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Number.POSITIVE_INFINITY;
        void this.#pump().catch(log('dispatch failed'));
      },
      Math.min(Math.max(0, at - this.#estimatedStoreNow()), 2 ** 31 - 1),
    );
  }

  async #run(ev: AsyncEvent, tenant: Tenant | undefined, rec: FunctionRecord | undefined): Promise<void> {
    const cfg = await this.#d.configs.effective(ev.tenantId, ev.functionArn, ev.qualifier);
    if (!tenant || !rec) {
      await this.#completion.fail(
        ev,
        tenant,
        undefined,
        cfg,
        'FunctionNotFound',
        {
          outcome: 'not-found',
          errorType: 'ResourceNotFoundException',
          errorMessage: `Function not found: ${ev.functionArn}`,
          status: 404,
        },
        await this.#storeNow(),
      );
      return;
    }
    const startedAt = await this.#storeNow();
    if (tooOld(ev, cfg, startedAt)) {
      await this.#completion.fail(ev, tenant, rec, cfg, 'EventAgeExceeded', undefined, startedAt);
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
    const now = await this.#storeNow();
    const step = nextStep(ev, result, cfg, this.#d.config.retryBaseMs, now);
    if (result.outcome === 'throttled') {
      // The function has no room now: hold all its events back briefly, not just this one.
      this.#slots.pause(`${ev.tenantId}|${ev.functionArn}`, this.#clock() + this.#d.config.retryBaseMs);
      this.#armAt(now + this.#d.config.retryBaseMs);
    }
    let held: boolean;
    switch (step.kind) {
      case 'succeed':
        held = await this.#completion.succeed(ev, tenant, cfg, result, now);
        break;
      case 'fail':
        held = await this.#completion.fail(
          ev,
          tenant,
          step.condition === 'FunctionNotFound' ? undefined : rec,
          cfg,
          step.condition,
          result,
          now,
        );
        break;
      case 'retry':
        held = await this.#completion.retry(ev, result, now, step.at);
        if (held) {
          this.#armAt(step.at);
          this.#tellOthers(`at:${step.at}`);
        }
        break;
    }
    if (!held && !this.#closed) {
      console.error(
        `kindling: async: event ${ev.requestId} was taken over by another node while it ran here; its result here is dropped`,
      );
    }
  }

  /** Stop dispatching; let running events finish until the deadline, then put the rest back in the queue. */
  async stop(deadlineMs: number): Promise<void> {
    this.#stopping = true;
    // Accepts waiting for their group commit are stored now: they were promised a 202.
    do {
      if (this.#pending.length > 0) this.#startFlush();
      await Promise.allSettled([...this.#flushing]);
    } while (this.#pending.length > 0 || this.#flushing.size > 0);
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#scanTimer) clearInterval(this.#scanTimer);
    if (this.#pruneTimer) clearInterval(this.#pruneTimer);
    await Promise.allSettled([...this.#filling.values()]);
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
    if (left.length > 0) {
      // If the store is gone, the leases run out and another node (or the next start) takes them over.
      await this.#storeNow()
        .then((now) => this.#d.store.release(left, this.#d.config.nodeId, now))
        .catch(log('handing back running events failed'));
    }
    if (this.#renewTimer) clearInterval(this.#renewTimer);
    this.#storeClock.stop();
    this.#unlisten?.();
    this.#closed = true;
  }
}

/** A store that cannot be reached is the service's failure (ServiceException), not the caller's. */
function unavailable(e: unknown): unknown {
  return e instanceof StoreUnavailableError
    ? LambdaErrors.service('The async invocation store is unavailable.')
    : e;
}
