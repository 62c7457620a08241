// Tenants and their access keys. Every API request resolves its SigV4 access key to a tenant here;
// functions get short-lived session keys for their own tenant (AWS_SESSION_TOKEN), as on Lambda.
// Resolved keys and tenants are cached per node (the warm path reads no database); every write drops
// this node's copy and tells the other nodes to drop theirs (./control-changes.ts).
import { randomBytes } from 'node:crypto';
import { type Cidr, cidrWithin, formatCidr, parseCidr } from '../cidr.js';
import { KindlingError } from '../errors.js';
import { accessKeyId, accountId, secretAccessKey } from '../ids.js';
import type { Sql, SqlExecutor } from '../store/sql.js';
import {
  type ControlChange,
  ControlChannel,
  InvalidatedCache,
  type ReceivedChange,
} from './control-changes.js';
import type { AccessKey, NetworkGrant, Tenant } from './tenant-types.js';
import { TenantRepo } from './tenants-repo.js';

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
  readonly #repo: TenantRepo;
  readonly #channel: ControlChannel;
  // The key lookup runs on every request: resolved keys and tenants stay in memory until a change.
  readonly #keys = new InvalidatedCache<{ key: AccessKey; tenant: Tenant }>();
  readonly #tenants = new InvalidatedCache<Tenant>();
  readonly #deleteListeners: ((tenant: Tenant) => Promise<void> | void)[] = [];
  readonly #networkListeners: ((tenant: Tenant) => void)[] = [];

  private constructor(repo: TenantRepo) {
    this.#repo = repo;
    this.#channel = new ControlChannel(repo.sql);
  }

  /** Migrates the tenants' tables and subscribes to other nodes' changes. */
  static async open(sql: Sql): Promise<TenantStore> {
    const store = new TenantStore(await TenantRepo.open(sql));
    await store.#channel.subscribe((change) => store.#received(change));
    return store;
  }

  list(): Promise<Tenant[]> {
    return this.#repo.list();
  }

  /** A tenant by id or name; served from this node's memory when warm. */
  /**
   * `q`: read through that open transaction on a miss (a caller inside a transaction must: on SQLite the
   * transaction holds the only connection, and a read through the store would wait for it forever).
   */
  get(idOrName: string, q?: SqlExecutor): Promise<Tenant | undefined> {
    return this.#tenants.load(idOrName, () => this.#repo.byIdOrName(idOrName, q));
  }

  /** The tenant's name when this node has it in memory (metrics labels); a miss loads it for next time. */
  nameOf(id: string): string | undefined {
    const t = this.#tenants.peek(id);
    // Not awaited: the label falls back to the id until the load lands; a failed load is tried next time.
    if (!t) void this.get(id).catch(() => {});
    return t?.name;
  }

  byAccountId(account: string): Promise<Tenant | undefined> {
    return this.#repo.byAccountId(account);
  }

  async create(name: string, opts: { isAdmin?: boolean } = {}): Promise<Tenant> {
    return this.#insert(this.#repo.sql, name, opts.isAdmin ?? false);
  }

  async setConcurrencyLimit(idOrName: string, limit: number | null): Promise<Tenant> {
    const t = await this.#require(idOrName);
    await this.#repo.setConcurrencyLimit(t.id, limit);
    await this.#changed({ kind: 'tenant', id: t.id });
    return { ...t, concurrencyLimit: limit };
  }

  /**
   * Sets the admin's network grant (ranges already validated and normalized by the caller). Listeners
   * retire the tenant's environments so the next request runs in the new mode, on every node.
   */
  async setNetwork(idOrName: string, grant: NetworkGrant): Promise<Tenant> {
    const t = await this.#require(idOrName);
    const allow = normalizeEgressAllow(grant.egressAllow);
    if (!grant.networkOutbound && allow.length > 0) {
      throw new KindlingError(
        'InvalidParameterValueException',
        400,
        'egressAllow only applies with networkOutbound: true (a tenant without outbound network reaches nothing)',
      );
    }
    grant = { networkOutbound: grant.networkOutbound, egressAllow: allow };
    await this.#repo.setNetwork(t.id, grant.networkOutbound, grant.egressAllow);
    await this.#changed({ kind: 'network', id: t.id });
    const next = { ...t, networkOutbound: grant.networkOutbound, egressAllow: [...grant.egressAllow] };
    this.#networkChanged(next);
    return next;
  }

  /** Called after an admin changed a tenant's network grant (on this node or another). */
  onNetworkChange(listener: (tenant: Tenant) => void): void {
    this.#networkListeners.push(listener);
  }

  /** Called before a tenant's row goes, so owners of its resources (functions, code) clean up first. */
  onDelete(listener: (tenant: Tenant) => Promise<void> | void): void {
    this.#deleteListeners.push(listener);
  }

  async delete(idOrName: string): Promise<void> {
    const t = await this.#require(idOrName);
    for (const l of this.#deleteListeners) await l(t);
    await this.#repo.delete(t.id);
    await this.#changed({ kind: 'tenant', id: t.id });
  }

  /** A long-term key pair; `given` lets the first start take the operator's root key (as MinIO does). */
  async createKey(
    tenantId: string,
    given?: { accessKeyId: string; secretAccessKey: string },
  ): Promise<AccessKey> {
    return this.#insertKey(this.#repo.sql, tenantId, given);
  }

  /**
   * The admin tenant and its first key, created when there is none. Nodes starting at once on an empty
   * database serialise here (a lock row), so exactly one admin tenant and key come to be.
   */
  async ensureAdmin(given?: {
    accessKeyId: string;
    secretAccessKey: string;
  }): Promise<{ tenant: Tenant; key: AccessKey; created: boolean }> {
    return this.#repo.locked('admin-tenant', async (q) => {
      const existing = await this.#repo.firstAdmin(q);
      if (existing) {
        const key = (await this.#repo.longTermKeys(existing.id, q))[0];
        if (key) return { tenant: existing, key, created: false };
      }
      const tenant = existing ?? (await this.#insert(q, 'admin', true));
      return { tenant, key: await this.#insertKey(q, tenant.id, given), created: true };
    });
  }

  /**
   * Short-lived credentials for code running on behalf of a tenant (a function's environment). Stored,
   * so every node resolves them (a function's call may reach any node).
   */
  async createSessionKey(tenantId: string, ttlMs: number): Promise<AccessKey> {
    const key: AccessKey = {
      accessKeyId: accessKeyId('ASIA'),
      secretAccessKey: secretAccessKey(),
      tenantId,
      sessionToken: randomBytes(48).toString('base64'),
      expiresAt: Date.now() + ttlMs,
    };
    await this.#repo.insertKey(key, new Date().toISOString());
    await this.#repo.deleteExpiredKeys(Date.now());
    return key;
  }

  listKeys(tenantId: string): Promise<AccessKey[]> {
    return this.#repo.longTermKeys(tenantId);
  }

  async deleteKey(id: string): Promise<void> {
    await this.#repo.deleteKey(id);
    await this.#changed({ kind: 'key', id });
  }

  /** Resolves an access key id to its key and tenant; undefined when unknown or expired. */
  async resolveKey(id: string): Promise<{ key: AccessKey; tenant: Tenant } | undefined> {
    const hit = this.#keys.peek(id) ?? (await this.#keys.load(id, () => this.#repo.key(id)));
    if (!hit) return undefined;
    if (hit.key.expiresAt !== null && hit.key.expiresAt < Date.now()) {
      this.#keys.delete(id);
      return undefined;
    }
    return hit;
  }

  async #require(idOrName: string): Promise<Tenant> {
    const t = await this.get(idOrName);
    if (!t) throw TenantErrors.notFound(idOrName);
    return t;
  }

  /** Inserts a tenant; the database decides between two nodes creating one name at once. */
  async #insert(q: SqlExecutor, name: string, isAdmin: boolean): Promise<Tenant> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw TenantErrors.invalidName(name);
    for (;;) {
      const tenant: Tenant = {
        id: `t-${randomBytes(8).toString('hex')}`,
        name,
        accountId: accountId(),
        isAdmin,
        concurrencyLimit: null,
        networkOutbound: false,
        egressAllow: [],
        createdAt: new Date().toISOString(),
      };
      if (await this.#repo.insert(tenant, q)) return tenant;
      // The name is taken, or (rarely) the random account id: try another account id.
      if (await this.#repo.byIdOrName(name, q)) throw TenantErrors.exists(name);
    }
  }

  async #insertKey(
    q: SqlExecutor,
    tenantId: string,
    given?: { accessKeyId: string; secretAccessKey: string },
  ): Promise<AccessKey> {
    const key: AccessKey = {
      accessKeyId: given?.accessKeyId ?? accessKeyId('AKIA'),
      secretAccessKey: given?.secretAccessKey ?? secretAccessKey(),
      tenantId,
      sessionToken: null,
      expiresAt: null,
    };
    await this.#repo.insertKey(key, new Date().toISOString(), q);
    return key;
  }

  /** Drops this node's copies, then tells the other nodes. */
  async #changed(change: ControlChange): Promise<void> {
    this.#drop(change);
    await this.#channel.publish(change);
  }

  #drop(change: ControlChange): void {
    if (change.kind === 'function') return;
    if (change.kind === 'key') {
      this.#keys.delete(change.id);
      return;
    }
    // A tenant's row is cached under its id and its name, and inside every resolved key: drop them all
    // (tenant changes are rare admin operations).
    this.#tenants.clear();
    this.#keys.clear();
  }

  #received(change: ReceivedChange): void {
    if (change.own) return;
    this.#drop(change);
    if (change.kind === 'network') {
      // Another node changed the grant: this node's environments of the tenant were built for the old one.
      this.get(change.id).then(
        (t) => t && this.#networkChanged(t),
        (e: unknown) => console.error('kindling: reading a tenant after a network change failed:', e),
      );
    }
  }

  #networkChanged(tenant: Tenant): void {
    for (const l of this.#networkListeners) {
      try {
        l(tenant);
      } catch (e) {
        console.error('kindling: tenant network listener failed:', e);
      }
    }
  }
}
