// The worker manager: places each request on an execution environment (warm → pool → new), enforces
// per-function reserved concurrency and per-tenant limits with a bounded wait buffer, turns timeouts,
// crashes and memory kills into Lambda's answers, writes each invocation's START/END/REPORT log, and keeps
// environments alive, healthy and retired on time.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PlatformConfig } from '../config.js';
import { isKindlingError, KindlingError, LambdaErrors } from '../errors.js';
import { traceHeader } from '../ids.js';
import { type PoolKey, WarmingPool } from '../pool/warming-pool.js';
import { prepareSdkModules } from '../runtimes/node/sdk-modules.js';
import { BwrapDriver, findBwrap } from '../sandbox/bwrap-driver.js';
import { type CgroupSetup, setupCgroups, teardownCgroups } from '../sandbox/cgroup.js';
import type { SandboxDriver, SandboxDriverOptions, SandboxExit } from '../sandbox/driver.js';
import {
  describeCgroups,
  describeEgress,
  detectIsolation,
  type IsolationReport,
  probeBwrap,
  probeBwrapSync,
} from '../sandbox/isolation.js';
import { UnsandboxedDriver } from '../sandbox/unsandboxed-driver.js';
import type { Environment, InvokeOutcome } from './environment.js';
import { IdleEnvironments, idleKey, place } from './placement.js';
import type {
  FunctionVersionSpec,
  InvocationResult,
  InvokeOptions,
  StartKind,
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
  /** The platform API's unix socket; sandboxes reach it through a relay inside each sandbox. */
  apiSocketPath: string;
  /**
   * The port clients reach the API on (known once the server listens): the relay listens on it inside
   * each sandbox, so a queue URL or presigned URL handed to a client works unchanged in a function.
   * Without it the relay uses port 9001.
   */
  apiPort?: Promise<number>;
  /** Where the runtime's node_modules (the AWS SDK only) is built; default `<data dir>/runtime`. */
  runtimeCacheDir?: string;
  /** Directory (under the data dir) holding one dir per environment. */
  envRoot: string;
  logger?: WorkerLogger;
  /** Override the sandbox driver (tests, a future microVM driver). */
  driver?: SandboxDriver;
  /**
   * Most environments (bound, busy or binding) alive at once; past it the least recently used idle one is
   * retired, and with none idle a new request is throttled. Default: one per 96 MB of host memory.
   */
  maxEnvironments?: number;
  /** Path of slirp4netns, the user-mode networking of outbound-granted tenants (default: found on PATH). */
  egressHelper?: string;
}

/** Runtimes served by the host's Node.js. */
const NODE_RUNTIMES = new Set(['nodejs', 'nodejs18.x', 'nodejs20.x', 'nodejs22.x', 'nodejs24.x']);
const DEFAULT_TMP_MB = 512;
const here = path.dirname(fileURLToPath(import.meta.url));
const RUNTIME_DIR = path.resolve(here, '../runtimes/node');

/** Kindling's own node_modules, the source of the SDK-only tree functions see. */
function findNodeModules(): string | undefined {
  for (let d = here; d !== path.dirname(d); d = path.dirname(d)) {
    const nm = path.join(d, 'node_modules');
    if (fs.existsSync(path.join(nm, '@aws-sdk'))) return nm;
  }
  return undefined;
}

interface FnState {
  active: number;
  queue: Waiter[];
}

