// Per-function async invocation settings (Lambda's FunctionEventInvokeConfig): retry attempts, maximum
// event age and on-success / on-failure destinations. Stored in the platform's store; read on every dispatch.
import { LATEST } from '../control/functions.js';
import type { Tenant } from '../control/tenants.js';
import { LambdaErrors } from '../errors.js';
import type { Sql } from '../store/sql.js';
import { type EventInvokeConfig, EventInvokeConfigRepo } from './event-invoke-config-repo.js';

export type { EventInvokeConfig } from './event-invoke-config-repo.js';

export const DEFAULT_MAX_RETRIES = 2;
export const DEFAULT_MAX_EVENT_AGE_SEC = 21_600;

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
export type DestinationCheck = (tenant: Tenant, arn: string) => Promise<void> | void;

export const EventInvokeConfigErrors = {
  notFound: (qualifiedArn: string) =>
    LambdaErrors.notFound(`The function ${qualifiedArn} doesn't have an EventInvokeConfig`),
  empty: () =>
    LambdaErrors.invalidParameter('You must specify at least one of error handling or destination setting.'),
};

export class EventInvokeConfigStore {
  readonly #repo: EventInvokeConfigRepo;

  constructor(sql: Sql) {
    this.#repo = new EventInvokeConfigRepo(sql);
  }

  ready(): Promise<void> {
    return this.#repo.ready();
  }

  get(tenantId: string, functionArn: string, qualifier = LATEST): Promise<EventInvokeConfig | undefined> {
    return this.#repo.get(tenantId, functionArn, qualifier);
  }

  async effective(tenantId: string, functionArn: string, qualifier = LATEST): Promise<EffectiveInvokeConfig> {
    const c = await this.get(tenantId, functionArn, qualifier);
    return {
      maxRetries: c?.maximumRetryAttempts ?? DEFAULT_MAX_RETRIES,
      maxEventAgeSec: c?.maximumEventAgeInSeconds ?? DEFAULT_MAX_EVENT_AGE_SEC,
      onSuccess: c?.onSuccess,
      onFailure: c?.onFailure,
    };
  }

  /** PutFunctionEventInvokeConfig: replaces the whole config. */
  async put(
    tenantId: string,
    functionArn: string,
    qualifier: string,
    input: EventInvokeConfigInput,
  ): Promise<EventInvokeConfig> {
    const c: EventInvokeConfig = {
      functionArn,
      qualifier,
      maximumRetryAttempts: input.maximumRetryAttempts,
      maximumEventAgeInSeconds: input.maximumEventAgeInSeconds,
      onSuccess: input.onSuccess,
      onFailure: input.onFailure,
      lastModified: Date.now(),
    };
    await this.#repo.put(tenantId, c);
    return c;
  }

  /** UpdateFunctionEventInvokeConfig: merges the given fields into the existing config. */
  update(
    tenantId: string,
    functionArn: string,
    qualifier: string,
    patch: EventInvokeConfigInput,
    qualifiedArn: string,
  ): Promise<EventInvokeConfig> {
    return this.#repo.transaction(async (q) => {
      const cur = await this.#repo.get(tenantId, functionArn, qualifier, q);
      if (!cur) throw EventInvokeConfigErrors.notFound(qualifiedArn);
      const next: EventInvokeConfigInput = {
        maximumRetryAttempts:
          'maximumRetryAttempts' in patch ? patch.maximumRetryAttempts : cur.maximumRetryAttempts,
        maximumEventAgeInSeconds:
          'maximumEventAgeInSeconds' in patch ? patch.maximumEventAgeInSeconds : cur.maximumEventAgeInSeconds,
        onSuccess: 'onSuccess' in patch ? patch.onSuccess : cur.onSuccess,
        onFailure: 'onFailure' in patch ? patch.onFailure : cur.onFailure,
      };
      const c: EventInvokeConfig = {
        functionArn,
        qualifier,
        maximumRetryAttempts: next.maximumRetryAttempts,
        maximumEventAgeInSeconds: next.maximumEventAgeInSeconds,
        onSuccess: next.onSuccess,
        onFailure: next.onFailure,
        lastModified: Date.now(),
      };
      await this.#repo.put(tenantId, c, q);
      return c;
    });
  }

  async delete(
    tenantId: string,
    functionArn: string,
    qualifier: string,
    qualifiedArn: string,
  ): Promise<void> {
    if (!(await this.#repo.delete(tenantId, functionArn, qualifier)))
      throw EventInvokeConfigErrors.notFound(qualifiedArn);
  }

  /** A deleted function takes its configs with it (a re-created one starts from the defaults). */
  deleteAll(tenantId: string, functionArn: string): Promise<void> {
    return this.#repo.deleteAll(tenantId, functionArn);
  }

  list(tenantId: string, functionArn: string): Promise<EventInvokeConfig[]> {
    return this.#repo.list(tenantId, functionArn);
  }
}
