// Bucket notifications: stores each bucket's configuration and turns matching object changes into S3
// events for a function (an async invocation) or a queue of the tenant (a message). An event is first an outbox row written in the same transaction as the object's commit, then
// handed to the invoker in the background (and again after a restart), and deleted once accepted. With
// several nodes, every node delivers: each outbox row is claimed by one node with a lease, and the rows
// of a node that died are taken over once its lease runs out.
import { randomUUID } from 'node:crypto';
import { isQueueArn, parseFunctionArn } from '../../control/arn.js';
import type { Tenant, TenantStore } from '../../control/tenants.js';
import { isNotFound } from '../../errors.js';
import type { Invoker } from '../../invoke/types.js';
import type { Sql, SqlExecutor } from '../../store/sql.js';
import { S3Errors } from '../objects/errors.js';
import type { ObjectChange } from '../objects/store.js';
import type { QueueEngine } from '../queue/types.js';
import { configMatches, type NotificationConfig, normalizeConfig } from './config.js';
import { NotificationRepo, type OutboxRow } from './notification-repo.js';
import { bucketArn, buildS3Event } from './s3-event.js';

/** Other nodes wake on this channel when a commit wrote outbox rows. */
const CHANNEL = 'kindling_s3_notifications';

export interface NotificationsDeps {
  sql: Sql;
  /** This node's identity: its claims carry it. */
  nodeId: string;
  /** A claim not finished this long after it was taken is taken over by another node. */
  leaseMs: number;
  tenants: Pick<TenantStore, 'get'>;
  region: string;
  invoker: Invoker;
  /** Does the function exist in this tenant? Undefined when the control plane cannot tell yet. */
  functionExists?: (
    tenant: Tenant,
    functionArn: string,
  ) => boolean | undefined | Promise<boolean | undefined>;
  /** The embedded queue, for QueueConfigurations (without it, queue destinations are refused). */
  queues?: Pick<QueueEngine, 'findQueue' | 'send'>;
  /** Base retry delay for an event the invoker did not accept; doubles, capped at a minute. */
  retryBaseMs?: number;
  log?: (message: string) => void;
}