interface Waiter {
  tenantId: string;
  reserved: number | undefined;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

const BILLING_MS = 1;
/** Idle time before an environment is frozen. */
const FREEZE_AFTER_MS = 1000;
/** Lambda's synchronous response limit, in bytes, as its error message states it. */
const RESPONSE_LIMIT = 6_291_556;

export class WorkerManager implements Worker {
  readonly config: PlatformConfig;
  private readonly driver: SandboxDriver;
  private readonly cgroups: CgroupSetup;
  private readonly logger: WorkerLogger;
  private readonly pools = new Map<string, WarmingPool>();
  private readonly fixedTargets = new Map<string, number | undefined>();
  private readonly idle = new IdleEnvironments();
  /** Every environment not retired, by id. */
  private readonly envs = new Map<string, Environment>();
  private readonly fns = new Map<string, FnState>();
  private readonly waitingFns = new Set<string>();
  private readonly tenantActive = new Map<string, number>();
  private readonly tenantLimit = new Map<string, number>();
  private readonly events = new EventEmitter();
  private readonly counters = { pool: 0, cold: 0, warm: 0 };
  private healthTimer: NodeJS.Timeout | undefined;
  private draining = false;
  /** Environments being torn down (kill, cgroup and dir removal). */
  private readonly retiring = new Set<Promise<void>>();
  /** Invocations holding a concurrency slot (placing, binding or running). */
  private running = 0;
  private started = false;
  private firstTenant: string | undefined;
  private readonly warnings: string[] = [];
  private readonly maxEnvironments: number;
  /** The SDK-only node_modules functions see (undefined: none found). */
  private readonly sdkModulesDir: string | undefined;

  constructor(opts: WorkerManagerOptions) {
    this.config = opts.config;
    this.maxEnvironments =
      opts.maxEnvironments ?? Math.max(4, Math.floor(os.totalmem() / (96 * 1024 * 1024)));
    this.logger = opts.logger ?? { warn: (m) => console.warn(`kindling: ${m}`) };
    fs.mkdirSync(opts.envRoot, { recursive: true, mode: 0o711 });
    // Environments never outlive the process (they die with it); their dirs may, after a SIGKILL.
    for (const d of fs.readdirSync(opts.envRoot)) {
      if (d.startsWith('env-')) fs.rmSync(path.join(opts.envRoot, d), { recursive: true, force: true });
    }
    this.sdkModulesDir = this.prepareSdk(opts.runtimeCacheDir ?? path.join(this.config.dataDir, 'runtime'));
    const driverOpts: SandboxDriverOptions = {
      envRoot: opts.envRoot,
      apiSocketPath: opts.apiSocketPath,
      relayPort: opts.apiPort,
      runtimeDir: RUNTIME_DIR,
      nodeModulesDir: this.sdkModulesDir,
      // A pool sandbox serves any memory size, so V8's heap is sized for the largest (90% of Lambda's
      // 10240 MB, as Lambda sizes it) and the cgroup is the real limit (DESIGN.md). Measured: V8 then
      // collects garbage lazily; the runtime collects between invocations when memory grows
      // (bootstrap.ts, nudgeGc), but within one invocation a 128 MB function can peak higher than on Lambda.
      nodeFlags: ['--max-old-space-size=9216', '--no-warnings=ExperimentalWarning'],
      ...(opts.egressHelper !== undefined && { egressHelper: opts.egressHelper }),
    };
    const mode = this.config.sandbox;
    let bwrap = mode === 'none' ? undefined : findBwrap();
    if (bwrap !== undefined && mode === 'auto') {
      // Installed is not enough: user namespaces may be disabled (sysctl, AppArmor, a container's seccomp).
      const failure = probeBwrapSync(bwrap);
      if (failure !== undefined) {
        this.warn(`bubblewrap cannot create namespaces here (${failure}); falling back to unsandboxed`);
        bwrap = undefined;
      }
    }
    if (opts.driver !== undefined) {
      this.driver = opts.driver;
      this.cgroups = { version: null, parents: {}, warnings: [] };
    } else if (bwrap !== undefined) {
      this.cgroups = setupCgroups();
      for (const w of this.cgroups.warnings) this.warn(w);
      this.driver = new BwrapDriver(driverOpts, this.cgroups, bwrap);
      const egress = this.driver.egress?.problem;
      if (egress !== undefined) this.warn(`outbound network unavailable: ${egress}`);
    } else {
      if (mode === 'bwrap') throw new Error('sandbox=bwrap but bubblewrap (bwrap) is not installed');
      this.cgroups = { version: null, parents: {}, warnings: [] };
      this.warn(
        'UNSANDBOXED: bubblewrap not in use; functions run as plain host processes (development only)',
      );
      this.driver = new UnsandboxedDriver(driverOpts);
    }
  }

