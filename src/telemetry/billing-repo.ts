// Billing records: GB-milliseconds per tenant, function and hour (memoryMB / 1024 × billed duration),
// as Lambda bills compute. Kept in SQLite, summed per hour so the table grows with time, not with traffic.
import { type Db, migrate } from '../store/database.js';
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

export const hourOf = (ms: number): string => new Date(Math.floor(ms / 3_600_000) * 3_600_000).toISOString();

export interface BillingQuery {
  tenantId?: string;
  functionName?: string;
  /** Inclusive lower bound (ms since epoch); matched against the hour's start. */
  from?: number;
  /** Exclusive upper bound (ms since epoch). */
  to?: number;
}

export class BillingStore {
  readonly #db: Db;
  readonly #upsert;

  constructor(db: Db) {
    this.#db = db;
    migrate(db, 'telemetry-billing', SCHEMA);
    this.#upsert = db.prepare(
      `INSERT INTO billing_hours (tenant_id, function_name, hour, invocations, billed_ms, gb_ms) VALUES (?, ?, ?, 1, ?, ?)
       ON CONFLICT (tenant_id, function_name, hour) DO UPDATE SET
         invocations = invocations + 1, billed_ms = billed_ms + excluded.billed_ms, gb_ms = gb_ms + excluded.gb_ms`,
    );
  }

  /** Adds records; call inside a transaction when writing many (Telemetry batches them). */
  add(records: readonly InvocationRecord[]): void {
    for (const r of records) {
      this.#upsert.run(
        r.tenantId,
        r.functionName,
        hourOf(r.timestamp),
        r.billedDurationMs,
        gbMs(r.memoryMB, r.billedDurationMs),
      );
    }
  }

  list(q: BillingQuery = {}): BillingRecord[] {
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
    return (
      this.#db.prepare(sql).all(...args) as {
        tenant_id: string;
        function_name: string;
        hour: string;
        invocations: number;
        billed_ms: number;
        gb_ms: number;
      }[]
    ).map((r) => ({
      tenantId: r.tenant_id,
      functionName: r.function_name,
      hour: r.hour,
      invocations: r.invocations,
      billedDurationMs: r.billed_ms,
      gbMs: r.gb_ms,
    }));
  }
}
