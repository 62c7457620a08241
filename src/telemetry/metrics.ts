// Prometheus metrics: counters and a duration histogram fed by invocation records (per tenant and
// function), plus gauges read from the worker at scrape time. Rendered in the text exposition format.
import type { WorkerStats } from '../worker/types.js';
import type { InvocationObserver, InvocationRecord } from './types.js';

export const DURATION_BUCKETS_S = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900,
];

const escapeLabel = (v: string): string =>
  v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function labels(pairs: Record<string, string>): string {
  const parts = Object.entries(pairs).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

const num = (n: number): string => (Number.isInteger(n) ? String(n) : String(Number(n.toFixed(6))));

/** Per-series state keyed by tenant id, function name and an optional extra label value. */
interface Series {
  tenantId: string;
  fn: string;
  extra: string;
  value: number;
}

/**
 * Series by tenant, then function, then extra label: every invocation updates several, and nested lookups
 * of the record's own strings (their hashes cached) cost less than building and hashing a joined key each.
 */
class SeriesMap<S> {
  readonly #byTenant = new Map<string, Map<string, Map<string, S>>>();

  get(tenantId: string, fn: string, extra: string): S | undefined {
    return this.#byTenant.get(tenantId)?.get(fn)?.get(extra);
  }

  set(tenantId: string, fn: string, extra: string, s: S): void {
    let byFn = this.#byTenant.get(tenantId);
    if (byFn === undefined) {
      byFn = new Map();
      this.#byTenant.set(tenantId, byFn);
    }
    let byExtra = byFn.get(fn);
    if (byExtra === undefined) {
      byExtra = new Map();
      byFn.set(fn, byExtra);
    }
    byExtra.set(extra, s);
  }

  *values(): Iterable<S> {
    for (const byFn of this.#byTenant.values()) for (const byExtra of byFn.values()) yield* byExtra.values();
  }
}

class LabeledCounter {
  readonly #series = new SeriesMap<Series>();

  inc(tenantId: string, fn: string, extra = '', by = 1): void {
    const s = this.#series.get(tenantId, fn, extra);
    if (s) s.value += by;
    else this.#series.set(tenantId, fn, extra, { tenantId, fn, extra, value: by });
  }

  *entries(): Iterable<Series> {
    yield* this.#series.values();
  }
}

interface HistogramSeries {
  tenantId: string;
  fn: string;
  extra: string;
  buckets: number[];
  sum: number;
  count: number;
}

class LabeledHistogram {
  readonly #series = new SeriesMap<HistogramSeries>();

  constructor(readonly bounds: readonly number[]) {}

  observe(tenantId: string, fn: string, value: number, extra = ''): void {
    let s = this.#series.get(tenantId, fn, extra);
    if (!s) {
      s = { tenantId, fn, extra, buckets: this.bounds.map(() => 0), sum: 0, count: 0 };
      this.#series.set(tenantId, fn, extra, s);
    }
    // Buckets are stored non-cumulative and summed when rendered; past the last bound only +Inf counts it.
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        s.buckets[i]! += 1;
        break;
      }
    }
    s.sum += value;
    s.count += 1;
  }

  *entries(): Iterable<HistogramSeries> {
    yield* this.#series.values();
  }
}

export interface MetricsSources {
  /** Worker counts at scrape time; undefined while no worker is running. */
  workerStats?: () => WorkerStats | undefined;
  /** Tenant id → name for labels (names read better on dashboards); falls back to the id. */
  tenantName?: (tenantId: string) => string | undefined;
  /** Shared volumes mounted on this node, their bytes used and size (read at scrape time). */
  volumes?: () => VolumeGauge[];
}

export interface VolumeGauge {
  tenantId: string;
  fileSystemId: string;
  usedBytes: number;
  sizeBytes: number;
}

/** One function's counters (Metrics.functionStats). */
export interface FunctionStats {
  invocations: number;
  errors: number;
  throttles: number;
  /** Served by a bound environment. */
  warm: number;
  /** Cold starts served by a warming-pool sandbox. */
  pool: number;
  /** Cold starts that started a new sandbox. */
  cold: number;
  /** Total init time of the cold starts that reported one, and how many did. */
  initMs: number;
  inits: number;
}

const functionNameOfArn = (arn: string): string => /:function:([^:]+)/.exec(arn)?.[1] ?? arn;

export class Metrics implements InvocationObserver {
  readonly #invocations = new LabeledCounter();
  readonly #errors = new LabeledCounter();
  readonly #throttles = new LabeledCounter();
  readonly #coldStarts = new LabeledCounter();
  readonly #warmStarts = new LabeledCounter();
  readonly #recycled = new LabeledCounter();
  readonly #gbSeconds = new LabeledCounter();
  readonly #duration = new LabeledHistogram(DURATION_BUCKETS_S);
  readonly #initDuration = new LabeledHistogram(DURATION_BUCKETS_S);
  readonly #sources: MetricsSources;
  readonly #names = new Map<string, string>();

