// The async-invoke store's persistence: every SQL statement over async_events and async_attempts, on either
// store (src/store/sql.ts). An event is committed before its 202; its status moves queued -> running ->
// succeeded/failed. A running event is claimed, not owned: it carries the node running it (`claimed_by`)
// and a lease (`lease_until`, store clock) that node renews; an event whose lease ran out belongs to
// nobody and is queued again. Every write that ends a run is conditional on the claim still being held,
// so a node that lost its claim (stalled past its lease) changes nothing.
import { z } from 'zod';
import type { Sql, SqlExecutor } from '../store/sql.js';
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
  // Claims: the node running an event, and until when (on the store's clock) its claim holds.
  'ALTER TABLE async_events ADD COLUMN claimed_by TEXT',
  'ALTER TABLE async_events ADD COLUMN lease_until INTEGER',
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

/** Advisory-lock namespace of async claims on PostgreSQL ("kasy"): claims of one tenant are serialised. */
const CLAIM_LOCK = 0x6b617379;

/** `?, ?, …` for an IN list (never empty: callers skip empty lists). */
const marks = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

/** Limits a claim checks against the running claims in the database (the cluster's view, not this node's). */
export interface SharedLimits {
  function: number;
  tenant: number;
}

export interface Claim {
  /** Who claims (config.nodeId). */
  nodeId: string;
  /** Store time now, and the lease end the claim gets. */
  now: number;
  leaseUntil: number;
}

export interface Claimed {
  events: AsyncEvent[];
  /** Rows that no longer validate: set aside as failed in the claim's transaction. */
  setAside: number;
}

export class AsyncEventStore {
  readonly #sql: Sql;
  readonly #ready: Promise<void>;

  constructor(sql: Sql) {
    this.#sql = sql;
    this.#ready = sql.migrate('async-invoke', SCHEMA);
    // Awaited by every method; this only keeps a failed migration from being an unhandled rejection.
    this.#ready.catch(() => {});
  }

  /** Resolves once the schema is migrated (rejects when it cannot be). */
  ready(): Promise<void> {
    return this.#ready;
  }

  get dialect(): Sql['dialect'] {
    return this.#sql.dialect;
  }

