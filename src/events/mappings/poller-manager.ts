// Runs one poller per enabled mapping and keeps each mapping's State in step with it: started at
// platform start (restart recovery), on create/update, stopped on disable/delete, and disabled when
// its function disappears while polling (messages stay in the queue). With several nodes, each mapping
// is polled by the node holding its lease (store clock, renewed every leaseMs/3); nodes take a fair
// share each, a dead node's mappings are taken over once its leases run out, and a node that cannot
// renew a lease stops polling that mapping before the lease ends.

import { randomUUID } from 'node:crypto';
import type { Tenant } from '../../control/tenants.js';
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
  /** This node (leases name it); random per start. */
  nodeId?: string;
  /** A lease not renewed this long is taken over by another node (default 30 s). */
  leaseMs?: number;
  /**
   * This node is the only one (the SQLite store): leases left by a killed process are void at start
   * instead of making the restarted node wait for them to run out.
   */
  soleNode?: boolean;
}

/** Mapping changes are announced on this channel so the node polling a mapping picks them up. */
export const MAPPINGS_CHANNEL = 'kindling_mappings';
/** Lease rows whose uuid starts so are nodes' presence, which the fair share is counted from. */
const NODE_PREFIX = 'node:';

interface Running {
  poller: Poller;
  /** The mapping's lastModified when the poller was built: a newer one rebuilds it. */
  version: number;
}

export class PollerManager {
  readonly #d: PollerManagerDeps;
  readonly #nodeId: string;
  readonly #leaseMs: number;
  readonly #running = new Map<string, Running>();
  /** Local-clock time until which this node may poll each mapping it holds (a safety margin early). */
  readonly #heldUntil = new Map<string, number>();
  /** Serializes start/stop per mapping so a quick disable→enable cannot run two pollers. */
  readonly #chains = new Map<string, Promise<void>>();
  readonly #lastResult = new Map<string, string>();
  /** Mappings this node polls at most: its share of the enabled ones among the live nodes. */
  #fairShare = Number.POSITIVE_INFINITY;
  /** The mappings #fairShare was counted with. */
  #counted = new Set<string>();
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #unlisten: (() => void) | undefined;
  #rescanning: Promise<void> | undefined;

  constructor(deps: PollerManagerDeps) {
    this.#d = deps;
    this.#nodeId = deps.nodeId ?? randomUUID();
    this.#leaseMs = deps.leaseMs ?? 30_000;
  }

