// How many sandboxes start at once for requests that found no warm or pooled environment. A start is
// CPU-bound (a runtime boots); hundreds at once on a few cores all pass their start timeout together
// and fail, where taking turns lets every one of them start.
import os from 'node:os';

export class StartGate {
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(readonly limit = Math.max(2, 2 * os.availableParallelism())) {}

  /** Runs `start` when fewer than `limit` starts are running; in arrival order. */
  async run<T>(start: () => Promise<T>): Promise<T> {
    if (this.#running >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#running++;
    try {
      return await start();
    } finally {
      const next = this.#waiting.shift();
      // The slot passes to the next waiter as it is: the count stays.
      if (next !== undefined) next();
      else this.#running--;
    }
  }

  get waiting(): number {
    return this.#waiting.length;
  }
}
