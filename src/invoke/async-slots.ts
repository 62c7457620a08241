// The async dispatcher's concurrency ledger: runs in flight per function (`tenantId|functionArn`, with
// the limit they were started under) and per tenant, and functions paused after a throttle.
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

  /** How many more runs the function may start now (`batch` when none is running); 0 when it may not. */
  room(key: string, now: number, batch: number): number {
    const slot = this.#inflight.get(key);
    const room = slot ? slot.limit - slot.n : batch;
    if (room <= 0 || (this.#pausedUntil.get(key) ?? 0) > now) return 0;
    const tslot = this.#tenantInflight.get(tenantOf(key));
    if (tslot && tslot.n >= tslot.limit) return 0;
    return room;
  }

  /** Whether one more run of the function may start now. */
  canStart(key: string, now: number): boolean {
    const slot = this.#inflight.get(key);
    if (slot && slot.n >= slot.limit) return false;
    if ((this.#pausedUntil.get(key) ?? 0) > now) return false;
    const tslot = this.#tenantInflight.get(tenantOf(key));
    return !(tslot && tslot.n >= tslot.limit);
  }

  /** A run starts under these limits. */
  take(key: string, functionLimit: number, tenantLimit: number): void {
    const tenantId = tenantOf(key);
    this.#inflight.set(key, { n: (this.#inflight.get(key)?.n ?? 0) + 1, limit: functionLimit });
    this.#tenantInflight.set(tenantId, {
      n: (this.#tenantInflight.get(tenantId)?.n ?? 0) + 1,
      limit: tenantLimit,
    });
  }

  /** A run ended; true when its tenant was full (other functions of the tenant may be waiting). */
  release(key: string): boolean {
    const s = this.#inflight.get(key);
    if (s) {
      s.n--;
      if (s.n <= 0) this.#inflight.delete(key);
    }
    const tenantId = tenantOf(key);
    const t = this.#tenantInflight.get(tenantId);
    if (!t) return false;
    t.n--;
    if (t.n <= 0) this.#tenantInflight.delete(tenantId);
    return t.n + 1 >= t.limit;
  }

  pause(key: string, until: number): void {
    this.#pausedUntil.set(key, until);
  }

  unpause(key: string): void {
    this.#pausedUntil.delete(key);
  }

  /** Functions that may not start a run now (at their limit or paused); expired pauses are dropped. */
  fullKeys(now: number): string[] {
    const out: string[] = [];
    for (const [k, v] of this.#inflight) if (v.n >= v.limit) out.push(k);
    for (const [k, until] of this.#pausedUntil) {
      if (until > now) out.push(k);
      else this.#pausedUntil.delete(k);
    }
    return out;
  }

  /** Tenants at their limit. */
  fullTenants(): string[] {
    const out: string[] = [];
    for (const [k, v] of this.#tenantInflight) if (v.n >= v.limit) out.push(k);
    return out;
  }
}