  /**
   * Functions import the AWS SDK v3 as on Lambda, never Kindling's own dependencies: they see a tree
   * holding only the SDK's closure, hard-linked (or copied) from ours once per SDK content.
   */
  private prepareSdk(cacheDir: string): string | undefined {
    const source = findNodeModules();
    if (source === undefined) {
      this.warn('no node_modules with @aws-sdk found: functions cannot import the AWS SDK');
      return undefined;
    }
    try {
      const sdk = prepareSdkModules(source, cacheDir);
      this.logger.info?.(
        `runtime node_modules: ${sdk.packages} packages, ${sdk.files} files, ${(sdk.bytes / 1048576).toFixed(1)} MB ` +
          `(${sdk.cached ? 'reused' : sdk.linked ? 'hard-linked' : 'copied'} in ${sdk.ms.toFixed(0)} ms)`,
      );
      return sdk.dir;
    } catch (e) {
      this.warn(`could not prepare the AWS SDK for functions: ${(e as Error).message}`);
      return undefined;
    }
  }

  private warn(msg: string): void {
    this.warnings.push(msg);
    this.logger.warn(msg);
  }

  get driverName(): string {
    return this.driver.name;
  }

  /** Begins filling the default pool and periodic health checks. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.poolFor('nodejs20.x', false, DEFAULT_TMP_MB).start();
    const every = Math.max(100, this.config.healthCheckIntervalMs);
    this.healthTimer = setInterval(() => void this.healthCheck(), every);
    this.healthTimer.unref();
  }

  /** Fixed warming-pool target for a runtime key (`nodejs20.x`, `nodejs20.x+net`); undefined follows demand. */
  setPoolTarget(runtimeKey: string, n: number | undefined): void {
    const m = /^([^+]+)(\+net)?(?:\+tmp(\d+))?$/.exec(runtimeKey);
    if (m === null || !NODE_RUNTIMES.has(m[1] ?? '')) {
      throw LambdaErrors.invalidParameter(
        `Unknown runtime key ${runtimeKey}; use nodejs20.x or nodejs20.x+net`,
      );
    }
    // Every Node runtime is served by the host's Node: one pool per network mode and /tmp size.
    const tmp = Number(m[3] ?? DEFAULT_TMP_MB);
    const key = `nodejs20.x${m[2] ?? ''}${tmp !== DEFAULT_TMP_MB ? `+tmp${tmp}` : ''}`;
    this.fixedTargets.set(key, n);
    const pool = this.pools.get(key);
    if (pool !== undefined) pool.setTarget(n);
    else this.poolFor('nodejs20.x', m[2] !== undefined, tmp);
  }

  /** Subscribe to throttled requests (429). */
  onThrottle(listener: (tenantId: string, functionArn: string) => void): () => void {
    this.events.on('throttle', listener);
    return () => this.events.off('throttle', listener);
  }

  async doctor(): Promise<IsolationReport> {
    if (this.driver.name !== 'bwrap') return detectIsolation('none');
    const report = await detectIsolation(this.config.sandbox, this.cgroups);
    report.cgroup = describeCgroups(this.cgroups);
    if (this.driver.egress !== undefined) report.egress = describeEgress(this.driver.egress);
    return report;
  }

  // ---- pools ----

  private poolKey(spec: FunctionVersionSpec): { base: string; net: boolean; tmp: number } {
    if (!NODE_RUNTIMES.has(spec.runtime)) {
      throw new KindlingError(
        'InvalidRuntimeException',
        502,
        `The runtime parameter of ${spec.runtime} is not supported.`,
        {
          Type: 'User',
        },
      );
    }
    return { base: 'nodejs20.x', net: spec.networkOutbound, tmp: spec.ephemeralStorageMB || DEFAULT_TMP_MB };
  }

