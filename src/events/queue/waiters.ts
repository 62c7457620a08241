// Wake-ups for long polls and pollers: listeners per queue, woken in-process after a commit that makes a
// message receivable, or by a timer armed for the next delayed or leased message.
import { setMaxListeners } from 'node:events';
import type { QueueCatalogue } from './catalogue.js';
import type { SqliteQueueRepo } from './queue-repo.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

interface Watch {
  listeners: Set<() => void>;
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
}

export class QueueWaiters {
  readonly #repo: SqliteQueueRepo;
  readonly #catalogue: QueueCatalogue;
  readonly #watches = new Map<number, Watch>();
  readonly #closing = new AbortController();

  constructor(repo: SqliteQueueRepo, catalogue: QueueCatalogue) {
    this.#repo = repo;
    this.#catalogue = catalogue;
    // Every long poll listens on this signal.
    setMaxListeners(0, this.#closing.signal);
  }

  get closed(): boolean {
    return this.#closing.signal.aborted;
  }

  onMessage(queueId: number, listener: () => void): () => void {
    let w = this.#watches.get(queueId);
    if (!w) {
      w = { listeners: new Set(), timer: undefined, timerAt: Number.POSITIVE_INFINITY };
      this.#watches.set(queueId, w);
      // Messages already delayed or in flight will become receivable later: arm the timer for the first.
      this.#armNext(queueId);
    }
    w.listeners.add(listener);
    return () => {
      const cur = this.#watches.get(queueId);
      if (!cur) return;
      cur.listeners.delete(listener);
      if (cur.listeners.size === 0) {
        if (cur.timer) clearTimeout(cur.timer);
        this.#watches.delete(queueId);
      }
    };
  }

  /** Resolves true once the queue (already loaded by the caller) has a receivable message. */
  waitForMessages(queueId: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#receivable(queueId)) return Promise.resolve(true);
    if (timeoutMs <= 0 || signal?.aborted || this.#closing.signal.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer);
        unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        this.#closing.signal.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), Math.min(timeoutMs, MAX_TIMER_MS));
      const unsubscribe = this.onMessage(queueId, () => done(true));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#closing.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** After a commit that may make messages receivable now (at <= now) or at `at`. */
  afterChange(queueId: number, at: number): void {
    const w = this.#watches.get(queueId);
    if (!w) return;
    if (at <= Date.now()) this.notify(queueId);
    else this.#arm(queueId, w, at);
  }

  /** Leased messages come back at `at` unless deleted first; the timer then finds out which. */
  afterLease(queueId: number, at: number): void {
    const w = this.#watches.get(queueId);
    if (w) this.#arm(queueId, w, at);
  }

  #arm(queueId: number, w: Watch, at: number): void {
    if (w.timer && w.timerAt <= at) return;
    if (w.timer) clearTimeout(w.timer);
    w.timerAt = at;
    w.timer = setTimeout(
      () => {
        w.timer = undefined;
        w.timerAt = Number.POSITIVE_INFINITY;
        if (this.#receivable(queueId)) this.notify(queueId);
        if (this.#watches.get(queueId) === w) this.#armNext(queueId);
      },
      Math.min(Math.max(0, at - Date.now()) + 1, MAX_TIMER_MS),
    );
    w.timer.unref();
  }

  /** Whether a receive would get a message now (for FIFO: one whose group is not blocked). */
  #receivable(queueId: number): boolean {
    const l = this.#catalogue.cached(queueId);
    if (!l) return false;
    const now = Date.now();
    return l.config.fifo
      ? this.#repo.visibleMessages(queueId, true, now, 1).length > 0
      : this.#repo.hasVisible(queueId, now);
  }

  #armNext(queueId: number): void {
    const w = this.#watches.get(queueId);
    if (!w || this.#closing.signal.aborted) return;
    const next = this.#repo.nextVisibleAt(queueId, Date.now());
    if (next !== null) this.#arm(queueId, w, next);
  }

  notify(queueId: number): void {
    const w = this.#watches.get(queueId);
    if (!w) return;
    for (const l of [...w.listeners]) {
      try {
        l();
      } catch (e) {
        console.error('kindling: queue listener failed:', e);
      }
    }
  }

  /** Ends every long poll and timer. */
  close(): void {
    this.#closing.abort();
    for (const w of this.#watches.values()) if (w.timer) clearTimeout(w.timer);
  }
}
