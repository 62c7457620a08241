// The store matrix: tests that touch durable state run on SQLite, and again on PostgreSQL when the
// runner sets KINDLING_TEST_STORE=postgres (npm test does both). `storeKinds()` lists what a test file
// that covers both explicitly should loop over.
import fs from 'node:fs';
import path from 'node:path';
import { PostgresSql } from '../../src/store/postgres.js';
import type { Sql } from '../../src/store/sql.js';
import { SqliteSql } from '../../src/store/sqlite.js';
import { tempDir } from './platform.js';
import { dropDatabase, freshDatabase } from './postgres.js';

export type StoreKind = 'sqlite' | 'postgres';

/** The store this test run uses by default. */
export function testStoreKind(): StoreKind {
  return process.env.KINDLING_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
}

export interface TestSql {
  sql: Sql;
  /** The store URL (postgres) for a second connection, e.g. a second node. */
  url: string | undefined;
  close(): Promise<void>;
}

/** A fresh, empty store of the given kind (default: this run's). */
export async function openTestSql(kind: StoreKind = testStoreKind()): Promise<TestSql> {
  if (kind === 'postgres') {
    const db = await freshDatabase();
    const sql = await PostgresSql.open({ url: db.url, max: 8 });
    return {
      sql,
      url: db.url,
      async close() {
        await sql.close();
        await db.drop();
      },
    };
  }
  const dir = tempDir('kindling-sql-');
  const sql = SqliteSql.open(path.join(dir, 'test.db'));
  return {
    sql,
    url: undefined,
    async close() {
      await sql.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const STORE_FILE = '.test-store-url';

/**
 * For a platform under test in `dataDir`: on the PostgreSQL leg, the database that data dir uses (a fresh
 * one the first time, remembered in the data dir so a restarted node finds its state again).
 */
export async function testStoreFor(dataDir: string): Promise<{ store: string | undefined }> {
  if (testStoreKind() !== 'postgres') return { store: undefined };
  const file = path.join(dataDir, STORE_FILE);
  if (fs.existsSync(file)) return { store: fs.readFileSync(file, 'utf8').trim() };
  const db = await freshDatabase();
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file, db.url);
  return { store: db.url };
}

/** Drops the database a data dir's platform used (PostgreSQL leg); nothing on SQLite. */
export async function dropTestStore(dataDir: string): Promise<void> {
  const file = path.join(dataDir, STORE_FILE);
  if (!fs.existsSync(file)) return;
  await dropDatabase(fs.readFileSync(file, 'utf8').trim());
  fs.rmSync(file, { force: true });
}
