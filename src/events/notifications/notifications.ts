// Bucket notifications: stores each bucket's configuration and turns matching object changes into S3
// events. An event is first an outbox row written in the same transaction as the object's commit, then
// handed to the invoker in the background (and again after a restart), and deleted once accepted.
import { randomUUID } from 'node:crypto';
import { parseFunctionArn } from '../../control/arn.js';
import type { Tenant } from '../../control/tenants.js';
import { isNotFound } from '../../errors.js';
import type { Invoker } from '../../invoke/types.js';
import type { Db } from '../../store/database.js';
import { S3Errors } from '../objects/errors.js';
import type { ObjectChange } from '../objects/store.js';
import { configMatches, type NotificationConfig, normalizeConfig } from './config.js';
import { type OutboxRow, SqliteNotificationRepo } from './notification-repo.js';
import { bucketArn, buildS3Event } from './s3-event.js';

export interface NotificationsDeps {
  db: Db;
  /** TRANSITIONAL (issue 9): synchronous until this module awaits TenantStore.get. */
  tenants: { get(id: string): Tenant | undefined };
  region: string;
  invoker: Invoker;
  /** Does the function exist in this tenant? Undefined when the control plane cannot tell yet. */
  functionExists?: (
    tenant: Tenant,
    functionArn: string,
  ) => boolean | undefined | Promise<boolean | undefined>;
  /** Base retry delay for an event the invoker did not accept; doubles, capped at a minute. */
  retryBaseMs?: number;
  log?: (message: string) => void;
}

export class BucketNotifications {
  readonly #deps: NotificationsDeps;
  readonly #repo: SqliteNotificationRepo;
  #timer: NodeJS.Timeout | undefined;
  #draining: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(deps: NotificationsDeps) {
    this.#deps = deps;
    this.#repo = new SqliteNotificationRepo(deps.db);
  }

  getConfig(bucket: string): NotificationConfig {
    return this.#repo.config(bucket) ?? { lambda: [] };
  }

  /** Validates (ARNs in the caller's account and region, functions that exist) and stores a configuration. */
  async putConfig(tenant: Tenant, bucket: string, input: unknown): Promise<NotificationConfig> {
    const config = normalizeConfig(input, () => randomUUID());
    for (const c of config.lambda) {
      const arn = parseFunctionArn(c.functionArn)!;
      const exists =
        arn.accountId === tenant.accountId && arn.region === this.#deps.region
          ? await this.#deps.functionExists?.(tenant, c.functionArn)
          : false;
      if (exists === false) {
        throw S3Errors.invalidArgument(
          'Unable to validate the following destination configurations',
          c.functionArn,
          'The destination function does not exist or is not in your account',
        );
      }
    }
    if (config.lambda.length === 0) this.#repo.deleteConfig(bucket);
    else this.#repo.putConfig(bucket, config);
    return config;
  }

  /** Called by the object store inside the change's transaction. */
  record(change: ObjectChange): void {
    const config = this.getConfig(change.bucket);
    if (config.lambda.length === 0) return;
    const tenant = this.#deps.tenants.get(change.tenantId);
    for (const c of config.lambda) {
      if (!configMatches(c, change.eventName, change.key)) continue;
      const event = buildS3Event(change, {
        region: this.#deps.region,
        configurationId: c.id,
        principalId: tenant?.accountId ?? change.tenantId,
        requestId: randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase(),
      });
      this.#repo.enqueue(change.tenantId, c.functionArn, change.bucket, JSON.stringify(event), Date.now());
    }
  }

  bucketDeleted(bucket: string): void {
    this.#repo.deleteConfig(bucket);
  }

  pending(): number {
    return this.#repo.pending();
  }

  start(): void {
    this.#stopped = false;
    this.kick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#draining;
  }

  /** Wakes the deliverer (after a commit that may have written outbox rows). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#draining !== undefined) {
      this.#again = true;
      return;
    }
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined;
      if (this.#again) {
        this.#again = false;
        this.kick();
      } else this.#schedule();
    });
  }

  async #drain(): Promise<void> {
    while (!this.#stopped) {
      const invoker = this.#deps.invoker;
      const rows = this.#repo.due(Date.now());
      if (rows.length === 0) return;
      for (const row of rows) {
        if (this.#stopped) return;
        await this.#deliver(invoker, row);
      }
    }
  }

  async #deliver(invoker: Invoker, row: OutboxRow): Promise<void> {
    const tenant = this.#deps.tenants.get(row.tenant_id);
    const done = () => this.#repo.remove(row.id);
    if (!tenant) {
      done();
      return;
    }
    try {
      await invoker.invokeAsync(tenant, row.function_arn, Buffer.from(row.payload), {
        source: { kind: 's3', arn: bucketArn(row.bucket) },
      });
      done();
    } catch (e) {
      // A function deleted since the configuration was written: S3 drops such events too.
      if (isNotFound(e)) {
        this.#deps.log?.(`kindling: dropping S3 event for ${row.function_arn}: ${(e as Error).message}`);
        done();
        return;
      }
      const base = this.#deps.retryBaseMs ?? 1_000;
      const delay = Math.min(base * 2 ** row.attempts, 60_000);
      this.#repo.retryAt(row.id, Date.now() + delay);
      this.#deps.log?.(
        `kindling: S3 event for ${row.function_arn} not accepted, retrying in ${delay} ms: ${String(e)}`,
      );
    }
  }

  #schedule(): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const at = this.#repo.nextDue();
    if (at === null) return;
    const wait = Math.max(0, at - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.kick();
    }, wait);
    this.#timer.unref();
  }
}
