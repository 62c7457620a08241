// The queue engine's clock: the store's (sql.now()), so visibility leases and delays written by one node
// mean the same instant on another whose own clock is a few seconds off. The offset to the local clock
// is measured at start and every SYNC_MS after, so reading the time costs no round trip.
import type { Sql } from '../../store/sql.js';

const SYNC_MS = 10_000;

export class StoreClock {
  readonly #sql: Sql;
  readonly #local: () => number;
  #offset = 0;
  #timer: NodeJS.Timeout | undefined;

  /** `local` is this node's clock (tests skew it). */
  constructor(sql: Sql, local: () => number = Date.now) {
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
