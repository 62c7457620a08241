// Event-invoke configs' persistence: every SQL statement over event_invoke_configs.
import { z } from 'zod';
import { type Db, migrate } from '../store/database.js';

export interface EventInvokeConfig {
  /** Unqualified function ARN. */
  functionArn: string;
  qualifier: string;
  maximumRetryAttempts: number | undefined;
  maximumEventAgeInSeconds: number | undefined;
  onSuccess: string | undefined;
  onFailure: string | undefined;
  /** ms since the epoch. */
  lastModified: number;
}

const SCHEMA = [
  `CREATE TABLE event_invoke_configs (
     tenant_id TEXT NOT NULL,
     function_arn TEXT NOT NULL,
     qualifier TEXT NOT NULL,
     max_retries INTEGER,
     max_age_sec INTEGER,
     on_success TEXT,
     on_failure TEXT,
     last_modified INTEGER NOT NULL,
     PRIMARY KEY (tenant_id, function_arn, qualifier))`,
];

// Rows read back are validated like API input (state read back is an entry point too).
const Row = z.object({
  function_arn: z.string(),
  qualifier: z.string(),
  max_retries: z.number().int().min(0).max(2).nullable(),
  max_age_sec: z.number().int().min(60).max(21_600).nullable(),
  on_success: z.string().nullable(),
  on_failure: z.string().nullable(),
  last_modified: z.number(),
});

const toConfig = (raw: unknown): EventInvokeConfig => {
  const r = Row.parse(raw);
  return {
    functionArn: r.function_arn,
    qualifier: r.qualifier,
    maximumRetryAttempts: r.max_retries ?? undefined,
    maximumEventAgeInSeconds: r.max_age_sec ?? undefined,
    onSuccess: r.on_success ?? undefined,
    onFailure: r.on_failure ?? undefined,
    lastModified: r.last_modified,
  };
};

export class SqliteEventInvokeConfigRepo {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
    migrate(db, 'event-invoke-config', SCHEMA);
  }

  /** Runs fn as one transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  get(tenantId: string, functionArn: string, qualifier: string): EventInvokeConfig | undefined {
    const row = this.#db
      .prepare(
        'SELECT * FROM event_invoke_configs WHERE tenant_id = ? AND function_arn = ? AND qualifier = ?',
      )
      .get(tenantId, functionArn, qualifier);
    return row === undefined ? undefined : toConfig(row);
  }

  /** Inserts or replaces the config. */
  put(tenantId: string, c: EventInvokeConfig): void {
    this.#db
      .prepare(
        `INSERT OR REPLACE INTO event_invoke_configs
           (tenant_id, function_arn, qualifier, max_retries, max_age_sec, on_success, on_failure, last_modified)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        tenantId,
        c.functionArn,
        c.qualifier,
        c.maximumRetryAttempts ?? null,
        c.maximumEventAgeInSeconds ?? null,
        c.onSuccess ?? null,
        c.onFailure ?? null,
        c.lastModified,
      );
  }

  /** False when there was none. */
  delete(tenantId: string, functionArn: string, qualifier: string): boolean {
    return (
      this.#db
        .prepare(
          'DELETE FROM event_invoke_configs WHERE tenant_id = ? AND function_arn = ? AND qualifier = ?',
        )
        .run(tenantId, functionArn, qualifier).changes > 0
    );
  }

  deleteAll(tenantId: string, functionArn: string): void {
    this.#db
      .prepare('DELETE FROM event_invoke_configs WHERE tenant_id = ? AND function_arn = ?')
      .run(tenantId, functionArn);
  }

  list(tenantId: string, functionArn: string): EventInvokeConfig[] {
    return this.#db
      .prepare(
        'SELECT * FROM event_invoke_configs WHERE tenant_id = ? AND function_arn = ? ORDER BY qualifier',
      )
      .all(tenantId, functionArn)
      .map(toConfig);
  }
}
