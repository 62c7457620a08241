// Event-invoke configs' persistence: every SQL statement over event_invoke_configs, on either store.
import { z } from 'zod';
import type { Sql, SqlExecutor } from '../store/sql.js';

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

export class EventInvokeConfigRepo {
  readonly #sql: Sql;
  readonly #ready: Promise<void>;

  constructor(sql: Sql) {
    this.#sql = sql;
    this.#ready = sql.migrate('event-invoke-config', SCHEMA);
    // Awaited by every method; this only keeps a failed migration from being an unhandled rejection.
    this.#ready.catch(() => {});
  }

  ready(): Promise<void> {
    return this.#ready;
  }

  async #q(): Promise<Sql> {
    await this.#ready;
    return this.#sql;
  }

  /** Runs fn as one transaction on the executor it is handed. */
  async transaction<T>(fn: (q: SqlExecutor) => Promise<T>): Promise<T> {
    return (await this.#q()).tx(fn);
  }

  async get(
    tenantId: string,
    functionArn: string,
    qualifier: string,
    q?: SqlExecutor,
  ): Promise<EventInvokeConfig | undefined> {
    const row = await (q ?? (await this.#q())).get(
      'SELECT * FROM event_invoke_configs WHERE tenant_id = ? AND function_arn = ? AND qualifier = ?',
      [tenantId, functionArn, qualifier],
    );
    return row === undefined ? undefined : toConfig(row);
  }

  /** Inserts or replaces the config. */
  async put(tenantId: string, c: EventInvokeConfig, q?: SqlExecutor): Promise<void> {
    await (q ?? (await this.#q())).run(
      `INSERT INTO event_invoke_configs
         (tenant_id, function_arn, qualifier, max_retries, max_age_sec, on_success, on_failure, last_modified)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, function_arn, qualifier) DO UPDATE SET
         max_retries = excluded.max_retries, max_age_sec = excluded.max_age_sec,
         on_success = excluded.on_success, on_failure = excluded.on_failure,
         last_modified = excluded.last_modified`,
      [
        tenantId,
        c.functionArn,
        c.qualifier,
        c.maximumRetryAttempts ?? null,
        c.maximumEventAgeInSeconds ?? null,
        c.onSuccess ?? null,
        c.onFailure ?? null,
        c.lastModified,
      ],
    );
  }

  /** False when there was none. */
  async delete(tenantId: string, functionArn: string, qualifier: string): Promise<boolean> {
    const r = await (await this.#q()).run(
      'DELETE FROM event_invoke_configs WHERE tenant_id = ? AND function_arn = ? AND qualifier = ?',
      [tenantId, functionArn, qualifier],
    );
    return r.changes > 0;
  }

  async deleteAll(tenantId: string, functionArn: string): Promise<void> {
    await (await this.#q()).run('DELETE FROM event_invoke_configs WHERE tenant_id = ? AND function_arn = ?', [
      tenantId,
      functionArn,
    ]);
  }

  async list(tenantId: string, functionArn: string): Promise<EventInvokeConfig[]> {
    const rows = await (await this.#q()).all(
      'SELECT * FROM event_invoke_configs WHERE tenant_id = ? AND function_arn = ? ORDER BY qualifier',
      [tenantId, functionArn],
    );
    return rows.map(toConfig);
  }
}
