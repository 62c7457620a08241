// Tenants and their access keys. Every API request resolves its SigV4 access key to a tenant here;
// functions get short-lived session keys for their own tenant (AWS_SESSION_TOKEN), as on Lambda.
import { randomBytes } from 'node:crypto';
import { type Cidr, cidrWithin, formatCidr, parseCidr } from '../cidr.js';
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
  /** Outbound network for the tenant's functions: granted by an admin only, never by the tenant itself. */
  networkOutbound: boolean;
  /** IPv4 ranges (CIDR) the admin also opened: private, link-local or host ranges denied by default. */
  egressAllow: string[];
  createdAt: string;
}

/** The admin's network grant for one tenant. */
export interface NetworkGrant {
  networkOutbound: boolean;
  egressAllow: string[];
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

const toTenant = (r: TenantRow): Tenant => ({
  id: r.id,
  name: r.name,
  accountId: r.account_id,
  isAdmin: r.is_admin === 1,
  concurrencyLimit: r.concurrency_limit,
  networkOutbound: r.network_outbound === 1,
  egressAllow: JSON.parse(r.egress_allow) as string[],
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

/** Most ranges one tenant may be allowed (each becomes a route in every environment of the tenant). */
export const MAX_EGRESS_RANGES = 64;

// Ranges that are the sandbox's own, never a destination the admin could open: its loopback, and the
// user-mode network's subnet (gateway, DNS forwarder).
const SANDBOX_OWN: readonly [string, Cidr][] = [
  ['the sandbox’s own loopback', { base: 0x7f000000, prefix: 8 }],
  ['the sandbox’s user-mode network (10.0.2.0/24)', { base: 0x0a000200, prefix: 24 }],
];

/** Validates and normalizes an admin's egressAllow list (sorted, without duplicates); refuses anything else. */
export function normalizeEgressAllow(list: readonly string[]): string[] {
  const invalid = (msg: string) => new KindlingError('InvalidParameterValueException', 400, msg);
  if (list.length > MAX_EGRESS_RANGES)
    throw invalid(`egressAllow takes at most ${MAX_EGRESS_RANGES} ranges, got ${list.length}`);
  const out = new Set<string>();
  for (const s of list) {
    const c = parseCidr(s.trim());
    if ('error' in c) throw invalid(`egressAllow: ${c.error}`);
    for (const [what, own] of SANDBOX_OWN) {
      if (cidrWithin(c, own)) throw invalid(`egressAllow: ${s} is ${what}, not a destination`);
    }
    out.add(formatCidr(c));
  }
  return [...out].sort();
}

export class TenantStore {
  readonly #db: Db;
  // The key lookup runs on every request: keep resolved keys in memory; writes go through this class.
  readonly #keys = new Map<string, { key: AccessKey; tenant: Tenant }>();
  readonly #deleteListeners: ((tenant: Tenant) => void)[] = [];
  readonly #networkListeners: ((tenant: Tenant) => void)[] = [];

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
      networkOutbound: false,
      egressAllow: [],
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

  /**
   * Sets the admin's network grant (ranges already validated and normalized by the caller). Listeners
   * retire the tenant's environments so the next request runs in the new mode.
   */
  setNetwork(idOrName: string, grant: NetworkGrant): Tenant {
    const t = this.get(idOrName);
    if (!t) throw TenantErrors.notFound(idOrName);
    const allow = normalizeEgressAllow(grant.egressAllow);
    if (!grant.networkOutbound && allow.length > 0) {
      throw new KindlingError(
        'InvalidParameterValueException',
        400,
        'egressAllow only applies with networkOutbound: true (a tenant without outbound network reaches nothing)',
      );
    }
    grant = { networkOutbound: grant.networkOutbound, egressAllow: allow };
    this.#db
      .prepare('UPDATE tenants SET network_outbound = ?, egress_allow = ? WHERE id = ?')
      .run(grant.networkOutbound ? 1 : 0, JSON.stringify(grant.egressAllow), t.id);
    this.#keys.clear();
    const next = { ...t, networkOutbound: grant.networkOutbound, egressAllow: [...grant.egressAllow] };
    for (const l of this.#networkListeners) l(next);
    return next;
  }

  /** Called after an admin changed a tenant's network grant. */
  onNetworkChange(listener: (tenant: Tenant) => void): void {
    this.#networkListeners.push(listener);
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
