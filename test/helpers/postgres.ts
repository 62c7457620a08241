// PostgreSQL for tests: the throwaway cluster the test runner started (KINDLING_TEST_PG), or one this
// process starts for itself (a test file run alone), stopped when the process exits. Each caller gets a
// fresh database of its own, dropped on close.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { repoRoot } from './platform.js';

let own: Promise<string> | undefined;

/** The base URL of a running test cluster (its `postgres` database). */
export function postgresForTests(): Promise<string> {
  const shared = process.env.KINDLING_TEST_PG;
  if (shared) return Promise.resolve(shared);
  own ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-pg-'));
    const { startCluster, stopCluster } = (await import(
      path.join(repoRoot, 'scripts/postgres-cluster.js')
    )) as { startCluster(dir: string): Promise<{ url: string }>; stopCluster(dir: string): void };
    const c = await startCluster(dir);
    process.once('exit', () => {
      stopCluster(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    });
    return c.url;
  })();
  return own;
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A new, empty database on the test cluster. */
export async function freshDatabase(baseUrl?: string): Promise<TestDatabase> {
  const base = baseUrl ?? (await postgresForTests());
  const name = `kt_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(base);
  u.pathname = `/${name}`;
  const url = u.toString();
  return { url, drop: () => dropDatabase(url) };
}

/** Drops the database a URL names (through the cluster's `postgres` database), ending its sessions. */
export async function dropDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const name = u.pathname.slice(1);
  u.pathname = '/postgres';
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await c.end();
  }
}
