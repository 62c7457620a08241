// The async dispatcher's concurrency ledger on this node: runs in flight per function
// (`tenantId|functionArn`) and per tenant, and functions paused after a throttle. On SQLite (one node) it is
// the whole truth; on PostgreSQL it is this node's share, and claims also count the cluster's running
// claims in the database (AsyncEventStore.claim), so a full ledger here only saves a query.
const tenantOf = (key: string): string => key.slice(0, key.indexOf('|'));

interface Slot {
  n: number;
  limit: number;
}

export class AsyncSlots {
  readonly #inflight = new Map<string, Slot>();
  /** Functions just throttled: no new run starts before this time (one probe per base delay, not a hot loop). */
  readonly #pausedUntil = new Map<string, number>();
  /** Async work never takes more than the tenant's concurrency limit. */
  readonly #tenantInflight = new Map<string, Slot>();

  /** How many more runs of the function may start now under these limits (0 when paused or full). */
  room(key: string, now: number, functionLimit: number, tenantLimit: number): number {
    if ((this.#pausedUntil.get(key) ?? 0) > now) return 0;
    const n = this.#inflight.get(key)?.n ?? 0;
    const tn = this.#tenantInflight.get(tenantOf(key))?.n ?? 0;
    return Math.max(0, Math.min(functionLimit - n, tenantLimit - tn));
  }

  /** Whether one more run of the function may start now, under the limits its runs started with. */
  canStart(key: string, now: number): boolean {
    const slot = this.#inflight.get(key);
    if (slot && slot.n >= slot.limit) return false;
    if ((this.#pausedUntil.get(key) ?? 0) > now) return false;
    const tslot = this.#tenantInflight.get(tenantOf(key));
    return !(tslot && tslot.n >= tslot.limit);
  }

  /** `n` runs start (or are reserved while their claim is made) under these limits. */
  take(key: string, functionLimit: number, tenantLimit: number, n = 1): void {
    const tenantId = tenantOf(key);
    this.#inflight.set(key, { n: (this.#inflight.get(key)?.n ?? 0) + n, limit: functionLimit });
    this.#tenantInflight.set(tenantId, {
      n: (this.#tenantInflight.get(tenantId)?.n ?? 0) + n,
      limit: tenantLimit,
    });
  }

  /** `n` runs ended (or reservations went unused); true when the tenant was full (others may be waiting). */
  release(key: string, n = 1): boolean {
    if (n <= 0) return false;
    const s = this.#inflight.get(key);
    if (s) {
      s.n -= n;
      if (s.n <= 0) this.#inflight.delete(key);
    }
    const tenantId = tenantOf(key);
    const t = this.#tenantInflight.get(tenantId);
    if (!t) return false;
    t.n -= n;
    if (t.n <= 0) this.#tenantInflight.delete(tenantId);
    return t.n + n >= t.limit;
  }

  pause(key: string, until: number): void {
    this.#pausedUntil.set(key, until);
  }

  unpause(key: string): void {
    this.#pausedUntil.delete(key);
  }
}
