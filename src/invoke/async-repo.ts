// The async-invoke store's persistence: every SQL statement over async_events and async_attempts. An event
// is written in one SQLite transaction before the 202; its status moves queued -> running ->
// succeeded/failed, and anything found 'running' at start was in flight when the process died.
import type Database from 'better-sqlite3';
import { z } from 'zod';
import { type Db, migrate } from '../store/database.js';
import type {
  AsyncAttempt,
  AsyncCondition,
  AsyncEvent,
  AsyncEventStatus,
  AttemptOutcome,
  AttemptResult,
  NewAsyncEvent,
} from './async-event.js';

const SCHEMA = [
  `CREATE TABLE async_events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     request_id TEXT NOT NULL UNIQUE,
     tenant_id TEXT NOT NULL,
     function_name TEXT NOT NULL,
     function_arn TEXT NOT NULL,
     qualifier TEXT,
     payload BLOB NOT NULL,
     source_kind TEXT NOT NULL,
     source_arn TEXT,
     status TEXT NOT NULL,
     condition TEXT,
     attempts INTEGER NOT NULL DEFAULT 0,
     throttles INTEGER NOT NULL DEFAULT 0,
     enqueued_at INTEGER NOT NULL,
     next_attempt_at INTEGER NOT NULL,
     finished_at INTEGER,
     last_error_type TEXT,
     last_error_message TEXT,
     last_status INTEGER,
     last_response BLOB,
     executed_version TEXT,
     delivery TEXT)`,
  'CREATE INDEX async_events_due ON async_events (status, next_attempt_at)',
  'CREATE INDEX async_events_function ON async_events (tenant_id, function_name, id)',
  `CREATE TABLE async_attempts (
     event_id INTEGER NOT NULL REFERENCES async_events(id) ON DELETE CASCADE,
     n INTEGER NOT NULL,
     started_at INTEGER NOT NULL,
     ended_at INTEGER,
     outcome TEXT,
     error_type TEXT,
     error_message TEXT,
     PRIMARY KEY (event_id, n))`,
  'CREATE INDEX async_events_function_due ON async_events (tenant_id, function_arn, status, next_attempt_at)',
  'ALTER TABLE async_events ADD COLUMN chain_depth INTEGER NOT NULL DEFAULT 0',
];

const nullish = <T extends z.ZodType>(t: T) => t.nullable().transform((v) => v ?? undefined);

// Validated when read back: a row is state from before a restart (DESIGN.md, validation at each entry).
const EventRow = z.object({
  id: z.number().int(),
  request_id: z.string(),
  tenant_id: z.string(),
  function_name: z.string(),
  function_arn: z.string(),
  qualifier: nullish(z.string()),
  payload: z.instanceof(Buffer),
  source_kind: z.enum(['api', 's3', 'schedule', 'rpc', 'destination']),
  source_arn: nullish(z.string()),
  status: z.enum(['queued', 'running', 'succeeded', 'failed']),
  condition: nullish(z.enum(['Success', 'RetriesExhausted', 'EventAgeExceeded', 'FunctionNotFound'])),
  attempts: z.number().int(),
  throttles: z.number().int(),
  enqueued_at: z.number(),
  next_attempt_at: z.number(),
  finished_at: nullish(z.number()),
  last_error_type: nullish(z.string()),
  last_error_message: nullish(z.string()),
  last_status: nullish(z.number()),
  last_response: nullish(z.instanceof(Buffer)),
  executed_version: nullish(z.string()),
  delivery: nullish(z.string()),
  chain_depth: z.number().int().min(0),
});

const toEvent = (raw: unknown): AsyncEvent => {
  const r = EventRow.parse(raw);
  return {
    id: r.id,
    requestId: r.request_id,
    tenantId: r.tenant_id,
    functionName: r.function_name,
    functionArn: r.function_arn,
    qualifier: r.qualifier,
    payload: r.payload,
    source: { kind: r.source_kind, ...(r.source_arn !== undefined && { arn: r.source_arn }) },
    status: r.status,
    condition: r.condition,
    attempts: r.attempts,
    throttles: r.throttles,
    enqueuedAt: r.enqueued_at,
    nextAttemptAt: r.next_attempt_at,
    finishedAt: r.finished_at,
    lastErrorType: r.last_error_type,
    lastErrorMessage: r.last_error_message,
    lastStatus: r.last_status,
    lastResponse: r.last_response,
    executedVersion: r.executed_version,
    delivery: r.delivery,
    chainDepth: r.chain_depth,
  };
};

