// Tenants' persistence: every SQL statement over tenants and access_keys, on the async store. TenantStore
// (validation, the per-node caches, listeners) speaks to this narrow interface only. Methods take the
// executor they run on (the store, or an open transaction).
import type { Sql, SqlExecutor } from '../store/sql.js';
import type { AccessKey, Tenant } from './tenant-types.js';

export interface TenantRow {
  id: string;
  name: string;
  account_id: string;
  is_admin: number;
  concurrency_limit: number | null;
  network_outbound: number;
  egress_allow: string;
  created_at: string;
}

const SCHEMA = [
  `CREATE TABLE tenants (
     id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, account_id TEXT NOT NULL UNIQUE,
     is_admin INTEGER NOT NULL DEFAULT 0, concurrency_limit INTEGER, created_at TEXT NOT NULL)`,
  `CREATE TABLE access_keys (
     access_key_id TEXT PRIMARY KEY, secret TEXT NOT NULL,
     tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
     session_token TEXT, expires_at INTEGER, created_at TEXT NOT NULL)`,
  // Outbound network became an admin grant per tenant (it was a function tag any tenant could set).
  'ALTER TABLE tenants ADD COLUMN network_outbound INTEGER NOT NULL DEFAULT 0',
  "ALTER TABLE tenants ADD COLUMN egress_allow TEXT NOT NULL DEFAULT '[]'",
  // Rows locked (SELECT … FOR UPDATE) to serialise one-off work across nodes, such as creating the
  // admin tenant when several nodes start on an empty database at once.
  'CREATE TABLE control_locks (name TEXT PRIMARY KEY)',
];

export const toTenant = (r: TenantRow): Tenant => ({
  id: r.id,
  name: r.name,
  accountId: r.account_id,
  isAdmin: Number(r.is_admin) === 1,
  concurrencyLimit: r.concurrency_limit,
  networkOutbound: Number(r.network_outbound) === 1,
  egressAllow: JSON.parse(r.egress_allow) as string[],
  createdAt: r.created_at,
});

type KeyRow = { access_key_id: string; secret: string; tenant_id: string };

export class TenantRepo {
  readonly #sql: Sql;

  private constructor(sql: Sql) {
    this.#sql = sql;
  }

  static async open(sql: Sql): Promise<TenantRepo> {
    await sql.migrate('tenants', SCHEMA);
    return new TenantRepo(sql);
  }

  get sql(): Sql {
    return this.#sql;
  }

  async list(q: SqlExecutor = this.#sql): Promise<Tenant[]> {
    return (await q.all<TenantRow>('SELECT * FROM tenants ORDER BY created_at, name')).map(toTenant);
  }

  async byIdOrName(idOrName: string, q: SqlExecutor = this.#sql): Promise<Tenant | undefined> {
    const row = await q.get<TenantRow>('SELECT * FROM tenants WHERE id = ? OR name = ?', [
      idOrName,
      idOrName,
    ]);
    return row && toTenant(row);
  }

  async byAccountId(account: string, q: SqlExecutor = this.#sql): Promise<Tenant | undefined> {
    const row = await q.get<TenantRow>('SELECT * FROM tenants WHERE account_id = ?', [account]);
    return row && toTenant(row);
  }

  /** The oldest admin tenant. */
  async firstAdmin(q: SqlExecutor = this.#sql): Promise<Tenant | undefined> {
    const row = await q.get<TenantRow>(
      'SELECT * FROM tenants WHERE is_admin = 1 ORDER BY created_at, name LIMIT 1',
    );
    return row && toTenant(row);
  }

  /** Inserts the tenant; false when its name or account id is taken (the database decides). */
  async insert(t: Tenant, q: SqlExecutor = this.#sql): Promise<boolean> {
    const r = await q.run(
      'INSERT INTO tenants (id, name, account_id, is_admin, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      [t.id, t.name, t.accountId, t.isAdmin ? 1 : 0, t.createdAt],
    );
    return r.changes === 1;
  }

  async setConcurrencyLimit(id: string, limit: number | null): Promise<void> {
    await this.#sql.run('UPDATE tenants SET concurrency_limit = ? WHERE id = ?', [limit, id]);
  }

  async setNetwork(id: string, networkOutbound: boolean, egressAllow: readonly string[]): Promise<void> {
    await this.#sql.run('UPDATE tenants SET network_outbound = ?, egress_allow = ? WHERE id = ?', [
      networkOutbound ? 1 : 0,
      JSON.stringify(egressAllow),
      id,
    ]);
  }

  /** Deletes the tenant; its keys go with it (cascade). */
  async delete(id: string): Promise<void> {
    await this.#sql.run('DELETE FROM tenants WHERE id = ?', [id]);
  }

  async insertKey(key: AccessKey, createdAt: string, q: SqlExecutor = this.#sql): Promise<void> {
    await q.run(
      'INSERT INTO access_keys (access_key_id, secret, tenant_id, session_token, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      [key.accessKeyId, key.secretAccessKey, key.tenantId, key.sessionToken, key.expiresAt, createdAt],
    );
  }

  /** Drops session keys that expired before `now`. */
  async deleteExpiredKeys(now: number): Promise<void> {
    await this.#sql.run('DELETE FROM access_keys WHERE expires_at IS NOT NULL AND expires_at < ?', [now]);
  }

  /** The tenant's long-term keys, oldest first. */
  async longTermKeys(tenantId: string, q: SqlExecutor = this.#sql): Promise<AccessKey[]> {
    return (
      await q.all<KeyRow>(
        'SELECT * FROM access_keys WHERE tenant_id = ? AND session_token IS NULL ORDER BY created_at, access_key_id',
        [tenantId],
      )
    ).map((r) => ({
      accessKeyId: r.access_key_id,
      secretAccessKey: r.secret,
      tenantId: r.tenant_id,
      sessionToken: null,
      expiresAt: null,
    }));
  }

  async deleteKey(id: string): Promise<void> {
    await this.#sql.run('DELETE FROM access_keys WHERE access_key_id = ?', [id]);
  }

  /** An access key with its tenant. */
  async key(id: string): Promise<{ key: AccessKey; tenant: Tenant } | undefined> {
    const row = await this.#sql.get<
      TenantRow & {
        access_key_id: string;
        secret: string;
        session_token: string | null;
        expires_at: number | null;
      }
    >(
      `SELECT k.access_key_id, k.secret, k.session_token, k.expires_at, t.*
         FROM access_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.access_key_id = ?`,
      [id],
    );
    if (!row) return undefined;
    return {
      key: {
        accessKeyId: row.access_key_id,
        secretAccessKey: row.secret,
        tenantId: row.id,
        sessionToken: row.session_token,
        expiresAt: row.expires_at,
      },
      tenant: toTenant(row),
    };
  }

  /**
   * Runs `fn` in a transaction holding the named lock row: whatever `fn` does runs on one node at a time
   * (PostgreSQL row lock; SQLite serialises writers anyway).
   */
  async locked<T>(name: string, fn: (q: SqlExecutor) => Promise<T>): Promise<T> {
    await this.#sql.run('INSERT INTO control_locks (name) VALUES (?) ON CONFLICT DO NOTHING', [name]);
    return this.#sql.tx(async (q) => {
      await q.get('SELECT name FROM control_locks WHERE name = ? FOR UPDATE', [name]);
      return fn(q);
    });
  }
}
