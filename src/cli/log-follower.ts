// What `kindling logs --follow` has shown, so that no entry is skipped when entries commit out of order.
// On PostgreSQL several nodes (and one node's concurrent flushes) write logs: an entry's seq is taken
// when it is inserted, not when it commits, so a lower seq can become visible after a higher one. A bare
// "after the highest seq seen" cursor would skip it for good. The follower asks from a watermark that
// trails what it has seen by a lookback period instead, and prints each entry once.

/** Longer than any write of a log batch stays uncommitted (one INSERT and one DELETE). */
export const FOLLOW_LOOKBACK_MS = 10_000;

export class LogFollower {
  /** Every entry at or below it has been shown (or is history before the first page). */
  #watermark: number;
  /** Entries shown above the watermark, with when they were first seen. */
  readonly #seen = new Map<number, number>();
  readonly #lookbackMs: number;

  /** `first`: the page already shown; `cursor`: where the server said to go on when it was empty. */
  constructor(
    first: readonly { seq: number }[],
    cursor: number,
    now = Date.now(),
    lookbackMs = FOLLOW_LOOKBACK_MS,
  ) {
    this.#lookbackMs = lookbackMs;
    this.#watermark = first.length > 0 ? Math.min(...first.map((e) => e.seq)) - 1 : cursor;
    for (const e of first) this.#seen.set(e.seq, now);
  }

  /** Where the next query starts (`after`). */
  get after(): number {
    return this.#watermark;
  }

  /** The entries of a page not shown yet, in the page's order; they count as shown from now on. */
  take<T extends { seq: number }>(page: readonly T[], now = Date.now()): T[] {
    const fresh = page.filter((e) => e.seq > this.#watermark && !this.#seen.has(e.seq));
    for (const e of fresh) this.#seen.set(e.seq, now);
    return fresh;
  }

  /** Moves the watermark up to the highest entry seen longer than the lookback ago. */
  settle(now = Date.now()): void {
    let mark = this.#watermark;
    for (const [seq, at] of this.#seen) if (now - at >= this.#lookbackMs && seq > mark) mark = seq;
    this.#watermark = mark;
    for (const seq of this.#seen.keys()) if (seq <= mark) this.#seen.delete(seq);
  }
}
