// The store's clock (sql.now()) without a round trip, so leases, visibility timeouts and delays written by
// one node mean the same instant on another whose own clock is a few seconds off. The offset to the local clock
// is measured at start and every SYNC_MS after, so reading the time costs no round trip.
import type { Sql } from './sql.js';

const SYNC_MS = 10_000;

export class StoreClock {
  readonly #sql: Pick<Sql, 'dialect' | 'now'>;
  readonly #local: () => number;
  #offset = 0;
  #synced = false;
  #timer: NodeJS.Timeout | undefined;

  /** `local` is this node's clock (tests skew it). */
  constructor(sql: Pick<Sql, 'dialect' | 'now'>, local: () => number = Date.now) {
    this.#sql = sql;
    this.#local = local;
  }

  /** Measures the offset now, then keeps it current; SQLite's clock is this process's own. */
  async start(): Promise<void> {
    if (this.#sql.dialect === 'sqlite') return;
    await this.#sync();
    this.#timer = setInterval(() => {
      // A failed measurement keeps the last offset; the store being away is reported by the calls that need it.
      this.#sync().catch(() => {});
    }, SYNC_MS);
    this.#timer.unref();
  }

  async #sync(): Promise<void> {
    const before = this.#local();
    const store = await this.#sql.now();
    const after = this.#local();
    this.#offset = store - Math.round((before + after) / 2);
    this.#synced = true;
  }

  /** The offset has been measured (always, on SQLite). */
  get synced(): boolean {
    return this.#synced || this.#sql.dialect === 'sqlite';
  }

  now(): number {
    return this.#local() + this.#offset;
  }

  /** A store-clock instant as a local delay from now (for timers). */
  until(at: number): number {
    return at - this.now();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
