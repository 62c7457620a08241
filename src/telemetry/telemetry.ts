// The telemetry part: one InvocationObserver that updates metrics at once and stores logs and billing
// records in the store, batched over a short window so the invocation hot path never waits on a write
// and a busy node commits one transaction per window, not one per invocation. Every node writes to the
// same store, so logs and billing read through any node show what ran on all of them.
import type { Sql } from '../store/sql.js';
import { BillingStore } from './billing-repo.js';
import { LogStore } from './log-repo.js';
import { Metrics, type MetricsSources } from './metrics.js';
import type { InvocationObserver, InvocationRecord } from './types.js';

export interface TelemetryOptions {
  /** Invocation logs kept per function. */
  logRetention?: number;
}

/** Flush at once past this many pending records, whatever the event loop is doing. */
const MAX_PENDING = 1000;
/**
 * How long records wait to be batched. Readers flush first, so nothing waits to be seen; a SIGKILL can
 * lose at most this window of logs and billing records (documented in the README). A commit's cost is
 * mostly fixed (its pages, the retention delete, the billing upserts): measured on SQLite, 42 µs of CPU per
 * record in batches of 100, 16 in batches of 330, 11.5 in batches of 1,000 — at 2,000 invocations a second
 * a 50 ms window cost ~10 % of the server's CPU per request. Not longer: records held past a young-generation
 * collection or two are promoted, and cost a full collection later.
 */
const FLUSH_MS = 100;
/** While the store is failing, records wait (up to this many, oldest dropped first) and are retried. */
const MAX_HELD = 10_000;
const RETRY_MS = 1_000;

export class Telemetry implements InvocationObserver {
  readonly logs: LogStore;
  readonly billing: BillingStore;
  readonly metrics: Metrics;
  readonly #sql: Sql;
  #pending: InvocationRecord[] = [];
  /** When each pending record was reported: the end of its log's time span. */
  #endedAt: number[] = [];
  #scheduled: NodeJS.Timeout | undefined;
  /** The write in progress (and those queued behind it): a reader's flush waits for all of them. */
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(sql: Sql, sources: MetricsSources = {}, opts: TelemetryOptions = {}) {
    this.#sql = sql;
    this.logs = new LogStore(sql, opts.logRetention ?? 500);
    this.billing = new BillingStore(sql);
    this.metrics = new Metrics(sources);
  }

  onInvocation(record: InvocationRecord): void {
    this.metrics.onInvocation(record);
    this.#pending.push(record);
    this.#endedAt.push(Date.now());
    if (this.#pending.length >= MAX_PENDING) void this.flush();
    else this.#scheduled ??= setTimeout(() => void this.flush(), FLUSH_MS).unref();
  }

  onThrottle(tenantId: string, functionArn: string): void {
    this.metrics.onThrottle(tenantId, functionArn);
  }

  /**
   * Writes pending records now, in one transaction. Readers await it first so a log is visible as soon as
   * the invoke answered. Never rejects: telemetry must never fail an invocation or a read.
   */
  flush(): Promise<void> {
    if (this.#scheduled) clearTimeout(this.#scheduled);
    this.#scheduled = undefined;
    if (this.#pending.length === 0 || this.#closed) return this.#writing;
    const batch = this.#pending;
    const ended = this.#endedAt;
    this.#pending = [];
    this.#endedAt = [];
    this.#writing = this.#writing.then(() => this.#write(batch, ended));
    return this.#writing;
  }

  /** The last flush at shutdown: nothing is written after it. */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
  }

  async #write(batch: InvocationRecord[], ended: number[]): Promise<void> {
    try {
      await this.logs.ready();
      await this.billing.ready();
      await this.#sql.tx(async (q) => {
        await this.logs.add(batch, q, ended);
        await this.billing.add(batch, q);
      });
    } catch (e) {
      if (this.#closed) return;
      // The store is failing (PostgreSQL unreachable): keep the records for a retry, bounded so an outage
      // cannot fill memory; the metrics already counted them.
      const held = [...batch, ...this.#pending];
      const heldEnded = [...ended, ...this.#endedAt];
      const dropped = Math.max(0, held.length - MAX_HELD);
      this.#pending = held.slice(dropped);
      this.#endedAt = heldEnded.slice(dropped);
      console.error(
        `kindling: telemetry: storing ${batch.length} invocation records failed (retrying${dropped ? `, ${dropped} dropped` : ''}):`,
        (e as Error).message,
      );
      this.#scheduled ??= setTimeout(() => void this.flush(), RETRY_MS).unref();
    }
  }
}
