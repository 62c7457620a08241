// Platform configuration: defaults, overridden by `kindling serve` flags and KINDLING_* environment
// variables. Validated once here, then passed inward as plain values.
import path from 'node:path';

export interface PlatformConfig {
  dataDir: string;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  region: string;
  /** How long an idle bound environment is kept warm. */
  keepAliveMs: number;
  /** Fixed warming-pool target per runtime; undefined means "follow recent demand". */
  poolTarget: number | undefined;
  /** Pool size floor and ceiling when following demand. */
  poolMin: number;
  poolMax: number;
  healthCheckIntervalMs: number;
  /** How long a sync request over the concurrency limit waits for a slot before answering 429. */
  queueWaitMs: number;
  /** Bounded per-function buffer of waiting sync requests. */
  queueDepth: number;
  /** Concurrent executions allowed per tenant unless an admin sets another limit. */
  tenantConcurrency: number;
  /** SIGTERM: running invocations may finish for this long, then are ended with an error. */
  drainMs: number;
  /** Async invoke retry delay base; doubles per attempt, capped at 5 minutes. */
  retryBaseMs: number;
  /** 'auto' uses bubblewrap when present; 'none' runs unsandboxed (development only). */
  sandbox: 'auto' | 'bwrap' | 'none';
}

export function defaultConfig(overrides: Partial<PlatformConfig> = {}): PlatformConfig {
  const env = process.env;
  const num = (v: string | undefined, d: number) =>
    v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : d;
  const cfg: PlatformConfig = {
    dataDir: path.resolve(env.KINDLING_DATA_DIR ?? '.kindling'),
    host: env.KINDLING_HOST ?? '127.0.0.1',
    port: num(env.KINDLING_PORT, 9000),
    region: env.KINDLING_REGION ?? 'us-east-1',
    keepAliveMs: num(env.KINDLING_KEEP_ALIVE_MS, 10 * 60_000),
    poolTarget: env.KINDLING_POOL_TARGET ? num(env.KINDLING_POOL_TARGET, 2) : undefined,
    poolMin: num(env.KINDLING_POOL_MIN, 1),
    poolMax: num(env.KINDLING_POOL_MAX, 8),
    healthCheckIntervalMs: num(env.KINDLING_HEALTH_CHECK_MS, 5_000),
    queueWaitMs: num(env.KINDLING_QUEUE_WAIT_MS, 1_000),
    queueDepth: num(env.KINDLING_QUEUE_DEPTH, 100),
    tenantConcurrency: num(env.KINDLING_TENANT_CONCURRENCY, 64),
    drainMs: num(env.KINDLING_DRAIN_MS, 30_000),
    retryBaseMs: num(env.KINDLING_RETRY_BASE_MS, 1_000),
    sandbox: (env.KINDLING_SANDBOX as PlatformConfig['sandbox']) ?? 'auto',
    ...overrides,
  };
  cfg.dataDir = path.resolve(cfg.dataDir);
  return cfg;
}
