// The worker manager: places each request on an execution environment (placement.ts) once admission
// (admission.ts) gives it a slot, binds fresh environments, invokes, turns the outcome into Lambda's answer
// and log (report.ts), then parks (keep-alive.ts) or retires the environment. It knows runtimes only as
// the registry's entries and environments only as ExecutionEnvironment; the sandbox driver is chosen
// outside (sandbox/select.ts).
import os from 'node:os';
import path from 'node:path';
import type { PlatformConfig } from '../config.js';
import { isDomainError, isKindlingError, KindlingError, LambdaErrors } from '../errors.js';
import { traceHeader } from '../ids.js';
import { DEFAULT_RUNTIME } from '../runtimes/registry.js';
import type { InvokeOutcome } from '../runtimes/runtime.js';
import { findBwrap } from '../sandbox/bwrap-driver.js';
import { detectIsolation, type IsolationReport, probeBwrap } from '../sandbox/isolation.js';
import { createSandbox, type SandboxSetup } from '../sandbox/select.js';
import { Admission } from './admission.js';
import type { EnvSlot } from './env-slot.js';
import { checkHealth } from './health.js';
import { KeepAlive } from './keep-alive.js';
import { IdleEnvironments, idleKey, place } from './placement.js';
import { Pools } from './pools.js';
import { report } from './report.js';
import { reservedEnv } from './reserved-env.js';
import type {
  FunctionVersionSpec,
  InvocationResult,
  InvokeOptions,
  PrewarmResult,
  RecycleReason,
  Worker,
  WorkerStats,
} from './types.js';

export { detectIsolation, type IsolationReport };

export interface WorkerLogger {
  warn(msg: string): void;
  info?(msg: string): void;
}

export interface WorkerManagerOptions {
  config: PlatformConfig;
  /**
   * The sandbox driver and its setup, chosen by the composition root (`createSandbox`). Without it the
   * manager builds one from the fields below.
   */
  sandbox?: SandboxSetup;
  /** The platform API's unix socket; sandboxes reach it through a relay inside each sandbox. */
  apiSocketPath?: string;
  /**
   * The port clients reach the API on (known once the server listens): the relay listens on it inside
   * each sandbox, so a queue URL or presigned URL handed to a client works unchanged in a function.
   * Without it the relay uses port 9001.
   */
  apiPort?: Promise<number>;
  /** Directory (under the data dir) holding one dir per environment. */
  envRoot?: string;
  /** Path of slirp4netns, the user-mode networking of outbound-granted tenants (default: found on PATH). */
  egressHelper?: string;
  /** Where runtimes build their files (Node: the SDK-only node_modules); default `<data dir>/runtime`. */
  runtimeCacheDir?: string;
  logger?: WorkerLogger;
  /** Told of every throttled request (TooManyRequestsException), whatever the reason. */
  onThrottle?: (tenantId: string, functionArn: string) => void;
  /**
   * Most environments (bound, busy or binding) alive at once; past it the least recently used idle one is
   * retired, and with none idle a new request is throttled. Default: one per 96 MB of host memory.
   */
  maxEnvironments?: number;
  /** Idle time before a busy environment gives back memory (default TRIM_AFTER_IDLE_MS; tests shorten it). */
  trimAfterIdleMs?: number;
}

export class WorkerManager implements Worker {
  readonly config: PlatformConfig;
  private readonly sandbox: SandboxSetup;
  private readonly logger: WorkerLogger;
  private readonly pools: Pools;
  private readonly idle = new IdleEnvironments();
  private readonly keepAlive: KeepAlive;
  private readonly admission: Admission;
  /** Every environment not retired, by id. */
  private readonly envs = new Map<string, EnvSlot>();
  private readonly counters = { pool: 0, cold: 0, warm: 0, recycled: 0, prewarmed: 0 };
  private readonly throttleListeners = new Set<(tenantId: string, functionArn: string) => void>();
  private healthTimer: NodeJS.Timeout | undefined;
  private draining = false;
  /** Environments being torn down (kill, cgroup and dir removal). */
  private readonly retiring = new Set<Promise<void>>();
  /** Invocations holding a concurrency slot (placing, binding or running). */
  private running = 0;
  private started = false;
  private firstTenant: string | undefined;
  private readonly maxEnvironments: number;
  /**
   * Environments being started (room made, not yet in `envs`): a cold start awaits its sandbox, and
   * concurrent ones would each see the same count and overshoot the cap together.
   */
  private reserved = 0;

