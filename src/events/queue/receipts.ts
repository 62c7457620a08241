// Receipt handles and sequence numbers: how a received message is named back to the engine.
import { randomBytes, timingSafeEqual } from 'node:crypto';

/** SQS sequence numbers are large decimal strings, increasing per queue. */
export const sequenceNumber = (seq: number): string => (10n ** 19n + BigInt(seq)).toString();

// Receipt handle: seq (8 bytes) + queue id (4) + a token (18) that changes on every receive: the receive's
// time on the store's clock (6 bytes, ms: ChangeMessageVisibility's 12-hour limit counts from it) and 12
// random bytes.
const TOKEN_BYTES = 18;
const TIME_BYTES = 6;

export interface Receipt {
  seq: number;
  queueId: number;
  token: Buffer;
  /** When the message was received under this handle (ms, store clock). */
  receivedAt: number;
}

export function encodeReceipt(seq: number, queueId: number, token: Buffer): string {
  const b = Buffer.allocUnsafe(12 + TOKEN_BYTES);
  b.writeBigUInt64BE(BigInt(seq), 0);
  b.writeUInt32BE(queueId, 8);
  token.copy(b, 12);
  return b.toString('base64url');
}

export function decodeReceipt(handle: string): Receipt | undefined {
  if (typeof handle !== 'string' || handle.length > 1024 || !/^[A-Za-z0-9_-]+$/.test(handle))
    return undefined;
  const b = Buffer.from(handle, 'base64url');
  if (b.length !== 12 + TOKEN_BYTES) return undefined;
  return {
    seq: Number(b.readBigUInt64BE(0)),
    queueId: b.readUInt32BE(8),
    token: b.subarray(12),
    receivedAt: b.readUIntBE(12, TIME_BYTES),
  };
}

/** Whether a stored receipt token is the one the handle carries (constant time). */
export function sameToken(stored: Buffer | null, token: Buffer): boolean {
  return !!stored && stored.length === token.length && timingSafeEqual(stored, token);
}

// Receipt tokens' random part comes from a pooled buffer: one getrandom call per 227 tokens, not per message.
let pool = Buffer.alloc(0);
let poolAt = 0;
const RANDOM_BYTES = TOKEN_BYTES - TIME_BYTES;
export function receiptToken(receivedAt: number): Buffer {
  if (poolAt + RANDOM_BYTES > pool.length) {
    pool = randomBytes(RANDOM_BYTES * 227);
    poolAt = 0;
  }
  const t = Buffer.allocUnsafe(TOKEN_BYTES);
  t.writeUIntBE(Math.max(0, Math.floor(receivedAt)), 0, TIME_BYTES);
  pool.copy(t, TIME_BYTES, poolAt, poolAt + RANDOM_BYTES);
  poolAt += RANDOM_BYTES;
  return t;
}
