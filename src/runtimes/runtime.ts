// The runtime seam: what the worker and the warming pool need from a language runtime, whatever protocol
// it speaks inside its sandbox. A runtime starts a sandbox with its own image and hands back an
// ExecutionEnvironment, pre-initialised (no code, no tenant); the worker binds it to one function version
// and invokes it, one request at a time. Node.js (runtimes/node/) is the first; registry.ts lists them.
import type { SandboxDriver, SandboxExit, SandboxImage, SandboxSpec } from '../sandbox/driver.js';

/** starting (binding) → ready (in the pool) → bound → busy → bound … → retired (never reused after). */
export type EnvState = 'starting' | 'ready' | 'bound' | 'busy' | 'retired';

/** Lambda's context fields of the bound function, as the handler sees them. */
export interface FunctionContext {
  functionName: string;
  functionVersion: string;
  memoryMB: number;
  invokedFunctionArn: string;
  logGroupName: string;
  logStreamName: string;
}

export interface BindRequest {
  handler: string;
  /** Host path of the version's extracted, read-only code. */
  codeDir: string;
  /** Host path of its layers merged (read-only), seen at /opt; absent without layers. */
  layersDir?: string;
  memoryMB: number;
  timeoutSec: number;
  /** IPv4 ranges an admin opened for the tenant (sandboxes with outbound network only). */
  egressAllow?: string[];
  /** Lambda's reserved variables over the function's own; the runtime adds its own (NODE_PATH, …). */
  env: Record<string, string>;
  context: FunctionContext;
}

export interface BindOutcome {
  ok: boolean;
  initDurationMs: number;
  /** Output of init code (console during module load). */
  log: string;
  /** Lambda error body when init failed. */
  payload?: Buffer;
  errorType?: string;
  /** Init did not finish within the function's timeout; the environment was killed. */
  timedOut?: boolean;
  exit?: SandboxExit;
  /** Modules init loaded from the version's compile cache, and cache entries refused (runtime-reported). */
  compileCache?: { used: number; rejected: number };
  /** Init loaded the handler through the ES-module loader (runtime-reported; Node only). */
  esm?: boolean;
}

export type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken: string };

export interface InvokeRequest {
  requestId: string;
  payload: Buffer;
  /** Epoch ms. */
  deadline: number;
  /** Base64 client context. */
  clientContext?: string | undefined;
  credentials?: Credentials | undefined;
  /** X-Ray trace header (`_X_AMZN_TRACE_ID`). */
  traceId: string;
  /** The caller takes a streaming handler's bytes as they are written (InvokeWithResponseStream, URLs). */
  stream?: ResponseSink | undefined;
}

/**
 * Where a streaming handler's bytes go while it runs (response streaming). Without one, a runtime buffers
 * them into the payload, up to the synchronous response limit, as Lambda does for a plain Invoke.
 */
export interface ResponseSink {
  /** The next bytes, with the stream's content type. False: full; the runtime waits for `onRoom`'s call. */
  write(chunk: Buffer, contentType: string): boolean;
  /** The runtime's resume callback, set before the first write: called when the sink has room again. */
  onRoom(resume: () => void): void;
}

export interface InvokeOutcome {
  status: 'ok' | 'error' | 'timeout' | 'exit';
  payload?: Buffer;
  errorType?: string;
  /** An uncaught error ended the runtime's usefulness: retire after this answer. */
  fatal: boolean;
  rssBytes?: number;
  log: string;
  durationMs: number;
  exit?: SandboxExit;
  /** Bytes went to the request's ResponseSink: `payload` then holds only an error body, if any. */
  streamed?: boolean;
}

/** One execution environment: a sandbox with its runtime up, as the worker and the pool see it. */
export interface ExecutionEnvironment {
  readonly id: string;
  readonly state: EnvState;
  /** Where the function's code appears to it (LAMBDA_TASK_ROOT). */
  readonly taskRoot: string;
  /** Port of the platform API relay inside (AWS_ENDPOINT_URL). */
  readonly relayPort: number;
  /** Settles when its process has ended. */
  readonly exited: Promise<SandboxExit>;
  alive(): boolean;
  /** Places the code, applies the function's limits, loads the handler and runs init once. */
  bind(req: BindRequest): Promise<BindOutcome>;
  /** Sends one invocation and waits for its answer, the runtime's death, or the deadline. */
  invoke(req: InvokeRequest): Promise<InvokeOutcome>;
  ping(timeoutMs: number): Promise<boolean>;
  /**
   * Going idle: the runtime gives back memory it grew into while busy, then answers (false: it did not
   * answer within timeoutMs). Called before freeze(), which would stop it holding that memory for good.
   */
  trimMemory(timeoutMs: number): Promise<boolean>;
  /** Stops (freeze) or resumes (thaw) its processes while idle; false when the sandbox cannot. */
  freeze(): boolean;
  thaw(): boolean;
  /** Peak memory in bytes, when the sandbox can tell. */
  memoryPeakBytes(): number | undefined;
  /** Kills it and removes what it held. Idempotent. */
  retire(): Promise<void>;
}

export interface StartOptions {
  /**
   * The tenant a pool miss starts this environment for; undefined for a pool fill (no tenant yet). A
   * runtime that clones keeps one template per tenant, so no two tenants' environments share its state.
   */
  tenantId?: string;
}

/** What a runtime is built with (the composition root passes it through the worker). */
export interface RuntimeOptions {
  /** Where the runtime may build and keep files (default `<data dir>/runtime`). */
  cacheDir: string;
  warn(msg: string): void;
  info?(msg: string): void;
}

/** Counters of a runtime whose new environments are forks of a pre-initialised process (a zygote). */
export interface CloneStats {
  clones: number;
  /** Clones that failed (zygote down or restarting, fork refused): those environments started normally. */
  cloneFailures: number;
  /** Zygotes started again after one died or was killed. */
  restarts: number;
  up: boolean;
}

export interface Runtime {
  /** Its folder under runtimes/ (`node`). */
  readonly name: string;
  /** What each of its sandboxes holds and runs. */
  readonly image: SandboxImage;
  /** Starts a sandbox holding this runtime and waits until it is pre-initialised (or fails, killing it). */
  start(
    driver: SandboxDriver,
    spec: Omit<SandboxSpec, 'image'>,
    opts?: StartOptions,
  ): Promise<ExecutionEnvironment>;
  /** Clone counters, when its pool misses are clones (metrics). */
  cloneStats?(): CloneStats | undefined;
  /** Stops what it runs beside its sandboxes (a zygote). */
  close?(): Promise<void>;
}
