// Stored invocation logs, per tenant and function, for `kindling logs` and the admin API's logs route.
// Written by every node into the one store, so any node reads what ran anywhere. Retention is bounded
// per function (the newest N invocations), so a chatty function cannot fill the disk.
import type { Sql, SqlExecutor } from '../store/sql.js';
import type { InvocationRecord } from './types.js';

export interface StoredLog {
  /** Monotonic cursor: `after=<seq>` returns only newer entries (for --follow). */
  seq: number;
  requestId: string;
  functionName: string;
  version: string;
  /** ms since epoch when the invocation started. */
  timestamp: number;
  start: InvocationRecord['start'];
  durationMs: number;
  errorType: string | null;
  log: string;
}

interface Row {
  seq: number;
  request_id: string;
  function_name: string;
  version: string;
  ts: number;
  start_kind: string;
  duration_ms: number;
  error_type: string | null;
  log: string;
}

const SCHEMA = [
  `CREATE TABLE invocation_logs (
     seq INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id TEXT NOT NULL, function_name TEXT NOT NULL,
     request_id TEXT NOT NULL, version TEXT NOT NULL, ts INTEGER NOT NULL, start_kind TEXT NOT NULL,
     duration_ms REAL NOT NULL, error_type TEXT, log TEXT NOT NULL)`,
  'CREATE INDEX invocation_logs_fn ON invocation_logs (tenant_id, function_name, seq)',
];

/** A single invocation's stored log is capped: Lambda truncates the tail log to 4 KB; we keep more. */
export const MAX_LOG_BYTES = 256 * 1024;

export interface LogQuery {
  /** Only invocations that started at or after this time (ms since epoch). */
  since?: number;
  /** Only entries with seq greater than this. */
  after?: number;
  /** At most this many entries (returned oldest first). */
  limit?: number;
}

/** Records per INSERT (9 parameters each, well under either store's parameter limit). */
const ROWS_PER_INSERT = 100;

export class LogStore {
  readonly #sql: Sql;
  readonly #ready: Promise<void>;
  readonly retain: number;

  /** `retain`: invocations kept per function. */
  constructor(sql: Sql, retain = 500) {
    this.#sql = sql;
    this.retain = retain;
    this.#ready = sql.migrate('telemetry-logs', SCHEMA);
    // Each method awaits #ready and sees the failure; this only keeps it from being reported unhandled.
    this.#ready.catch(() => {});
  }

  ready(): Promise<void> {
    return this.#ready;
  }

  /** Stores records; pass a transaction's executor when writing many (Telemetry batches them). */
  async add(records: readonly InvocationRecord[], tx?: SqlExecutor): Promise<void> {
    await this.#ready;
    const q = tx ?? this.#sql;
    const touched = new Map<string, [string, string]>();
    // Many rows per statement: one round trip per ROWS_PER_INSERT records, not one per record.
    for (let i = 0; i < records.length; i += ROWS_PER_INSERT) {
      const chunk = records.slice(i, i + ROWS_PER_INSERT);
      const params: unknown[] = [];
      for (const r of chunk) {
        const log =
          r.log.length > MAX_LOG_BYTES ? `${r.log.slice(0, MAX_LOG_BYTES)}\n[log truncated]\n` : r.log;
        params.push(
          r.tenantId,
          r.functionName,
          r.requestId,
          r.version,
          r.timestamp,
          r.start,
          r.durationMs,
          r.errorType ?? null,
          log,
        );
        touched.set(`${r.tenantId}\n${r.functionName}`, [r.tenantId, r.functionName]);
      }
      await q.run(
        `INSERT INTO invocation_logs (tenant_id, function_name, request_id, version, ts, start_kind, duration_ms, error_type, log)
         VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        params,
      );
    }
    for (const [tenant, fn] of touched.values()) {
      await q.run(
        `DELETE FROM invocation_logs WHERE tenant_id = ? AND function_name = ? AND seq <= (
           SELECT seq FROM invocation_logs WHERE tenant_id = ? AND function_name = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`,
        [tenant, fn, tenant, fn, this.retain],
      );
    }
  }

  async list(tenantId: string, functionName: string, q: LogQuery = {}): Promise<StoredLog[]> {
    await this.#ready;
    const limit = Math.max(1, Math.min(q.limit ?? 50, this.retain));
    // With a cursor, the oldest entries after it come first, so a follower pages forward without gaps;
    // without one, the newest `limit`.
    const forward = q.after !== undefined;
    const rows = await this.#sql.all<Row>(
      `SELECT * FROM invocation_logs WHERE tenant_id = ? AND function_name = ? AND ts >= ? AND seq > ?
       ORDER BY seq ${forward ? 'ASC' : 'DESC'} LIMIT ?`,
      [tenantId, functionName, q.since ?? 0, q.after ?? 0, limit],
    );
    if (!forward) rows.reverse();
    return rows.map((r) => ({
      seq: r.seq,
      requestId: r.request_id,
      functionName: r.function_name,
      version: r.version,
      timestamp: r.ts,
      start: r.start_kind as StoredLog['start'],
      durationMs: r.duration_ms,
      errorType: r.error_type,
      log: r.log,
    }));
  }

  /** Forgets a tenant's logs (when an admin deletes the tenant). */
  async deleteTenant(tenantId: string): Promise<void> {
    await this.#ready;
    await this.#sql.run('DELETE FROM invocation_logs WHERE tenant_id = ?', [tenantId]);
  }
}
