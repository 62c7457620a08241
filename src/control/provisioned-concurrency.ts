// Provisioned concurrency configurations: how many environments of a function's version or alias are to
// be kept initialised. Only the request is stored here (it outlives restarts); whether the environments
// are ready is the warmer's (invoke/provisioned-concurrency.ts), per node.
import type { Sql } from '../store/sql.js';

export interface ProvisionedConfig {
  functionId: string;
  tenantId: string;
  functionName: string;
  qualifier: string;
  requested: number;
  lastModified: string;
}

interface Row {
  function_id: string;
  tenant_id: string;
  function_name: string;
  qualifier: string;
  requested: number;
  last_modified: string;
}

const SCHEMA = [
  `CREATE TABLE provisioned_concurrency (
     function_id TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
     tenant_id TEXT NOT NULL,
     function_name TEXT NOT NULL,
     qualifier TEXT NOT NULL,
     requested INTEGER NOT NULL,
     last_modified TEXT NOT NULL,
     PRIMARY KEY (function_id, qualifier))`,
];

const toConfig = (r: Row): ProvisionedConfig => ({
  functionId: r.function_id,
  tenantId: r.tenant_id,
  functionName: r.function_name,
  qualifier: r.qualifier,
  requested: r.requested,
  lastModified: r.last_modified,
});

export class ProvisionedConcurrencyStore {
  readonly #sql: Sql;

  private constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** After the functions table exists. */
  static async open(sql: Sql): Promise<ProvisionedConcurrencyStore> {
    await sql.migrate('provisioned-concurrency', SCHEMA);
    return new ProvisionedConcurrencyStore(sql);
  }

  async put(c: ProvisionedConfig): Promise<void> {
    await this.#sql.run(
      `INSERT INTO provisioned_concurrency (function_id, tenant_id, function_name, qualifier, requested, last_modified)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (function_id, qualifier) DO UPDATE SET requested = excluded.requested, last_modified = excluded.last_modified`,
      [c.functionId, c.tenantId, c.functionName, c.qualifier, c.requested, c.lastModified],
    );
  }

  async get(functionId: string, qualifier: string): Promise<ProvisionedConfig | undefined> {
    const r = await this.#sql.get<Row>(
      'SELECT * FROM provisioned_concurrency WHERE function_id = ? AND qualifier = ?',
      [functionId, qualifier],
    );
    return r && toConfig(r);
  }

  async list(functionId: string): Promise<ProvisionedConfig[]> {
    const rows = await this.#sql.all<Row>(
      'SELECT * FROM provisioned_concurrency WHERE function_id = ? ORDER BY qualifier',
      [functionId],
    );
    return rows.map(toConfig);
  }

  /** Every configuration (warmed again when a node starts). */
  async all(): Promise<ProvisionedConfig[]> {
    return (await this.#sql.all<Row>('SELECT * FROM provisioned_concurrency')).map(toConfig);
  }

  async delete(functionId: string, qualifier: string): Promise<boolean> {
    const r = await this.#sql.run(
      'DELETE FROM provisioned_concurrency WHERE function_id = ? AND qualifier = ?',
      [functionId, qualifier],
    );
    return r.changes === 1;
  }
}