  async #q(): Promise<Sql> {
    await this.#ready;
    return this.#sql;
  }

  /** A function's events held back by a throttle become due now (its concurrency changed). */
  async releaseThrottled(tenantId: string, functionArn: string, now: number): Promise<void> {
    await (await this.#q()).run(
      `UPDATE async_events SET next_attempt_at = ? WHERE status = 'queued' AND tenant_id = ? AND function_arn = ?
           AND last_status = 429 AND next_attempt_at > ?`,
      [now, tenantId, functionArn, now],
    );
  }

  /** One INSERT: durable once it resolves (inside `q`'s transaction when given: durable at its commit). */
  async insert(e: NewAsyncEvent, now: number, q?: SqlExecutor): Promise<number> {
    const on = q ?? (await this.#q());
    if (q) await this.#ready;
    const r = await on.get<{ id: number }>(
      `INSERT INTO async_events (request_id, tenant_id, function_name, function_arn, qualifier, payload, source_kind,
           source_arn, status, enqueued_at, next_attempt_at, chain_depth)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?) RETURNING id`,
      [
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
      ],
    );
    return r!.id;
  }

  /** Several inserts in one transaction (group commit); throws (storing none) when any fails. */
  async insertAll(events: readonly NewAsyncEvent[], now: number): Promise<void> {
    await (await this.#q()).tx(async (q) => {
      for (const e of events) await this.insert(e, now, q);
    });
  }

  async get(id: number): Promise<AsyncEvent | undefined> {
    const row = await (await this.#q()).get('SELECT * FROM async_events WHERE id = ?', [id]);
    return row === undefined ? undefined : toEvent(row);
  }

  async byRequestId(requestId: string): Promise<AsyncEvent | undefined> {
    const row = await (await this.#q()).get('SELECT * FROM async_events WHERE request_id = ?', [requestId]);
    return row === undefined ? undefined : toEvent(row);
  }

  /** Functions (`tenantId|functionArn`) with queued events due by `now`, the longest waiting first. */
  async dueFunctions(now: number, limit: number): Promise<string[]> {
    const rows = await (await this.#q()).all<{ tenant_id: string; function_arn: string }>(
      `SELECT tenant_id, function_arn, MIN(next_attempt_at) AS t FROM async_events
          WHERE status = 'queued' AND next_attempt_at <= ?
          GROUP BY tenant_id, function_arn ORDER BY t LIMIT ?`,
      [now, limit],
    );
    return rows.map((r) => `${r.tenant_id}|${r.function_arn}`);
  }

  /** The earliest retry time after `t` among queued events. */
  async nextDueAfter(t: number): Promise<number | undefined> {
    const r = await (await this.#q()).get<{ t: number | null }>(
      "SELECT MIN(next_attempt_at) AS t FROM async_events WHERE status = 'queued' AND next_attempt_at > ?",
      [t],
    );
    return r?.t ?? undefined;
  }

  /**
   * Claims up to `max` of one function's due events for `claim.nodeId` in one transaction: each becomes
   * running with the claim and its lease, and gets an open attempt row. Rows are taken with
   * `FOR UPDATE SKIP LOCKED`, so nodes claiming at once never take the same event. With `limits`, the
   * running claims in the database (live leases, any node) count against the function's and the tenant's
   * limits; the tenant's claims are serialised by an advisory lock on PostgreSQL so two nodes cannot
   * both take the last slot.
   */
  async claim(
    tenantId: string,
    functionArn: string,
    max: number,
    claim: Claim,
    limits?: SharedLimits,
  ): Promise<Claimed> {
    if (max <= 0) return { events: [], setAside: 0 };
    return (await this.#q()).tx(async (q) => {
      let room = max;
      if (limits) {
        if (q.dialect === 'postgres')
          await q.run('SELECT pg_advisory_xact_lock(?, hashtext(?))', [CLAIM_LOCK, tenantId]);
        const counts = await q.get<{ f: number | null; t: number }>(
          `SELECT SUM(CASE WHEN function_arn = ? THEN 1 ELSE 0 END) AS f, COUNT(*) AS t FROM async_events
              WHERE status = 'running' AND tenant_id = ? AND lease_until >= ?`,
          [functionArn, tenantId, claim.now],
        );
        room = Math.min(room, limits.function - (counts?.f ?? 0), limits.tenant - (counts?.t ?? 0));
        if (room <= 0) return { events: [], setAside: 0 };
      }
      const ids = (
        await q.all<{ id: number }>(
          `SELECT id FROM async_events
              WHERE tenant_id = ? AND function_arn = ? AND status = 'queued' AND next_attempt_at <= ?
              ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED`,
          [tenantId, functionArn, claim.now, room],
        )
      ).map((r) => r.id);
      if (ids.length === 0) return { events: [], setAside: 0 };
      await q.run(
        `UPDATE async_events SET status = 'running', claimed_by = ?, lease_until = ? WHERE id IN (${marks(ids.length)})`,
        [claim.nodeId, claim.leaseUntil, ...ids],
      );
      for (const id of ids) {
        await q.run(
          `INSERT INTO async_attempts (event_id, n, started_at)
             SELECT CAST(? AS BIGINT), COUNT(*) + 1, CAST(? AS BIGINT) FROM async_attempts WHERE event_id = ?`,
          [id, claim.now, id],
        );
      }
      const rows = await q.all<{ id: number }>(
        `SELECT * FROM async_events WHERE id IN (${marks(ids.length)}) ORDER BY next_attempt_at, id`,
        ids,
      );
      const events: AsyncEvent[] = [];
      let setAside = 0;
      for (const row of rows) {
        try {
          events.push(toEvent(row));
        } catch (e) {
          // A row that fails validation on read-back can never run: set it aside instead of retrying it.
          console.error(`kindling: async: event ${row.id} is unreadable and is set aside:`, e);
          await q.run('DELETE FROM async_attempts WHERE event_id = ? AND ended_at IS NULL', [row.id]);
          await q.run(
            `UPDATE async_events SET status = 'failed', claimed_by = NULL, lease_until = NULL,
                 last_error_type = 'Kindling.InvalidStoredEvent', last_error_message = ?, finished_at = ? WHERE id = ?`,
            [String((e as Error).message ?? e).slice(0, 1024), claim.now, row.id],
          );
          setAside++;
        }
      }
      return { events, setAside };
    });
  }

  /** Extends the leases of every event `nodeId` runs; returns how many it still holds. */
  async renew(nodeId: string, leaseUntil: number): Promise<number> {
    return (
      await (
        await this.#q()
      ).run("UPDATE async_events SET lease_until = ? WHERE claimed_by = ? AND status = 'running'", [
        leaseUntil,
        nodeId,
      ])
    ).changes;
  }

  /** Extends one event's lease; false when `nodeId` no longer holds it (taken over, or finished). */
  async holds(id: number, nodeId: string, leaseUntil: number): Promise<boolean> {
    return (
      (
        await (
          await this.#q()
        ).run(
          "UPDATE async_events SET lease_until = ? WHERE id = ? AND claimed_by = ? AND status = 'running'",
          [leaseUntil, id, nodeId],
        )
      ).changes > 0
    );
  }

  /**
   * Events whose claim lapsed (their node died or stalled past its lease; NULL: claimed before leases
   * existed) go back to the queue, due now (at-least-once: their function may already have run), their
   * open attempts closed as interrupted. With `all`, every running event (SQLite's start: one node, so
   * whatever ran belonged to the process that died). Returns the functions (`tenantId|functionArn`) touched.
   */
  async takeOver(now: number, all = false): Promise<string[]> {
    return (await this.#q()).tx(async (q) => {
      const rows = await q.all<{ id: number; tenant_id: string; function_arn: string }>(
        all
          ? "SELECT id, tenant_id, function_arn FROM async_events WHERE status = 'running' FOR UPDATE SKIP LOCKED"
          : `SELECT id, tenant_id, function_arn FROM async_events
                WHERE status = 'running' AND (lease_until IS NULL OR lease_until < ?) FOR UPDATE SKIP LOCKED`,
        all ? [] : [now],
      );
      const keys = new Set<string>();
      for (const r of rows) {
        await q.run(
          "UPDATE async_attempts SET ended_at = ?, outcome = 'interrupted' WHERE event_id = ? AND ended_at IS NULL",
          [now, r.id],
        );
        await q.run(
          `UPDATE async_events SET status = 'queued', claimed_by = NULL, lease_until = NULL, next_attempt_at = ?
              WHERE id = ?`,
          [now, r.id],
        );
        keys.add(`${r.tenant_id}|${r.function_arn}`);
      }
      return [...keys];
    });
  }

  /**
   * Ends a run `nodeId` holds: the attempt (closed with `result`, or dropped when the event did not run)
   * and the event's new state, in one transaction. False, changing nothing, when the claim was lost.
   */
  async complete(
    id: number,
    nodeId: string,
    now: number,
    result: AttemptResult | undefined,
    next:
      | { status: 'succeeded' | 'failed'; condition: AsyncCondition; delivery: string | undefined }
      | { status: 'queued'; at: number },
  ): Promise<boolean> {
    return (await this.#q()).tx(async (q) => {
      const ran = result !== undefined && (result.outcome === 'success' || result.outcome === 'error');
      const r = await q.run(
        `UPDATE async_events SET
             status = ?, claimed_by = NULL, lease_until = NULL,
             next_attempt_at = ?, condition = ?, delivery = ?, finished_at = ?,
             attempts = attempts + ?, throttles = throttles + ?,
             last_error_type = CASE WHEN ? = 1 THEN ? WHEN ? = 1 THEN COALESCE(last_error_type, 'EventAgeExceeded') ELSE last_error_type END,
             last_error_message = CASE WHEN ? = 1 THEN ? ELSE last_error_message END,
             last_status = COALESCE(?, last_status), last_response = COALESCE(?, last_response),
             executed_version = COALESCE(?, executed_version)
           WHERE id = ? AND claimed_by = ? AND status = 'running'`,
        [
          next.status,
          next.status === 'queued' ? next.at : now,
          next.status === 'queued' ? null : next.condition,
          next.status === 'queued' ? null : (next.delivery ?? null),
          next.status === 'queued' ? null : now,
          ran ? 1 : 0,
          result?.outcome === 'throttled' ? 1 : 0,
          result ? 1 : 0,
          result?.errorType ?? null,
          !result && next.status !== 'queued' && next.condition === 'EventAgeExceeded' ? 1 : 0,
          result ? 1 : 0,
          result?.errorMessage ?? null,
          result?.status ?? null,
          result?.response ?? null,
          result?.executedVersion ?? null,
          id,
          nodeId,
        ],
      );
      if (r.changes === 0) return false;
      if (result) {
        await q.run(
          `UPDATE async_attempts SET ended_at = ?, outcome = ?, error_type = ?, error_message = ?
              WHERE event_id = ? AND ended_at IS NULL`,
          [now, result.outcome, result.errorType ?? null, result.errorMessage ?? null, id],
        );
      } else {
        await q.run('DELETE FROM async_attempts WHERE event_id = ? AND ended_at IS NULL', [id]);
      }
      return true;
    });
  }

  /** Shutdown: events `nodeId` still runs go back to the queue as they were (not counted as attempts). */
  async release(ids: readonly number[], nodeId: string, now: number): Promise<void> {
    if (ids.length === 0) return;
    await (await this.#q()).tx(async (q) => {
      for (const id of ids) {
        const r = await q.run(
          `UPDATE async_events SET status = 'queued', claimed_by = NULL, lease_until = NULL, next_attempt_at = ?
              WHERE id = ? AND claimed_by = ? AND status = 'running'`,
          [now, id, nodeId],
        );
        if (r.changes === 0) continue;
        await q.run(
          "UPDATE async_attempts SET ended_at = ?, outcome = 'interrupted' WHERE event_id = ? AND ended_at IS NULL",
          [now, id],
        );
      }
    });
  }

  /** Most recent first. */
  async recent(tenantId: string, functionName: string, limit: number): Promise<AsyncEvent[]> {
    const rows = await (await this.#q()).all(
      'SELECT * FROM async_events WHERE tenant_id = ? AND function_name = ? ORDER BY id DESC LIMIT ?',
      [tenantId, functionName, limit],
    );
    return rows.flatMap((row) => {
      // A row that no longer validates (set aside by the dispatcher) is left out of the listing.
      try {
        return [toEvent(row)];
      } catch {
        return [];
      }
    });
  }

  async attempts(id: number): Promise<AsyncAttempt[]> {
    const rows = await (await this.#q()).all<{
      n: number;
      started_at: number;
      ended_at: number | null;
      outcome: AttemptOutcome | null;
      error_type: string | null;
      error_message: string | null;
    }>('SELECT * FROM async_attempts WHERE event_id = ? ORDER BY n', [id]);
    return rows.map((r) => ({
      n: r.n,
      startedAt: r.started_at,
      endedAt: r.ended_at ?? undefined,
      outcome: r.outcome ?? undefined,
      errorType: r.error_type ?? undefined,
      errorMessage: r.error_message ?? undefined,
    }));
  }

  async counts(): Promise<Record<AsyncEventStatus, number>> {
    const out: Record<AsyncEventStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0 };
    for (const r of await (await this.#q()).all<{ status: AsyncEventStatus; n: number }>(
      'SELECT status, COUNT(*) AS n FROM async_events GROUP BY status',
    )) {
      out[r.status] = r.n;
    }
    return out;
  }

  /** Drops terminal events finished before `before`. */
  async prune(before: number): Promise<number> {
    return (
      await (
        await this.#q()
      ).run("DELETE FROM async_events WHERE status IN ('succeeded', 'failed') AND finished_at < ?", [before])
    ).changes;
  }
}
