// The function store's persistence: every SQL statement over the functions table. FunctionStore (domain
// rules, cache, change events) speaks to this narrow interface only.
import { type Db, migrate } from '../store/database.js';

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

export class SqliteFunctionRepo {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
    migrate(db, 'functions', SCHEMA);
  }

  /** Runs fn as one transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  byName(tenantId: string, name: string): FunctionRow | undefined {
    return this.#db.prepare('SELECT * FROM functions WHERE tenant_id = ? AND name = ?').get(tenantId, name) as
      | FunctionRow
      | undefined;
  }

  /** A tenant's functions with names after `after`, in name order, at most limit. */
  page(tenantId: string, after: string, limit: number): FunctionRow[] {
    return this.#db
      .prepare('SELECT * FROM functions WHERE tenant_id = ? AND name > ? ORDER BY name LIMIT ?')
      .all(tenantId, after, limit) as FunctionRow[];
  }

  names(tenantId: string): string[] {
    return (
      this.#db.prepare('SELECT name FROM functions WHERE tenant_id = ?').all(tenantId) as { name: string }[]
    ).map((r) => r.name);
  }

  totals(tenantId: string): { functions: number; codeSize: number; reserved: number } {
    const r = this.#db
      .prepare(
        'SELECT COUNT(*) AS n, COALESCE(SUM(code_size), 0) AS size, COALESCE(SUM(reserved_concurrency), 0) AS reserved FROM functions WHERE tenant_id = ?',
      )
      .get(tenantId) as { n: number; size: number; reserved: number };
    return { functions: r.n, codeSize: r.size, reserved: r.reserved };
  }

  /** The concurrency reserved by the tenant's other functions. */
  reservedByOthers(tenantId: string, functionId: string): number {
    return (
      this.#db
        .prepare(
          'SELECT COALESCE(SUM(reserved_concurrency), 0) AS s FROM functions WHERE tenant_id = ? AND id != ?',
        )
        .get(tenantId, functionId) as { s: number }
    ).s;
  }

  /** Digests referenced by any function. */
  digests(): Set<string> {
    const rows = this.#db.prepare('SELECT DISTINCT code_digest FROM functions').all() as {
      code_digest: string;
    }[];
    return new Set(rows.map((r) => r.code_digest));
  }

  /** How many functions use the code blob. */
  codeUsers(digest: string): number {
    return (
      this.#db.prepare('SELECT COUNT(*) AS n FROM functions WHERE code_digest = ?').get(digest) as {
        n: number;
      }
    ).n;
  }

  /** Inserts the function; false when the tenant already has one of that name. */
  insert(row: FunctionRow): boolean {
    try {
      this.#db
        .prepare(
          `INSERT INTO functions (id, tenant_id, account_id, name, config, code_digest, code_sha256, code_size, tags,
             reserved_concurrency, revision_id, version_key, last_modified)
           VALUES (@id, @tenant_id, @account_id, @name, @config, @code_digest, @code_sha256, @code_size, @tags,
             @reserved_concurrency, @revision_id, @version_key, @last_modified)`,
        )
        .run(row);
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return false;
      throw e;
    }
  }

  update(row: FunctionRow): void {
    this.#db
      .prepare(
        `UPDATE functions SET config = @config, code_digest = @code_digest, code_sha256 = @code_sha256, code_size = @code_size,
           tags = @tags, reserved_concurrency = @reserved_concurrency, revision_id = @revision_id, version_key = @version_key,
           last_modified = @last_modified WHERE id = @id`,
      )
      .run(row);
  }

  delete(id: string): void {
    this.#db.prepare('DELETE FROM functions WHERE id = ?').run(id);
  }
}
