// The contract between the invocation service (invoke/) and the worker manager (worker/).
// The worker knows nothing of HTTP, tenants' keys or the control plane's tables: it is handed a plain,
// already-validated description of one function version and a payload.
import type { ResponseSink } from '../runtimes/runtime.js';
import type { SandboxVolume } from '../sandbox/driver.js';

export type { ResponseSink };

export interface FunctionVersionSpec {
  tenantId: string;
  /** 12-digit account id of the tenant; appears in ARNs. */
  accountId: string;
  functionName: string;
  functionArn: string;
  /** '$LATEST' (or a published version number). */
  version: string;
  /**
   * Identifies one immutable snapshot of code + configuration. An environment bound to one key is never
   * reused for another; a new key (code or configuration update) retires the old key's environments.
   */
  versionKey: string;
  runtime: string;
  handler: string;
  memoryMB: number;
  timeoutSec: number;
  /** The function's own environment variables (Lambda's reserved ones are added by the worker). */
  environment: Record<string, string>;
  /** Host path of the extracted, read-only code for this version (the code cache). */
  codeDir: string;
  /** Host path of its layers merged in order (the code cache), placed at /opt; absent without layers. */
  layersDir?: string;
  /** /tmp size in MB (Lambda's EphemeralStorage). */
  ephemeralStorageMB: number;
  /** Outbound network: the tenant's admin grant (own network namespace with filtered user-mode networking). */
  networkOutbound: boolean;
  /** IPv4 ranges the admin opened beyond the default denials (private, link-local, host); with networkOutbound. */
  egressAllow?: string[];
  /** Reserved concurrency; undefined = unreserved (bounded by the tenant's limit); 0 = throttled. */
  reservedConcurrency: number | undefined;
  /** A shared volume every environment of the version mounts (FileSystemConfigs); never from the pool. */
  volume?: SandboxVolume;
  /** A fresh environment for every request (single-use), retired after it. */
  singleUse?: boolean;
  /** An environment is replaced after this many invocations (the tag kindling:recycle-after-invocations). */
  recycleAfterInvocations?: number | undefined;
  /** … or once its Max Memory Used passed this many MB (kindling:recycle-above-memory-mb). */
  recycleAboveMemoryMB?: number | undefined;
}

/** Why an environment was replaced after an invocation instead of being kept warm. */
export type RecycleReason = 'invocations' | 'memory';

export interface InvokeOptions {
  requestId: string;
  /** Base64 client context (Lambda's X-Amz-Client-Context), passed to the handler as context.clientContext. */
  clientContext?: string;
  /** Short-lived credentials for the function's own tenant, exposed as AWS_* variables in the environment. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  /** Per-tenant concurrency limit in force for this request. */
  tenantConcurrency: number;
  /** X-Ray trace header for `_X_AMZN_TRACE_ID`; a fresh one (not sampled) when absent. */
  traceId?: string;
  /** Response streaming: a streaming handler's bytes go here as written (else into the payload). */
  stream?: ResponseSink;
}

export type StartKind = 'warm' | 'pool' | 'cold';

export interface InvocationResult {
  requestId: string;
  /** Raw response bytes: the handler's JSON result, or Lambda's {errorMessage, errorType, stackTrace}. */
  payload: Buffer;
  /** Set when the invocation failed: 'Unhandled' as Lambda sends it in X-Amz-Function-Error. */
  functionError?: 'Unhandled' | 'Handled';
  /** Lambda's error type when functionError is set (e.g. 'Runtime.OutOfMemory', 'Sandbox.Timedout'). */
  errorType?: string;
  /** The invocation's whole log, with START/END/REPORT lines. */
  log: string;
  durationMs: number;
  billedDurationMs: number;
  maxMemoryUsedMB: number;
  /** Set on a cold start (pool hit or new start): the time spent loading the code and running init. */
  initDurationMs?: number;
  /** On a cold start whose runtime reports it: modules init loaded from the version's compile cache. */
  compileCache?: { used: number; rejected: number };
  start: StartKind;
  /** The environment was replaced after this invocation (a lifecycle tag), and why. */
  recycled?: RecycleReason;
  /** The environment's AWS_LAMBDA_LOG_STREAM_NAME: the log stream this invocation's lines belong to. */
  logStreamName?: string;
  /** The handler's bytes went to InvokeOptions.stream; `payload` is then only an error body. */
  streamed?: boolean;
}

/** What invoke/ needs from worker/. */
export interface Worker {
  invoke(spec: FunctionVersionSpec, payload: Buffer, opts: InvokeOptions): Promise<InvocationResult>;
  /** Retire every environment of this function not bound to `keepVersionKey` (code/config update, delete). */
  retireFunction(functionArn: string, keepVersionKey?: string, version?: string): void;
  /** Warms environments of a version ahead of a burst, kept until `untilMs` (WorkerManager.prewarm). */
  prewarm(
    spec: FunctionVersionSpec,
    count: number,
    untilMs: number,
    opts: Pick<InvokeOptions, 'credentials' | 'tenantConcurrency'>,
  ): Promise<PrewarmResult>;
  /** Retire every environment of the tenant (its network grant changed). */
  retireTenant(tenantId: string): void;
  /** Current counts for metrics and `kindling pool`. */
  stats(): WorkerStats;
  /** Subscribe to the requests it refused for concurrency (429); returns an unsubscribe function. */
  onThrottle(listener: (tenantId: string, functionArn: string) => void): () => void;
  /** Stop accepting; let running invocations finish until the deadline, then end them with an error. */
  drain(deadlineMs: number): Promise<void>;
}

/** What a prewarm did: environments of the version warm now, and why fewer than asked if so. */
export interface PrewarmResult {
  requested: number;
  /** Environments of the version on this node now (already there, and started). */
  warm: number;
  /** Started by this call. */
  started: number;
  /** Set when the tenant's concurrency limit or the host's capacity allowed fewer. */
  limitedBy: 'concurrency' | undefined;
  /** Distinct reasons of inits that failed. */
  errors: string[];
}

export interface WorkerStats {
  environments: { bound: number; busy: number; starting: number };
  pools: PoolStats[];
  coldStarts: { pool: number; cold: number };
  warmStarts: number;
  /** Environments replaced after an invocation by a lifecycle tag (recycle after N invocations or above M MB). */
  recycled: number;
  /** Runtimes whose pool misses are clones of a zygote (python). */
  clones?: RuntimeCloneStats[];
}

export interface RuntimeCloneStats {
  /** Pool name of the runtime. */
  runtime: string;
  clones: number;
  cloneFailures: number;
  restarts: number;
  up: boolean;
}

export interface PoolStats {
  runtimeKey: string;
  ready: number;
  starting: number;
  target: number;
  /** 'fixed' when an admin set the target, 'demand' when it follows recent demand. */
  mode: 'fixed' | 'demand';
}
