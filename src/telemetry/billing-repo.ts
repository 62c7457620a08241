// Billing records: GB-milliseconds per tenant, function and hour (memoryMB / 1024 × billed duration),
// as Lambda bills compute. Kept in the store (every node adds to the same rows), summed per hour so the
// table grows with time, not with traffic.
import type { Sql, SqlExecutor } from '../store/sql.js';
import type { InvocationRecord } from './types.js';

export interface BillingRecord {
  tenantId: string;
  functionName: string;
  /** Start of the hour, ISO 8601 (`2026-11-25T09:00:00.000Z`). */
  hour: string;
  invocations: number;
  billedDurationMs: number;
  gbMs: number;
}

const SCHEMA = [
  `CREATE TABLE billing_hours (
     tenant_id TEXT NOT NULL, function_name TEXT NOT NULL, hour TEXT NOT NULL,
     invocations INTEGER NOT NULL, billed_ms INTEGER NOT NULL, gb_ms REAL NOT NULL,
     PRIMARY KEY (tenant_id, function_name, hour))`,
];

export const gbMs = (memoryMB: number, billedDurationMs: number): number =>
  (memoryMB / 1024) * billedDurationMs;

let lastHour = Number.NaN;
let lastHourIso = '';
/** The start of the hour `ms` falls in, ISO 8601 (the last one is kept: a batch's records share it). */
export function hourOf(ms: number): string {
  const hour = Math.floor(ms / 3_600_000);
  if (hour !== lastHour) {
    lastHourIso = new Date(hour * 3_600_000).toISOString();
    lastHour = hour;
  }
  return lastHourIso;
}

export interface BillingQuery {
  tenantId?: string;
  functionName?: string;
  /** Inclusive lower bound (ms since epoch); matched against the hour's start. */
  from?: number;
  /** Exclusive upper bound (ms since epoch). */
  to?: number;
}

export class BillingStore {
  readonly #sql: Sql;
  readonly #ready: Promise<void>;

  constructor(sql: Sql) {
    this.#sql = sql;
    this.#ready = sql.migrate('telemetry-billing', SCHEMA);
    // Each method awaits #ready and sees the failure; this only keeps it from being reported unhandled.
    this.#ready.catch(() => {});
  }

  ready(): Promise<void> {
    return this.#ready;
  }

  /** Adds records; pass a transaction's executor when writing many (Telemetry batches them). */
  async add(records: readonly InvocationRecord[], tx?: SqlExecutor): Promise<void> {
    await this.#ready;
    const q = tx ?? this.#sql;
    // One upsert per (tenant, function, hour) of the batch, not per record: fewer round trips on PostgreSQL.
    const sums = new Map<string, [string, string, string, number, number, number]>();
    for (const r of records) {
      const hour = hourOf(r.timestamp);
      const key = `${r.tenantId}\n${r.functionName}\n${hour}`;
      const cur = sums.get(key) ?? [r.tenantId, r.functionName, hour, 0, 0, 0];
      cur[3] += 1;
      cur[4] += r.billedDurationMs;
      cur[5] += gbMs(r.memoryMB, r.billedDurationMs);
      sums.set(key, cur);
    }
    for (const row of sums.values()) {
      await q.run(
        `INSERT INTO billing_hours (tenant_id, function_name, hour, invocations, billed_ms, gb_ms) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (tenant_id, function_name, hour) DO UPDATE SET
           invocations = billing_hours.invocations + excluded.invocations,
           billed_ms = billing_hours.billed_ms + excluded.billed_ms,
           gb_ms = billing_hours.gb_ms + excluded.gb_ms`,
        row,
      );
    }
  }

  async list(q: BillingQuery = {}): Promise<BillingRecord[]> {
    await this.#ready;
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.tenantId !== undefined) {
      where.push('tenant_id = ?');
      args.push(q.tenantId);
    }
    if (q.functionName !== undefined) {
      where.push('function_name = ?');
      args.push(q.functionName);
    }
    if (q.from !== undefined) {
      where.push('hour >= ?');
      args.push(hourOf(q.from));
    }
    if (q.to !== undefined) {
      where.push('hour < ?');
      args.push(new Date(q.to).toISOString());
    }
    const sql = `SELECT * FROM billing_hours ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                 ORDER BY hour, tenant_id, function_name LIMIT 10000`;
    const rows = await this.#sql.all<{
      tenant_id: string;
      function_name: string;
      hour: string;
      invocations: number;
      billed_ms: number;
      gb_ms: number;
    }>(sql, args);
    return rows.map((r) => ({
      tenantId: r.tenant_id,
      functionName: r.function_name,
      hour: r.hour,
      invocations: r.invocations,
      billedDurationMs: r.billed_ms,
      gbMs: r.gb_ms,
    }));
  }
}
