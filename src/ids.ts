// Identifiers: request ids shaped like Lambda's (UUID v4), account ids and access keys shaped like AWS's.
import { randomBytes, randomFillSync, randomUUID } from 'node:crypto';

export const requestId = (): string => randomUUID();

/** A 12-digit account id, as in `arn:aws:lambda:region:123456789012:function:name`. */
export function accountId(): string {
  const digits = randomBytes(12);
  let s = '';
  for (const d of digits) s += String(d % 10);
  return s[0] === '0' ? `1${s.slice(1)}` : s;
}

const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** `AKIA...` for long-term keys, `ASIA...` for short-lived session keys, 20 characters as AWS's. */
export function accessKeyId(prefix: 'AKIA' | 'ASIA' = 'AKIA'): string {
  let s = prefix;
  for (const b of randomBytes(16)) s += KEY_ALPHABET[b % 32];
  return s;
}

export const secretAccessKey = (): string =>
  randomBytes(30).toString('base64').replace(/[+/=]/g, 'x').slice(0, 40);

/**
 * An X-Ray trace header as Lambda sets `_X_AMZN_TRACE_ID` for each invocation, even without active
 * tracing: `Root=1-<epoch seconds, 8 hex>-<96 random bits>;Parent=<64 random bits>;Sampled=0`.
 */
export function traceHeader(nowMs = Date.now()): string {
  const r = randomHex(40);
  const epoch = Math.floor(nowMs / 1000)
    .toString(16)
    .padStart(8, '0');
  return `Root=1-${epoch}-${r.slice(0, 24)};Parent=${r.slice(24)};Sampled=0`;
}

/**
 * Random hex from a pool refilled 4 KB at a time: one getrandom() per ~200 trace headers instead of
 * one each (randomBytes(20) was ~3% of a warm invoke's server time). Trace ids need no secrecy beyond
 * being unpredictable, which the CSPRNG's output still is.
 */
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let poolAt = POOL_BYTES;
function randomHex(chars: number): string {
  const bytes = chars >> 1;
  if (poolAt + bytes > POOL_BYTES) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const out = pool.toString('hex', poolAt, poolAt + bytes);
  poolAt += bytes;
  return out;
}