  constructor(opts: WorkerManagerOptions) {
    this.config = opts.config;
    this.maxEnvironments =
      opts.maxEnvironments ??
      this.config.maxEnvironments ??
      Math.max(4, Math.floor(os.totalmem() / (96 * 1024 * 1024)));
    this.logger = opts.logger ?? { warn: (m) => console.warn(`kindling: ${m}`) };
    this.admission = new Admission(this.config, (tenantId, arn) => {
      opts.onThrottle?.(tenantId, arn);
      for (const l of this.throttleListeners) l(tenantId, arn);
    });
    this.keepAlive = new KeepAlive(
      this.idle,
      this.config.keepAliveMs,
      (s) => this.retire(s),
      opts.trimAfterIdleMs,
    );
    if (opts.sandbox !== undefined) this.sandbox = opts.sandbox;
    else {
      if (opts.envRoot === undefined || opts.apiSocketPath === undefined)
        throw new Error('WorkerManager needs a sandbox setup, or envRoot and apiSocketPath to make one');
      this.sandbox = createSandbox({
        mode: this.config.sandbox,
        envRoot: opts.envRoot,
        apiSocketPath: opts.apiSocketPath,
        relayPort: opts.apiPort,
        ...(opts.egressHelper !== undefined && { egressHelper: opts.egressHelper }),
        warn: (m) => this.logger.warn(m),
      });
    }
    this.pools = new Pools(this.config, this.sandbox.driver, {
      cacheDir: opts.runtimeCacheDir ?? path.join(this.config.dataDir, 'runtime'),
      warn: (m) => this.logger.warn(m),
      ...(this.logger.info !== undefined && { info: (m: string) => this.logger.info?.(m) }),
    });
    // Built now, not at the first request: the Node runtime prepares its SDK tree here.
    this.pools.runtime(DEFAULT_RUNTIME);
  }

  get driverName(): string {
    return this.sandbox.driver.name;
  }

  /** Begins filling the default pool and periodic health checks. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.pools.start();
    const every = Math.max(100, this.config.healthCheckIntervalMs);
    let checking = false;
    this.healthTimer = setInterval(() => {
      // One check at a time: a slow one (hung environments wait out their timeout) is not stacked on.
      if (checking) return;
      checking = true;
      void this.healthCheck().finally(() => {
        checking = false;
      });
    }, every);
    this.healthTimer.unref();
  }

  /** Fixed warming-pool target for a runtime key (`nodejs20.x`, `nodejs20.x+net`); undefined follows demand. */
  setPoolTarget(runtimeKey: string, n: number | undefined): void {
    this.pools.setTarget(runtimeKey, n);
  }

  /** Subscribe to throttled requests (429), as admission reports them. Returns an unsubscribe function. */
  onThrottle(listener: (tenantId: string, functionArn: string) => void): () => void {
    this.throttleListeners.add(listener);
    return () => this.throttleListeners.delete(listener);
  }

  async doctor(): Promise<IsolationReport> {
    return this.sandbox.describe();
  }

  // ---- invoke ----

  async invoke(spec: FunctionVersionSpec, payload: Buffer, opts: InvokeOptions): Promise<InvocationResult> {
    if (this.draining) throw LambdaErrors.service('The worker is shutting down.');
    if (!this.sandbox.driver.isolatesTenants) {
      this.firstTenant ??= spec.tenantId;
      if (this.firstTenant !== spec.tenantId) {
        throw LambdaErrors.service('Kindling runs unsandboxed and refuses to serve more than one tenant.');
      }
    }
    const wait = this.admission.acquire(spec, opts.tenantConcurrency);
    if (wait !== undefined) await wait;
    this.running++;
    try {
      return await this.run(spec, payload, opts);
    } finally {
      this.running--;
      this.admission.release(spec);
    }
  }

