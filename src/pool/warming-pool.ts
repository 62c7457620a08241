// The warming pool of one runtime key: keeps N sandboxes `ready` (runtime up, no code, no tenant),
// refilled in the background. N is an admin's fixed target, or follows recent demand: the peak number of
// sandboxes taken (pool hits plus cold starts) per window over the last minute, within min..max.

import { randomBytes } from 'node:crypto';
import type { ExecutionEnvironment, Runtime } from '../runtimes/runtime.js';
import type { SandboxDriver, SandboxVolume } from '../sandbox/driver.js';
import { type PoolKey, poolKeyName } from './pool-key.js';
import type { StartGate } from './start-gate.js';

/** Same shape as worker/types.ts PoolStats (the pool does not import upwards). */
export interface PoolStats {
  runtimeKey: string;
  ready: number;
  starting: number;
  target: number;
  mode: 'fixed' | 'demand';
}

export interface WarmingPoolOptions {
  /** The runtime its sandboxes hold, started with this driver. */
  runtime: Runtime;
  driver: SandboxDriver;
  key: PoolKey;
  min: number;
  max: number;
  /** Fixed target; undefined follows demand. */
  target?: number | undefined;
  /** How many sandboxes may boot at once (boots are CPU-heavy). */
  parallelStarts?: number;
  /** Shared by a worker's pools: the cold starts of requests take turns through it. */
  gate?: StartGate;
  windowMs?: number;
  windows?: number;
  onError?: (e: unknown) => void;
}

/** How long a pool hit defers booting its replacement (see take). */
const REFILL_AFTER_HIT_MS = 50;

export function newSandboxId(): string {
  return `env-${randomBytes(8).toString('hex')}`;
}

export class WarmingPool {
  readonly key: PoolKey;
  readonly name: string;
  private readonly ready: ExecutionEnvironment[] = [];
  private starting = 0;
  private fixed: number | undefined;
  private closed = false;
  private backoffUntil = 0;
  private readonly counts: number[];
  private windowStart = Date.now();
  private refillTimer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<ExecutionEnvironment>>();

  constructor(private readonly opts: WarmingPoolOptions) {
    this.key = opts.key;
    this.name = poolKeyName(opts.key);
    this.fixed = opts.target;
    this.counts = new Array<number>(opts.windows ?? 6).fill(0);
  }

  /** Begins filling. */
  start(): void {
    this.refill();
  }

  target(): number {
    if (this.fixed !== undefined) return Math.max(0, Math.min(this.fixed, this.opts.max));
    this.roll();
    const peak = Math.max(...this.counts);
    return Math.max(this.opts.min, Math.min(this.opts.max, peak));
  }

  setTarget(n: number | undefined): void {
    this.fixed = n;
    this.trim();
    this.refill();
  }

  /** A ready sandbox, if there is one (a pool hit). Counts as demand either way. */
  take(): ExecutionEnvironment | undefined {
    this.recordDemand();
    let rp = this.ready.pop();
    while (rp !== undefined && !rp.alive()) {
      void rp.retire();
      rp = this.ready.pop();
    }
    // Not at once: booting the replacement (a spawn on this thread, then a runtime's start on a core) would
    // compete with the bind and first invoke of the one just taken, which a caller is waiting for.
    if (rp !== undefined) this.scheduleRefill(REFILL_AFTER_HIT_MS);
    else this.refill();
    return rp;
  }

  /**
   * Starts a sandbox outside the pool (a cold start when the pool was empty, or one that mounts a volume:
   * pool sandboxes have none, and a mount made after start would arrive with the wrong flags).
   */
  startNew(tenantId?: string, volume?: SandboxVolume): Promise<ExecutionEnvironment> {
    const spec = volume === undefined ? this.spec() : { ...this.spec(), volume };
    const start = () =>
      this.opts.runtime.start(this.opts.driver, spec, tenantId === undefined ? {} : { tenantId });
    return this.opts.gate === undefined ? start() : this.opts.gate.run(start);
  }

  stats(): PoolStats {
    return {
      runtimeKey: this.name,
      ready: this.ready.length,
      starting: this.starting,
      target: this.target(),
      mode: this.fixed === undefined ? 'demand' : 'fixed',
    };
  }

  /** Pings every ready sandbox; replaces the ones that do not answer. */
  async healthCheck(timeoutMs = 1000): Promise<void> {
    const snapshot = [...this.ready];
    await Promise.all(
      snapshot.map(async (rp) => {
        if (await rp.ping(timeoutMs)) return;
        const i = this.ready.indexOf(rp);
        if (i >= 0) this.ready.splice(i, 1);
        await rp.retire();
      }),
    );
    this.trim();
    this.refill();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.refillTimer);
    const all = this.ready.splice(0);
    await Promise.all(all.map((rp) => rp.retire()));
    // Sandboxes still booting destroy themselves once up (closed is set); wait so none outlives close().
    await Promise.allSettled([...this.inFlight].map((p) => p.then((rp) => rp.retire())));
  }

  private spec() {
    return { id: newSandboxId(), networkOutbound: this.key.networkOutbound, tmpSizeMB: this.key.tmpSizeMB };
  }

  private recordDemand(): void {
    this.roll();
    this.counts[this.counts.length - 1]! += 1;
  }

  private roll(): void {
    const w = this.opts.windowMs ?? 10_000;
    const now = Date.now();
    while (now - this.windowStart >= w) {
      this.counts.shift();
      this.counts.push(0);
      this.windowStart += w;
      if (now - this.windowStart > w * this.counts.length) this.windowStart = now;
    }
  }

  /** Retires ready sandboxes above the target (after an admin lowered it, or demand fell). */
  private trim(): void {
    const t = this.target();
    while (this.ready.length > t) {
      const rp = this.ready.shift();
      if (rp !== undefined) void rp.retire();
    }
  }

  private refill(): void {
    if (this.closed) return;
    const parallel = this.opts.parallelStarts ?? 2;
    const now = Date.now();
    if (now < this.backoffUntil) {
      this.scheduleRefill(this.backoffUntil - now);
      return;
    }
    while (this.ready.length + this.starting < this.target() && this.starting < parallel) {
      this.starting++;
      const started = this.opts.runtime.start(this.opts.driver, this.spec());
      this.inFlight.add(started);
      const settled = () => this.inFlight.delete(started);
      started.then(settled, settled);
      started.then(
        (rp) => {
          this.starting--;
          if (this.closed || this.ready.length >= this.target()) {
            void rp.retire();
            return;
          }
          this.ready.push(rp);
          // A ready sandbox that dies (killed from outside) leaves the pool at once.
          void rp.exited.then(() => {
            const i = this.ready.indexOf(rp);
            if (i >= 0) {
              this.ready.splice(i, 1);
              void rp.retire();
              this.refill();
            }
          });
          this.refill();
        },
        (e: unknown) => {
          this.starting--;
          if (this.closed) return;
          this.backoffUntil = Date.now() + 1000;
          this.opts.onError?.(e);
          this.refill();
        },
      );
    }
  }

  private scheduleRefill(ms: number): void {
    if (this.refillTimer !== undefined) return;
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined;
      this.refill();
    }, ms);
    this.refillTimer.unref();
  }
}
