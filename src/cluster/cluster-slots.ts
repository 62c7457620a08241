// Concurrency limits across the cluster (PostgreSQL). Each node holds grants of slots per limit key (a
// function's reserved concurrency, a tenant's limit) in the database, and the sum of every live node's
// grants never exceeds the limit. An invocation takes a slot from its node's grants with no round trip;
// only when they are used up does the node ask the database for more (a block at a time), and grants
// left idle go back within a sweep, or at once when another node asks for that key. A dead node's grants
// stop counting when its heartbeat lapses. Over a limit, a request waits like a local one (queueWaitMs),
// then gets TooManyRequestsException. On SQLite (one node) the worker's own ledger is the only one.
import type { PlatformConfig } from '../config.js';
import { LambdaErrors } from '../errors.js';
import type {
  FunctionVersionSpec,
  InvocationResult,
  InvokeOptions,
  Worker,
  WorkerStats,
} from '../worker/types.js';
import type { NodeRepo, SlotLimit } from './node-repo.js';

const RETRY_MS = 25;
/** Idle grants above the last sweep window's peak go back this often. */
const SWEEP_MS = 250;
/** Most slots asked for at once: grants grow with use, doubling, up to this. */
const MAX_BLOCK = 16;
/** Nodes ask each other for a key's idle grants at most this often. */
const WANT_EVERY_MS = 100;
const WANT_CHANNEL = 'kindling_slots_wanted';

export interface ClusterSlotsOptions {
  repo: NodeRepo;
  nodeId: string;
  /** The store's clock, estimated without a round trip (ClusterNode.storeNow); default: ask the store. */
  storeNow?: () => number | Promise<number>;
  config: Pick<PlatformConfig, 'leaseMs' | 'queueWaitMs'>;
  /** How often idle grants go back (default 250 ms; tests lengthen it to see the asking path alone). */
  sweepMs?: number;
}

interface Grant {
  /** Slots of the key this node holds in the database (never more than it recorded there). */
  granted: number;
  /** Of those, taken by running invocations. */
  used: number;
  /** Most used since the last sweep: what stays granted. */
  peak: number;
  growing?: Promise<void>;
  wantedAt: number;
}

/** This node's grants of every limit key, and the invocations waiting for one. */
export class SlotGrants {
  readonly #grants = new Map<string, Grant>();
  readonly #waiters = new Set<() => void>();
  #sweeper: NodeJS.Timeout | undefined;
  #unlisten: (() => void) | undefined;

  constructor(private readonly opts: ClusterSlotsOptions) {}

