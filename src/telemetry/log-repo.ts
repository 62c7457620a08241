// Stored invocation logs, per tenant and function, for `kindling logs` and the admin API's logs route.
// Retention is bounded per function (the newest N invocations), so a chatty function cannot fill the disk.
import { type Db, migrate } from '../store/database.js';
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

export class LogStore {
  readonly #db: Db;
  readonly retain: number;
  readonly #insert;
  readonly #prune;

  /** `retain`: invocations kept per function. */
  constructor(db: Db, retain = 500) {
    this.#db = db;
    this.retain = retain;
    migrate(db, 'telemetry-logs', SCHEMA);
    this.#insert = db.prepare(
      `INSERT INTO invocation_logs (tenant_id, function_name, request_id, version, ts, start_kind, duration_ms, error_type, log)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#prune = db.prepare(
      `DELETE FROM invocation_logs WHERE tenant_id = ? AND function_name = ? AND seq <= (
         SELECT seq FROM invocation_logs WHERE tenant_id = ? AND function_name = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`,
    );
  }

  /** Stores records; call inside a transaction when writing many (Telemetry batches them). */
  add(records: readonly InvocationRecord[]): void {
    const touched = new Map<string, [string, string]>();
    for (const r of records) {
      const log =
        r.log.length > MAX_LOG_BYTES ? `${r.log.slice(0, MAX_LOG_BYTES)}\n[log truncated]\n` : r.log;
      this.#insert.run(
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
    for (const [tenant, fn] of touched.values()) this.#prune.run(tenant, fn, tenant, fn, this.retain);
  }

  list(tenantId: string, functionName: string, q: LogQuery = {}): StoredLog[] {
    const limit = Math.max(1, Math.min(q.limit ?? 50, this.retain));
    // With a cursor, the oldest entries after it come first, so a follower pages forward without gaps;
    // without one, the newest `limit`.
    const forward = q.after !== undefined;
    const rows = this.#db
      .prepare(
        `SELECT * FROM invocation_logs WHERE tenant_id = ? AND function_name = ? AND ts >= ? AND seq > ?
         ORDER BY seq ${forward ? 'ASC' : 'DESC'} LIMIT ?`,
      )
      .all(tenantId, functionName, q.since ?? 0, q.after ?? 0, limit) as Row[];
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
  deleteTenant(tenantId: string): void {
    this.#db.prepare('DELETE FROM invocation_logs WHERE tenant_id = ?').run(tenantId);
  }
}
