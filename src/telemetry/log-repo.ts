// Stored invocation logs, per tenant and function, for `kindling logs`, the admin API's logs route and the
// CloudWatch Logs API (one row per invocation, with its log stream and time span; log-events.ts splits a
// row into events). Written by every node into the one store, so any node reads what ran anywhere.
// Retention is bounded per function (the newest N invocations), so a chatty function cannot fill the disk.
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

/** The stream id of rows stored before streams were recorded. */
const LEGACY_STREAM_ID = '0000000000000000';

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
  // The log stream (the environment's AWS_LAMBDA_LOG_STREAM_NAME) and the invocation's time span: its
  // events' timestamps fall within [first_ts, end_ts].
  `ALTER TABLE invocation_logs ADD COLUMN log_stream TEXT NOT NULL DEFAULT ''`,
  'ALTER TABLE invocation_logs ADD COLUMN first_ts INTEGER',
  'ALTER TABLE invocation_logs ADD COLUMN end_ts INTEGER',
  // Rows stored before: a stream per day and version, spans from the start and duration.
  {
    sqlite: `UPDATE invocation_logs SET
       log_stream = strftime('%Y/%m/%d', ts / 1000, 'unixepoch') || '/[' || version || ']' || '${LEGACY_STREAM_ID}',
       first_ts = ts, end_ts = ts + CAST(duration_ms AS INTEGER) WHERE first_ts IS NULL`,
    postgres: `UPDATE invocation_logs SET
       log_stream = to_char(to_timestamp(ts / 1000.0) AT TIME ZONE 'UTC', 'YYYY/MM/DD') || '/[' || version || ']' || '${LEGACY_STREAM_ID}',
       first_ts = ts, end_ts = ts + CAST(duration_ms AS BIGINT) WHERE first_ts IS NULL`,
  },
  'CREATE INDEX invocation_logs_time ON invocation_logs (tenant_id, function_name, first_ts, seq)',
  'CREATE INDEX invocation_logs_stream ON invocation_logs (tenant_id, function_name, log_stream, seq)',
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

/** One invocation's log with its stream and time span, as the CloudWatch Logs API reads it. */
export interface StreamLog {
  seq: number;
  logStream: string;
  /** ms since epoch: its events' timestamps fall within [firstTs, endTs]. */
  firstTs: number;
  endTs: number;
  log: string;
}

export interface LogGroupStats {
  functionName: string;
  /** Its oldest kept invocation (ms since epoch). */
  createdAt: number;
  storedBytes: number;
}

export interface LogStreamStats {
  name: string;
  firstTs: number;
  lastTs: number;
  storedBytes: number;
}

/** Which rows of a function to read, by time (interleaved across streams) or within one stream. */
export interface TimeQuery {
  /** Rows whose span reaches [from, to] (ms since epoch, inclusive). */
  from: number;
  to: number;
  /** Keyset cursor: only rows after (firstTs, seq) in (first_ts, seq) order. */
  after?: [number, number];
  streams?: readonly string[];
  streamPrefix?: string;
  limit: number;
}

export interface StreamQuery {
  stream: string;
  from: number;
  to: number;
  /** Rows from this seq on (forward) or up to it (backward), inclusive. */
  seq: number;
  forward: boolean;
  limit: number;
}

interface StreamRow {
  seq: number;
  log_stream: string;
  first_ts: number;
  end_ts: number;
  log: string;
}

const toStreamLog = (r: StreamRow): StreamLog => ({
  seq: r.seq,
  logStream: r.log_stream,
  firstTs: r.first_ts,
  endTs: r.end_ts,
  log: r.log,
});

/**
 * An invocation's time span: it ended when it was reported (`endedAt`), and began its duration (and init)
 * before that, never before the request arrived. The request's own timestamp may be earlier by the time
 * it waited for an environment, which is not part of its log.
 */
export function spanOf(r: InvocationRecord, endedAt?: number): [number, number] {
  const ran = Math.ceil(r.durationMs + (r.initDurationMs ?? 0));
  const end = Math.max(endedAt ?? r.timestamp + ran, r.timestamp);
  return [Math.max(r.timestamp, end - ran), end];
}

