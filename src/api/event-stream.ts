// AWS's event-stream binary framing (application/vnd.amazon.eventstream), as InvokeWithResponseStream and
// S3's SelectObjectContent answer in it: each message is [total length][headers length][prelude CRC32]
// [headers][payload][CRC32], big-endian, with string headers (`:message-type`, `:event-type`, ...).
import { crc32 } from '../events/objects/checksums.js';

const STRING = 7;
const EMPTY = Buffer.alloc(0);

/** An `event` message; `contentType` undefined leaves the header out (S3's `Cont` and `End` carry none). */
export function eventMessage(
  eventType: string,
  contentType: string | undefined,
  payload: Buffer = EMPTY,
): Buffer {
  const headers: Array<[string, string]> = [[':event-type', eventType]];
  if (contentType !== undefined) headers.push([':content-type', contentType]);
  headers.push([':message-type', 'event']);
  return encodeMessage(headers, payload);
}

/** An `error` message: how a stream that has already started reports a failure. */
export function errorMessage(code: string, message: string): Buffer {
  return encodeMessage(
    [
      [':error-code', code],
      [':error-message', message],
      [':message-type', 'error'],
    ],
    EMPTY,
  );
}

export function encodeMessage(headerList: Array<[string, string]>, payload: Buffer): Buffer {
  const headers = encodeHeaders(headerList);
  const total = 12 + headers.length + payload.length + 4;
  const out = Buffer.allocUnsafe(total);
  out.writeUInt32BE(total, 0);
  out.writeUInt32BE(headers.length, 4);
  out.writeUInt32BE(crc32(out.subarray(0, 8)), 8);
  headers.copy(out, 12);
  payload.copy(out, 12 + headers.length);
  out.writeUInt32BE(crc32(out.subarray(0, total - 4)), total - 4);
  return out;
}

function encodeHeaders(headers: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name);
    const v = Buffer.from(value);
    const h = Buffer.allocUnsafe(1 + n.length + 1 + 2 + v.length);
    h.writeUInt8(n.length, 0);
    n.copy(h, 1);
    h.writeUInt8(STRING, 1 + n.length);
    h.writeUInt16BE(v.length, 2 + n.length);
    v.copy(h, 4 + n.length);
    parts.push(h);
  }
  return Buffer.concat(parts);
}
