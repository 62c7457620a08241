// Platform configuration: defaults, overridden by `kindling serve` flags and KINDLING_* environment
// variables. Validated once here, then passed inward as plain values.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { type BlobsLocation, parseBlobsLocation } from './store/blobs/location.js';
import { type StorageSettings, storageSettings } from './store/blocks/storage.js';

const MiB = 1024 * 1024;

export interface PlatformConfig {
  dataDir: string;
  /** `postgres://…` keeps durable state in PostgreSQL (several nodes); unset: SQLite in the data dir. */
  store: string | undefined;
  /**
   * `--blobs`: a directory every node shares, or `s3://BUCKET[/prefix]` (endpoint and credentials from
   * KINDLING_BLOBS_*); unset: blobs in the data dir (one node).
   */
  blobs: string | undefined;
  /** `blobs` parsed and checked (computed from it; an override is ignored). */
  blobsLocation: BlobsLocation | undefined;
  /** A shared blob no row names is removed only once older than this: another node may be committing it. */
  blobGraceMs: number;
  /** The encrypted, deduplicated block layer under code and objects (KINDLING_STORAGE*; store/blocks/). */
  storage: StorageSettings;
  /**
   * This node's identity in the cluster, new on every start: claims (leases) name it, so a node that
   * restarts after a kill never mistakes its dead predecessor's claims for its own.
   */
  nodeId: string;
  /** A claim (async event, mapping poller, schedule tick) not renewed for this long is taken over. */
  leaseMs: number;
  /**
   * The URL other nodes forward requests to (`--advertise`, KINDLING_ADVERTISE_URL); unset: the URL this
   * node listens on, which is only right when the nodes share a host or listen on a routable address.
   */
  advertiseUrl: string | undefined;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  region: string;
  /** Base domains S3 takes virtual-hosted–style requests on (`<bucket>.<domain>`; KINDLING_S3_DOMAINS). */
  s3Domains: string[];
  /** How long an idle bound environment is kept warm. */
  keepAliveMs: number;
  /** Fixed warming-pool target per runtime; undefined means "follow recent demand". */
  poolTarget: number | undefined;
  /** Pool size floor and ceiling when following demand. */
  poolMin: number;
  poolMax: number;
  healthCheckIntervalMs: number;
  /** Environments this node keeps at most (bound and busy); undefined: one per 96 MB of host memory. */
  maxEnvironments: number | undefined;
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
  /** Limits the HTTP edge applies before a request is authenticated (see api/edge-limits.ts). */
  edge: EdgeLimits;
  /** A bearer token that may scrape /metrics besides the admin tenant's key; unset: admin key only. */
  metricsToken: string | undefined;
}

export interface EdgeLimits {
  /** A request's headers must be complete this long after the connection (or the previous request). */
  headersTimeoutMs: number;
  /** After the grace period, a body arriving slower than this on average is cut (408). */
  bodyMinBytesPerSec: number;
  bodyGraceMs: number;
  /** Bytes of not yet authenticated bodies buffered at once: in all, and per client address. */
  unauthenticatedBytes: number;
  unauthenticatedBytesPerAddress: number;
}

/** Sized for real SDK clients: two full 6 MB invokes from one address fit the per-address cap. */
export const DEFAULT_EDGE_LIMITS: EdgeLimits = {
  headersTimeoutMs: 10_000,
  bodyMinBytesPerSec: 1024,
  bodyGraceMs: 5_000,
  unauthenticatedBytes: 64 * MiB,
  unauthenticatedBytesPerAddress: 16 * MiB,
};

export type ConfigOverrides = Partial<Omit<PlatformConfig, 'edge'>> & { edge?: Partial<EdgeLimits> };

