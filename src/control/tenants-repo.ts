// Tenants' persistence: every SQL statement over tenants and access_keys. TenantStore (validation, the
// key cache, listeners) speaks to this narrow interface only.
import { type Db, migrate } from '../store/database.js';
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
];

export const toTenant = (r: TenantRow): Tenant => ({
  id: r.id,
  name: r.name,
  accountId: r.account_id,
  isAdmin: r.is_admin === 1,
  concurrencyLimit: r.concurrency_limit,
  networkOutbound: r.network_outbound === 1,
  egressAllow: JSON.parse(r.egress_allow) as string[],
  createdAt: r.created_at,
});

export class SqliteTenantRepo {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
    migrate(db, 'tenants', SCHEMA);
  }

  list(): Tenant[] {
    return (this.#db.prepare('SELECT * FROM tenants ORDER BY created_at, name').all() as TenantRow[]).map(
      toTenant,
    );
  }

  byIdOrName(idOrName: string): Tenant | undefined {
    const row = this.#db.prepare('SELECT * FROM tenants WHERE id = ? OR name = ?').get(idOrName, idOrName) as
      | TenantRow
      | undefined;
    return row && toTenant(row);
  }

  byAccountId(account: string): Tenant | undefined {
    const row = this.#db.prepare('SELECT * FROM tenants WHERE account_id = ?').get(account) as
      | TenantRow
      | undefined;
    return row && toTenant(row);
  }

  insert(t: Tenant): void {
    this.#db
      .prepare('INSERT INTO tenants (id, name, account_id, is_admin, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(t.id, t.name, t.accountId, t.isAdmin ? 1 : 0, t.createdAt);
  }

  setConcurrencyLimit(id: string, limit: number | null): void {
    this.#db.prepare('UPDATE tenants SET concurrency_limit = ? WHERE id = ?').run(limit, id);
  }

  setNetwork(id: string, networkOutbound: boolean, egressAllow: readonly string[]): void {
    this.#db
      .prepare('UPDATE tenants SET network_outbound = ?, egress_allow = ? WHERE id = ?')
      .run(networkOutbound ? 1 : 0, JSON.stringify(egressAllow), id);
  }

  /** Deletes the tenant; its keys go with it (cascade). */
  delete(id: string): void {
    this.#db.prepare('DELETE FROM tenants WHERE id = ?').run(id);
  }

  insertKey(key: AccessKey, createdAt: string): void {
    if (key.sessionToken === null && key.expiresAt === null) {
      this.#db
        .prepare('INSERT INTO access_keys (access_key_id, secret, tenant_id, created_at) VALUES (?, ?, ?, ?)')
        .run(key.accessKeyId, key.secretAccessKey, key.tenantId, createdAt);
      return;
    }
    this.#db
      .prepare(
        'INSERT INTO access_keys (access_key_id, secret, tenant_id, session_token, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(key.accessKeyId, key.secretAccessKey, key.tenantId, key.sessionToken, key.expiresAt, createdAt);
  }

  /** Drops session keys that expired before `now`. */
  deleteExpiredKeys(now: number): void {
    this.#db.prepare('DELETE FROM access_keys WHERE expires_at IS NOT NULL AND expires_at < ?').run(now);
  }

  /** The tenant's long-term keys, oldest first. */
  longTermKeys(tenantId: string): AccessKey[] {
    return (
      this.#db
        .prepare(
          'SELECT * FROM access_keys WHERE tenant_id = ? AND session_token IS NULL ORDER BY created_at',
        )
        .all(tenantId) as { access_key_id: string; secret: string; tenant_id: string }[]
    ).map((r) => ({
      accessKeyId: r.access_key_id,
      secretAccessKey: r.secret,
      tenantId: r.tenant_id,
      sessionToken: null,
      expiresAt: null,
    }));
  }

  deleteKey(id: string): void {
    this.#db.prepare('DELETE FROM access_keys WHERE access_key_id = ?').run(id);
  }

  /** An access key with its tenant. */
  key(id: string): { key: AccessKey; tenant: Tenant } | undefined {
    const row = this.#db
      .prepare(
        `SELECT k.access_key_id, k.secret, k.session_token, k.expires_at, t.*
           FROM access_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.access_key_id = ?`,
      )
      .get(id) as
      | (TenantRow & {
          access_key_id: string;
          secret: string;
          session_token: string | null;
          expires_at: number | null;
        })
      | undefined;
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
}
