// Wires the parts into one running platform: store, control plane, worker, API server. `kindling serve`
// and the integration tests both start it through here. Each part is constructed with plain objects.
import fs from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { PreAuthBudget } from './api/edge-limits.js';
import { type ApiServerDeps, createApiServer } from './api/http.js';
import type { ApiSurface } from './api/surface.js';
import { assembleParts } from './assemble.js';
import type { PlatformConfig } from './config.js';
import { type AccessKey, type Tenant, TenantStore } from './control/tenants.js';
import { type Db, openDatabase } from './store/database.js';

export interface RootCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** Set only on the start that created them: they are printed once. */
  created: boolean;
}

export const dataPaths = (dataDir: string) => ({
  db: path.join(dataDir, 'kindling.db'),
  credentials: path.join(dataDir, 'credentials'),
  endpoint: path.join(dataDir, 'endpoint'),
  blobs: path.join(dataDir, 'blobs'),
  codeCache: path.join(dataDir, 'code'),
  envs: path.join(dataDir, 'envs'),
  objects: path.join(dataDir, 'objects'),
  run: path.join(dataDir, 'run'),
  apiSocket: path.join(dataDir, 'run', 'api.sock'),
  /** What the runtimes need from the host, built per content (the AWS SDK's node_modules). */
  runtime: path.join(dataDir, 'runtime'),
});

/** A parsed `credentials` file of the data dir (AWS shared-credentials format). */
export function readCredentialsFile(
  file: string,
): { accessKeyId: string; secretAccessKey: string } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const id = /aws_access_key_id\s*=\s*(\S+)/.exec(text)?.[1];
  const secret = /aws_secret_access_key\s*=\s*(\S+)/.exec(text)?.[1];
  return id && secret ? { accessKeyId: id, secretAccessKey: secret } : undefined;
}

function ensureRootTenant(tenants: TenantStore, file: string): RootCredentials {
  const existing = tenants.list().find((t) => t.isAdmin);
  if (existing) {
    const key = tenants.listKeys(existing.id)[0];
    if (key) return { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, created: false };
  }
  const admin: Tenant = existing ?? tenants.create('admin', { isAdmin: true });
  const envId = process.env.KINDLING_ROOT_ACCESS_KEY_ID;
  const envSecret = process.env.KINDLING_ROOT_SECRET_ACCESS_KEY;
  const key: AccessKey = tenants.createKey(
    admin.id,
    envId && envSecret ? { accessKeyId: envId, secretAccessKey: envSecret } : undefined,
  );
  fs.writeFileSync(
    file,
    `# Kindling admin credentials (AWS shared-credentials format)\n[default]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`,
    { mode: 0o600 },
  );
  fs.chmodSync(file, 0o600);
  return { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, created: true };
}

/** Parts that plug in; each is optional so the platform can start while a part is being built. */
export interface PlatformPart {
  readonly name: string;
  surfaces?: ApiSurface[];
  start?(): Promise<void> | void;
  /** Stop accepting work; finish or hand back what is running before the deadline. */
  stop?(deadlineMs: number): Promise<void> | void;
}

export class Platform {
  readonly config: PlatformConfig;
  readonly db: Db;
  readonly tenants: TenantStore;
  readonly root: RootCredentials;
  readonly paths: ReturnType<typeof dataPaths>;
  readonly parts: PlatformPart[] = [];
  #servers: http.Server[] = [];
  /** Bytes of not yet authenticated bodies buffered, across the TCP and unix-socket servers. */
  readonly preAuth: PreAuthBudget;
  #url = '';
  #stopping: Promise<void> | undefined;
  #port: { resolve(port: number): void; reject(e: unknown): void } | undefined;
  /**
   * The TCP port clients reach the API on, known once listening (port 0 picks one). Sandboxes answer on
   * it too, so the URLs the API hands out (queue URLs, presigned URLs) work unchanged inside a function.
   */
  readonly apiPort: Promise<number>;

  private constructor(config: PlatformConfig) {
    this.config = config;
    this.apiPort = new Promise<number>((resolve, reject) => {
      this.#port = { resolve, reject };
    });
    // Nobody may be waiting (no sandbox started yet); a failed listen is reported by start() itself.
    this.apiPort.catch(() => {});
    this.paths = dataPaths(config.dataDir);
    for (const dir of [
      config.dataDir,
      this.paths.blobs,
      this.paths.codeCache,
      this.paths.envs,
      this.paths.run,
    ]) {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    }
    // Sandboxes run as unprivileged host uids, and bubblewrap (running as them) resolves the environment
    // dirs it binds by path: the data dir, envs/ and run/ are traversable but not listable by others. All
    // else in the data dir stays owner-only (the database and credentials 0600, blobs/ and code/ 0700).
    for (const dir of [config.dataDir, this.paths.envs, this.paths.run]) fs.chmodSync(dir, 0o711);
    fs.chmodSync(this.paths.codeCache, 0o700);
    this.db = openDatabase(this.paths.db);
    for (const f of [this.paths.db, `${this.paths.db}-wal`, `${this.paths.db}-shm`]) {
      try {
        fs.chmodSync(f, 0o600);
      } catch {
        // not created yet: SQLite gives journals the database file's mode
      }
    }
    this.tenants = new TenantStore(this.db);
    this.root = ensureRootTenant(this.tenants, this.paths.credentials);
    this.preAuth = new PreAuthBudget(config.edge);
  }

  get url(): string {
    return this.#url;
  }

  static async start(config: PlatformConfig): Promise<Platform> {
    const p = new Platform(config);
    try {
      await p.#assemble();
      await p.#listen();
    } catch (e) {
      p.#port?.reject(e);
      throw e;
    }
    return p;
  }

  async #assemble(): Promise<void> {
    this.parts.push(...(await assembleParts(this)));
    for (const part of this.parts) await part.start?.();
  }

  async #listen(): Promise<void> {
    const surfaces = this.parts.flatMap((p) => p.surfaces ?? []);
    const deps: ApiServerDeps = {
      tenants: this.tenants,
      surfaces,
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

  /** Stops accepting, drains running work until the deadline, then closes the store. */
  stop(drainMs = this.config.drainMs): Promise<void> {
    this.#stopping ??= (async () => {
      // Sandboxes still waiting for the port (stopped before listening) give up.
      this.#port?.reject(new Error('the platform stopped before listening'));
      for (const s of this.#servers) s.close();
      const deadline = Date.now() + drainMs;
      for (const part of [...this.parts].reverse()) {
        try {
          await part.stop?.(deadline);
        } catch (e) {
          console.error(`kindling: stopping ${part.name} failed:`, e);
        }
      }
      for (const s of this.#servers) s.closeAllConnections();
      this.db.close();
    })();
    return this.#stopping;
  }
}
