// Runs one poller per enabled mapping and keeps each mapping's State in step with it: started at
// platform start (restart recovery), on create/update, stopped on disable/delete, and disabled when
// its function disappears while polling (messages stay in the queue).
import type { Invoker } from '../../invoke/types.js';
import { RedisStreamsPoller } from '../pollers/redis-streams-poller.js';
import { SqsPoller } from '../pollers/sqs-poller.js';
import type { QueueEngine } from '../queue/types.js';
import type { RpcProcessor } from '../rpc/rpc-processor.js';
import type { MappingStore } from './mapping-repo.js';
import {
  FUNCTION_GONE_REASON,
  type FunctionDirectory,
  type Mapping,
  QUEUE_GONE_REASON,
  type RedisSource,
  type TenantLookup,
  VISIBILITY_TAG,
} from './types.js';

interface Poller {
  /** Batches in flight right now (rate matching). */
  readonly lanes: number;
  start(): void;
  stop(): Promise<void>;
}

export interface PollerManagerDeps {
  store: MappingStore;
  /** The embedded queue engine. */
  queues: QueueEngine;
  invoker: Invoker;
  functions: FunctionDirectory;
  tenants: TenantLookup;
  rpc: RpcProcessor;
  region: string;
  /** Lane ceiling for mappings without ScalingConfig.MaximumConcurrency. */
  defaultConcurrency: number;
}

export class PollerManager {
  readonly #d: PollerManagerDeps;
  readonly #running = new Map<string, Poller>();
  /** Serializes start/stop per mapping so a quick disable→enable cannot run two pollers. */
  readonly #chains = new Map<string, Promise<void>>();
  #stopped = false;

  constructor(deps: PollerManagerDeps) {
    this.#d = deps;
  }

  /** Restart recovery: finish interrupted deletes, start what is enabled. */
  async start(): Promise<void> {
    for (const m of this.#d.store.listAll()) {
      if (m.state === 'Deleting') this.#d.store.delete(m.uuid);
      else await this.reconcile(m.uuid);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.allSettled([...this.#chains.values()]);
    await Promise.allSettled([...this.#running.values()].map((p) => p.stop()));
    this.#running.clear();
  }

  isPolling(uuid: string): boolean {
    return this.#running.has(uuid);
  }

  /** How many batches the mapping's poller has in flight (0 when it is not polling). */
  lanes(uuid: string): number {
    return this.#running.get(uuid)?.lanes ?? 0;
  }

  /** Brings the poller in line with the stored mapping (after create, update or delete). */
  reconcile(uuid: string): Promise<void> {
    const prev = this.#chains.get(uuid) ?? Promise.resolve();
    const next = prev
      .then(() => this.#reconcile(uuid))
      .catch((e) => console.error(`kindling: mapping ${uuid}:`, e));
    this.#chains.set(uuid, next);
    void next.finally(() => {
      if (this.#chains.get(uuid) === next) this.#chains.delete(uuid);
    });
    return next;
  }

  async #reconcile(uuid: string): Promise<void> {
    const { store } = this.#d;
    const running = this.#running.get(uuid);
    if (running) {
      this.#running.delete(uuid);
      await running.stop();
    }
    const m = store.get(uuid);
    if (!m) return;
    if (m.state === 'Deleting') {
      store.delete(uuid);
      return;
    }
    if (!m.enabled || this.#stopped) {
      if (!this.#stopped) this.#setState(m, 'Disabled');
      return;
    }
    const poller = await this.#build(m);
    if (this.#stopped) return;
    if (typeof poller === 'string') {
      m.enabled = false;
      this.#setState(m, 'Disabled', poller);
      return;
    }
    this.#running.set(uuid, poller);
    poller.start();
    this.#setState(m, 'Enabled');
  }

  /** A poller for the mapping, or the reason it cannot poll. */
  async #build(m: Mapping): Promise<Poller | string> {
    const d = this.#d;
    const tenant = d.tenants.get(m.tenantId);
    if (!tenant) return 'PROBLEM: Tenant not found';
    if (m.functionArn !== null && !d.functions.find(tenant, m.functionArn)) return FUNCTION_GONE_REASON;
    const common = {
      invoker: d.invoker,
      tenant,
      defaultConcurrency: d.defaultConcurrency,
      ...(m.rpc && { rpc: d.rpc }),
      onSourceGone: (reason: string) => this.#sourceGone(m.uuid, reason),
      ...(m.functionArn !== null && {
        functionLimit: () => {
          const reserved =
            m.functionArn === null ? null : d.functions.find(tenant, m.functionArn)?.reservedConcurrency;
          // Reserved concurrency 0 throttles everything: one lane keeps backing off until it changes.
          return reserved === null || reserved === undefined ? undefined : Math.max(1, reserved);
        },
      }),
      onResult: (r: string) => this.#lastResult(m.uuid, r),
    };
    const engine = d.queues;
    if (m.source.kind === 'sqs') {
      const queue = await engine.findQueue(tenant, m.source.queueArn);
      if (!queue) return QUEUE_GONE_REASON;
      return new SqsPoller({ ...common, engine, mapping: m, queue, region: d.region });
    }
    const vis = Number(m.tags[VISIBILITY_TAG] ?? '30');
    return new RedisStreamsPoller({
      ...common,
      ...(engine && { engine }),
      mapping: m as Mapping & { source: RedisSource },
      visibilityTimeoutSec: Number.isFinite(vis) && vis > 0 ? vis : 30,
    });
  }

  #sourceGone(uuid: string, reason: string): void {
    const m = this.#d.store.get(uuid);
    if (!m?.enabled) return;
    // Disabled, not deleted: the messages wait in the queue until the user re-enables the mapping.
    m.enabled = false;
    m.lastProcessingResult = reason;
    this.#setState(m, 'Disabled', reason);
    void this.reconcile(uuid);
  }

  #lastResult(uuid: string, result: string): void {
    const m = this.#d.store.get(uuid);
    if (!m) return;
    m.lastProcessingResult = result;
    this.#d.store.save(m);
  }

  #setState(m: Mapping, state: Mapping['state'], reason?: string): void {
    m.state = state;
    if (reason !== undefined) m.stateTransitionReason = reason;
    this.#d.store.save(m);
  }
}
