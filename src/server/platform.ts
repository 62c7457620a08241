// A running platform: the data dir, the components the composition root (./assemble.ts) built, and the
// API served on TCP and on a unix socket. `kindling serve` and the integration tests start it here.
import fs from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PreAuthBudget } from '../api/edge-limits.js';
import { type ApiServerDeps, createApiServer } from '../api/http.js';
import type { ApiSurface } from '../api/surface.js';
import type { PlatformConfig } from '../config.js';
import type { TenantStore } from '../control/tenants.js';
import { openStore } from '../store/open.js';
import type { Sql } from '../store/sql.js';
import { type Assembly, assemble, type Components, type Service } from './assemble.js';
import { type DataPaths, prepareDataDir, type RootCredentials } from './data-dir.js';

export class Platform {
  readonly config: PlatformConfig;
  readonly paths: DataPaths;
  readonly components: Components;
  /** The durable store (SQLite or PostgreSQL). */
  readonly sql: Sql;
  readonly tenants: TenantStore;
  readonly root: RootCredentials;
  /** Bytes of not yet authenticated bodies buffered, across the TCP and unix-socket servers. */
  readonly preAuth: PreAuthBudget;
  /**
   * The TCP port clients reach the API on, known once listening (port 0 picks one). Sandboxes answer on
   * it too, so the URLs the API hands out (queue URLs, presigned URLs) work unchanged inside a function.
   */
  readonly apiPort: Promise<number>;
  readonly #surfaces: ApiSurface[];
  readonly #services: Service[];
  #servers: http.Server[] = [];
  #url = '';
  #stopping: Promise<void> | undefined;
  #leaving: Promise<void> | undefined;
  readonly #stopped = new Set<Service>();
  /** Called once a drained node has left the cluster and stopped (`kindling serve` exits then). */
  onLeft: (() => void) | undefined;
  #port: { resolve(port: number): void; reject(e: unknown): void } | undefined;

  private constructor(
    config: PlatformConfig,
    paths: DataPaths,
    sql: Sql,
    built: Assembly,
    port: { promise: Promise<number>; resolve(port: number): void; reject(e: unknown): void },
  ) {
    this.config = config;
    this.sql = sql;
    this.apiPort = port.promise;
    this.#port = port;
    this.paths = paths;
    this.components = built.components;
    this.#surfaces = built.surfaces;
    this.#services = built.services;
    this.tenants = built.components.tenants;
    this.root = built.components.root;
    this.preAuth = new PreAuthBudget(config.edge);
  }

  get url(): string {
    return this.#url;
  }

  static async start(config: PlatformConfig): Promise<Platform> {
    const paths = prepareDataDir(config.dataDir);
    const sql = await openStore({ store: config.store, sqliteFile: paths.db });
    let resolvePort!: (port: number) => void;
    let rejectPort!: (e: unknown) => void;
    const promise = new Promise<number>((resolve, reject) => {
      resolvePort = resolve;
      rejectPort = reject;
    });
    // Nobody may be waiting (no sandbox started yet); a failed listen is reported by start() itself.
    promise.catch(() => {});
    let p: Platform | undefined;
    try {
      const built = await assemble({
        config,
        paths,
        sql,
        apiPort: promise,
        // The admin API asks for this node to be drained; the platform exists by the time it can.
        onDrainRequested: () =>
          void p?.leave().catch((e) => console.error('kindling: draining this node failed:', e)),
      });
      p = new Platform(config, paths, sql, built, { promise, resolve: resolvePort, reject: rejectPort });
    } catch (e) {
      rejectPort(e);
      await sql.close();
      throw e;
    }
    try {
      for (const service of p.#services) await service.start?.();
      await p.#listen();
      // Joins the cluster only once other nodes can reach it.
      await p.components.cluster.node.start(config.advertiseUrl ?? p.url);
    } catch (e) {
      p.#port?.reject(e);
      throw e;
    }
    return p;
  }

  async #listen(): Promise<void> {
    const deps: ApiServerDeps = {
      tenants: this.tenants,
      surfaces: this.#surfaces,
      onError: (e: unknown) => console.error('kindling: internal error:', e),
      onDebug: (m: string) => {
        if (process.env.KINDLING_DEBUG) console.error(`kindling: ${m}`);
      },
      region: this.config.region,
      limits: this.config.edge,
      budget: this.preAuth,
    };
    const tcp = createApiServer(deps);
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.config.port, this.config.host, () => resolve());
    });
    const addr = tcp.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    this.#url = `http://${host}:${addr.port}`;
    this.#servers.push(tcp);
    this.#port?.resolve(addr.port);
    // The same API on a unix socket: what sandboxes reach through their relay (DESIGN.md, Network).
    fs.rmSync(this.paths.apiSocket, { force: true });
    const unix = createApiServer(deps);
    await new Promise<void>((resolve, reject) => {
      unix.once('error', reject);
      unix.listen(this.paths.apiSocket, () => resolve());
    });
    fs.chmodSync(this.paths.apiSocket, 0o666);
    this.#servers.push(unix);
    fs.writeFileSync(this.paths.endpoint, `${this.#url}\n`, { mode: 0o600 });
  }

  /**
   * Drains this node out of the cluster (`kindling nodes drain`): it refuses forwarded requests (their
   * senders try another node) and stops taking claims (async events, pollers, schedules), lets running
   * invocations finish until the drain deadline, then marks itself gone and stops; onLeft is called last.
   */
  leave(drainMs = this.config.drainMs): Promise<void> {
    this.#leaving ??= (async () => {
      const deadline = Date.now() + drainMs;
      await this.components.cluster.node.markDraining();
      // Event sources and the async queue come after the worker in start order: they stop first.
      const core = this.#services.findIndex((s) => s.name === 'core');
      for (const service of this.#services.slice(core + 1).reverse())
        await this.#stopService(service, deadline);
      const worker = this.components.worker;
      while (worker.load().running > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await this.stop(Math.max(0, deadline - Date.now()));
      this.onLeft?.();
    })();
    return this.#leaving;
  }

  async #stopService(service: Service, deadline: number): Promise<void> {
    if (this.#stopped.has(service)) return;
    this.#stopped.add(service);
    try {
      await service.stop?.(deadline);
    } catch (e) {
      console.error(`kindling: stopping ${service.name} failed:`, e);
    }
  }

  /** Stops accepting, drains running work until the deadline, then closes the store. */
  stop(drainMs = this.config.drainMs): Promise<void> {
    this.#stopping ??= (async () => {
      // Other nodes stop forwarding here while the rest winds down.
      await this.components.cluster.node
        .markDraining()
        .catch((e) => console.error('kindling: marking this node draining failed:', e));
      // Sandboxes still waiting for the port (stopped before listening) give up.
      this.#port?.reject(new Error('the platform stopped before listening'));
      for (const s of this.#servers) s.close();
      const deadline = Date.now() + drainMs;
      for (const service of [...this.#services].reverse()) await this.#stopService(service, deadline);
      for (const s of this.#servers) s.closeAllConnections();
      await this.sql.close();
    })();
    return this.#stopping;
  }
}
