// Several platforms in this process on one fresh PostgreSQL database, each with its own data dir: a
// cluster for tests. Cluster tests use PostgreSQL on both legs of the store matrix (SQLite has one node).
import fs from 'node:fs';
import path from 'node:path';
import { KindlingClient } from '../../src/cli/client.js';
import type { ConfigOverrides } from '../../src/config.js';
import type { Tenant } from '../../src/control/tenants.js';
import { startPlatform, type TestPlatform, tempDir } from '../helpers/platform.js';
import { freshDatabase } from '../helpers/postgres.js';

/** Short leases: heartbeats every 500 ms, a silent node is not live after 1.5 s. */
export const TEST_LEASE_MS = 1_500;

export interface TestCluster {
  nodes: TestPlatform[];
  url: string;
  close(): Promise<void>;
}

export async function startCluster(n: number, overrides: ConfigOverrides = {}): Promise<TestCluster> {
  const db = await freshDatabase();
  const nodes: TestPlatform[] = [];
  const dirs: string[] = [];
  // Code zips and object bodies where every node reaches them, as --blobs DIR gives a real cluster.
  const blobs = tempDir('kindling-cluster-blobs-');
  dirs.push(blobs);
  try {
    for (let i = 0; i < n; i++) {
      const dataDir = tempDir(`kindling-node${i}-`);
      dirs.push(dataDir);
      nodes.push(
        await startPlatform({ leaseMs: TEST_LEASE_MS, blobs, ...overrides, dataDir, store: db.url }),
      );
    }
  } catch (e) {
    for (const p of nodes.reverse()) await p.close().catch(() => {});
    await db.drop();
    throw e;
  }
  return {
    nodes,
    url: db.url,
    async close() {
      for (const p of [...nodes].reverse()) await p.close().catch(() => {});
      await db.drop();
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    },
  };
}

export function adminClient(p: TestPlatform): KindlingClient {
  return new KindlingClient({
    endpoint: p.endpoint,
    region: p.region,
    credentials: p.credentials,
    dataDir: p.platform.config.dataDir,
  });
}

export async function adminTenant(p: TestPlatform): Promise<Tenant> {
  const t = (await p.platform.tenants.list()).find((x) => x.isAdmin);
  if (!t) throw new Error('no admin tenant');
  return t;
}

/** Polls until `check` returns a value other than undefined/false (at most `ms`). */
export async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 15_000,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A handler that counts its invocations in module state, sleeps or throws on request. */
export const CLUSTER_HANDLER = `
let n = 0;
export const handler = async (event) => {
  n++;
  if (event.sleepMs) await new Promise((r) => setTimeout(r, event.sleepMs));
  if (event.fail) { console.log('failing as asked'); throw new Error('asked to fail'); }
  return { n };
};`;
