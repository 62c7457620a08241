// The digests SQS returns and clients verify: MD5 of the body, and MD5 of the message attributes in
// SQS's binary encoding (names sorted; each field length-prefixed, big-endian u32; transport byte 1=string, 2=binary).
import { createHash } from 'node:crypto';
import type { MessageAttributes } from './types.js';

export const md5Hex = (data: string | Buffer): string => createHash('md5').update(data).digest('hex');

function lengthPrefixed(hash: ReturnType<typeof createHash>, bytes: Buffer): void {
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(bytes.length, 0);
  hash.update(len);
  hash.update(bytes);
}

/** undefined when there are no attributes (SQS then omits the field). */
export function md5OfMessageAttributes(attrs: MessageAttributes | undefined): string | undefined {
  if (!attrs) return undefined;
  const names = Object.keys(attrs).sort();
  if (names.length === 0) return undefined;
  const hash = createHash('md5');
  for (const name of names) {
    const a = attrs[name]!;
    lengthPrefixed(hash, Buffer.from(name, 'utf8'));
    lengthPrefixed(hash, Buffer.from(a.dataType, 'utf8'));
    if (a.binaryValue !== undefined && a.dataType.startsWith('Binary')) {
      hash.update(Buffer.from([2]));
      lengthPrefixed(hash, a.binaryValue);
    } else {
      hash.update(Buffer.from([1]));
      lengthPrefixed(hash, Buffer.from(a.stringValue ?? '', 'utf8'));
    }
  }
  return hash.digest('hex');
}
