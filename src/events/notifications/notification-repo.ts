// Bucket notifications' persistence: each bucket's configuration and the outbox of S3 events waiting to
// be handed to the invoker. Every SQL statement of the notifications module is here. An outbox row being
// delivered is claimed by one node with a lease; a node that dies leaves a lease that runs out.
import type { Sql, SqlExecutor } from '../../store/sql.js';
import type { NotificationConfig } from './config.js';

const SCHEMA = [
  `CREATE TABLE s3_notification_configs (bucket TEXT PRIMARY KEY, config TEXT NOT NULL)`,
  `CREATE TABLE s3_notification_outbox (
     id INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id TEXT NOT NULL, function_arn TEXT NOT NULL,
     bucket TEXT NOT NULL, payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at INTEGER NOT NULL, created_at INTEGER NOT NULL)`,
  // The node delivering the row, and until when (the store's clock); NULL: nobody.
  `ALTER TABLE s3_notification_outbox ADD COLUMN claimed_by TEXT`,
  `ALTER TABLE s3_notification_outbox ADD COLUMN lease_until INTEGER`,
];

export interface OutboxRow {
  id: number;
  tenant_id: string;
  function_arn: string;
  bucket: string;
  payload: string;
  attempts: number;
}

export class NotificationRepo {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async migrate(): Promise<void> {
    await this.#sql.migrate('notifications', SCHEMA);
  }

  async config(bucket: string, q: SqlExecutor = this.#sql): Promise<NotificationConfig | undefined> {
    const row = await q.get<{ config: string }>(
      'SELECT config FROM s3_notification_configs WHERE bucket = ?',
      [bucket],
    );
    return row ? (JSON.parse(row.config) as NotificationConfig) : undefined;
  }

  async putConfig(bucket: string, config: NotificationConfig): Promise<void> {
    await this.#sql.run(
      `INSERT INTO s3_notification_configs (bucket, config) VALUES (?, ?)
       ON CONFLICT (bucket) DO UPDATE SET config = excluded.config`,
      [bucket, JSON.stringify(config)],
    );
  }

  async deleteConfig(bucket: string, q: SqlExecutor = this.#sql): Promise<void> {
    await q.run('DELETE FROM s3_notification_configs WHERE bucket = ?', [bucket]);
  }

  /** Adds an event to the outbox, due now (inside the caller's transaction when `q` is one). */
  async enqueue(
    q: SqlExecutor,
    tenantId: string,
    functionArn: string,
    bucket: string,
    payload: string,
    now: number,
  ): Promise<void> {
    await q.run(
      'INSERT INTO s3_notification_outbox (tenant_id, function_arn, bucket, payload, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      [tenantId, functionArn, bucket, payload, 0, now],
    );
  }

  async pending(): Promise<number> {
    return (await this.#sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM s3_notification_outbox'))!.n;
  }

  /**
   * Claims up to 50 due events nobody holds (or whose holder's lease ran out), oldest first, for
   * `nodeId` until `leaseUntil`. Rows another node is claiming right now are skipped, not waited for.
   */
  claim(nodeId: string, now: number, leaseUntil: number): Promise<OutboxRow[]> {
    return this.#sql.tx(async (q) => {
      const rows = await q.all<OutboxRow>(
        `SELECT id, tenant_id, function_arn, bucket, payload, attempts FROM s3_notification_outbox
         WHERE next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
         ORDER BY id LIMIT 50 FOR UPDATE SKIP LOCKED`,
        [now, now],
      );
      if (rows.length === 0) return rows;
      await q.run(
        `UPDATE s3_notification_outbox SET claimed_by = ?, lease_until = ? WHERE id IN (${rows.map(() => '?').join(', ')})`,
        [nodeId, leaseUntil, ...rows.map((r) => r.id)],
      );
      return rows;
    });
  }

  /** The event was handed over (or dropped). */
  async remove(id: number): Promise<void> {
    await this.#sql.run('DELETE FROM s3_notification_outbox WHERE id = ?', [id]);
  }

  /** One more failed attempt; the event is due again at `at` (store clock), for any node. */
  async retryAt(id: number, at: number): Promise<void> {
    await this.#sql.run(
      'UPDATE s3_notification_outbox SET attempts = attempts + 1, next_attempt_at = ?, claimed_by = NULL, lease_until = NULL WHERE id = ?',
      [at, id],
    );
  }

  /** Gives back this node's claims (a clean stop): other nodes take them at once, not after the lease. */
  async release(nodeId: string): Promise<void> {
    await this.#sql.run(
      'UPDATE s3_notification_outbox SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = ?',
      [nodeId],
    );
  }

  /** Gives back every claim: on SQLite the one node restarting is the only one that could hold any. */
  async releaseAll(): Promise<void> {
    await this.#sql.run(
      'UPDATE s3_notification_outbox SET claimed_by = NULL, lease_until = NULL WHERE claimed_by IS NOT NULL',
    );
  }

  /** When the next event becomes claimable (store clock): due, and not under a live lease. */
  async nextDue(): Promise<number | null> {
    const row = await this.#sql.get<{ at: number | null }>(
      `SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > next_attempt_at THEN lease_until
                       ELSE next_attempt_at END) AS at FROM s3_notification_outbox`,
    );
    return row?.at ?? null;
  }
}
