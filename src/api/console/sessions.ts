// The web console's sign-in and sessions: an access key pair is checked once (in constant time) and traded
// for a random session id kept in this process's memory only, so sessions die with the server, after an
// idle limit, on sign-out, or as soon as the key they were opened with no longer resolves (deleted tenant,
// rotated or deleted key). The browser holds nothing but the id (an HttpOnly cookie).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AccessKey, Tenant } from '../../control/tenant-types.js';

export interface SessionOptions {
  /** A session unused this long ends (default 30 minutes). */
  idleMs?: number;
  /** A session ends this long after sign-in whatever its use (default 12 hours). */
  maxAgeMs?: number;
  /** Sessions one tenant may hold; signing in past it ends the tenant's oldest (default 50). */
  perTenant?: number;
  /** Sessions in all (default 10,000): memory stays bounded whoever signs in. */
  total?: number;
  now?: () => number;
}

export interface Session {
  tenantId: string;
  accessKeyId: string;
  /** Sent back by the page on every state-changing call (X-CSRF-Token), compared in constant time. */
  csrf: string;
  createdAt: number;
  lastSeen: number;
}

export type ResolveKey = (accessKeyId: string) => Promise<{ key: AccessKey; tenant: Tenant } | undefined>;

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
/** Compared when the key id is unknown, so a miss costs what a wrong secret costs. */
const NO_SECRET = digest('kindling console: no such key');

/** Equal strings, in time independent of where they differ (as digests of equal length). */
export function sameSecret(given: string, stored: string | undefined): boolean {
  const ok = timingSafeEqual(digest(given), stored === undefined ? NO_SECRET : digest(stored));
  return ok && stored !== undefined;
}

export class SessionStore {
  readonly #resolveKey: ResolveKey;
  readonly #idleMs: number;
  readonly #maxAgeMs: number;
  readonly #perTenant: number;
  readonly #total: number;
  readonly #now: () => number;
  // Keyed by a digest of the id: the id itself is never kept, and a lookup's timing tells nothing of it.
  readonly #sessions = new Map<string, Session>();

  constructor(resolveKey: ResolveKey, opts: SessionOptions = {}) {
    this.#resolveKey = resolveKey;
    this.#idleMs = opts.idleMs ?? 30 * 60_000;
    this.#maxAgeMs = opts.maxAgeMs ?? 12 * 60 * 60_000;
    this.#perTenant = opts.perTenant ?? 50;
    this.#total = opts.total ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  get idleMs(): number {
    return this.#idleMs;
  }

  /**
   * Checks the pair: a long-term key (not a function's session key) whose secret matches. Undefined when
   * it does not, for whatever reason (the caller answers one message for all of them).
   */
  async verify(
    accessKeyId: string,
    secretAccessKey: string,
  ): Promise<{ key: AccessKey; tenant: Tenant } | undefined> {
    const found = await this.#resolveKey(accessKeyId);
    const usable = found !== undefined && found.key.sessionToken === null;
    const ok = sameSecret(secretAccessKey, usable ? found.key.secretAccessKey : undefined);
    return ok && usable ? found : undefined;
  }

  /** Opens a session for a verified key; returns the id for the cookie (never stored) and the session. */
  open(key: AccessKey): { id: string; session: Session } {
    this.#sweep();
    const now = this.#now();
    const id = randomBytes(32).toString('base64url');
    const session: Session = {
      tenantId: key.tenantId,
      accessKeyId: key.accessKeyId,
      csrf: randomBytes(32).toString('base64url'),
      createdAt: now,
      lastSeen: now,
    };
    const mine = [...this.#sessions.entries()].filter(([, s]) => s.tenantId === key.tenantId);
    // Map order is insertion order: the first ones are the oldest.
    for (const [h] of mine.slice(0, Math.max(0, mine.length - this.#perTenant + 1))) this.#sessions.delete(h);
    if (this.#sessions.size >= this.#total) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
    this.#sessions.set(digest(id).toString('hex'), session);
    return { id, session };
  }

  /**
   * The live session of an id and its tenant as it is now; undefined (and the session ended) when it
   * expired or its key no longer resolves to the same tenant.
   */
  async current(id: string | undefined): Promise<{ session: Session; tenant: Tenant } | undefined> {
    if (id === undefined || id.length > 128) return undefined;
    const h = digest(id).toString('hex');
    const s = this.#sessions.get(h);
    if (!s) return undefined;
    const now = this.#now();
    if (now - s.lastSeen > this.#idleMs || now - s.createdAt > this.#maxAgeMs) {
      this.#sessions.delete(h);
      return undefined;
    }
    // Resolved keys are cached by the tenant store (and dropped on every key or tenant change): cheap.
    const found = await this.#resolveKey(s.accessKeyId);
    if (!found || found.tenant.id !== s.tenantId || found.key.sessionToken !== null) {
      this.#sessions.delete(h);
      return undefined;
    }
    s.lastSeen = now;
    return { session: s, tenant: found.tenant };
  }

  close(id: string | undefined): void {
    if (id !== undefined) this.#sessions.delete(digest(id).toString('hex'));
  }

  get size(): number {
    return this.#sessions.size;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [h, s] of this.#sessions) {
      if (now - s.lastSeen > this.#idleMs || now - s.createdAt > this.#maxAgeMs) this.#sessions.delete(h);
    }
  }
}

export interface SignInLimitOptions {
  /** Failed sign-ins one client address may make per window (default 10). */
  failures?: number;
  /** The window (default 10 minutes). */
  windowMs?: number;
  /** Addresses remembered at most (default 10,000; the oldest are forgotten first). */
  addresses?: number;
  now?: () => number;
}

/**
 * Failed sign-ins per client address in a fixed window. A success does not reset the count (an attacker
 * holding one valid key must not be able to clear its own record), and while an address is over the
 * limit every attempt is refused, a correct one too, so guessing on cannot tell right from wrong.
 */
export class SignInLimiter {
  readonly #failures: number;
  readonly #windowMs: number;
  readonly #addresses: number;
  readonly #now: () => number;
  readonly #byAddress = new Map<string, { since: number; count: number }>();

  constructor(opts: SignInLimitOptions = {}) {
    this.#failures = opts.failures ?? 10;
    this.#windowMs = opts.windowMs ?? 10 * 60_000;
    this.#addresses = opts.addresses ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Seconds until the address may try again; 0 when it may now. */
  retryAfter(address: string): number {
    const e = this.#entry(address);
    if (!e || e.count < this.#failures) return 0;
    return Math.max(1, Math.ceil((e.since + this.#windowMs - this.#now()) / 1000));
  }

  failed(address: string): void {
    const e = this.#entry(address);
    if (e) e.count++;
    else {
      if (this.#byAddress.size >= this.#addresses) {
        const oldest = this.#byAddress.keys().next().value;
        if (oldest !== undefined) this.#byAddress.delete(oldest);
      }
      this.#byAddress.set(address, { since: this.#now(), count: 1 });
    }
  }

  #entry(address: string): { since: number; count: number } | undefined {
    const e = this.#byAddress.get(address);
    if (e && this.#now() - e.since >= this.#windowMs) {
      this.#byAddress.delete(address);
      return undefined;
    }
    return e;
  }
}
