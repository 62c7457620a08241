// The function store's persistence: every SQL statement over the functions table, on the async store.
// FunctionStore (domain rules, cache, change events) speaks to this narrow interface only.
import type { Sql, SqlExecutor } from '../store/sql.js';
import { VERSIONS_SCHEMA } from './versions-repo.js';

/** A function as stored: its configuration is one JSON column. */
export interface FunctionRow {
  id: string;
  tenant_id: string;
  account_id: string;
  name: string;
  config: string;
  code_digest: string;
  code_sha256: string;
  code_size: number;
  tags: string;
  reserved_concurrency: number | null;
  revision_id: string;
  version_key: string;
  last_modified: string;
}

const SCHEMA = [
  `CREATE TABLE functions (
     id TEXT PRIMARY KEY,
     tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
     account_id TEXT NOT NULL,
     name TEXT NOT NULL,
     config TEXT NOT NULL,
     code_digest TEXT NOT NULL,
     code_sha256 TEXT NOT NULL,
     code_size INTEGER NOT NULL,
     tags TEXT NOT NULL DEFAULT '{}',
     reserved_concurrency INTEGER,
     revision_id TEXT NOT NULL,
     version_key TEXT NOT NULL,
     last_modified TEXT NOT NULL,
     UNIQUE (tenant_id, name))`,
  'CREATE INDEX functions_code ON functions (code_digest)',
];

const COLUMNS =
  'id, tenant_id, account_id, name, config, code_digest, code_sha256, code_size, tags, reserved_concurrency, revision_id, version_key, last_modified';

export class FunctionRepo {
  readonly #sql: Sql;

  private constructor(sql: Sql) {
    this.#sql = sql;
  }

  static async open(sql: Sql): Promise<FunctionRepo> {
    await sql.migrate('functions', SCHEMA);
    // Published versions hold code too: the counts below read their table.
    await sql.migrate('function-versions', VERSIONS_SCHEMA);
    return new FunctionRepo(sql);
  }

  /** Runs fn as one transaction on the executor it is handed. */
  transaction<T>(fn: (q: SqlExecutor) => Promise<T>): Promise<T> {
    return this.#sql.tx(fn);
  }

  byName(tenantId: string, name: string, q: SqlExecutor = this.#sql): Promise<FunctionRow | undefined> {
    return q.get<FunctionRow>('SELECT * FROM functions WHERE tenant_id = ? AND name = ?', [tenantId, name]);
  }

  /** The row, locked until the transaction `q` ends: writers of one function from any node take turns. */
  lockByName(q: SqlExecutor, tenantId: string, name: string): Promise<FunctionRow | undefined> {
    return q.get<FunctionRow>('SELECT * FROM functions WHERE tenant_id = ? AND name = ? FOR UPDATE', [
      tenantId,
      name,
    ]);
  }

  /** A tenant's functions with names after `after`, in name order, at most limit. */
  page(tenantId: string, after: string, limit: number): Promise<FunctionRow[]> {
    return this.#sql.all<FunctionRow>(
      'SELECT * FROM functions WHERE tenant_id = ? AND name > ? ORDER BY name LIMIT ?',
      [tenantId, after, limit],
    );
  }

  async names(tenantId: string): Promise<string[]> {
    return (
      await this.#sql.all<{ name: string }>('SELECT name FROM functions WHERE tenant_id = ? ORDER BY name', [
        tenantId,
      ])
    ).map((r) => r.name);
  }

  async totals(tenantId: string): Promise<{ functions: number; codeSize: number; reserved: number }> {
    const r = await this.#sql.get<{ n: number; size: number; reserved: number }>(
      'SELECT COUNT(*) AS n, COALESCE(SUM(code_size), 0) AS size, COALESCE(SUM(reserved_concurrency), 0) AS reserved FROM functions WHERE tenant_id = ?',
      [tenantId],
    );
    return { functions: r?.n ?? 0, codeSize: r?.size ?? 0, reserved: r?.reserved ?? 0 };
  }

  /** The concurrency reserved by the tenant's other functions. */
  async reservedByOthers(q: SqlExecutor, tenantId: string, functionId: string): Promise<number> {
    const r = await q.get<{ s: number }>(
      'SELECT COALESCE(SUM(reserved_concurrency), 0) AS s FROM functions WHERE tenant_id = ? AND id != ?',
      [tenantId, functionId],
    );
    return r?.s ?? 0;
  }

  /** Locks the tenant's row until `q` ends: changes summed over a tenant's functions take turns. */
  async lockTenant(q: SqlExecutor, tenantId: string): Promise<void> {
    await q.get('SELECT id FROM tenants WHERE id = ? FOR UPDATE', [tenantId]);
  }

  /** Digests referenced by any function or published version. */
  async digests(): Promise<Set<string>> {
    const rows = await this.#sql.all<{ code_digest: string }>(
      'SELECT code_digest FROM functions UNION SELECT code_digest FROM function_versions',
    );
    return new Set(rows.map((r) => r.code_digest));
  }

  /** How many functions and published versions use the code blob. */
  async codeUsers(digest: string, q: SqlExecutor = this.#sql): Promise<number> {
    const r = await q.get<{ n: number }>(
      'SELECT (SELECT COUNT(*) FROM functions WHERE code_digest = ?) + (SELECT COUNT(*) FROM function_versions WHERE code_digest = ?) AS n',
      [digest, digest],
    );
    return r?.n ?? 0;
  }

  /** Inserts the function; false when the tenant already has one of that name (the UNIQUE constraint decides). */
  async insert(row: FunctionRow): Promise<boolean> {
    const r = await this.#sql.run(
      `INSERT INTO functions (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, name) DO NOTHING`,
      [
        row.id,
        row.tenant_id,
        row.account_id,
        row.name,
        row.config,
        row.code_digest,
        row.code_sha256,
        row.code_size,
        row.tags,
        row.reserved_concurrency,
        row.revision_id,
        row.version_key,
        row.last_modified,
      ],
    );
    return r.changes === 1;
  }

  /**
   * Writes `row` over the revision `expectedRevision`; false when the function changed (or went) since
   * it was read, so no node overwrites another's change unseen.
   */
  async update(q: SqlExecutor, row: FunctionRow, expectedRevision: string): Promise<boolean> {
    const r = await q.run(
      `UPDATE functions SET config = ?, code_digest = ?, code_sha256 = ?, code_size = ?, tags = ?,
         reserved_concurrency = ?, revision_id = ?, version_key = ?, last_modified = ?
       WHERE id = ? AND revision_id = ?`,
      [
        row.config,
        row.code_digest,
        row.code_sha256,
        row.code_size,
        row.tags,
        row.reserved_concurrency,
        row.revision_id,
        row.version_key,
        row.last_modified,
        row.id,
        expectedRevision,
      ],
    );
    return r.changes === 1;
  }

  /** The code of the function's published versions (deleted with it). */
  async versionDigests(q: SqlExecutor, id: string): Promise<string[]> {
    const rows = await q.all<{ code_digest: string }>(
      'SELECT DISTINCT code_digest FROM function_versions WHERE function_id = ?',
      [id],
    );
    return rows.map((r) => r.code_digest);
  }

  async delete(q: SqlExecutor, id: string): Promise<boolean> {
    return (await q.run('DELETE FROM functions WHERE id = ?', [id])).changes === 1;
  }
}