  private poolFor(base: string, net: boolean, tmpMB: number): WarmingPool {
    const key = `${base}${net ? '+net' : ''}${tmpMB !== DEFAULT_TMP_MB ? `+tmp${tmpMB}` : ''}`;
    let pool = this.pools.get(key);
    if (pool === undefined) {
      const k: PoolKey = { key, networkOutbound: net, tmpSizeMB: tmpMB };
      const fixed = this.fixedTargets.has(key) ? this.fixedTargets.get(key) : this.config.poolTarget;
      pool = new WarmingPool({
        driver: this.driver,
        key: k,
        // Only the default key keeps a floor; others exist while they see demand.
        min: key === base ? this.config.poolMin : 0,
        max: this.config.poolMax,
        target: key === base || this.fixedTargets.has(key) ? fixed : undefined,
        onError: (e) => this.warn(`warming pool ${key}: sandbox failed to start: ${(e as Error).message}`),
      });
      this.pools.set(key, pool);
      if (this.started) pool.start();
    }
    return pool;
  }

  // ---- concurrency ----

  private fnState(arn: string): FnState {
    let s = this.fns.get(arn);
    if (s === undefined) {
      s = { active: 0, queue: [] };
      this.fns.set(arn, s);
    }
    return s;
  }

  private canRun(fn: FnState, tenantId: string, reserved: number | undefined): boolean {
    if (reserved !== undefined && fn.active >= reserved) return false;
    return (
      (this.tenantActive.get(tenantId) ?? 0) <
      (this.tenantLimit.get(tenantId) ?? this.config.tenantConcurrency)
    );
  }

  private occupy(fn: FnState, tenantId: string): void {
    fn.active++;
    this.tenantActive.set(tenantId, (this.tenantActive.get(tenantId) ?? 0) + 1);
  }

  private throttle(spec: FunctionVersionSpec, reserved: boolean): KindlingError {
    this.events.emit('throttle', spec.tenantId, spec.functionArn);
    return reserved
      ? LambdaErrors.tooManyRequests('Rate Exceeded.', 'ReservedFunctionConcurrentInvocationLimitExceeded')
      : LambdaErrors.tooManyRequests('Rate Exceeded.', 'ConcurrentInvocationLimitExceeded');
  }

