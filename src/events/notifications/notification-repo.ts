// Bucket notifications' persistence: each bucket's configuration and the outbox of S3 events waiting to
// be handed to the invoker. Every SQL statement of the notifications module is here.
import { type Db, migrate } from '../../store/database.js';
import type { NotificationConfig } from './config.js';

const SCHEMA = [
  `CREATE TABLE s3_notification_configs (bucket TEXT PRIMARY KEY, config TEXT NOT NULL)`,
  `CREATE TABLE s3_notification_outbox (
     id INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id TEXT NOT NULL, function_arn TEXT NOT NULL,
     bucket TEXT NOT NULL, payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at INTEGER NOT NULL, created_at INTEGER NOT NULL)`,
];

export interface OutboxRow {
  id: number;
  tenant_id: string;
  function_arn: string;
  bucket: string;
  payload: string;
  attempts: number;
}

export class SqliteNotificationRepo {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
    migrate(db, 'notifications', SCHEMA);
  }

  config(bucket: string): NotificationConfig | undefined {
    const row = this.#db.prepare('SELECT config FROM s3_notification_configs WHERE bucket = ?').get(bucket) as
      | { config: string }
      | undefined;
    return row ? (JSON.parse(row.config) as NotificationConfig) : undefined;
  }

  putConfig(bucket: string, config: NotificationConfig): void {
    this.#db
      .prepare('INSERT OR REPLACE INTO s3_notification_configs (bucket, config) VALUES (?, ?)')
      .run(bucket, JSON.stringify(config));
  }

  deleteConfig(bucket: string): void {
    this.#db.prepare('DELETE FROM s3_notification_configs WHERE bucket = ?').run(bucket);
  }

  /** Adds an event to the outbox, due now (inside the caller's transaction when it holds one). */
  enqueue(tenantId: string, functionArn: string, bucket: string, payload: string, now: number): void {
    this.#db
      .prepare(
        'INSERT INTO s3_notification_outbox (tenant_id, function_arn, bucket, payload, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(tenantId, functionArn, bucket, payload, 0, now);
  }

  pending(): number {
    return (this.#db.prepare('SELECT COUNT(*) AS n FROM s3_notification_outbox').get() as { n: number }).n;
  }

  /** Up to 50 due outbox events, oldest first. */
  due(now: number): OutboxRow[] {
    return this.#db
      .prepare('SELECT * FROM s3_notification_outbox WHERE next_attempt_at <= ? ORDER BY id LIMIT 50')
      .all(now) as OutboxRow[];
  }

  /** The event was handed over (or dropped). */
  remove(id: number): void {
    this.#db.prepare('DELETE FROM s3_notification_outbox WHERE id = ?').run(id);
  }

  /** One more failed attempt; the event is due again at `at`. */
  retryAt(id: number, at: number): void {
    this.#db
      .prepare('UPDATE s3_notification_outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?')
      .run(at, id);
  }

  /** The earliest due time in the outbox. */
  nextDue(): number | null {
    return (
      this.#db.prepare('SELECT MIN(next_attempt_at) AS at FROM s3_notification_outbox').get() as {
        at: number | null;
      }
    ).at;
  }
}
