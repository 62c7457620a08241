// The warming pools, one per pool key (runtime, network mode, /tmp size), and the runtimes they hold,
// built on first use from the registry. Admins fix a key's target (`nodejs20.x+net`); other keys follow
// demand, and only each runtime's default key keeps a floor.

import type { PlatformConfig } from '../config.js';
import { KindlingError, LambdaErrors } from '../errors.js';
import {
  DEFAULT_TMP_MB,
  isDefaultPool,
  type PoolKey,
  parsePoolKeyName,
  poolKeyName,
} from '../pool/pool-key.js';
import { StartGate } from '../pool/start-gate.js';
import { WarmingPool } from '../pool/warming-pool.js';
import { DEFAULT_RUNTIME, type RuntimeEntry, runtimeByPoolName, runtimeEntry } from '../runtimes/registry.js';
import type { Runtime, RuntimeOptions } from '../runtimes/runtime.js';
import type { SandboxDriver } from '../sandbox/driver.js';
import type { PoolStats, RuntimeCloneStats } from './types.js';

export class Pools {
  private readonly runtimes = new Map<string, Runtime>();
  private readonly pools = new Map<string, WarmingPool>();
  /** One turn-taking for every pool's cold starts: they compete for the same cores. */
  private readonly gate = new StartGate();
  private readonly fixedTargets = new Map<string, number | undefined>();
  private started = false;

  constructor(
    private readonly config: Pick<PlatformConfig, 'poolMin' | 'poolMax' | 'poolTarget'>,
    private readonly driver: SandboxDriver,
    private readonly runtimeOptions: RuntimeOptions,
  ) {}

  /** The runtime of a registry entry, built once (per pool name: nodejs22.x and nodejs24.x differ). */
  runtime(entry: RuntimeEntry): Runtime {
    let rt = this.runtimes.get(entry.poolName);
    if (rt === undefined) {
      rt = entry.create(this.runtimeOptions);
      // A driver that cannot hold the image says so now, not at every pool fill.
      this.driver.accept?.(rt.image);
      this.runtimes.set(entry.poolName, rt);
    }
    return rt;
  }

  /** Begins filling the default runtime's default pool; pools made from now on start at once. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.poolFor(DEFAULT_RUNTIME, {
      runtime: DEFAULT_RUNTIME.poolName,
      networkOutbound: false,
      tmpSizeMB: DEFAULT_TMP_MB,
    }).start();
  }

  /** Fixed target for an admin's runtime key (`nodejs20.x`, `nodejs20.x+net`); undefined follows demand. */
  setTarget(runtimeKey: string, n: number | undefined): void {
    const parsed = parsePoolKeyName(runtimeKey);
    const entry = parsed !== undefined ? runtimeByPoolName(parsed.runtime) : undefined;
    if (parsed === undefined || entry === undefined) {
      throw LambdaErrors.invalidParameter(
        `Unknown runtime key ${runtimeKey}; use nodejs20.x or nodejs20.x+net`,
      );
    }
    const missing = entry.describe().missing;
    if (missing !== undefined) throw LambdaErrors.invalidParameter(`Runtime ${entry.poolName}: ${missing}.`);
    // Every name of a runtime shares its pools: one per network mode and /tmp size.
    const key: PoolKey = { ...parsed, runtime: entry.poolName };
    const name = poolKeyName(key);
    this.fixedTargets.set(name, n);
    const pool = this.pools.get(name);
    if (pool !== undefined) pool.setTarget(n);
    else this.poolFor(entry, key);
  }

  /** The pool a version's environments come from; InvalidRuntimeException when no runtime serves it. */
  forSpec(spec: { runtime: string; networkOutbound: boolean; ephemeralStorageMB: number }): WarmingPool {
    const entry = runtimeEntry(spec.runtime);
    if (entry === undefined) {
      throw new KindlingError(
        'InvalidRuntimeException',
        502,
        `The runtime parameter of ${spec.runtime} is not supported.`,
        { Type: 'User' },
      );
    }
    // A function stored before its runtime went away (or from a node that has it): refused, never run on
    // another version.
    const missing = entry.describe().missing;
    if (missing !== undefined) {
      throw new KindlingError(
        'InvalidRuntimeException',
        502,
        `The runtime parameter of ${spec.runtime} is not supported: ${missing}.`,
        { Type: 'User' },
      );
    }
    return this.poolFor(entry, {
      runtime: entry.poolName,
      networkOutbound: spec.networkOutbound,
      tmpSizeMB: spec.ephemeralStorageMB || DEFAULT_TMP_MB,
    });
  }

  all(): WarmingPool[] {
    return [...this.pools.values()];
  }

  stats(): PoolStats[] {
    return this.all().map((p) => p.stats());
  }

  /** Clone counters of the runtimes whose pool misses are clones, by pool name. */
  cloneStats(): RuntimeCloneStats[] {
    const out: RuntimeCloneStats[] = [];
    for (const [runtime, rt] of this.runtimes) {
      const s = rt.cloneStats?.();
      if (s !== undefined) out.push({ runtime, ...s });
    }
    return out;
  }

  /** Stops what the runtimes run beside their sandboxes (zygotes). */
  async closeRuntimes(): Promise<void> {
    await Promise.all([...this.runtimes.values()].map((rt) => rt.close?.()));
  }

  private poolFor(entry: RuntimeEntry, key: PoolKey): WarmingPool {
    const name = poolKeyName(key);
    let pool = this.pools.get(name);
    if (pool === undefined) {
      const fixed = this.fixedTargets.has(name) ? this.fixedTargets.get(name) : this.config.poolTarget;
      const floor = isDefaultPool(key);
      pool = new WarmingPool({
        runtime: this.runtime(entry),
        driver: this.driver,
        key,
        // Only the default key keeps a floor; others exist while they see demand.
        min: floor ? this.config.poolMin : 0,
        max: this.config.poolMax,
        target: floor || this.fixedTargets.has(name) ? fixed : undefined,
        gate: this.gate,
        onError: (e) =>
          this.runtimeOptions.warn(`warming pool ${name}: sandbox failed to start: ${(e as Error).message}`),
      });
      this.pools.set(name, pool);
      if (this.started) pool.start();
    }
    return pool;
  }
}
