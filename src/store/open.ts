// Which store a node uses: the embedded SQLite file in its data dir (the default, one node), or the
// PostgreSQL database named by `--store postgres://…` / KINDLING_STORE (any number of nodes).
import { PostgresSql } from './postgres.js';
import type { Sql } from './sql.js';
import { SqliteSql } from './sqlite.js';

export function isPostgresUrl(store: string | undefined): store is string {
  return store !== undefined && /^postgres(ql)?:\/\//i.test(store);
}

export async function openStore(opts: { store: string | undefined; sqliteFile: string }): Promise<Sql> {
  if (isPostgresUrl(opts.store)) return PostgresSql.open({ url: opts.store });
  return SqliteSql.open(opts.sqliteFile);
}
