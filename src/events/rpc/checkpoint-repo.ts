// Checkpoints of RPC messages, keyed by (source, message id): how many sub-events of an aggregate
// message have finished and with what results, and the final outcome. A redelivered message resumes
// at the first unfinished sub-event; a redelivered finished message does nothing twice.
import { z } from 'zod';
import type { Sql } from '../../store/sql.js';

const SCHEMA = [
  `CREATE TABLE rpc_checkpoints (
     source TEXT NOT NULL, message_id TEXT NOT NULL, tenant_id TEXT NOT NULL,
     next_index INTEGER NOT NULL, total INTEGER NOT NULL, results TEXT NOT NULL,
     status TEXT NOT NULL, error TEXT, replied INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL,
     PRIMARY KEY (source, message_id))`,
  'CREATE INDEX rpc_checkpoints_updated ON rpc_checkpoints (updated_at)',
];

export type RpcStatus = 'running' | 'succeeded' | 'failed' | 'rejected';

export interface Checkpoint {
  source: string;
  messageId: string;
  tenantId: string;
  /** Index of the next sub-event to run. */
  nextIndex: number;
  total: number;
  results: unknown[];
  status: RpcStatus;
  error: { errorType: string; errorMessage: string; index?: number } | null;
  replied: boolean;
}

const row = z.object({
  source: z.string(),
  message_id: z.string(),
  tenant_id: z.string(),
  next_index: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  results: z.string(),
  status: z.enum(['running', 'succeeded', 'failed', 'rejected']),
  error: z.string().nullable(),
  replied: z.number(),
});

const errorShape = z.object({
  errorType: z.string(),
  errorMessage: z.string(),
  index: z.number().optional(),
});

/** Finished checkpoints are kept this long: longer than SQS's longest retention (14 days). */
const KEEP_MS = 15 * 24 * 3600_000;

export class CheckpointStore {
  readonly #sql: Sql;
  readonly #ready: Promise<void>;

  constructor(sql: Sql) {
    this.#sql = sql;
    this.#ready = sql.migrate('rpc-checkpoints', SCHEMA);
    // Each method awaits #ready and sees the failure; this only keeps it from being reported unhandled.
    this.#ready.catch(() => {});
  }

  async get(source: string, messageId: string): Promise<Checkpoint | undefined> {
    await this.#ready;
    const raw = await this.#sql.get('SELECT * FROM rpc_checkpoints WHERE source = ? AND message_id = ?', [
      source,
      messageId,
    ]);
    if (raw === undefined) return undefined;
    const r = row.parse(raw);
    let results: unknown[] = [];
    let error: Checkpoint['error'] = null;
    try {
      const parsed: unknown = JSON.parse(r.results);
      if (Array.isArray(parsed)) results = parsed;
      if (r.error) error = errorShape.parse(JSON.parse(r.error));
    } catch {
      // A damaged checkpoint restarts the message from its first sub-event (at-least-once).
      return undefined;
    }
    return {
      source: r.source,
      messageId: r.message_id,
      tenantId: r.tenant_id,
      nextIndex: r.next_index,
      total: r.total,
      results,
      status: r.status,
      error,
      replied: r.replied === 1,
    };
  }

  /** One committed statement: once it resolves the progress survives a SIGKILL (of any node). */
  async put(cp: Checkpoint): Promise<void> {
    await this.#ready;
    await this.#sql.run(
      `INSERT INTO rpc_checkpoints (source, message_id, tenant_id, next_index, total, results, status, error, replied, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (source, message_id) DO UPDATE SET next_index = excluded.next_index, total = excluded.total,
         results = excluded.results, status = excluded.status, error = excluded.error, replied = excluded.replied,
         updated_at = excluded.updated_at`,
      [
        cp.source,
        cp.messageId,
        cp.tenantId,
        cp.nextIndex,
        cp.total,
        JSON.stringify(cp.results),
        cp.status,
        cp.error ? JSON.stringify(cp.error) : null,
        cp.replied ? 1 : 0,
        Date.now(),
      ],
    );
  }

  /** Drops finished checkpoints no queue can redeliver any more. */
  async prune(now = Date.now()): Promise<number> {
    await this.#ready;
    const r = await this.#sql.run(
      "DELETE FROM rpc_checkpoints WHERE status <> 'running' AND updated_at < ?",
      [now - KEEP_MS],
    );
    return r.changes;
  }
}
