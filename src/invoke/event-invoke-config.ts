// Per-function async invocation settings (Lambda's FunctionEventInvokeConfig): retry attempts, maximum
// event age and on-success / on-failure destinations. Stored in SQLite; read on every dispatch.
import { z } from 'zod';
import { LATEST } from '../control/functions.js';
import type { Tenant } from '../control/tenants.js';
import { LambdaErrors } from '../errors.js';
import { type Db, migrate } from '../store/database.js';

export const DEFAULT_MAX_RETRIES = 2;
export const DEFAULT_MAX_EVENT_AGE_SEC = 21_600;

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

/** What the dispatcher applies: the stored config with Lambda's defaults filled in. */
export interface EffectiveInvokeConfig {
  maxRetries: number;
  maxEventAgeSec: number;
  onSuccess: string | undefined;
  onFailure: string | undefined;
}

export type EventInvokeConfigInput = Partial<
  Pick<EventInvokeConfig, 'maximumRetryAttempts' | 'maximumEventAgeInSeconds' | 'onSuccess' | 'onFailure'>
>;

/** Checks that a destination ARN names one of the tenant's own queues or functions; throws Lambda's error. */
export type DestinationCheck = (tenant: Tenant, arn: string) => void;

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

export const EventInvokeConfigErrors = {
  notFound: (qualifiedArn: string) =>
    LambdaErrors.notFound(`The function ${qualifiedArn} doesn't have an EventInvokeConfig`),
  empty: () =>
    LambdaErrors.invalidParameter('You must specify at least one of error handling or destination setting.'),
};

export class EventInvokeConfigStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
    migrate(db, 'event-invoke-config', SCHEMA);
  }

  get(tenantId: string, functionArn: string, qualifier = LATEST): EventInvokeConfig | undefined {
    const row = this.#db
      .prepare(
        'SELECT * FROM event_invoke_configs WHERE tenant_id = ? AND function_arn = ? AND qualifier = ?',
      )
      .get(tenantId, functionArn, qualifier);
    return row === undefined ? undefined : toConfig(row);
  }

  effective(tenantId: string, functionArn: string, qualifier = LATEST): EffectiveInvokeConfig {
    const c = this.get(tenantId, functionArn, qualifier);
    return {
      maxRetries: c?.maximumRetryAttempts ?? DEFAULT_MAX_RETRIES,
      maxEventAgeSec: c?.maximumEventAgeInSeconds ?? DEFAULT_MAX_EVENT_AGE_SEC,
      onSuccess: c?.onSuccess,
      onFailure: c?.onFailure,
    };
  }

  /** PutFunctionEventInvokeConfig: replaces the whole config. */
  put(
    tenantId: string,
    functionArn: string,
    qualifier: string,
    input: EventInvokeConfigInput,
  ): EventInvokeConfig {
    const c: EventInvokeConfig = {
      functionArn,
      qualifier,
      maximumRetryAttempts: input.maximumRetryAttempts,
      maximumEventAgeInSeconds: input.maximumEventAgeInSeconds,
      onSuccess: input.onSuccess,
      onFailure: input.onFailure,
      lastModified: Date.now(),
    };
    this.#db
      .prepare(
        `INSERT OR REPLACE INTO event_invoke_configs
           (tenant_id, function_arn, qualifier, max_retries, max_age_sec, on_success, on_failure, last_modified)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        tenantId,
        functionArn,
        qualifier,
        c.maximumRetryAttempts ?? null,
        c.maximumEventAgeInSeconds ?? null,
        c.onSuccess ?? null,
        c.onFailure ?? null,
        c.lastModified,
      );
    return c;
  }

  /** UpdateFunctionEventInvokeConfig: merges the given fields into the existing config. */
  update(
    tenantId: string,
    functionArn: string,
    qualifier: string,
    patch: EventInvokeConfigInput,
    qualifiedArn: string,
  ): EventInvokeConfig {
    return this.#db.transaction(() => {
      const cur = this.get(tenantId, functionArn, qualifier);
      if (!cur) throw EventInvokeConfigErrors.notFound(qualifiedArn);
      const next: EventInvokeConfigInput = {
        maximumRetryAttempts:
          'maximumRetryAttempts' in patch ? patch.maximumRetryAttempts : cur.maximumRetryAttempts,
        maximumEventAgeInSeconds:
          'maximumEventAgeInSeconds' in patch ? patch.maximumEventAgeInSeconds : cur.maximumEventAgeInSeconds,
        onSuccess: 'onSuccess' in patch ? patch.onSuccess : cur.onSuccess,
        onFailure: 'onFailure' in patch ? patch.onFailure : cur.onFailure,
      };
      return this.put(tenantId, functionArn, qualifier, next);
    })();
  }

  delete(tenantId: string, functionArn: string, qualifier: string, qualifiedArn: string): void {
    const r = this.#db
      .prepare('DELETE FROM event_invoke_configs WHERE tenant_id = ? AND function_arn = ? AND qualifier = ?')
      .run(tenantId, functionArn, qualifier);
    if (r.changes === 0) throw EventInvokeConfigErrors.notFound(qualifiedArn);
  }

  /** A deleted function takes its configs with it (a re-created one starts from the defaults). */
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
