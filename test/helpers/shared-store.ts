// One store that several "nodes" open connections to: a SQLite file, or a fresh PostgreSQL database on the
// PostgreSQL leg. Multi-node tests open one Sql per node; close() closes them all and removes the store.
import fs from 'node:fs';
import path from 'node:path';
import { PostgresSql } from '../../src/store/postgres.js';
import type { Sql } from '../../src/store/sql.js';
import { SqliteSql } from '../../src/store/sqlite.js';
import { tempDir } from './platform.js';
import { freshDatabase } from './postgres.js';
import { type StoreKind, testStoreKind } from './store.js';

export interface SharedStore {
  kind: StoreKind;
  /** A new connection to the store (one per node). */
  open(): Promise<Sql>;
  close(): Promise<void>;
}

export async function sharedStore(kind: StoreKind = testStoreKind()): Promise<SharedStore> {
  const opened: Sql[] = [];
  const closeAll = async () => {
    await Promise.allSettled(opened.map((s) => s.close()));
  };
  if (kind === 'postgres') {
    const db = await freshDatabase();
    return {
      kind,
      async open() {
        const sql = await PostgresSql.open({ url: db.url, max: 4 });
        opened.push(sql);
        return sql;
      },
      async close() {
        await closeAll();
        await db.drop();
      },
    };
  }
  const dir = tempDir('kindling-shared-');
  const file = path.join(dir, 'store.db');
  return {
    kind,
    async open() {
      const sql = SqliteSql.open(file);
      opened.push(sql);
      return sql;
    },
    async close() {
      await closeAll();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