  constructor(sources: MetricsSources = {}) {
    this.#sources = sources;
  }

  onInvocation(r: InvocationRecord): void {
    this.#invocations.inc(r.tenantId, r.functionName, r.invocationType);
    if (r.errorType !== undefined) this.#errors.inc(r.tenantId, r.functionName, r.errorType);
    if (r.start === 'warm') this.#warmStarts.inc(r.tenantId, r.functionName);
    else this.#coldStarts.inc(r.tenantId, r.functionName, r.start);
    if (r.recycled !== undefined) this.#recycled.inc(r.tenantId, r.functionName, r.recycled);
    this.#gbSeconds.inc(r.tenantId, r.functionName, '', ((r.memoryMB / 1024) * r.billedDurationMs) / 1000);
    this.#duration.observe(r.tenantId, r.functionName, r.durationMs / 1000);
    if (r.initDurationMs !== undefined && r.start !== 'warm') {
      this.#initDuration.observe(r.tenantId, r.functionName, r.initDurationMs / 1000, r.start);
    }
  }

  onThrottle(tenantId: string, functionArn: string): void {
    this.#throttles.inc(tenantId, functionNameOfArn(functionArn));
  }

  /**
   * One tenant's counters per function since this node started (the web console's view of its own
   * starts): nothing of other tenants and no platform-wide figures.
   */
  functionStats(tenantId: string): Record<string, FunctionStats> {
    // No prototype: a function may be named `__proto__` or `constructor`.
    const out: Record<string, FunctionStats> = Object.create(null);
    const of = (fn: string): FunctionStats =>
      (out[fn] ??= {
        invocations: 0,
        errors: 0,
        throttles: 0,
        warm: 0,
        pool: 0,
        cold: 0,
        initMs: 0,
        inits: 0,
      });
    for (const s of this.#invocations.entries()) if (s.tenantId === tenantId) of(s.fn).invocations += s.value;
    for (const s of this.#errors.entries()) if (s.tenantId === tenantId) of(s.fn).errors += s.value;
    for (const s of this.#throttles.entries()) if (s.tenantId === tenantId) of(s.fn).throttles += s.value;
    for (const s of this.#warmStarts.entries()) if (s.tenantId === tenantId) of(s.fn).warm += s.value;
    for (const s of this.#coldStarts.entries()) {
      if (s.tenantId !== tenantId) continue;
      if (s.extra === 'pool') of(s.fn).pool += s.value;
      else of(s.fn).cold += s.value;
    }
    for (const s of this.#initDuration.entries()) {
      if (s.tenantId !== tenantId) continue;
      of(s.fn).initMs += s.sum * 1000;
      of(s.fn).inits += s.count;
    }
    return out;
  }

  #tenant(id: string): string {
    let name = this.#names.get(id);
    if (name === undefined) {
      name = this.#sources.tenantName?.(id) ?? id;
      this.#names.set(id, name);
    }
    return name;
  }

  /**
   * The Prometheus text exposition (version 0.0.4). With a tenant, only that tenant's series: every
   * per-function series carries its tenant, and the platform-wide gauges (environments, pools) are
   * left out, so one tenant learns nothing of another's functions or load.
   */
  render(only?: { tenantId: string }): string {
    const out: string[] = [];
    const shown = (s: { tenantId: string }) => only === undefined || s.tenantId === only.tenantId;
    const head = (name: string, type: string, help: string) =>
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const counter = (name: string, help: string, c: LabeledCounter, extraLabel?: string) => {
      head(name, 'counter', help);
      for (const s of c.entries()) {
        if (!shown(s)) continue;
        const l: Record<string, string> = { tenant: this.#tenant(s.tenantId), function: s.fn };
        if (extraLabel) l[extraLabel] = s.extra;
        out.push(`${name}${labels(l)} ${num(s.value)}`);
      }
    };
    counter(
      'kindling_invocations_total',
      'Invocations completed, by invocation type.',
      this.#invocations,
      'type',
    );
    counter(
      'kindling_invocation_errors_total',
      'Invocations that ended in an error, by error type.',
      this.#errors,
      'error_type',
    );
    counter('kindling_throttles_total', 'Requests refused for concurrency (429).', this.#throttles);
    counter(
      'kindling_cold_starts_total',
      "Invocations that needed a new environment: kind 'pool' (warming-pool hit) or 'cold' (new sandbox).",
      this.#coldStarts,
      'kind',
    );
    counter(
      'kindling_warm_starts_total',
      'Invocations served by an already bound (warm) environment.',
      this.#warmStarts,
    );
    counter(
      'kindling_environments_recycled_total',
      "Environments replaced after an invocation by a lifecycle tag, by reason: 'invocations' or 'memory'.",
      this.#recycled,
      'reason',
    );
    counter(
      'kindling_billed_gb_seconds_total',
      'Billed compute: memory (GB) x billed duration (s).',
      this.#gbSeconds,
    );

    const histogram = (h: string, help: string, hist: LabeledHistogram, extraLabel?: string) => {
      head(h, 'histogram', help);
      for (const s of hist.entries()) {
        if (!shown(s)) continue;
        const base: Record<string, string> = { tenant: this.#tenant(s.tenantId), function: s.fn };
        if (extraLabel) base[extraLabel] = s.extra;
        let cumulative = 0;
        hist.bounds.forEach((b, i) => {
          cumulative += s.buckets[i]!;
          out.push(`${h}_bucket${labels({ ...base, le: String(b) })} ${cumulative}`);
        });
        out.push(`${h}_bucket${labels({ ...base, le: '+Inf' })} ${s.count}`);
        out.push(`${h}_sum${labels(base)} ${num(s.sum)}`);
        out.push(`${h}_count${labels(base)} ${s.count}`);
      }
    };
    histogram(
      'kindling_invocation_duration_seconds',
      'Invocation duration (handler run time).',
      this.#duration,
    );
    histogram(
      'kindling_init_duration_seconds',
      "Init duration of cold starts (loading the code and running init), by kind: 'pool' or 'cold'.",
      this.#initDuration,
      'kind',
    );

    // A tenant's own volumes are its own series, like its functions'.
    const volumes = (this.#sources.volumes?.() ?? []).filter(shown);
    if (volumes.length > 0) {
      head(
        'kindling_volume_used_bytes',
        'gauge',
        'Bytes used on a shared volume (EFS file system) of this node.',
      );
      for (const v of volumes)
        out.push(
          `kindling_volume_used_bytes${labels({ tenant: this.#tenant(v.tenantId), file_system: v.fileSystemId })} ${v.usedBytes}`,
        );
      head(
        'kindling_volume_size_bytes',
        'gauge',
        'Size (quota) of a shared volume: writes past it fail with ENOSPC.',
      );
      for (const v of volumes)
        out.push(
          `kindling_volume_size_bytes${labels({ tenant: this.#tenant(v.tenantId), file_system: v.fileSystemId })} ${v.sizeBytes}`,
        );
    }

    const stats = only === undefined ? this.#sources.workerStats?.() : undefined;
    if (stats) {
      head('kindling_concurrent_executions', 'gauge', 'Invocations running right now (busy environments).');
      out.push(`kindling_concurrent_executions ${stats.environments.busy}`);
      head('kindling_environments', 'gauge', 'Execution environments by state.');
      for (const state of ['bound', 'busy', 'starting'] as const) {
        out.push(`kindling_environments${labels({ state })} ${stats.environments[state]}`);
      }
      head('kindling_pool_ready', 'gauge', 'Warming-pool sandboxes ready to be bound, per runtime.');
      for (const p of stats.pools)
        out.push(`kindling_pool_ready${labels({ runtime: p.runtimeKey })} ${p.ready}`);
      head('kindling_pool_starting', 'gauge', 'Warming-pool sandboxes starting, per runtime.');
      for (const p of stats.pools)
        out.push(`kindling_pool_starting${labels({ runtime: p.runtimeKey })} ${p.starting}`);
      head(
        'kindling_pool_target',
        'gauge',
        "Warming-pool target size per runtime; mode 'fixed' (admin) or 'demand'.",
      );
      for (const p of stats.pools)
        out.push(`kindling_pool_target${labels({ runtime: p.runtimeKey, mode: p.mode })} ${p.target}`);
      const clones = stats.clones ?? [];
      head(
        'kindling_clones_total',
        'counter',
        "New environments forked from a runtime's zygote; outcome 'failed': started normally instead.",
      );
      for (const c of clones) {
        out.push(`kindling_clones_total${labels({ runtime: c.runtime, outcome: 'ok' })} ${c.clones}`);
        out.push(
          `kindling_clones_total${labels({ runtime: c.runtime, outcome: 'failed' })} ${c.cloneFailures}`,
        );
      }
      head(
        'kindling_zygote_restarts_total',
        'counter',
        'Zygotes started again after one died or was killed.',
      );
      for (const c of clones)
        out.push(`kindling_zygote_restarts_total${labels({ runtime: c.runtime })} ${c.restarts}`);
      head('kindling_zygote_up', 'gauge', "Whether the runtime's zygote is up (1) or down/restarting (0).");
      for (const c of clones) out.push(`kindling_zygote_up${labels({ runtime: c.runtime })} ${c.up ? 1 : 0}`);
    }
    return `${out.join('\n')}\n`;
  }
}