  private acquire(spec: FunctionVersionSpec, opts: InvokeOptions): Promise<void> | undefined {
    const reserved = spec.reservedConcurrency;
    if (reserved === 0) throw this.throttle(spec, true);
    this.tenantLimit.set(spec.tenantId, opts.tenantConcurrency);
    const fn = this.fnState(spec.functionArn);
    if (fn.queue.length === 0 && this.canRun(fn, spec.tenantId, reserved)) {
      this.occupy(fn, spec.tenantId);
      return undefined;
    }
    const overReserved = reserved !== undefined && fn.active >= reserved;
    if (fn.queue.length >= this.config.queueDepth) throw this.throttle(spec, overReserved);
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        tenantId: spec.tenantId,
        reserved,
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = fn.queue.indexOf(w);
          if (i >= 0) fn.queue.splice(i, 1);
          if (fn.queue.length === 0) this.waitingFns.delete(spec.functionArn);
          reject(this.throttle(spec, reserved !== undefined && fn.active >= reserved));
        }, this.config.queueWaitMs),
      };
      fn.queue.push(w);
      this.waitingFns.add(spec.functionArn);
    });
  }

  private release(spec: FunctionVersionSpec): void {
    const fn = this.fnState(spec.functionArn);
    fn.active--;
    this.tenantActive.set(spec.tenantId, (this.tenantActive.get(spec.tenantId) ?? 1) - 1);
    if (this.waitingFns.size === 0) return;
    // A freed slot may unblock this function's buffer, or another function of the same tenant.
    for (const arn of [...this.waitingFns]) {
      const f = this.fns.get(arn);
      if (f === undefined) continue;
      while (f.queue.length > 0) {
        const w = f.queue[0]!;
        if (!this.canRun(f, w.tenantId, w.reserved)) break;
        f.queue.shift();
        clearTimeout(w.timer);
        this.occupy(f, w.tenantId);
        w.resolve();
      }
      if (f.queue.length === 0) this.waitingFns.delete(arn);
    }
  }

  // ---- invoke ----

  async invoke(spec: FunctionVersionSpec, payload: Buffer, opts: InvokeOptions): Promise<InvocationResult> {
    if (this.draining) throw LambdaErrors.service('The worker is shutting down.');
    if (this.driver.name === 'unsandboxed') {
      this.firstTenant ??= spec.tenantId;
      if (this.firstTenant !== spec.tenantId) {
        throw LambdaErrors.service('Kindling runs unsandboxed and refuses to serve more than one tenant.');
      }
    }
    const wait = this.acquire(spec, opts);
    if (wait !== undefined) await wait;
    this.running++;
    try {
      return await this.run(spec, payload, opts);
    } finally {
      this.running--;
      this.release(spec);
    }
  }

  private reservedEnv(
    spec: FunctionVersionSpec,
    env: Environment,
    opts: InvokeOptions,
  ): Record<string, string> {
    const creds = opts.credentials;
    const taskRoot = env.rt.sandbox.taskRoot;
    const nodePath =
      this.driver.name === 'bwrap'
        ? '/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task'
        : [this.sdkModulesDir ?? '', taskRoot].join(':');
    const day = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
    return {
      // /tmp is the only writable dir (and sbx_user1051's home in the sandbox's passwd); tools and the
      // AWS SDK's config loader look for HOME. A function may still set its own.
      HOME: '/tmp',
      ...spec.environment,
      AWS_LAMBDA_FUNCTION_NAME: spec.functionName,
      AWS_LAMBDA_FUNCTION_VERSION: spec.version,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memoryMB),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${spec.functionName}`,
      AWS_LAMBDA_LOG_STREAM_NAME: `${day}/[${spec.version}]${env.id.replace(/^env-/, '')}`,
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      LAMBDA_TASK_ROOT: taskRoot,
      LAMBDA_RUNTIME_DIR: this.driver.name === 'bwrap' ? '/var/runtime' : RUNTIME_DIR,
      AWS_REGION: this.config.region,
      AWS_DEFAULT_REGION: this.config.region,
      AWS_EXECUTION_ENV: `AWS_Lambda_${spec.runtime}`,
      TZ: ':UTC',
      LANG: 'en_US.UTF-8',
      PATH: '/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin',
      NODE_PATH: nodePath,
      // The relay inside the sandbox, on the API's own port where the sandbox has its own network.
      AWS_ENDPOINT_URL: `http://127.0.0.1:${env.relayPort}`,
      _HANDLER: spec.handler,
      ...(creds !== undefined
        ? {
            AWS_ACCESS_KEY_ID: creds.accessKeyId,
            AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
            AWS_SESSION_TOKEN: creds.sessionToken,
          }
        : {}),
    };
  }

  private async run(
    spec: FunctionVersionSpec,
    payload: Buffer,
    opts: InvokeOptions,
  ): Promise<InvocationResult> {
    // Granted but impossible here: a clear answer, never the host's network as a fallback.
    const egressProblem = spec.networkOutbound ? this.driver.egress?.problem : undefined;
    if (egressProblem !== undefined) {
      throw LambdaErrors.service(
        `This tenant is granted outbound network, but this server cannot provide it: ${egressProblem}. Ask the administrator (kindling doctor).`,
      );
    }
    const pk = this.poolKey(spec);
    const pool = this.poolFor(pk.base, pk.net, pk.tmp);
    let placed: Awaited<ReturnType<typeof place>>;
    try {
      placed = await place(this.idle, idleKey(spec), pool, spec.singleUse !== true, () =>
        this.makeRoom(spec),
      );
    } catch (e) {
      if (isKindlingError(e)) throw e;
      this.warn(`could not start an environment: ${(e as Error).message}`);
      throw LambdaErrors.service('Could not start an execution environment.');
    }
    const { env, start } = placed;
    const requestId = opts.requestId;
    let initDurationMs: number | undefined;
    let initLog = '';
    if (start === 'warm') {
      clearTimeout(env.idleTimer);
      if (env.frozen) {
        env.rt.sandbox.thaw();
        env.frozen = false;
      }
      this.counters.warm++;
    } else {
      this.counters[start]++;
      this.envs.set(env.id, env);
      let bound: Awaited<ReturnType<Environment['bind']>>;
      const vars = this.reservedEnv(spec, env, opts);
      try {
        bound = await env.bind(spec, vars, {
          functionName: spec.functionName,
          functionVersion: spec.version,
          memoryMB: spec.memoryMB,
          invokedFunctionArn: spec.functionArn,
          logGroupName: vars.AWS_LAMBDA_LOG_GROUP_NAME,
          logStreamName: vars.AWS_LAMBDA_LOG_STREAM_NAME,
        });
      } catch (e) {
        // Linking code or setting limits failed: a platform fault, not the function's.
        this.retire(env);
        this.warn(`binding ${spec.functionArn} failed: ${(e as Error).message}`);
        throw LambdaErrors.service('Could not prepare the execution environment.');
      }
      initDurationMs = bound.initDurationMs;
      initLog = bound.log;
      if (!bound.ok) {
        this.retire(env);
        let outcome: InvokeOutcome;
        if (bound.payload !== undefined) {
          outcome = {
            status: 'error',
            payload: bound.payload,
            errorType: bound.errorType ?? 'Runtime.Unknown',
            fatal: true,
            log: '',
            durationMs: bound.initDurationMs,
          };
        } else {
          outcome = {
            status: bound.timedOut ? 'timeout' : 'exit',
            fatal: true,
            log: '',
            durationMs: bound.initDurationMs,
            ...(bound.exit ? { exit: bound.exit } : {}),
          };
        }
        return this.finish(spec, env, requestId, start, outcome, initDurationMs, initLog, true);
      }
    }
    const deadline = Date.now() + spec.timeoutSec * 1000;
    const traceId = opts.traceId ?? traceHeader();
    const outcome = await env.invoke(
      requestId,
      payload,
      deadline,
      opts.clientContext,
      opts.credentials,
      traceId,
    );
    return this.finish(spec, env, requestId, start, outcome, initDurationMs, initLog, false);
  }

  private finish(
    spec: FunctionVersionSpec,
    env: Environment,
    requestId: string,
    start: StartKind,
    o: InvokeOutcome,
    initDurationMs: number | undefined,
    initLog: string,
    initFailed: boolean,
  ): InvocationResult {
    let payload: Buffer;
    let errorType: string | undefined;
    let extraLog = '';
    let status = '';
    const memLimitMB = spec.memoryMB;
    let maxMemMB = o.rssBytes !== undefined && o.rssBytes > 0 ? Math.ceil(o.rssBytes / 1048576) : 0;
    if (o.status === 'ok' && o.payload!.length > RESPONSE_LIMIT) {
      errorType = 'Function.ResponseSizeTooLarge';
      const errorMessage = `Response payload size exceeded maximum allowed payload size (${RESPONSE_LIMIT} bytes).`;
      payload = Buffer.from(JSON.stringify({ errorMessage, errorType }));
    } else if (o.status === 'ok') {
      payload = o.payload!;
    } else if (o.status === 'error') {
      payload = o.payload!;
      errorType = o.errorType;
      if (initFailed) {
        // Lambda logs an init failure in the init phase, before START.
        initLog +=
          `${new Date().toISOString()}\tundefined\tERROR\tUncaught Exception \t${payload.toString('utf8')}\n` +
          `INIT_REPORT Init Duration: ${(initDurationMs ?? 0).toFixed(2)} ms\tPhase: init\tStatus: error\tError Type: ${errorType}\n`;
      } else {
        extraLog = `${new Date().toISOString()}\t${requestId}\tERROR\tInvoke Error \t${payload.toString('utf8')}\n`;
      }
    } else if (o.status === 'timeout') {
      const msg = `${new Date().toISOString()} ${requestId} Task timed out after ${spec.timeoutSec.toFixed(2)} seconds`;
      errorType = 'Sandbox.Timedout';
      payload = Buffer.from(JSON.stringify({ errorMessage: msg, errorType }));
      extraLog = `${msg}\n`;
      status = '\tStatus: timeout';
    } else {
      const exit = o.exit;
      const oom = exit?.oomKilled === true;
      errorType = oom ? 'Runtime.OutOfMemory' : 'Runtime.ExitError';
      const how = describeExit(exit);
      const errorMessage = `RequestId: ${requestId} Error: Runtime exited with error: ${how}`;
      payload = Buffer.from(JSON.stringify({ errorType, errorMessage }));
      extraLog = `${errorMessage}\n${exit?.stderrTail && !oom ? exit.stderrTail.slice(-1024) : ''}`;
      status = oom
        ? '\tStatus: error\tError Type: Runtime.OutOfMemory'
        : '\tStatus: error\tError Type: Runtime.ExitError';
      if (oom) maxMemMB = memLimitMB;
    }
    // RSS counts shared pages the cgroup does not; like Lambda, never report more than the memory size.
    maxMemMB = Math.min(maxMemMB, memLimitMB);
    if (maxMemMB === 0) {
      const peak = env.rt.sandbox.memoryPeakBytes();
      maxMemMB = peak !== undefined ? Math.min(memLimitMB, Math.ceil(peak / 1048576)) : 0;
    }
    const durationMs = o.durationMs;
    const billed = Math.max(BILLING_MS, Math.ceil(durationMs / BILLING_MS) * BILLING_MS);
    const init = initDurationMs !== undefined ? `\tInit Duration: ${initDurationMs.toFixed(2)} ms` : '';
    const log =
      `${initLog}START RequestId: ${requestId} Version: ${spec.version}\n${o.log}${extraLog}` +
      `END RequestId: ${requestId}\n` +
      `REPORT RequestId: ${requestId}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${billed} ms\t` +
      `Memory Size: ${spec.memoryMB} MB\tMax Memory Used: ${maxMemMB} MB${init}${status}\t\n`;

    // Return or retire the environment.
    if (
      o.fatal ||
      (o.status !== 'ok' && o.status !== 'error') ||
      spec.singleUse === true ||
      env.retireWhenIdle ||
      this.draining ||
      initFailed
    ) {
      this.retire(env);
    } else {
      env.state = 'bound';
      env.lastUsed = Date.now();
      this.park(env);
    }

    const result: InvocationResult = {
      requestId,
      payload,
      log,
      durationMs,
      billedDurationMs: billed,
      maxMemoryUsedMB: maxMemMB,
      start,
      ...(errorType !== undefined ? { functionError: 'Unhandled' as const, errorType } : {}),
      ...(initDurationMs !== undefined ? { initDurationMs } : {}),
    };
    return result;
  }

  /**
   * An idle environment: frozen after a short grace (as Lambda freezes it, so background work stops;
   * back-to-back requests never pay the thaw), retired after keep-alive.
   */
  private park(env: Environment): void {
    this.idle.put(env);
    const keepAlive = this.config.keepAliveMs;
    const expire = () => {
      if (this.idle.remove(env)) this.retire(env);
    };
    if (keepAlive <= FREEZE_AFTER_MS) {
      env.idleTimer = setTimeout(expire, keepAlive);
    } else {
      env.idleTimer = setTimeout(() => {
        if (env.state !== 'bound') return;
        env.frozen = env.rt.sandbox.freeze();
        env.idleTimer = setTimeout(expire, keepAlive - FREEZE_AFTER_MS);
        env.idleTimer.unref();
      }, FREEZE_AFTER_MS);
    }
    env.idleTimer.unref();
  }

  /** Keeps the host from filling up with environments: evict the least recently used idle one. */
  private makeRoom(spec: FunctionVersionSpec): void {
    if (this.envs.size < this.maxEnvironments) return;
    const victim = this.idle.leastRecentlyUsed();
    if (victim === undefined) throw this.throttle(spec, false);
    this.retire(victim);
  }

  private retire(env: Environment): void {
    if (env.state === 'retired') return;
    this.idle.remove(env);
    this.envs.delete(env.id);
    const done = env.retire();
    this.retiring.add(done);
    void done.finally(() => this.retiring.delete(done));
  }

  retireFunction(functionArn: string, keepVersionKey?: string): void {
    for (const env of [...this.envs.values()]) {
      const s = env.spec;
      if (s === undefined || s.functionArn !== functionArn || s.versionKey === keepVersionKey) continue;
      if (env.state === 'busy' || env.state === 'starting') env.retireWhenIdle = true;
      else this.retire(env);
    }
  }

  retireTenant(tenantId: string): void {
    for (const env of [...this.envs.values()]) {
      if (env.spec?.tenantId !== tenantId) continue;
      if (env.state === 'busy' || env.state === 'starting') env.retireWhenIdle = true;
      else this.retire(env);
    }
  }

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
      pools: [...this.pools.values()].map((p) => p.stats()),
      coldStarts: { pool: this.counters.pool, cold: this.counters.cold },
      warmStarts: this.counters.warm,
    };
  }

  /** Pings idle environments and ready sandboxes; replaces the dead. */
  async healthCheck(timeoutMs = 1000): Promise<void> {
    // A frozen environment cannot answer; it cannot fail either (its exit would still be seen).
    const checks = this.idle
      .all()
      .filter((env) => !env.frozen)
      .map(async (env) => {
        if (await env.ping(timeoutMs)) return;
        if (env.state === 'bound') this.retire(env);
      });
    await Promise.all([...checks, ...[...this.pools.values()].map((p) => p.healthCheck(timeoutMs))]);
  }

  /**
   * Stops accepting; running invocations may finish until the deadline (epoch ms, or a duration in ms when
   * small), then are ended (their callers get an error answer). Then every sandbox is removed.
   */
  async drain(deadlineMs: number): Promise<void> {
    this.draining = true;
    clearInterval(this.healthTimer);
    const deadline = deadlineMs > 1e12 ? deadlineMs : Date.now() + deadlineMs;
    for (const fn of this.fns.values()) {
      for (const w of fn.queue.splice(0)) {
        clearTimeout(w.timer);
        w.reject(LambdaErrors.service('The worker is shutting down.'));
      }
    }
    while (Date.now() < deadline && this.running > 0) await new Promise((r) => setTimeout(r, 20));
    // Past the deadline: killing the environments answers their callers with an error.
    const all = [...this.envs.values()];
    for (const env of all) this.retire(env);
    await Promise.all([...all.map((e) => e.retire()), ...[...this.pools.values()].map((p) => p.close())]);
    // Invocations still placing an environment (a sandbox booting) end once it is up; wait for them.
    for (let i = 0; i < 250 && this.running > 0; i++) await new Promise((r) => setTimeout(r, 20));
    // Environments retired along the way must be gone before their parent cgroups can be removed.
    await Promise.allSettled([...this.retiring]);
    await this.driver.close();
    await teardownCgroups(this.cgroups);
  }

  /** drain() with no grace period. */
  close(): Promise<void> {
    return this.drain(0);
  }
}

function describeExit(exit: SandboxExit | undefined): string {
  if (exit === undefined) return 'signal: killed';
  if (exit.signal !== null) return `signal: ${signalName(exit.signal)}`;
  const code = exit.code ?? 0;
  // bwrap reports a command killed by a signal as 128 + signal number.
  if (code > 128 && code < 128 + 65) return `signal: ${signalName(code - 128)}`;
  return `exit status ${code}`;
}

function signalName(sig: NodeJS.Signals | number): string {
  const n = typeof sig === 'number' ? sig : undefined;
  if (sig === 'SIGKILL' || n === 9) return 'killed';
  if (sig === 'SIGABRT' || n === 6) return 'aborted';
  if (sig === 'SIGSEGV' || n === 11) return 'segmentation fault';
  if (sig === 'SIGTERM' || n === 15) return 'terminated';
  return typeof sig === 'string' ? sig.toLowerCase().replace(/^sig/, '') : `signal ${sig}`;
}

// Kept for callers that want a quick yes/no without a manager.
export async function bwrapUsable(): Promise<boolean> {
  const bin = findBwrap();
  return bin !== undefined && (await probeBwrap(bin)) === undefined;
}