  private async run(
    spec: FunctionVersionSpec,
    payload: Buffer,
    opts: InvokeOptions,
  ): Promise<InvocationResult> {
    // Granted but impossible here: a clear answer, never the host's network as a fallback.
    const egressProblem = spec.networkOutbound ? this.sandbox.driver.egress?.problem : undefined;
    if (egressProblem !== undefined) {
      throw LambdaErrors.service(
        `This tenant is granted outbound network, but this server cannot provide it: ${egressProblem}. Ask the administrator (kindling doctor).`,
      );
    }
    if (spec.volume !== undefined && this.sandbox.driver.mountsVolumes !== true) {
      throw new KindlingError(
        'EFSMountFailureException',
        403,
        `The function couldn't mount its file system: this server's sandbox driver (${this.sandbox.driver.name}) cannot mount volumes.`,
        { Type: 'User' },
      );
    }
    const pool = this.pools.forSpec(spec);
    let placed: Awaited<ReturnType<typeof place>>;
    let reserved = false;
    try {
      placed = await place(
        this.idle,
        idleKey(spec),
        pool,
        spec.singleUse !== true,
        () => {
          this.makeRoom(spec);
          this.reserved++;
          reserved = true;
        },
        spec.tenantId,
        spec.volume,
      );
    } catch (e) {
      if (isKindlingError(e) || isDomainError(e)) throw e;
      this.logger.warn(`could not start an environment: ${(e as Error).message}`);
      throw LambdaErrors.service('Could not start an execution environment.');
    } finally {
      // The new slot enters `envs` in #bind, in this same tick.
      if (reserved) this.reserved--;
    }
    const { slot, start } = placed;
    const env = slot.env;
    const requestId = opts.requestId;
    let initDurationMs: number | undefined;
    let compileCache: InvocationResult['compileCache'];
    let initLog = '';
    if (start === 'warm') {
      this.keepAlive.wake(slot);
      this.counters.warm++;
      // A prewarmed environment's init output is logged with its first request: nothing is lost.
      if (slot.initLog !== undefined) {
        initLog = slot.initLog;
        slot.initLog = undefined;
      }
    } else {
      this.counters[start]++;
      const bound = await this.#bind(slot, spec, opts, 'on-demand');
      initDurationMs = bound.initDurationMs;
      compileCache = bound.compileCache;
      initLog = bound.log;
      if (!bound.ok) {
        this.retire(slot);
        const outcome: InvokeOutcome =
          bound.payload !== undefined
            ? {
                status: 'error',
                payload: bound.payload,
                errorType: bound.errorType ?? 'Runtime.Unknown',
                fatal: true,
                log: '',
                durationMs: bound.initDurationMs,
              }
            : {
                status: bound.timedOut ? 'timeout' : 'exit',
                fatal: true,
                log: '',
                durationMs: bound.initDurationMs,
                ...(bound.exit ? { exit: bound.exit } : {}),
              };
        return this.finish(slot, {
          spec,
          requestId,
          start,
          outcome,
          initDurationMs,
          initLog,
          initFailed: true,
        });
      }
    }
    const outcome = await env.invoke({
      requestId,
      payload,
      deadline: Date.now() + spec.timeoutSec * 1000,
      clientContext: opts.clientContext,
      credentials: opts.credentials,
      traceId: opts.traceId ?? traceHeader(),
      stream: opts.stream,
    });
    const result = this.finish(slot, {
      spec,
      requestId,
      start,
      outcome,
      initDurationMs,
      initLog,
      initFailed: false,
    });
    return compileCache !== undefined ? { ...result, compileCache } : result;
  }