  /** Listens for other nodes asking for idle grants and starts the sweep. */
  async start(): Promise<void> {
    this.#unlisten = await this.opts.repo.sql.listen(WANT_CHANNEL, (payload) => {
      const [from, key] = splitWant(payload);
      // #giveBack reports its own failures.
      if (from !== this.opts.nodeId && key !== undefined) void this.#giveBack(key, 0);
    });
    this.#sweeper = setInterval(() => this.#sweep(), this.opts.sweepMs ?? SWEEP_MS);
    this.#sweeper.unref();
  }

  /** Returns every grant (a node that stops). */
  async stop(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#unlisten?.();
    await Promise.all([...this.#grants.keys()].map((k) => this.#giveBack(k, 0)));
  }

  /** Takes one slot of every limit, waiting up to queueWaitMs; else the limit that stayed full. */
  async acquire(limits: readonly SlotLimit[]): Promise<SlotLimit | undefined> {
    const until = Date.now() + this.opts.config.queueWaitMs;
    for (;;) {
      if (this.#take(limits)) return undefined;
      await Promise.all(limits.filter((l) => this.#full(l)).map((l) => this.#grow(l)));
      if (this.#take(limits)) return undefined;
      const full = limits.find((l) => this.#full(l));
      // Taken by another invocation between the grant and here: try again.
      if (full === undefined) continue;
      if (Date.now() + RETRY_MS > until) return full;
      for (const l of limits) if (this.#full(l)) this.#want(l.key);
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, RETRY_MS);
        this.#waiters.add(wake);
      });
    }
  }

  release(limits: readonly SlotLimit[]): void {
    for (const l of limits) {
      const g = this.#grants.get(l.key);
      if (g !== undefined && g.used > 0) g.used--;
    }
    for (const wake of [...this.#waiters]) wake();
  }

  /** Slots held and used per key (stats, tests). */
  held(key: string): { granted: number; used: number } {
    const g = this.#grants.get(key);
    return { granted: g?.granted ?? 0, used: g?.used ?? 0 };
  }

  #grant(key: string): Grant {
    let g = this.#grants.get(key);
    if (g === undefined) {
      g = { granted: 0, used: 0, peak: 0, wantedAt: 0 };
      this.#grants.set(key, g);
    }
    return g;
  }

  /** No free slot in this node's grant (or the limit itself, lowered since, is reached here). */
  #full(l: SlotLimit): boolean {
    const g = this.#grant(l.key);
    return g.used >= g.granted || g.used >= l.limit;
  }

  #take(limits: readonly SlotLimit[]): boolean {
    if (limits.some((l) => this.#full(l))) return false;
    for (const l of limits) {
      const g = this.#grant(l.key);
      g.used++;
      g.peak = Math.max(g.peak, g.used);
    }
    return true;
  }

  /** Asks the database for more slots of a key; concurrent askers share one round trip. */
  #grow(l: SlotLimit): Promise<void> {
    const g = this.#grant(l.key);
    g.growing ??= (async () => {
      try {
        const now =
          this.opts.storeNow !== undefined ? await this.opts.storeNow() : await this.opts.repo.sql.now();
        // Doubling with use, so a burst takes few round trips and a trickle holds one slot.
        const want = Math.max(1, Math.min(MAX_BLOCK, g.granted, l.limit - g.granted));
        g.granted += await this.opts.repo.grow(this.opts.nodeId, l, want, now - this.opts.config.leaseMs);
      } finally {
        g.growing = undefined;
      }
    })();
    return g.growing;
  }

  /** Gives back the key's grants above `keep` slots more than are in use. */
  async #giveBack(key: string, keep: number): Promise<void> {
    const g = this.#grants.get(key);
    if (g === undefined) return;
    const excess = g.granted - g.used - keep;
    if (excess <= 0) return;
    // Counted down here before the database: the database never holds fewer than this node may use.
    g.granted -= excess;
    g.peak = g.used;
    try {
      await this.opts.repo.shrink(this.opts.nodeId, key, excess);
    } catch (e) {
      console.error(`kindling: giving back cluster slots failed (they lapse with the node): ${e}`);
    }
    if (g.granted === 0 && g.used === 0 && g.growing === undefined) this.#grants.delete(key);
  }

  #sweep(): void {
    for (const [key, g] of this.#grants) {
      const keep = g.peak - g.used;
      g.peak = g.used;
      void this.#giveBack(key, Math.max(0, keep));
    }
  }

  #want(key: string): void {
    const g = this.#grant(key);
    if (Date.now() - g.wantedAt < WANT_EVERY_MS) return;
    g.wantedAt = Date.now();
    void this.opts.repo.sql
      .notify(WANT_CHANNEL, `${this.opts.nodeId} ${key}`)
      .catch((e: unknown) => console.error(`kindling: asking other nodes for cluster slots failed: ${e}`));
  }
}

function splitWant(payload: string): [string, string | undefined] {
  const i = payload.indexOf(' ');
  return i < 0 ? [payload, undefined] : [payload.slice(0, i), payload.slice(i + 1)];
}

/** The worker, with cluster-wide admission in front of its own. */
export function withClusterSlots(
  worker: Worker,
  slots: SlotGrants,
  opts: { afterInvoke?: () => void },
): Worker {
  const listeners = new Set<(tenantId: string, functionArn: string) => void>();
  const throttle = (spec: FunctionVersionSpec, reserved: boolean) => {
    for (const l of listeners) l(spec.tenantId, spec.functionArn);
    return reserved
      ? LambdaErrors.tooManyRequests('Rate Exceeded.', 'ReservedFunctionConcurrentInvocationLimitExceeded')
      : LambdaErrors.tooManyRequests('Rate Exceeded.', 'ConcurrentInvocationLimitExceeded');
  };
  return {
    async invoke(spec: FunctionVersionSpec, payload: Buffer, o: InvokeOptions): Promise<InvocationResult> {
      // Reserved concurrency 0 is refused by the worker at once, with no database round trip.
      if (spec.reservedConcurrency === 0) return worker.invoke(spec, payload, o);
      const limits: SlotLimit[] = [{ key: `tenant:${spec.tenantId}`, limit: o.tenantConcurrency }];
      if (spec.reservedConcurrency !== undefined)
        limits.push({ key: `fn:${spec.functionArn}`, limit: spec.reservedConcurrency });
      const full = await slots.acquire(limits);
      if (full !== undefined) throw throttle(spec, full.key.startsWith('fn:'));
      try {
        return await worker.invoke(spec, payload, o);
      } finally {
        opts.afterInvoke?.();
        slots.release(limits);
      }
    },
    // Prewarmed environments run no request: nothing cluster-wide to hold; they are this node's.
    prewarm: (spec, count, untilMs, o) => worker.prewarm(spec, count, untilMs, o),
    retireFunction: (arn, keep, version) => worker.retireFunction(arn, keep, version),
    retireTenant: (id) => worker.retireTenant(id),
    stats: (): WorkerStats => worker.stats(),
    onThrottle(listener) {
      listeners.add(listener);
      const off = worker.onThrottle(listener);
      return () => {
        listeners.delete(listener);
        off();
      };
    },
    drain: (deadline) => worker.drain(deadline),
  };
}