export function defaultConfig(overrides: ConfigOverrides = {}): PlatformConfig {
  const env = process.env;
  const num = (v: string | undefined, d: number) =>
    v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : d;
  const edge: EdgeLimits = {
    headersTimeoutMs: num(env.KINDLING_HEADERS_TIMEOUT_MS, DEFAULT_EDGE_LIMITS.headersTimeoutMs),
    bodyMinBytesPerSec: num(env.KINDLING_BODY_MIN_BYTES_PER_SEC, DEFAULT_EDGE_LIMITS.bodyMinBytesPerSec),
    bodyGraceMs: num(env.KINDLING_BODY_GRACE_MS, DEFAULT_EDGE_LIMITS.bodyGraceMs),
    unauthenticatedBytes: num(env.KINDLING_UNAUTH_BUFFER_BYTES, DEFAULT_EDGE_LIMITS.unauthenticatedBytes),
    unauthenticatedBytesPerAddress: num(
      env.KINDLING_UNAUTH_BUFFER_PER_ADDRESS_BYTES,
      DEFAULT_EDGE_LIMITS.unauthenticatedBytesPerAddress,
    ),
    ...overrides.edge,
  };
  const cfg: PlatformConfig = {
    dataDir: path.resolve(env.KINDLING_DATA_DIR ?? '.kindling'),
    store: env.KINDLING_STORE || undefined,
    blobs: env.KINDLING_BLOBS || undefined,
    blobsLocation: undefined,
    blobGraceMs: num(env.KINDLING_BLOB_GRACE_MS, 15 * 60_000),
    storage: storageSettings(env),
    nodeId: randomUUID(),
    leaseMs: num(env.KINDLING_LEASE_MS, 30_000),
    advertiseUrl: env.KINDLING_ADVERTISE_URL || undefined,
    host: env.KINDLING_HOST ?? '127.0.0.1',
    port: num(env.KINDLING_PORT, 9000),
    region: env.KINDLING_REGION ?? 'us-east-1',
    s3Domains: s3Domains(env.KINDLING_S3_DOMAINS),
    keepAliveMs: num(env.KINDLING_KEEP_ALIVE_MS, 10 * 60_000),
    poolTarget: env.KINDLING_POOL_TARGET ? num(env.KINDLING_POOL_TARGET, 2) : undefined,
    poolMin: num(env.KINDLING_POOL_MIN, 1),
    poolMax: num(env.KINDLING_POOL_MAX, 8),
    healthCheckIntervalMs: num(env.KINDLING_HEALTH_CHECK_MS, 5_000),
    // Like the other numbers, a value that is not one keeps the default (here: derived from memory).
    maxEnvironments:
      num(env.KINDLING_MAX_ENVIRONMENTS, 0) >= 1
        ? Math.floor(num(env.KINDLING_MAX_ENVIRONMENTS, 0))
        : undefined,
    queueWaitMs: num(env.KINDLING_QUEUE_WAIT_MS, 1_000),
    queueDepth: num(env.KINDLING_QUEUE_DEPTH, 100),
    tenantConcurrency: num(env.KINDLING_TENANT_CONCURRENCY, 64),
    drainMs: num(env.KINDLING_DRAIN_MS, 30_000),
    retryBaseMs: num(env.KINDLING_RETRY_BASE_MS, 1_000),
    sandbox: (env.KINDLING_SANDBOX as PlatformConfig['sandbox']) ?? 'auto',
    metricsToken: env.KINDLING_METRICS_TOKEN || undefined,
    ...overrides,
    edge,
  };
  cfg.dataDir = path.resolve(cfg.dataDir);
  if (cfg.store !== undefined && cfg.store !== 'sqlite' && !/^postgres(ql)?:\/\//i.test(cfg.store))
    throw new Error(`unsupported store ${JSON.stringify(cfg.store)}: use sqlite or a postgres:// URL`);
  if (cfg.store === 'sqlite') cfg.store = undefined;
  if (cfg.advertiseUrl !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(cfg.advertiseUrl);
    } catch {
      u = undefined;
    }
    if (u === undefined || u.protocol !== 'http:' || u.pathname !== '/')
      throw new Error(`the advertised URL must be http://HOST:PORT, not ${JSON.stringify(cfg.advertiseUrl)}`);
    cfg.advertiseUrl = u.origin;
  }
  cfg.blobsLocation = cfg.blobs === undefined ? undefined : parseBlobsLocation(cfg.blobs, env, cfg.dataDir);
  // A short token is guessable over the network; refuse it rather than serve metrics behind it.
  if (cfg.metricsToken !== undefined && cfg.metricsToken.length < 16)
    throw new Error('the metrics token must be at least 16 characters long');
  return cfg;
}

/** `KINDLING_S3_DOMAINS`: comma-separated base domains; unset: `localhost`; empty: path style only. */
export function s3Domains(raw: string | undefined): string[] {
  if (raw === undefined) return ['localhost'];
  const out = raw
    .split(',')
    .map((s) =>
      s
        .trim()
        .toLowerCase()
        .replace(/^\.+|\.+$/g, ''),
    )
    .filter((s) => s !== '');
  for (const d of out)
    if (
      !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(d) ||
      /^\d+(\.\d+){3}$/.test(d)
    )
      throw new Error(`KINDLING_S3_DOMAINS: ${JSON.stringify(d)} is not a domain name`);
  return out;
}
