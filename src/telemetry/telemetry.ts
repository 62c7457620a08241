// The telemetry part: one InvocationObserver that updates metrics at once and stores logs and billing
// records in SQLite, batched over a short window so the invocation hot path never waits on a disk write
// and a busy server commits one transaction per window, not one per invocation.
import type { Db } from '../store/database.js';
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
 * lose at most this window of logs and billing records (documented in the README).
 */
const FLUSH_MS = 50;

export class Telemetry implements InvocationObserver {
  readonly logs: LogStore;
  readonly billing: BillingStore;
  readonly metrics: Metrics;
  readonly #db: Db;
  #pending: InvocationRecord[] = [];
  #scheduled: NodeJS.Timeout | undefined;
  readonly #write: (records: InvocationRecord[]) => void;

  constructor(db: Db, sources: MetricsSources = {}, opts: TelemetryOptions = {}) {
    this.#db = db;
    this.logs = new LogStore(db, opts.logRetention ?? 500);
    this.billing = new BillingStore(db);
    this.metrics = new Metrics(sources);
    this.#write = db.transaction((records: InvocationRecord[]) => {
      this.logs.add(records);
      this.billing.add(records);
    });
  }

  onInvocation(record: InvocationRecord): void {
    this.metrics.onInvocation(record);
    this.#pending.push(record);
    if (this.#pending.length >= MAX_PENDING) this.flush();
    else this.#scheduled ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  onThrottle(tenantId: string, functionArn: string): void {
    this.metrics.onThrottle(tenantId, functionArn);
  }

  /** Writes pending records now. Readers call it first so a log is visible as soon as the invoke answered. */
  flush(): void {
    if (this.#scheduled) clearTimeout(this.#scheduled);
    this.#scheduled = undefined;
    if (this.#pending.length === 0 || !this.#db.open) return;
    const batch = this.#pending;
    this.#pending = [];
    try {
      this.#write(batch);
    } catch (e) {
      // Telemetry must never fail an invocation; the records are lost, the metrics already counted them.
      console.error(`kindling: telemetry: storing ${batch.length} invocation records failed:`, e);
    }
  }
}
