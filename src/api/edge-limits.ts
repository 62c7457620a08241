// What the HTTP edge holds a request to before it is authenticated: a cap on the bytes of
// unauthenticated bodies buffered at once (server-wide and per client address) and a minimum
// transfer rate for every body. Without them a valid (public) access key id, a bogus signature and a
// body trickled a byte at a time pin memory for as long as the client likes.
import type { IncomingMessage } from 'node:http';
import type { EdgeLimits } from '../config.js';

/**
 * The client an unauthenticated byte is charged to. IPv6 peers are grouped by their /64, the block
 * one host usually holds; unix-socket peers (sandbox relays) have no address and count only
 * toward the server-wide cap.
 */
export function addressKey(address: string | undefined): string | undefined {
  if (address === undefined || address === '') return undefined;
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** Bytes of bodies read before their request was authenticated, and the caps on them. */
export class PreAuthBudget {
  #total = 0;
  readonly #byAddress = new Map<string, number>();

  constructor(readonly limits: Pick<EdgeLimits, 'unauthenticatedBytes' | 'unauthenticatedBytesPerAddress'>) {}

  /** Bytes held right now (for tests and `kindling doctor`). */
  get bytes(): number {
    return this.#total;
  }

  /** A hold for one request's body, charged to its client; release it once the request is authenticated. */
  hold(address: string | undefined): PreAuthHold {
    return new PreAuthHold(this, addressKey(address));
  }

  /** Takes n bytes for the client; false, taking nothing, when that would pass a cap. */
  take(key: string | undefined, n: number): boolean {
    if (this.#total + n > this.limits.unauthenticatedBytes) return false;
    if (key !== undefined) {
      const held = this.#byAddress.get(key) ?? 0;
      if (held + n > this.limits.unauthenticatedBytesPerAddress) return false;
      this.#byAddress.set(key, held + n);
    }
    this.#total += n;
    return true;
  }

  give(key: string | undefined, n: number): void {
    this.#total -= n;
    if (key === undefined) return;
    const left = (this.#byAddress.get(key) ?? 0) - n;
    if (left > 0) this.#byAddress.set(key, left);
    else this.#byAddress.delete(key);
  }
}

export class PreAuthHold {
  #held = 0;

  constructor(
    private readonly budget: PreAuthBudget,
    private readonly key: string | undefined,
  ) {}

  /** Grows the hold to at least `total` bytes; false when a cap refuses it. */
  reserve(total: number): boolean {
    if (total <= this.#held) return true;
    if (!this.budget.take(this.key, total - this.#held)) return false;
    this.#held = total;
    return true;
  }

  release(): void {
    if (this.#held > 0) this.budget.give(this.key, this.#held);
    this.#held = 0;
  }
}

interface Watched {
  req: IncomingMessage;
  start: number;
  /** socket.bytesRead when the request reached the handler. */
  base: number;
  cut: () => void;
}

/**
 * Cuts bodies that arrive slower than the minimum rate (on average since the request reached the
 * handler) once the grace period is over. One timer serves every watched request. Time during which
 * the server itself has unread bytes buffered (a surface behind on a disk write) is not held against
 * the client.
 */
export class BodyRateWatch {
  readonly #entries = new Map<IncomingMessage, Watched>();
  #timer: NodeJS.Timeout | undefined;
  readonly #limits: Pick<EdgeLimits, 'bodyMinBytesPerSec' | 'bodyGraceMs'>;

  constructor(limits: Pick<EdgeLimits, 'bodyMinBytesPerSec' | 'bodyGraceMs'>) {
    this.#limits = limits;
  }

  /** Requests whose body is still being watched (for tests and `kindling doctor`). */
  get watching(): number {
    return this.#entries.size;
  }

  watch(req: IncomingMessage, cut: () => void): void {
    if (req.complete || this.#limits.bodyMinBytesPerSec <= 0) return;
    this.#entries.set(req, { req, start: Date.now(), base: req.socket.bytesRead, cut });
    if (!this.#timer) {
      const every = Math.max(100, Math.min(1000, this.#limits.bodyGraceMs / 2));
      this.#timer = setInterval(() => this.#check(), every);
      this.#timer.unref();
    }
  }

  /**
   * The body is all read: the request leaves the watch now, not at the next check. Kept until then, every
   * request (and all it refers to) outlived a young-generation collection and was promoted to the old
   * one: most of the server's garbage-collection time under load.
   */
  done(req: IncomingMessage): void {
    this.#entries.delete(req);
  }

  #check(): void {
    const now = Date.now();
    for (const e of this.#entries.values()) {
      const { req } = e;
      if (req.complete || req.destroyed || req.socket.destroyed) {
        this.#entries.delete(req);
        continue;
      }
      const elapsed = now - e.start;
      if (elapsed < this.#limits.bodyGraceMs) continue;
      // Bytes waiting in our own buffers mean the server is the slow party.
      if (req.readableLength > 0 || req.socket.readableLength > 0) continue;
      const received = req.socket.bytesRead - e.base;
      if (received < (this.#limits.bodyMinBytesPerSec * elapsed) / 1000) {
        this.#entries.delete(req);
        e.cut();
      }
    }
    if (this.#entries.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
