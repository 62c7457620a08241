// Rate matching: how many batches one mapping keeps in flight. It grows while a backlog is visible,
// shrinks when lanes find the source empty, and a throttle (429) lowers the ceiling for a while
// instead of counting as a failure.

export interface RateMatcherOptions {
  /** ScalingConfig.MaximumConcurrency or the platform default. */
  maxConcurrency: number;
  /** Successful batches after a throttle before the ceiling may rise by one again. */
  recoverAfter?: number;
}

export class RateMatcher {
  readonly max: number;
  #ceiling: number;
  #active = 0;
  #sinceThrottle = 0;
  #throttles = 0;
  readonly #recoverAfter: number;

  constructor(opts: RateMatcherOptions) {
    this.max = Math.max(1, opts.maxConcurrency);
    this.#ceiling = this.max;
    this.#recoverAfter = opts.recoverAfter ?? 20;
  }

  get active(): number {
    return this.#active;
  }

  get ceiling(): number {
    return this.#ceiling;
  }

  /** Called when a lane starts or ends. */
  laneStarted(): void {
    this.#active++;
  }

  laneEnded(): void {
    this.#active = Math.max(0, this.#active - 1);
  }

  /**
   * A lane just leased a full batch and this many messages are still visible: add a lane? `limit` is
   * the function's own concurrency limit (reserved concurrency), when it has one.
   */
  shouldGrow(backlog: number, limit?: number): boolean {
    return backlog > 0 && this.#active < this.#ceiling && (limit === undefined || this.#active < limit);
  }

  /** A lane that found nothing may end, except the last one, which keeps waiting for the next message. */
  shouldShrink(): boolean {
    return this.#active > 1;
  }

  /** The function (or tenant) is at its concurrency limit: fewer lanes, and a growing pause for this one. */
  throttled(): number {
    this.#throttles++;
    this.#sinceThrottle = 0;
    this.#ceiling = Math.max(1, Math.min(this.#ceiling, this.#active - 1));
    return Math.min(2_000, 25 * 2 ** Math.min(this.#throttles, 7));
  }

  succeeded(): void {
    this.#throttles = 0;
    if (this.#ceiling < this.max && ++this.#sinceThrottle >= this.#recoverAfter) {
      this.#sinceThrottle = 0;
      this.#ceiling++;
    }
  }

  /** A lane over the (lowered) ceiling should end after its batch. */
  overCeiling(): boolean {
    return this.#active > this.#ceiling;
  }
}