export class BucketNotifications {
  readonly #deps: NotificationsDeps;
  readonly #repo: NotificationRepo;
  #timer: NodeJS.Timeout | undefined;
  #unlisten: (() => void) | undefined;
  #draining: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(deps: NotificationsDeps) {
    this.#deps = deps;
    this.#repo = new NotificationRepo(deps.sql);
  }

  /** Creates or updates the tables (safe when several nodes start at once). */
  migrate(): Promise<void> {
    return this.#repo.migrate();
  }

  async getConfig(bucket: string, q?: SqlExecutor): Promise<Required<NotificationConfig>> {
    const c = await this.#repo.config(bucket, q);
    return { lambda: c?.lambda ?? [], queue: c?.queue ?? [] };
  }

  /**
   * Validates (ARNs in the caller's account and region, functions and queues that exist) and stores a
   * configuration. As S3 does, each queue destination gets an `s3:TestEvent` message once it is stored.
   */
  async putConfig(tenant: Tenant, bucket: string, input: unknown): Promise<NotificationConfig> {
    const config = normalizeConfig(input, () => randomUUID());
    const unvalidated = (arn: string, what: string) =>
      S3Errors.invalidArgument(
        'Unable to validate the following destination configurations',
        arn,
        `The destination ${what} does not exist or is not in your account`,
      );
    for (const c of config.lambda) {
      const arn = parseFunctionArn(c.functionArn)!;
      const exists =
        arn.accountId === tenant.accountId && arn.region === this.#deps.region
          ? await this.#deps.functionExists?.(tenant, c.functionArn)
          : false;
      if (exists === false) throw unvalidated(c.functionArn, 'function');
    }
    const queues = [];
    for (const c of config.queue ?? []) {
      const [, , , region, account] = c.queueArn.split(':');
      const queue =
        account === tenant.accountId && region === this.#deps.region
          ? await this.#deps.queues?.findQueue(tenant, c.queueArn)
          : undefined;
      if (!queue) throw unvalidated(c.queueArn, 'queue');
      queues.push(queue);
    }
    if (config.lambda.length === 0 && (config.queue ?? []).length === 0)
      await this.#repo.deleteConfig(bucket);
    else await this.#repo.putConfig(bucket, config);
    const test = JSON.stringify({
      Service: 'Amazon S3',
      Event: 's3:TestEvent',
      Time: new Date().toISOString(),
      Bucket: bucket,
      RequestId: randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase(),
      HostId: randomUUID(),
    });
    for (const queue of queues) await this.#deps.queues?.send(queue, { body: test });
    return config;
  }

  /** Called by the object store inside the change's transaction (`q`): the rows commit with the change. */
  async record(change: ObjectChange, q: SqlExecutor): Promise<void> {
    const config = await this.getConfig(change.bucket, q);
    if (config.lambda.length === 0 && config.queue.length === 0) return;
    // Inside the commit's transaction: a cache miss reads through `q` (on SQLite the transaction holds the
    // only connection, so a read through the store would wait for it forever).
    const tenant = await this.#deps.tenants.get(change.tenantId, q);
    const targets = [
      ...config.lambda.map((c) => ({ c, arn: c.functionArn })),
      ...config.queue.map((c) => ({ c, arn: c.queueArn })),
    ];
    for (const { c, arn } of targets) {
      if (!configMatches(c, change.eventName, change.key)) continue;
      const event = buildS3Event(change, {
        region: this.#deps.region,
        configurationId: c.id,
        principalId: tenant?.accountId ?? change.tenantId,
        requestId: randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase(),
      });
      // The outbox's function_arn column holds either destination: a queue ARN says which it is.
      await this.#repo.enqueue(q, change.tenantId, arn, change.bucket, JSON.stringify(event), Date.now());
    }
  }

  async bucketDeleted(bucket: string, q: SqlExecutor): Promise<void> {
    await this.#repo.deleteConfig(bucket, q);
  }

  pending(): Promise<number> {
    return this.#repo.pending();
  }

  async start(): Promise<void> {
    this.#stopped = false;
    // One node by construction on SQLite: claims left by a killed predecessor are recovered at once.
    if (this.#deps.sql.dialect === 'sqlite') await this.#repo.releaseAll();
    this.#unlisten = await this.#deps.sql.listen(CHANNEL, () => this.kick());
    this.kick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unlisten?.();
    this.#unlisten = undefined;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#draining;
    // Claimed rows not delivered (stopped mid-batch) go back at once instead of after the lease.
    await this.#repo.release(this.#deps.nodeId).catch((e: unknown) => {
      this.#deps.log?.(
        `kindling: could not release S3 event claims (they expire by themselves): ${String(e)}`,
      );
    });
  }

  /** After a commit that may have written outbox rows: wakes this node's deliverer and the others'. */
  changed(): void {
    this.kick();
    if (this.#deps.sql.dialect === 'sqlite') return; // one node: nobody else to wake
    // Best effort: the other nodes also scan at least once per lease period.
    this.#deps.sql.notify(CHANNEL).catch((e: unknown) => {
      this.#deps.log?.(`kindling: could not wake the other nodes for S3 events: ${String(e)}`);
    });
  }

  /** Wakes the deliverer. */
  kick(): void {
    if (this.#stopped) return;
    if (this.#draining !== undefined) {
      this.#again = true;
      return;
    }
    this.#draining = this.#drain()
      .then(async () => {
        if (this.#again) return;
        await this.#schedule();
      })
      .finally(() => {
        this.#draining = undefined;
        if (this.#again) {
          this.#again = false;
          this.kick();
        }
      });
  }

  async #drain(): Promise<void> {
    try {
      while (!this.#stopped) {
        const invoker = this.#deps.invoker;
        const now = await this.#deps.sql.now();
        const rows = await this.#repo.claim(this.#deps.nodeId, now, now + this.#deps.leaseMs);
        if (rows.length === 0) return;
        for (const row of rows) {
          if (this.#stopped) return;
          await this.#deliver(invoker, row);
        }
      }
    } catch (e) {
      // The store unreachable: the rows stay in the outbox; the next scan tries again.
      this.#deps.log?.(`kindling: S3 event delivery paused: ${String(e)}`);
    }
  }

  async #deliver(invoker: Invoker, row: OutboxRow): Promise<void> {
    const tenant = await this.#deps.tenants.get(row.tenant_id);
    const done = () => this.#repo.remove(row.id);
    if (!tenant) {
      await done();
      return;
    }
    try {
      if (isQueueArn(row.function_arn)) {
        const queues = this.#deps.queues;
        const queue = await queues?.findQueue(tenant, row.function_arn);
        if (!queues || !queue) {
          // A queue deleted since the configuration was written: S3 cannot deliver to it either.
          this.#deps.log?.(`kindling: dropping S3 event for ${row.function_arn}: the queue does not exist`);
          await done();
          return;
        }
        await queues.send(queue, { body: row.payload });
      } else {
        await invoker.invokeAsync(tenant, row.function_arn, Buffer.from(row.payload), {
          source: { kind: 's3', arn: bucketArn(row.bucket) },
        });
      }
    } catch (e) {
      // A function deleted since the configuration was written: S3 drops such events too.
      if (isNotFound(e)) {
        this.#deps.log?.(`kindling: dropping S3 event for ${row.function_arn}: ${(e as Error).message}`);
        await done();
        return;
      }
      const base = this.#deps.retryBaseMs ?? 1_000;
      const delay = Math.min(base * 2 ** row.attempts, 60_000);
      await this.#repo.retryAt(row.id, (await this.#deps.sql.now()) + delay);
      this.#deps.log?.(
        `kindling: S3 event for ${row.function_arn} not accepted, retrying in ${delay} ms: ${String(e)}`,
      );
      return;
    }
    // Accepted by the async queue: at least once. A node dying between the two leaves the row to be
    // delivered again after its lease, as S3 itself delivers events at least once.
    await done();
  }

  /** Sleeps until the next row is due or a lease runs out, at most a lease period (a missed wake-up). */
  async #schedule(): Promise<void> {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    let wait = this.#deps.leaseMs;
    try {
      const [at, now] = [await this.#repo.nextDue(), await this.#deps.sql.now()];
      if (at !== null) wait = Math.min(wait, Math.max(0, at - now));
    } catch {
      // The store unreachable: try again in a lease period.
    }
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.kick();
    }, wait);
    this.#timer.unref();
  }
}
