// Wake-ups for long polls and pollers: listeners per queue, woken after a commit that makes a message
// receivable (this node's directly, other nodes' through QueueSignals), or by a timer armed for the next
// delayed or leased message. While a queue has listeners, a slow re-check (RECHECK_MS) guards against a
// lost signal and finds leases other nodes took that will run out; nothing sleep-polls faster than that.
import { setMaxListeners } from 'node:events';
import type { StoreClock } from '../../store/clock.js';
import type { QueueCatalogue } from './catalogue.js';
import { SqsError } from './errors.js';
import type { QueueRepo } from './queue-repo.js';
import type { ReceivedMessage } from './types.js';

const MAX_TIMER_MS = 2 ** 31 - 1;
const RECHECK_MS = 2_000;

/**
 * A receiver of this node waiting on a queue that takes new messages straight from a send, already leased
 * (the send's INSERT writes the lease), so it starts work without a receive round trip.
 */
export interface Handoff {
  max: number;
  visibilityMs: number;
  attributeNames: readonly string[] | undefined;
  messageAttributeNames: readonly string[] | undefined;
  /** Set once a send took it: its delivery (possibly empty, if the send failed) is on its way. */
  taken: boolean;
  deliver(messages: ReceivedMessage[]): void;
}

interface Watch {
  listeners: Set<() => void>;
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
  recheck: NodeJS.Timeout;
}

export class QueueWaiters {
  readonly #repo: QueueRepo;
  readonly #catalogue: QueueCatalogue;
  readonly #clock: StoreClock;
  readonly #recheckMs: number;
  readonly #watches = new Map<number, Watch>();
  readonly #handoffs = new Map<number, Handoff[]>();
  readonly #closing = new AbortController();

  constructor(repo: QueueRepo, catalogue: QueueCatalogue, clock: StoreClock, recheckMs = RECHECK_MS) {
    this.#repo = repo;
    this.#catalogue = catalogue;
    this.#clock = clock;
    this.#recheckMs = Math.max(1_000, recheckMs);
    // Every long poll listens on this signal.
    setMaxListeners(0, this.#closing.signal);
  }

  get closed(): boolean {
    return this.#closing.signal.aborted;
  }

  onMessage(queueId: number, listener: () => void): () => void {
    let w = this.#watches.get(queueId);
    if (!w) {
      const recheck = setInterval(() => this.#check(queueId, true), Math.min(this.#recheckMs, MAX_TIMER_MS));
      recheck.unref();
      w = { listeners: new Set(), timer: undefined, timerAt: Number.POSITIVE_INFINITY, recheck };
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
        clearInterval(cur.recheck);
        this.#watches.delete(queueId);
      }
    };
  }

  /** Resolves true once the queue (already loaded by the caller) has a receivable message. */
  async waitForMessages(queueId: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (timeoutMs <= 0 || signal?.aborted || this.#closing.signal.aborted) return this.#receivable(queueId);
    return new Promise<boolean>((resolve, reject) => {
      let settled = false;
      const done = (v: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        this.#closing.signal.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), Math.min(timeoutMs, MAX_TIMER_MS));
      // Listen first, then look: a message sent in between wakes the listener instead of being missed.
      const unsubscribe = this.onMessage(queueId, () => done(true));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#closing.signal.addEventListener('abort', onAbort, { once: true });
      this.#receivable(queueId).then(
        (yes) => {
          if (yes) done(true);
        },
        (err: unknown) => {
          if (settled) return;
          done(false);
          reject(err);
        },
      );
    });
  }

  /** Offers a receiver for handoffs on a queue; returns its withdrawal. */
  offerHandoff(queueId: number, h: Handoff): () => void {
    let list = this.#handoffs.get(queueId);
    if (!list) {
      list = [];
      this.#handoffs.set(queueId, list);
    }
    list.push(h);
    return () => {
      const cur = this.#handoffs.get(queueId);
      if (!cur) return;
      const i = cur.indexOf(h);
      if (i >= 0) cur.splice(i, 1);
      if (cur.length === 0) this.#handoffs.delete(queueId);
    };
  }

  /** The longest-waiting receiver on a queue, taken (removed), or undefined. */
  takeHandoff(queueId: number): Handoff | undefined {
    const list = this.#handoffs.get(queueId);
    const h = list?.shift();
    if (list?.length === 0) this.#handoffs.delete(queueId);
    if (h) h.taken = true;
    return h;
  }

  /** After a commit (on any node) that may make messages receivable now (at <= now) or at `at`. */
  afterChange(queueId: number, at: number): void {
    const w = this.#watches.get(queueId);
    if (!w) return;
    if (at <= this.#clock.now()) this.notify(queueId);
    else this.#arm(queueId, w, at);
  }

  /** Leased messages come back at `at` unless deleted first; the timer then finds out which. */
  afterLease(queueId: number, at: number): void {
    const w = this.#watches.get(queueId);
    if (w) this.#arm(queueId, w, at);
  }

  #arm(queueId: number, w: Watch, at: number): void {
    if (!Number.isFinite(at) || (w.timer && w.timerAt <= at)) return;
    if (w.timer) clearTimeout(w.timer);
    w.timerAt = at;
    w.timer = setTimeout(
      () => {
        w.timer = undefined;
        w.timerAt = Number.POSITIVE_INFINITY;
        this.#check(queueId, this.#watches.get(queueId) === w);
      },
      Math.min(Math.max(0, this.#clock.until(at)) + 1, MAX_TIMER_MS),
    );
    w.timer.unref();
  }

  /** Wakes the queue's listeners if a receive would get a message now; then re-arms for the next one. */
  #check(queueId: number, rearm: boolean): void {
    if (this.#closing.signal.aborted) return;
    this.#receivable(queueId)
      .then((yes) => {
        if (yes) this.notify(queueId);
        if (rearm) this.#armNext(queueId);
      })
      .catch(() => {
        // The store is away: the next re-check tries again.
      });
  }

  /** Whether a receive would get a message now (for FIFO: one whose group is not blocked). */
  async #receivable(queueId: number): Promise<boolean> {
    const l = await this.#catalogue.loadedById(queueId).catch((e: unknown) => {
      if (e instanceof SqsError) return undefined; // deleted
      throw e;
    });
    if (!l) return false;
    const now = this.#clock.now();
    return l.config.fifo
      ? (await this.#repo.visibleFifo(queueId, now, 1)).length > 0
      : this.#repo.hasVisible(queueId, now);
  }

  #armNext(queueId: number): void {
    if (this.#closing.signal.aborted) return;
    this.#repo
      .nextVisibleAt(queueId, this.#clock.now())
      .then((next) => {
        const w = this.#watches.get(queueId);
        if (w && next !== null) this.#arm(queueId, w, next);
      })
      .catch(() => {
        // The store is away: the periodic re-check arms it later.
      });
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

  /** Wakes every listener (signals may have been lost while the store's listener reconnected). */
  notifyAll(): void {
    for (const id of [...this.#watches.keys()]) this.notify(id);
  }

  /** Ends every long poll and timer. */
  close(): void {
    this.#closing.abort();
    for (const w of this.#watches.values()) {
      if (w.timer) clearTimeout(w.timer);
      clearInterval(w.recheck);
    }
  }
}
