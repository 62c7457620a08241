// Tenants and their access keys. Every API request resolves its SigV4 access key to a tenant here;
// functions get short-lived session keys for their own tenant (AWS_SESSION_TOKEN), as on Lambda.
import { randomBytes } from 'node:crypto';
import { KindlingError } from '../errors.js';
import { accessKeyId, accountId, secretAccessKey } from '../ids.js';
import { type Db, migrate } from '../store/database.js';

export interface Tenant {
  id: string;
  name: string;
  accountId: string;
  isAdmin: boolean;
  /** Concurrent executions allowed across the tenant's functions (admin setting). */
  concurrencyLimit: number | null;
  createdAt: string;
}

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
  tenantId: string;
  /** Present on session keys; requests must carry it as X-Amz-Security-Token. */
  sessionToken: string | null;
  expiresAt: number | null;
}

interface TenantRow {
  id: string;
  name: string;
  account_id: string;
  is_admin: number;
  concurrency_limit: number | null;
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
];

const toTenant = (r: TenantRow): Tenant => ({
  id: r.id,
  name: r.name,
  accountId: r.account_id,
  isAdmin: r.is_admin === 1,
  concurrencyLimit: r.concurrency_limit,
  createdAt: r.created_at,
});

export const TenantErrors = {
  exists: (name: string) =>
    new KindlingError('ResourceConflictException', 409, `Tenant already exists: ${name}`),
  notFound: (name: string) =>
    new KindlingError('ResourceNotFoundException', 404, `Tenant not found: ${name}`),
  invalidName: (name: string) =>
    new KindlingError(
      'InvalidParameterValueException',
      400,
      `Invalid tenant name: ${JSON.stringify(name)} (1-64 characters of letters, digits, '-' and '_')`,
    ),
};

export class TenantStore {
  readonly #db: Db;
  // The key lookup runs on every request: keep resolved keys in memory; writes go through this class.
  readonly #keys = new Map<string, { key: AccessKey; tenant: Tenant }>();
  readonly #deleteListeners: ((tenant: Tenant) => void)[] = [];

  constructor(db: Db) {
    this.#db = db;
    migrate(db, 'tenants', SCHEMA);
  }

  list(): Tenant[] {
    return (this.#db.prepare('SELECT * FROM tenants ORDER BY created_at, name').all() as TenantRow[]).map(
      toTenant,
    );
  }

  get(idOrName: string): Tenant | undefined {
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

  create(name: string, opts: { isAdmin?: boolean } = {}): Tenant {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw TenantErrors.invalidName(name);
    if (this.get(name)) throw TenantErrors.exists(name);
    const tenant: Tenant = {
      id: `t-${randomBytes(8).toString('hex')}`,
      name,
      accountId: this.#uniqueAccountId(),
      isAdmin: opts.isAdmin ?? false,
      concurrencyLimit: null,
      createdAt: new Date().toISOString(),
    };
    this.#db
      .prepare('INSERT INTO tenants (id, name, account_id, is_admin, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(tenant.id, tenant.name, tenant.accountId, tenant.isAdmin ? 1 : 0, tenant.createdAt);
    return tenant;
  }

  setConcurrencyLimit(idOrName: string, limit: number | null): Tenant {
    const t = this.get(idOrName);
    if (!t) throw TenantErrors.notFound(idOrName);
    this.#db.prepare('UPDATE tenants SET concurrency_limit = ? WHERE id = ?').run(limit, t.id);
    this.#keys.clear();
    return { ...t, concurrencyLimit: limit };
  }

  /** Called before a tenant's row goes, so owners of its resources (functions, code) clean up first. */
  onDelete(listener: (tenant: Tenant) => void): void {
    this.#deleteListeners.push(listener);
  }

  delete(idOrName: string): void {
    const t = this.get(idOrName);
    if (!t) throw TenantErrors.notFound(idOrName);
    for (const l of this.#deleteListeners) l(t);
    this.#db.prepare('DELETE FROM tenants WHERE id = ?').run(t.id);
    this.#keys.clear();
  }

  /** A long-term key pair; `given` lets the first start take the operator's root key (as MinIO does). */
  createKey(tenantId: string, given?: { accessKeyId: string; secretAccessKey: string }): AccessKey {
    const key: AccessKey = {
      accessKeyId: given?.accessKeyId ?? accessKeyId('AKIA'),
      secretAccessKey: given?.secretAccessKey ?? secretAccessKey(),
      tenantId,
      sessionToken: null,
      expiresAt: null,
    };
    this.#db
      .prepare('INSERT INTO access_keys (access_key_id, secret, tenant_id, created_at) VALUES (?, ?, ?, ?)')
      .run(key.accessKeyId, key.secretAccessKey, tenantId, new Date().toISOString());
    return key;
  }

  /** Short-lived credentials for code running on behalf of a tenant (a function's environment). */
  createSessionKey(tenantId: string, ttlMs: number): AccessKey {
    const key: AccessKey = {
      accessKeyId: accessKeyId('ASIA'),
      secretAccessKey: secretAccessKey(),
      tenantId,
      sessionToken: randomBytes(48).toString('base64'),
      expiresAt: Date.now() + ttlMs,
    };
    this.#db
      .prepare(
        'INSERT INTO access_keys (access_key_id, secret, tenant_id, session_token, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(
        key.accessKeyId,
        key.secretAccessKey,
        tenantId,
        key.sessionToken,
        key.expiresAt,
        new Date().toISOString(),
      );
    this.#db
      .prepare('DELETE FROM access_keys WHERE expires_at IS NOT NULL AND expires_at < ?')
      .run(Date.now());
    return key;
  }

  listKeys(tenantId: string): AccessKey[] {
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
    this.#keys.delete(id);
  }

  /** Resolves an access key id to its key and tenant; undefined when unknown or expired. */
  resolveKey(id: string): { key: AccessKey; tenant: Tenant } | undefined {
    let hit = this.#keys.get(id);
    if (!hit) {
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
      hit = {
        key: {
          accessKeyId: row.access_key_id,
          secretAccessKey: row.secret,
          tenantId: row.id,
          sessionToken: row.session_token,
          expiresAt: row.expires_at,
        },
        tenant: toTenant(row),
      };
      this.#keys.set(id, hit);
    }
    if (hit.key.expiresAt !== null && hit.key.expiresAt < Date.now()) {
      this.#keys.delete(id);
      return undefined;
    }
    return hit;
  }

  #uniqueAccountId(): string {
    for (;;) {
      const id = accountId();
      if (!this.byAccountId(id)) return id;
    }
  }
}