export class AsyncEventStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
    migrate(db, 'async-invoke', SCHEMA);
  }

  // Statements are prepared once: preparing costs more than running these small queries.
  readonly #statements = new Map<string, Database.Statement<unknown[]>>();
  #prepare(sql: string): Database.Statement<unknown[]> {
    let st = this.#statements.get(sql);
    if (!st) {
      st = this.#db.prepare(sql);
      this.#statements.set(sql, st);
    }
    return st;
  }

  /** Runs fn as one transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  /** A function's events held back by a throttle become due now (its concurrency changed). */
  releaseThrottled(tenantId: string, functionArn: string, now = Date.now()): void {
    this.#prepare(
      `UPDATE async_events SET next_attempt_at = ? WHERE status = 'queued' AND tenant_id = ? AND function_arn = ?
           AND last_status = 429 AND next_attempt_at > ?`,
    ).run(now, tenantId, functionArn, now);
  }

  /** Drops the open attempt of an event that ends without running (call inside a transaction). */
  dropOpenAttempt(id: number): void {
    this.#prepare('DELETE FROM async_attempts WHERE event_id = ? AND ended_at IS NULL').run(id);
  }

  /** Records EventAgeExceeded as the last error when no run reported one. */
  markAgeExceeded(id: number): void {
    this.#prepare(
      "UPDATE async_events SET last_error_type = COALESCE(last_error_type, 'EventAgeExceeded') WHERE id = ?",
    ).run(id);
  }

  /** One INSERT (its own transaction unless the caller holds one): durable once it returns. */
  insert(e: NewAsyncEvent, now = Date.now()): number {
    const r = this.#prepare(
      `INSERT INTO async_events (request_id, tenant_id, function_name, function_arn, qualifier, payload, source_kind,
           source_arn, status, enqueued_at, next_attempt_at, chain_depth)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)`,
    ).run(
      e.requestId,
      e.tenantId,
      e.functionName,
      e.functionArn,
      e.qualifier ?? null,
      e.payload,
      e.source.kind,
      e.source.arn ?? null,
      now,
      now,
      e.chainDepth ?? 0,
    );
    return Number(r.lastInsertRowid);
  }

  get(id: number): AsyncEvent | undefined {
    const row = this.#prepare('SELECT * FROM async_events WHERE id = ?').get(id);
    return row === undefined ? undefined : toEvent(row);
  }

  byRequestId(requestId: string): AsyncEvent | undefined {
    const row = this.#prepare('SELECT * FROM async_events WHERE request_id = ?').get(requestId);
    return row === undefined ? undefined : toEvent(row);
  }

  /**
   * Due queued events, oldest due first, skipping functions (`tenantId|functionArn`) and tenants that are
   * at their concurrency limit so that one busy function or tenant does not hide others' events.
   */
  due(
    now: number,
    skipKeys: readonly string[],
    limit: number,
    skipTenants: readonly string[] = [],
  ): { id: number; tenantId: string; functionArn: string }[] {
    return (
      this.#prepare(
        `SELECT id, tenant_id, function_arn FROM async_events
            WHERE status = 'queued' AND next_attempt_at <= ?
              AND (tenant_id || '|' || function_arn) NOT IN (SELECT value FROM json_each(?))
              AND tenant_id NOT IN (SELECT value FROM json_each(?))
            ORDER BY next_attempt_at, id LIMIT ?`,
      ).all(now, JSON.stringify(skipKeys), JSON.stringify(skipTenants), limit) as {
        id: number;
        tenant_id: string;
        function_arn: string;
      }[]
    ).map((r) => ({ id: r.id, tenantId: r.tenant_id, functionArn: r.function_arn }));
  }

  /** One function's due queued events, oldest due first (indexed: no scan of other functions' backlog). */
  dueFor(tenantId: string, functionArn: string, now: number, limit: number): number[] {
    return (
      this.#prepare(
        `SELECT id FROM async_events WHERE tenant_id = ? AND function_arn = ? AND status = 'queued' AND next_attempt_at <= ?
            ORDER BY next_attempt_at, id LIMIT ?`,
      ).all(tenantId, functionArn, now, limit) as { id: number }[]
    ).map((r) => r.id);
  }

  /** The earliest retry time after `t` among queued events. */
  nextDueAfter(t: number): number | undefined {
    const r = this.#prepare(
      "SELECT MIN(next_attempt_at) AS t FROM async_events WHERE status = 'queued' AND next_attempt_at > ?",
    ).get(t) as { t: number | null };
    return r.t ?? undefined;
  }

  /** Marks a queued event running and opens its attempt row; undefined when someone else claimed it. */
  claim(id: number, now = Date.now()): AsyncEvent | undefined {
    return this.#db.transaction(() => {
      const r = this.#prepare(
        "UPDATE async_events SET status = 'running' WHERE id = ? AND status = 'queued'",
      ).run(id);
      if (r.changes === 0) return undefined;
      const n =
        (
          this.#prepare('SELECT COUNT(*) AS n FROM async_attempts WHERE event_id = ?').get(id) as {
            n: number;
          }
        ).n + 1;
      this.#prepare('INSERT INTO async_attempts (event_id, n, started_at) VALUES (?, ?, ?)').run(id, n, now);
      return this.get(id);
    })();
  }

  /** Closes the open attempt and stores the run's result on the event (call inside a transaction). */
  recordAttempt(id: number, result: AttemptResult, now = Date.now()): void {
    this.#prepare(
      `UPDATE async_attempts SET ended_at = ?, outcome = ?, error_type = ?, error_message = ?
          WHERE event_id = ? AND ended_at IS NULL`,
    ).run(now, result.outcome, result.errorType ?? null, result.errorMessage ?? null, id);
    const ran = result.outcome === 'success' || result.outcome === 'error';
    this.#prepare(
      `UPDATE async_events SET
           attempts = attempts + ?, throttles = throttles + ?,
           last_error_type = ?, last_error_message = ?,
           last_status = COALESCE(?, last_status), last_response = COALESCE(?, last_response),
           executed_version = COALESCE(?, executed_version)
         WHERE id = ?`,
    ).run(
      ran ? 1 : 0,
      result.outcome === 'throttled' ? 1 : 0,
      result.errorType ?? null,
      result.errorMessage ?? null,
      result.status ?? null,
      result.response ?? null,
      result.executedVersion ?? null,
      id,
    );
  }

  /** Marks an event that cannot be read back as failed, with the reason. */
  setAside(id: number, reason: string, now = Date.now()): void {
    this.#prepare(
      "UPDATE async_events SET status = 'failed', last_error_type = 'Kindling.InvalidStoredEvent', last_error_message = ?, finished_at = ? WHERE id = ?",
    ).run(reason.slice(0, 1024), now, id);
  }

  /** Back to the queue until `at`. */
  requeue(id: number, at: number): void {
    this.#prepare("UPDATE async_events SET status = 'queued', next_attempt_at = ? WHERE id = ?").run(at, id);
  }

  finish(
    id: number,
    status: 'succeeded' | 'failed',
    condition: AsyncCondition,
    delivery: string | undefined,
    now = Date.now(),
  ): void {
    this.#prepare(
      'UPDATE async_events SET status = ?, condition = ?, delivery = ?, finished_at = ? WHERE id = ?',
    ).run(status, condition, delivery ?? null, now, id);
  }

  /**
   * Start-up recovery: events that were running when the process died go back to the queue, due now
   * (at-least-once: their function may already have run), and their open attempts are closed.
   */
  recover(now = Date.now()): number {
    return this.#db.transaction(() => {
      this.#prepare(
        "UPDATE async_attempts SET ended_at = ?, outcome = 'interrupted' WHERE ended_at IS NULL",
      ).run(now);
      return this.#prepare(
        "UPDATE async_events SET status = 'queued', next_attempt_at = ? WHERE status = 'running'",
      ).run(now).changes;
    })();
  }

  /** Shutdown: events still running go back to the queue as they were (not counted as attempts). */
  release(ids: readonly number[], now = Date.now()): void {
    this.#db.transaction(() => {
      for (const id of ids) {
        this.#prepare(
          "UPDATE async_attempts SET ended_at = ?, outcome = 'interrupted' WHERE event_id = ? AND ended_at IS NULL",
        ).run(now, id);
        this.#prepare(
          "UPDATE async_events SET status = 'queued', next_attempt_at = ? WHERE id = ? AND status = 'running'",
        ).run(now, id);
      }
    })();
  }

  /** Most recent first. */
  recent(tenantId: string, functionName: string, limit: number): AsyncEvent[] {
    return this.#prepare(
      'SELECT * FROM async_events WHERE tenant_id = ? AND function_name = ? ORDER BY id DESC LIMIT ?',
    )
      .all(tenantId, functionName, limit)
      .flatMap((row) => {
        // A row that no longer validates (set aside by the dispatcher) is left out of the listing.
        try {
          return [toEvent(row)];
        } catch {
          return [];
        }
      });
  }

  attempts(id: number): AsyncAttempt[] {
    return (
      this.#prepare('SELECT * FROM async_attempts WHERE event_id = ? ORDER BY n').all(id) as {
        n: number;
        started_at: number;
        ended_at: number | null;
        outcome: AttemptOutcome | null;
        error_type: string | null;
        error_message: string | null;
      }[]
    ).map((r) => ({
      n: r.n,
      startedAt: r.started_at,
      endedAt: r.ended_at ?? undefined,
      outcome: r.outcome ?? undefined,
      errorType: r.error_type ?? undefined,
      errorMessage: r.error_message ?? undefined,
    }));
  }

  counts(): Record<AsyncEventStatus, number> {
    const out: Record<AsyncEventStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0 };
    for (const r of this.#prepare('SELECT status, COUNT(*) AS n FROM async_events GROUP BY status').all() as {
      status: AsyncEventStatus;
      n: number;
    }[]) {
      out[r.status] = r.n;
    }
    return out;
  }

  /** Drops terminal events finished before `before`. */
  prune(before: number): number {
    return this.#prepare(
      "DELETE FROM async_events WHERE status IN ('succeeded', 'failed') AND finished_at < ?",
    ).run(before).changes;
  }
}
