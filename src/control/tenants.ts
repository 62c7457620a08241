// Tenants and their access keys. Every API request resolves its SigV4 access key to a tenant here;
// functions get short-lived session keys for their own tenant (AWS_SESSION_TOKEN), as on Lambda.
import { randomBytes } from 'node:crypto';
import { type Cidr, cidrWithin, formatCidr, parseCidr } from '../cidr.js';
import { KindlingError } from '../errors.js';
import { accessKeyId, accountId, secretAccessKey } from '../ids.js';
import type { Db } from '../store/database.js';
import type { AccessKey, NetworkGrant, Tenant } from './tenant-types.js';
import { SqliteTenantRepo } from './tenants-repo.js';

export type { AccessKey, NetworkGrant, Tenant } from './tenant-types.js';

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
  readonly #repo: SqliteTenantRepo;
  // The key lookup runs on every request: keep resolved keys in memory; writes go through this class.
  readonly #keys = new Map<string, { key: AccessKey; tenant: Tenant }>();
  readonly #deleteListeners: ((tenant: Tenant) => void)[] = [];
  readonly #networkListeners: ((tenant: Tenant) => void)[] = [];

  constructor(db: Db) {
    this.#repo = new SqliteTenantRepo(db);
  }

  list(): Tenant[] {
    return this.#repo.list();
  }

  get(idOrName: string): Tenant | undefined {
    return this.#repo.byIdOrName(idOrName);
  }

  byAccountId(account: string): Tenant | undefined {
    return this.#repo.byAccountId(account);
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
    this.#repo.insert(tenant);
    return tenant;
  }

  setConcurrencyLimit(idOrName: string, limit: number | null): Tenant {
    const t = this.get(idOrName);
    if (!t) throw TenantErrors.notFound(idOrName);
    this.#repo.setConcurrencyLimit(t.id, limit);
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
    this.#repo.setNetwork(t.id, grant.networkOutbound, grant.egressAllow);
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
    this.#repo.delete(t.id);
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
    this.#repo.insertKey(key, new Date().toISOString());
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
    this.#repo.insertKey(key, new Date().toISOString());
    this.#repo.deleteExpiredKeys(Date.now());
    return key;
  }

  listKeys(tenantId: string): AccessKey[] {
    return this.#repo.longTermKeys(tenantId);
  }

  deleteKey(id: string): void {
    this.#repo.deleteKey(id);
    this.#keys.delete(id);
  }

  /** Resolves an access key id to its key and tenant; undefined when unknown or expired. */
  resolveKey(id: string): { key: AccessKey; tenant: Tenant } | undefined {
    let hit = this.#keys.get(id);
    if (!hit) {
      hit = this.#repo.key(id);
      if (!hit) return undefined;
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
