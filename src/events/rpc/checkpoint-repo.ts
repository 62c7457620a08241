// Checkpoints of RPC messages, keyed by (source, message id): how many sub-events of an aggregate
// message have finished and with what results, and the final outcome. A redelivered message resumes
// at the first unfinished sub-event; a redelivered finished message does nothing twice.
import { z } from 'zod';
import { type Db, migrate } from '../../store/database.js';

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
  readonly #db: Db;
  readonly #get;
  readonly #upsert;

  constructor(db: Db) {
    this.#db = db;
    migrate(db, 'rpc-checkpoints', SCHEMA);
    this.#get = db.prepare('SELECT * FROM rpc_checkpoints WHERE source = ? AND message_id = ?');
    this.#upsert = db.prepare(
      `INSERT INTO rpc_checkpoints (source, message_id, tenant_id, next_index, total, results, status, error, replied, updated_at)
       VALUES (@source, @messageId, @tenantId, @nextIndex, @total, @results, @status, @error, @replied, @now)
       ON CONFLICT (source, message_id) DO UPDATE SET next_index = excluded.next_index, total = excluded.total,
         results = excluded.results, status = excluded.status, error = excluded.error, replied = excluded.replied,
         updated_at = excluded.updated_at`,
    );
  }

  get(source: string, messageId: string): Checkpoint | undefined {
    const raw = this.#get.get(source, messageId);
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

  /** One committed transaction: once it returns the progress survives a SIGKILL. */
  put(cp: Checkpoint): void {
    this.#upsert.run({
      source: cp.source,
      messageId: cp.messageId,
      tenantId: cp.tenantId,
      nextIndex: cp.nextIndex,
      total: cp.total,
      results: JSON.stringify(cp.results),
      status: cp.status,
      error: cp.error ? JSON.stringify(cp.error) : null,
      replied: cp.replied ? 1 : 0,
      now: Date.now(),
    });
  }

  /** Drops finished checkpoints no queue can redeliver any more. */
  prune(now = Date.now()): number {
    return this.#db
      .prepare("DELETE FROM rpc_checkpoints WHERE status <> 'running' AND updated_at < ?")
      .run(now - KEEP_MS).changes;
  }
}
