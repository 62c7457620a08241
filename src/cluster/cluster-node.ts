// This node's membership of the cluster: it registers in the `nodes` table once listening, heartbeats
// every leaseMs/3 with its load and idle warm environments (sooner when they change), keeps a view of
// the other nodes (refreshed on every heartbeat and on NOTIFY), and follows a drain another node asked
// for. A node whose heartbeat is older than leaseMs on the store's clock is not live.
import type { Sql } from '../store/sql.js';
import { type NodeRecord, NodeRepo, type NodeState, type WarmEnvironments } from './node-repo.js';

export const NODES_CHANNEL = 'kindling_nodes';
/** Rows of nodes silent this long are deleted from the registry. */
const FORGET_AFTER_MS = 24 * 3600_000;
/** A change of warm environments is published at most this often (besides the heartbeat). */
const TOUCH_DEBOUNCE_MS = 100;

/** What the cluster reads from the local worker manager (read-only). */
export interface LocalWorkerView {
  /** Idle warm environments per function versionKey. */
  warmVersions(): WarmEnvironments;
  /** Invocations holding a slot now, and how many environments the node keeps at most. */
  load(): { running: number; capacity: number };
}

export interface NodeView extends NodeRecord {
  /** Heartbeat within leaseMs of the store's clock, and not gone. */
  live: boolean;
  /** running / capacity. */
  load: number;
}

export interface ClusterNodeOptions {
  sql: Sql;
  nodeId: string;
  leaseMs: number;
  worker: LocalWorkerView;
  /** Another node (or the admin API) asked this node to drain. */
  onDrainRequested: () => void;
  log?: (message: string) => void;
}

export class ClusterNode {
  readonly id: string;
  readonly repo: NodeRepo;
  readonly #opts: ClusterNodeOptions;
  #state: NodeState = 'active';
  #url = '';
  #secret: string | undefined;
  #view: { nodes: NodeRecord[]; storeNow: number; at: number } = { nodes: [], storeNow: 0, at: 0 };
  #timer: NodeJS.Timeout | undefined;
  #touchTimer: NodeJS.Timeout | undefined;
  #unlisten: (() => void) | undefined;
  #published = '';
  #beating: Promise<void> | undefined;
  #stopped = false;

  constructor(opts: ClusterNodeOptions) {
    this.#opts = opts;
    this.id = opts.nodeId;
    this.repo = new NodeRepo(opts.sql);
  }

  get state(): NodeState {
    return this.#state;
  }

  get url(): string {
    return this.#url;
  }

  /** The forwarding secret, once started. */
  get secret(): string | undefined {
    return this.#secret;
  }

  /** Schema only: runs before anything else touches the cluster tables. */
  migrate(): Promise<void> {
    return this.repo.migrate();
  }

  /** Registers once the node listens on `url` (its advertised address), then heartbeats. */
  async start(url: string): Promise<void> {
    this.#url = url;
    this.#secret = await this.repo.secret();
    const { running, capacity } = this.#opts.worker.load();
    await this.repo.register({
      id: this.id,
      url,
      state: 'active',
      running,
      capacity,
      warm: this.#opts.worker.warmVersions(),
    });
    this.#unlisten = await this.#opts.sql.listen(NODES_CHANNEL, (payload) => {
      if (payload === this.id && this.#state === 'active') void this.#beat().catch(() => {});
      else void this.refresh().catch(() => {});
    });
    await this.refresh();
    await this.#opts.sql.notify(NODES_CHANNEL, 'joined');
    this.#timer = setInterval(
      () => void this.#beat().catch((e) => this.#log(`heartbeat failed: ${(e as Error).message}`)),
      Math.max(50, Math.floor(this.#opts.leaseMs / 3)),
    );
    this.#timer.unref();
  }

