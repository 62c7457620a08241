// Authentication of requests one node forwards to another: an HMAC, with the cluster secret kept in the
// database, over the method, path, time, a nonce and the body's hash, in one header. A stale time or a
// nonce seen before is refused (replay window), as is a missing or wrong signature.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const FORWARD_HEADER = 'x-kindling-forwarded';
/** How far a forwarded request's time may be from ours (nodes' clocks may skew by a few seconds). */
export const REPLAY_WINDOW_MS = 30_000;

export interface ForwardSignatureInput {
  method: string;
  /** The path and query as sent. */
  path: string;
  body: Buffer;
  /** The forwarding node's id. */
  from: string;
}

const mac = (secret: string, i: ForwardSignatureInput, t: number, nonce: string): string =>
  createHmac('sha256', secret)
    .update(
      `${i.method}\n${i.path}\n${t}\n${nonce}\n${i.from}\n${createHash('sha256').update(i.body).digest('hex')}`,
    )
    .digest('hex');

export function signForward(secret: string, i: ForwardSignatureInput, now = Date.now()): string {
  const nonce = randomBytes(12).toString('hex');
  return `t=${now},n=${nonce},from=${i.from},sig=${mac(secret, i, now, nonce)}`;
}

export type ForwardCheck = { ok: true; from: string } | { ok: false; reason: string };

/** Checks forwarded requests' signatures, remembering nonces for the replay window. */
export class ForwardVerifier {
  readonly #seen = new Map<string, number>();
  #prunedAt = 0;

  constructor(readonly secret: () => string | undefined) {}

  verify(header: string, i: Omit<ForwardSignatureInput, 'from'>, now = Date.now()): ForwardCheck {
    const secret = this.secret();
    if (secret === undefined) return { ok: false, reason: 'this node has no cluster secret' };
    const parts = new Map(
      header.split(',').map((p) => {
        const eq = p.indexOf('=');
        return [p.slice(0, eq).trim(), p.slice(eq + 1).trim()] as const;
      }),
    );
    const t = Number(parts.get('t'));
    const nonce = parts.get('n') ?? '';
    const from = parts.get('from') ?? '';
    const sig = parts.get('sig') ?? '';
    if (!Number.isFinite(t) || !/^[0-9a-f]{16,64}$/.test(nonce) || !/^[0-9a-f]{64}$/.test(sig) || !from)
      return { ok: false, reason: 'malformed' };
    if (Math.abs(now - t) > REPLAY_WINDOW_MS) return { ok: false, reason: 'stale' };
    const want = Buffer.from(mac(secret, { ...i, from }, t, nonce), 'hex');
    if (!timingSafeEqual(want, Buffer.from(sig, 'hex'))) return { ok: false, reason: 'bad signature' };
    this.#prune(now);
    if (this.#seen.has(nonce)) return { ok: false, reason: 'replayed' };
    this.#seen.set(nonce, t);
    return { ok: true, from };
  }

  #prune(now: number): void {
    if (now - this.#prunedAt < 1_000) return;
    this.#prunedAt = now;
    for (const [n, t] of this.#seen) if (Math.abs(now - t) > REPLAY_WINDOW_MS) this.#seen.delete(n);
  }
}