/** Records per INSERT (12 parameters each, well under either store's parameter limit). */
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

  /**
   * Stores records; pass a transaction's executor when writing many (Telemetry batches them). `endedAt[i]`
   * is when record i was reported (its span's end; from its duration when absent).
   */
  async add(
    records: readonly InvocationRecord[],
    tx?: SqlExecutor,
    endedAt?: readonly number[],
  ): Promise<void> {
    await this.#ready;
    const q = tx ?? this.#sql;
    const touched = new Map<string, [string, string]>();
    // Many rows per statement: one round trip per ROWS_PER_INSERT records, not one per record.
    for (let i = 0; i < records.length; i += ROWS_PER_INSERT) {
      const chunk = records.slice(i, i + ROWS_PER_INSERT);
      const params: unknown[] = [];
      for (const [k, r] of chunk.entries()) {
        const [first, end] = spanOf(r, endedAt?.[i + k]);
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
          r.logStreamName ?? legacyStream(r),
          first,
          end,
        );
        touched.set(`${r.tenantId}\n${r.functionName}`, [r.tenantId, r.functionName]);
      }
      // SQLite: OR FAIL, not the default ABORT, so the statement needs no statement journal (ABORT undoes a
      // failed statement's earlier rows alone, so SQLite journals every page it touches; past 64 KB that
      // spilled to a temp file created and written on every commit). No row here can violate a
      // constraint, and a failure still rolls back the whole transaction.
      await q.run(
        `INSERT ${q.dialect === 'sqlite' ? 'OR FAIL ' : ''}INTO invocation_logs (tenant_id, function_name, request_id, version, ts, start_kind, duration_ms, error_type, log, log_stream, first_ts, end_ts)
         VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
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

  /** The tenant's functions that have kept logs (log groups), by name, after `after`. */
  async groups(
    tenantId: string,
    q: { prefix: string; after: string; limit: number },
  ): Promise<LogGroupStats[]> {
    await this.#ready;
    const rows = await this.#sql.all<{ function_name: string; created: number; bytes: number }>(
      `SELECT function_name, MIN(first_ts) AS created, SUM(length(log)) AS bytes FROM invocation_logs
       WHERE tenant_id = ? AND substr(function_name, 1, length(?)) = ? AND function_name > ?
       GROUP BY function_name ORDER BY function_name LIMIT ?`,
      [tenantId, q.prefix, q.prefix, q.after, q.limit],
    );
    return rows.map((r) => ({
      functionName: r.function_name,
      createdAt: Number(r.created),
      storedBytes: Number(r.bytes),
    }));
  }

  /** Does the function have kept logs (does its log group exist)? */
  async hasGroup(tenantId: string, functionName: string): Promise<boolean> {
    await this.#ready;
    const row = await this.#sql.get(
      'SELECT 1 AS one FROM invocation_logs WHERE tenant_id = ? AND function_name = ? LIMIT 1',
      [tenantId, functionName],
    );
    return row !== undefined;
  }

  async hasStream(tenantId: string, functionName: string, stream: string): Promise<boolean> {
    await this.#ready;
    const row = await this.#sql.get(
      'SELECT 1 AS one FROM invocation_logs WHERE tenant_id = ? AND function_name = ? AND log_stream = ? LIMIT 1',
      [tenantId, functionName, stream],
    );
    return row !== undefined;
  }

  /** A function's log streams, by name or by their last event, a page at `offset`. */
  async streams(
    tenantId: string,
    functionName: string,
    q: { prefix: string; byLastEvent: boolean; descending: boolean; offset: number; limit: number },
  ): Promise<LogStreamStats[]> {
    await this.#ready;
    const dir = q.descending ? 'DESC' : 'ASC';
    const order = q.byLastEvent ? `last_ts ${dir}, log_stream ${dir}` : `log_stream ${dir}`;
    const rows = await this.#sql.all<{
      log_stream: string;
      first_ts: number;
      last_ts: number;
      bytes: number;
    }>(
      `SELECT log_stream, MIN(first_ts) AS first_ts, MAX(end_ts) AS last_ts, SUM(length(log)) AS bytes
       FROM invocation_logs WHERE tenant_id = ? AND function_name = ? AND substr(log_stream, 1, length(?)) = ?
       GROUP BY log_stream ORDER BY ${order} LIMIT ? OFFSET ?`,
      [tenantId, functionName, q.prefix, q.prefix, q.limit, q.offset],
    );
    return rows.map((r) => ({
      name: r.log_stream,
      firstTs: Number(r.first_ts),
      lastTs: Number(r.last_ts),
      storedBytes: Number(r.bytes),
    }));
  }

  /** A function's invocation logs whose span reaches [from, to], in (first_ts, seq) order. */
  async byTime(tenantId: string, functionName: string, q: TimeQuery): Promise<StreamLog[]> {
    await this.#ready;
    const where = ['tenant_id = ?', 'function_name = ?', 'end_ts >= ?', 'first_ts <= ?'];
    const params: unknown[] = [tenantId, functionName, q.from, q.to];
    if (q.after) {
      where.push('(first_ts > ? OR (first_ts = ? AND seq > ?))');
      params.push(q.after[0], q.after[0], q.after[1]);
    }
    if (q.streams) {
      where.push(`log_stream IN (${q.streams.map(() => '?').join(', ')})`);
      params.push(...q.streams);
    }
    if (q.streamPrefix !== undefined) {
      where.push('substr(log_stream, 1, length(?)) = ?');
      params.push(q.streamPrefix, q.streamPrefix);
    }
    params.push(q.limit);
    const rows = await this.#sql.all<StreamRow>(
      `SELECT seq, log_stream, first_ts, end_ts, log FROM invocation_logs WHERE ${where.join(' AND ')}
       ORDER BY first_ts, seq LIMIT ?`,
      params,
    );
    return rows.map(toStreamLog);
  }

  /** One stream's invocation logs whose span reaches [from, to], in seq order from `seq` on (or back). */
  async inStream(tenantId: string, functionName: string, q: StreamQuery): Promise<StreamLog[]> {
    await this.#ready;
    const rows = await this.#sql.all<StreamRow>(
      `SELECT seq, log_stream, first_ts, end_ts, log FROM invocation_logs
       WHERE tenant_id = ? AND function_name = ? AND log_stream = ? AND end_ts >= ? AND first_ts <= ?
         AND seq ${q.forward ? '>=' : '<='} ? ORDER BY seq ${q.forward ? 'ASC' : 'DESC'} LIMIT ?`,
      [tenantId, functionName, q.stream, q.from, q.to, q.seq, q.limit],
    );
    return rows.map(toStreamLog);
  }

  /** Forgets a tenant's logs (when an admin deletes the tenant). */
  async deleteTenant(tenantId: string): Promise<void> {
    await this.#ready;
    await this.#sql.run('DELETE FROM invocation_logs WHERE tenant_id = ?', [tenantId]);
  }
}

/** A record reported without a stream (an older node): a stream per day and version, as old rows get. */
function legacyStream(r: InvocationRecord): string {
  const day = new Date(r.timestamp).toISOString().slice(0, 10).replace(/-/g, '/');
  return `${day}/[${r.version}]${LEGACY_STREAM_ID}`;
}