  /** Publishes a change of warm environments soon (debounced): routing elsewhere sees it. */
  touch(): void {
    if (this.#touchTimer !== undefined || this.#stopped || this.#url === '') return;
    this.#touchTimer = setTimeout(() => {
      this.#touchTimer = undefined;
      const warm = JSON.stringify(this.#opts.worker.warmVersions());
      if (warm !== this.#published) void this.#beat(true).catch(() => {});
    }, TOUCH_DEBOUNCE_MS);
    this.#touchTimer.unref();
  }

  #beat(announce = false): Promise<void> {
    this.#beating ??= (async () => {
      try {
        if (this.#stopped) return;
        const warm = this.#opts.worker.warmVersions();
        const stored = await this.repo.heartbeat(this.id, this.#opts.worker.load().running, warm);
        this.#published = JSON.stringify(warm);
        if (stored === 'draining' && this.#state === 'active') {
          this.#state = 'draining';
          this.#opts.onDrainRequested();
        }
        const now = await this.#opts.sql.now();
        await this.repo.sweep(now - this.#opts.leaseMs, now - FORGET_AFTER_MS);
        if (announce) await this.#opts.sql.notify(NODES_CHANNEL, 'warm');
        await this.refresh();
      } finally {
        this.#beating = undefined;
      }
    })();
    return this.#beating;
  }

  /** Reads every node's row again. */
  async refresh(): Promise<void> {
    const { nodes, now } = await this.repo.list();
    this.#view = { nodes, storeNow: now, at: Date.now() };
  }

  /** The store's clock as of the last read, advanced by the local time since (no round trip). */
  storeNow(): number {
    return this.#view.storeNow + (Date.now() - this.#view.at);
  }

  /** The nodes as last read, with liveness on the store's clock. */
  view(): NodeView[] {
    const storeNow = this.storeNow();
    return this.#view.nodes.map((n) => this.#withLiveness(n, storeNow));
  }

  /** Every node, read now (the admin API). */
  async list(): Promise<NodeView[]> {
    const { nodes, now } = await this.repo.list();
    return nodes.map((n) => this.#withLiveness(n, now));
  }

  #withLiveness(n: NodeRecord, storeNow: number): NodeView {
    if (n.id === this.id) {
      // Our own figures are known now, not as of the last heartbeat.
      const { running, capacity } = this.#opts.worker.load();
      n = { ...n, state: this.#state, running, capacity };
    }
    return {
      ...n,
      live: n.state !== 'gone' && n.heartbeatAt >= storeNow - this.#opts.leaseMs,
      load: n.capacity > 0 ? n.running / n.capacity : 1,
    };
  }

  /** Asks a node to drain: this one at once, another through its row (it sees it on NOTIFY or heartbeat). */
  async drain(id: string): Promise<NodeView | undefined> {
    if (id === this.id) {
      await this.markDraining();
      this.#opts.onDrainRequested();
    } else {
      const rec = await this.repo.get(id);
      if (!rec) return undefined;
      if (rec.state === 'active') {
        await this.repo.setState(id, 'draining');
        await this.#opts.sql.notify(NODES_CHANNEL, id);
      }
    }
    return (await this.list()).find((n) => n.id === id);
  }

  /** Takes no more forwarded work; routing elsewhere stops choosing this node. */
  async markDraining(): Promise<void> {
    if (this.#state !== 'active') return;
    this.#state = 'draining';
    if (this.#url === '') return;
    await this.repo.setState(this.id, 'draining');
    await this.#opts.sql.notify(NODES_CHANNEL, 'draining');
  }

  /** Leaves the cluster: marked gone, no more heartbeats. */
  async leave(): Promise<void> {
    this.#stopped = true;
    this.#state = 'gone';
    clearInterval(this.#timer);
    clearTimeout(this.#touchTimer);
    this.#unlisten?.();
    await this.#beating?.catch(() => {});
    if (this.#url === '') return;
    await this.repo.setState(this.id, 'gone');
    await this.#opts.sql.notify(NODES_CHANNEL, 'gone');
  }

  #log(m: string): void {
    (this.#opts.log ?? ((x: string) => console.error(`kindling: ${x}`)))(m);
  }
}