  /** Restart recovery: finish interrupted deletes, start what is enabled (and this node may hold). */
  async start(): Promise<void> {
    const { store } = this.#d;
    this.#stopped = false;
    await store.ready();
    if (this.#d.soleNode) await store.clearLeases();
    this.#unlisten = await store.sql.listen(MAPPINGS_CHANNEL, (uuid) => {
      if (uuid) void this.reconcile(uuid);
    });
    await this.#rescan();
    this.#timer = setInterval(() => void this.#rescan(), Math.max(1, Math.floor(this.#leaseMs / 3)));
    this.#timer.unref();
  }

  /**
   * Stops polling and gives the leases back so other nodes take the mappings at once. `keepLeases` leaves
   * them to run out instead, as a node that dies does (tests).
   */
  async stop(opts: { keepLeases?: boolean } = {}): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#unlisten?.();
    this.#unlisten = undefined;
    await this.#rescanning;
    await Promise.allSettled([...this.#chains.values()]);
    await Promise.allSettled([...this.#running.values()].map((r) => r.poller.stop()));
    const held = [...this.#heldUntil.keys()];
    this.#running.clear();
    this.#heldUntil.clear();
    if (opts.keepLeases) return;
    await Promise.allSettled([
      ...held.map((uuid) => this.#d.store.releaseLease(uuid, this.#nodeId)),
      this.#d.store.releaseLease(NODE_PREFIX + this.#nodeId, this.#nodeId),
    ]);
  }

  get nodeId(): string {
    return this.#nodeId;
  }

  isPolling(uuid: string): boolean {
    return this.#running.has(uuid);
  }

  /** How many batches the mapping's poller has in flight (0 when it is not polling). */
  lanes(uuid: string): number {
    return this.#running.get(uuid)?.poller.lanes ?? 0;
  }

  /** After a create, update or delete through this node: reconcile here and tell the other nodes. */
  async changed(uuid: string): Promise<void> {
    void this.reconcile(uuid);
    await this.#d.store.sql.notify(MAPPINGS_CHANNEL, uuid).catch(() => {
      // The node polling it sees the change at its next rescan (leaseMs/3).
    });
  }

  /** Brings the poller in line with the stored mapping (after create, update or delete). */
  reconcile(uuid: string, shed = false): Promise<void> {
    const prev = this.#chains.get(uuid) ?? Promise.resolve();
    const next = prev
      .then(() => this.#reconcile(uuid, shed))
      .catch((e) => {
        console.error(`kindling: mapping ${uuid}:`, (e as Error).message);
        this.#dropExpired();
      });
    this.#chains.set(uuid, next);
    void next.finally(() => {
      if (this.#chains.get(uuid) === next) this.#chains.delete(uuid);
    });
    return next;
  }

  /**
   * Every leaseMs/3: announce this node, count the live ones, renew or take leases up to this node's fair
   * share, give back the excess, and notice changes whose notification was lost.
   */
  #rescan(): Promise<void> {
    if (this.#rescanning !== undefined) return this.#rescanning;
    if (this.#stopped) return Promise.resolve();
    this.#rescanning = this.#doRescan()
      .catch((e) => {
        console.error('kindling: event source mappings: lease renewal failed:', (e as Error).message);
        this.#dropExpired();
      })
      .finally(() => {
        this.#rescanning = undefined;
      });
    return this.#rescanning;
  }

  async #doRescan(): Promise<void> {
    const { store } = this.#d;
    const now = await store.sql.now();
    await store.acquireLease(NODE_PREFIX + this.#nodeId, this.#nodeId, now, now + this.#leaseMs);
    const all = await store.listAll();
    this.#fairShare = await this.#share(all, now);
    const known = new Set(all.map((m) => m.uuid));
    this.#counted = known;
    let excess = this.#heldUntil.size - this.#fairShare;
    const work: Promise<void>[] = [];
    for (const m of all) {
      const shed = excess > 0 && this.#heldUntil.has(m.uuid);
      if (shed) excess--;
      work.push(this.reconcile(m.uuid, shed));
    }
    for (const uuid of this.#running.keys()) if (!known.has(uuid)) work.push(this.reconcile(uuid));
    await Promise.all(work);
  }

  /** This node's fair share of the enabled mappings among the live nodes. */
  async #share(all: readonly Mapping[], now: number): Promise<number> {
    const nodes = Math.max(1, await this.#d.store.liveNodes(NODE_PREFIX, now));
    const enabled = all.filter((m) => m.enabled && m.state !== 'Deleting').length;
    return Math.max(1, Math.ceil(enabled / nodes));
  }

  /** Without a renewed lease, a mapping is polled no further than the lease this node last had. */
  #dropExpired(): void {
    const now = Date.now();
    for (const [uuid, until] of this.#heldUntil) {
      if (until > now) continue;
      this.#heldUntil.delete(uuid);
      const r = this.#running.get(uuid);
      this.#running.delete(uuid);
      if (r) void r.poller.stop().catch(() => {});
    }
  }

  async #halt(uuid: string, release: boolean): Promise<void> {
    const running = this.#running.get(uuid);
    this.#running.delete(uuid);
    if (running) await running.poller.stop();
    if (release && this.#heldUntil.delete(uuid)) await this.#d.store.releaseLease(uuid, this.#nodeId);
  }

  async #reconcile(uuid: string, shed: boolean): Promise<void> {
    const { store } = this.#d;
    const m = await store.get(uuid);
    if (!m) {
      await this.#halt(uuid, true);
      return;
    }
    if (m.state === 'Deleting') {
      await this.#halt(uuid, true);
      await store.delete(uuid);
      return;
    }
    if (!m.enabled || this.#stopped) {
      await this.#halt(uuid, true);
      // Checked first: every node's rescan passes here for each disabled mapping.
      if (!this.#stopped && m.state !== 'Disabled') await this.#setState(uuid, 'Disabled');
      return;
    }
    if (shed) {
      // More than this node's share: another node (with fewer) takes it at its next rescan.
      await this.#halt(uuid, true);
      return;
    }
    if (!this.#heldUntil.has(uuid) && this.#heldUntil.size >= this.#fairShare) {
      if (this.#counted.has(uuid)) return;
      // The share was counted before this mapping existed: count again, or a new mapping would wait for the
      // next rescan (leaseMs/3) although this node (the sole one, say) should poll it at once.
      const all = await store.listAll();
      this.#counted = new Set(all.map((x) => x.uuid));
      this.#fairShare = await this.#share(all, await store.sql.now());
      if (this.#heldUntil.size >= this.#fairShare) return;
    }
    const localStart = Date.now();
    const now = await store.sql.now();
    if (!(await store.acquireLease(uuid, this.#nodeId, now, now + this.#leaseMs))) {
      // Another node polls it.
      await this.#halt(uuid, false);
      this.#heldUntil.delete(uuid);
      return;
    }
    // Stop a little before the lease runs out when renewals fail, so two nodes never poll at once.
    this.#heldUntil.set(uuid, localStart + this.#leaseMs - Math.min(1_000, this.#leaseMs / 10));
    const running = this.#running.get(uuid);
    if (running && running.version === m.lastModified) return;
    await this.#halt(uuid, false);
    if (this.#stopped) return;
    const poller = await this.#build(m);
    if (this.#stopped) return;
    if (typeof poller === 'string') {
      await this.#halt(uuid, true);
      await store.update(uuid, (cur) => {
        cur.enabled = false;
        cur.state = 'Disabled';
        cur.stateTransitionReason = poller;
        return true;
      });
      return;
    }
    this.#running.set(uuid, { poller, version: m.lastModified });
    poller.start();
    await this.#setState(uuid, 'Enabled');
  }

  /**
   * The lanes a function's reserved concurrency allows, read synchronously by the poller's rate matching:
   * the last value looked up, refreshed in the background at most once a second (a change of reserved
   * concurrency takes effect within about a second).
   */
  #reservedLimit(
    tenant: Tenant,
    functionArn: string,
    found: { reservedConcurrency: number | null } | undefined,
  ): () => number | undefined {
    let reserved = found?.reservedConcurrency ?? null;
    let checkedAt = Date.now();
    let checking = false;
    return () => {
      if (!checking && Date.now() - checkedAt >= 1_000) {
        checking = true;
        void this.#d.functions
          .find(tenant, functionArn)
          .then((f) => {
            reserved = f?.reservedConcurrency ?? null;
          })
          .catch(() => {})
          .finally(() => {
            checking = false;
            checkedAt = Date.now();
          });
      }
      // Reserved concurrency 0 throttles everything: one lane keeps backing off until it changes.
      return reserved === null ? undefined : Math.max(1, reserved);
    };
  }

  /** A poller for the mapping, or the reason it cannot poll. */
  async #build(m: Mapping): Promise<Poller | string> {
    const d = this.#d;
    const tenant = await d.tenants.get(m.tenantId);
    if (!tenant) return 'PROBLEM: Tenant not found';
    const found = m.functionArn === null ? undefined : await d.functions.find(tenant, m.functionArn);
    if (m.functionArn !== null && !found) return FUNCTION_GONE_REASON;
    const common = {
      invoker: d.invoker,
      tenant,
      defaultConcurrency: d.defaultConcurrency,
      ...(m.rpc && { rpc: d.rpc }),
      onSourceGone: (reason: string) => this.#sourceGone(m.uuid, reason),
      ...(m.functionArn !== null && { functionLimit: this.#reservedLimit(tenant, m.functionArn, found) }),
      onResult: (r: string) => this.#lastResultChanged(m.uuid, r),
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
    void this.#d.store
      .update(uuid, (m) => {
        if (!m.enabled) return false;
        // Disabled, not deleted: the messages wait in the queue until the user re-enables the mapping.
        m.enabled = false;
        m.lastProcessingResult = reason;
        m.state = 'Disabled';
        m.stateTransitionReason = reason;
        return true;
      })
      .then(() => this.reconcile(uuid))
      .catch((e) => console.error(`kindling: mapping ${uuid}:`, (e as Error).message));
  }

  /** Written only when it changes: a batch's outcome is mostly the same as the last one's. */
  #lastResultChanged(uuid: string, result: string): void {
    if (this.#lastResult.get(uuid) === result) return;
    this.#lastResult.set(uuid, result);
    void this.#d.store
      .update(uuid, (m) => {
        if (m.lastProcessingResult === result) return false;
        m.lastProcessingResult = result;
        return true;
      })
      .catch(() => {
        this.#lastResult.delete(uuid); // written again with the next batch's result
      });
  }

  /** Sets the state on the row as it is now (another node may have changed the rest of it). */
  async #setState(uuid: string, state: Mapping['state']): Promise<void> {
    await this.#d.store.update(uuid, (m) => {
      if (m.state === state || m.state === 'Deleting') return false;
      if (state === 'Enabled' && !m.enabled) return false;
      if (state === 'Disabled' && m.enabled) return false;
      m.state = state;
      return true;
    });
  }
}