  /** Binds a fresh slot to the version: code linked, limits set, init run. A platform fault throws 503. */
  async #bind(
    slot: EnvSlot,
    spec: FunctionVersionSpec,
    opts: Pick<InvokeOptions, 'credentials'>,
    initType: 'on-demand' | 'provisioned-concurrency',
  ): Promise<Awaited<ReturnType<EnvSlot['env']['bind']>>> {
    const env = slot.env;
    slot.spec = spec;
    this.envs.set(slot.id, slot);
    const vars = reservedEnv(spec, env, opts, this.config.region, initType);
    slot.logStreamName = vars.AWS_LAMBDA_LOG_STREAM_NAME;
    try {
      return await env.bind({
        handler: spec.handler,
        codeDir: spec.codeDir,
        ...(spec.layersDir !== undefined && { layersDir: spec.layersDir }),
        memoryMB: spec.memoryMB,
        timeoutSec: spec.timeoutSec,
        ...(spec.networkOutbound && spec.egressAllow !== undefined && { egressAllow: spec.egressAllow }),
        env: vars,
        context: {
          functionName: spec.functionName,
          functionVersion: spec.version,
          memoryMB: spec.memoryMB,
          invokedFunctionArn:
            spec.version === '$LATEST' ? spec.functionArn : `${spec.functionArn}:${spec.version}`,
          logGroupName: vars.AWS_LAMBDA_LOG_GROUP_NAME!,
          logStreamName: vars.AWS_LAMBDA_LOG_STREAM_NAME!,
        },
      });
    } catch (e) {
      // Linking code or setting limits failed: a platform fault, not the function's.
      this.retire(slot);
      this.logger.warn(`binding ${spec.functionArn} failed: ${(e as Error).message}`);
      throw LambdaErrors.service('Could not prepare the execution environment.');
    }
  }

  /**
   * Warms environments of a version ahead of a burst (Kindling's pre-trigger): until `count` of them
   * exist, pool sandboxes are bound and their init run, then parked idle and kept at least until
   * `untilMs` (keep-alive as usual after that). Environments already bound to it count, and are kept as
   * long. Bounded by the tenant's concurrency limit (all its environments on this node) and the host's.
   */
  async prewarm(
    spec: FunctionVersionSpec,
    count: number,
    untilMs: number,
    opts: Pick<InvokeOptions, 'credentials' | 'tenantConcurrency'>,
  ): Promise<PrewarmResult> {
    if (this.draining) throw LambdaErrors.service('The worker is shutting down.');
    const key = idleKey(spec);
    const now = Date.now();
    let existing = 0;
    // The tenant's environments that hold concurrency: running (or starting), or kept warm on notice.
    // Idle ones are a cache, as on Lambda, and give way (the host's least recently used first).
    let held = 0;
    let evictable = 0;
    for (const slot of this.envs.values()) {
      const kept = isKept(slot, now);
      if (slot.state === 'bound' && !kept) evictable++;
      if (slot.spec?.tenantId !== spec.tenantId) continue;
      if (idleKey(slot.spec) === key && !slot.retireWhenIdle) {
        existing++;
        slot.keepUntil = Math.max(slot.keepUntil ?? 0, untilMs);
      } else if (slot.state !== 'bound' || kept) held++;
    }
    const wanted = Math.max(0, count - existing);
    const room = Math.max(
      0,
      Math.min(
        opts.tenantConcurrency - held - existing,
        this.maxEnvironments - this.envs.size - this.reserved + evictable,
      ),
    );
    const toStart = Math.min(wanted, room);
    // Room made before the starts, which run at once (each one's own check would see the same count).
    for (let over = this.envs.size + this.reserved + toStart - this.maxEnvironments; over > 0; over--) {
      const victim = this.idle.leastRecentlyUsed((s) => !isKept(s, now));
      if (victim === undefined) break;
      this.retire(victim);
    }
    const pool = this.pools.forSpec(spec);
    this.reserved += toStart;
    const outcomes = await Promise.all(
      Array.from({ length: toStart }, async (): Promise<string | undefined> => {
        let slot: EnvSlot | undefined;
        try {
          try {
            slot = (await place(this.idle, key, pool, false, () => {}, spec.tenantId, spec.volume)).slot;
          } finally {
            this.reserved--; // the slot entered `envs` (#bind, same tick) or never will
          }
          const bound = await this.#bind(slot, spec, opts, 'provisioned-concurrency');
          if (!bound.ok) {
            this.retire(slot);
            return bound.errorType ?? (bound.timedOut ? 'Sandbox.Timedout' : 'Runtime.ExitError');
          }
          this.counters.prewarmed++;
          slot.initLog = bound.log;
          slot.keepUntil = untilMs;
          this.keepAlive.park(slot);
          return undefined;
        } catch (e) {
          if (slot !== undefined && this.envs.has(slot.id)) this.retire(slot);
          return isKindlingError(e) || isDomainError(e) ? e.message : 'Could not start an environment.';
        }
      }),
    );
    const errors = outcomes.filter((o): o is string => o !== undefined);
    return {
      requested: count,
      warm: existing + toStart - errors.length,
      started: toStart - errors.length,
      limitedBy: toStart < wanted ? 'concurrency' : undefined,
      errors: [...new Set(errors)],
    };
  }

  /** The answer and log, then the environment parked for reuse or retired. */
  private finish(slot: EnvSlot, r: Omit<Parameters<typeof report>[0], 'memoryPeakBytes'>): InvocationResult {
    const result = report({ ...r, memoryPeakBytes: () => slot.env.memoryPeakBytes() });
    result.logStreamName = slot.logStreamName;
    const o = r.outcome;
    slot.invocations++;
    if (
      o.fatal ||
      (o.status !== 'ok' && o.status !== 'error') ||
      r.spec.singleUse === true ||
      slot.retireWhenIdle ||
      this.draining ||
      r.initFailed
    ) {
      this.retire(slot);
      return result;
    }
    const recycled = recycleReason(r.spec, slot.invocations, result.maxMemoryUsedMB);
    if (recycled === undefined) {
      this.keepAlive.park(slot);
      return result;
    }
    // Replaced rather than left to grow: the next request binds a fresh pool environment.
    this.counters.recycled++;
    this.retire(slot);
    return { ...result, recycled };
  }

  /** Keeps the host from filling up with environments: evict the least recently used idle one. */
  private makeRoom(spec: FunctionVersionSpec): void {
    if (this.envs.size + this.reserved < this.maxEnvironments) return;
    // Never one kept warm on notice (prewarm, provisioned concurrency): that is what it was kept for.
    const now = Date.now();
    const victim = this.idle.leastRecentlyUsed((s) => !isKept(s, now));
    if (victim === undefined) throw this.admission.throttle(spec, false);
    this.retire(victim);
  }

  // ---- retirement ----

  private retire(slot: EnvSlot): void {
    if (slot.state === 'retired') return;
    clearTimeout(slot.idleTimer);
    this.idle.remove(slot);
    this.envs.delete(slot.id);
    const done = slot.env.retire();
    this.retiring.add(done);
    void done.finally(() => this.retiring.delete(done));
  }

  private retireWhere(match: (spec: FunctionVersionSpec) => boolean): void {
    for (const slot of [...this.envs.values()]) {
      if (slot.spec === undefined || !match(slot.spec)) continue;
      if (slot.state === 'busy' || slot.state === 'starting') slot.retireWhenIdle = true;
      else this.retire(slot);
    }
  }

  retireFunction(functionArn: string, keepVersionKey?: string, version?: string): void {
    this.retireWhere(
      (s) =>
        s.functionArn === functionArn &&
        s.versionKey !== keepVersionKey &&
        (version === undefined || s.version === version),
    );
  }

  retireTenant(tenantId: string): void {
    this.retireWhere((s) => s.tenantId === tenantId);
  }

  // ---- views ----

  /** Every live environment, for `kindling` admin views and tests. */
  environments(): Array<{
    id: string;
    state: string;
    frozen: boolean;
    functionArn?: string;
    versionKey?: string;
  }> {
    return [...this.envs.values()].map((e) => ({
      id: e.id,
      state: e.state,
      frozen: e.frozen,
      ...(e.spec !== undefined ? { functionArn: e.spec.functionArn, versionKey: e.spec.versionKey } : {}),
    }));
  }

  /** Idle warm environments per versionKey: what this node publishes to the cluster. */
  warmVersions(): Record<string, { functionArn: string; idle: number; warm: number }> {
    // Busy environments count as warm too: a node serving a steady stream has its one environment busy
    // half the time, and the cluster should still send that function's requests there.
    const out: Record<string, { functionArn: string; idle: number; warm: number }> = {};
    for (const [versionKey, v] of Object.entries(this.idle.versions()))
      out[versionKey] = { functionArn: v.functionArn, idle: v.idle, warm: v.idle };
    for (const e of this.envs.values()) {
      if (e.state !== 'busy' || e.spec === undefined) continue;
      const entry = out[e.spec.versionKey];
      if (entry) entry.warm++;
      else out[e.spec.versionKey] = { functionArn: e.spec.functionArn, idle: 0, warm: 1 };
    }
    return out;
  }

  /** Invocations holding a slot now, and the most environments this node keeps (the cluster's load). */
  load(): { running: number; capacity: number } {
    return { running: this.running, capacity: this.maxEnvironments };
  }

  stats(): WorkerStats {
    let bound = 0;
    let busy = 0;
    let starting = 0;
    for (const e of this.envs.values()) {
      if (e.state === 'bound') bound++;
      else if (e.state === 'busy') busy++;
      else if (e.state === 'starting' || e.state === 'ready') starting++;
    }
    return {
      environments: { bound, busy, starting },
      pools: this.pools.stats(),
      coldStarts: { pool: this.counters.pool, cold: this.counters.cold },
      warmStarts: this.counters.warm,
      recycled: this.counters.recycled,
      clones: this.pools.cloneStats(),
    };
  }

  // ---- health and drain ----

  /** Pings idle environments and ready sandboxes; replaces the dead. */
  /** A hung environment never answers; a busy host answers late, which is no reason to replace one. */
  healthCheck(timeoutMs = 5000): Promise<void> {
    return checkHealth(this.idle.all(), this.pools.all(), (s) => this.retire(s), timeoutMs);
  }

  /**
   * Stops accepting; running invocations may finish until the deadline (epoch ms, or a duration in ms when
   * small), then are ended (their callers get an error answer). Then every sandbox is removed.
   */
  async drain(deadlineMs: number): Promise<void> {
    this.draining = true;
    clearInterval(this.healthTimer);
    const deadline = deadlineMs > 1e12 ? deadlineMs : Date.now() + deadlineMs;
    this.admission.rejectWaiting(LambdaErrors.service('The worker is shutting down.'));
    while (Date.now() < deadline && this.running > 0) await new Promise((r) => setTimeout(r, 20));
    // Past the deadline: killing the environments answers their callers with an error.
    const all = [...this.envs.values()];
    for (const slot of all) this.retire(slot);
    await Promise.all([...all.map((s) => s.env.retire()), ...this.pools.all().map((p) => p.close())]);
    await this.pools.closeRuntimes();
    // Invocations still placing an environment (a sandbox booting) end once it is up; wait for them.
    for (let i = 0; i < 250 && this.running > 0; i++) await new Promise((r) => setTimeout(r, 20));
    // Environments retired along the way must be gone before their parent cgroups can be removed.
    await Promise.allSettled([...this.retiring]);
    await this.sandbox.close();
  }

  /** drain() with no grace period. */
  close(): Promise<void> {
    return this.drain(0);
  }
}

// Kept for callers that want a quick yes/no without a manager.
export async function bwrapUsable(): Promise<boolean> {
  const bin = findBwrap();
  return bin !== undefined && (await probeBwrap(bin)) === undefined;
}

/** Why an environment that has served `invocations` requests and used `memoryMB` is due for replacement. */
export function recycleReason(
  spec: FunctionVersionSpec,
  invocations: number,
  memoryMB: number,
): RecycleReason | undefined {
  if (spec.recycleAfterInvocations !== undefined && invocations >= spec.recycleAfterInvocations)
    return 'invocations';
  if (spec.recycleAboveMemoryMB !== undefined && memoryMB > spec.recycleAboveMemoryMB) return 'memory';
  return undefined;
}

/** Kept warm on notice (prewarm, provisioned concurrency) until a time still ahead. */
const isKept = (slot: EnvSlot, now: number): boolean => slot.keepUntil !== undefined && slot.keepUntil > now;
