// Checksums the S3 API verifies while an object streams in: MD5 (ETag, Content-MD5), SHA-256
// (x-amz-content-sha256) and the flexible ones (CRC32, CRC32C, SHA-1, SHA-256). Node 20 has neither
// zlib.crc32 nor CRC32C, so both CRCs are small table-driven implementations here.
import { createHash, type Hash } from 'node:crypto';

function table(poly: number): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (poly ^ (c >>> 1)) >>> 0 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

const CRC32_TABLE = table(0xedb88320);
const CRC32C_TABLE = table(0x82f63b78);

/** Incremental reflected CRC-32 with the given table. */
class Crc {
  #crc = 0xffffffff;
  constructor(readonly table: Uint32Array) {}
  update(data: Uint8Array): this {
    let c = this.#crc;
    const t = this.table;
    for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
    this.#crc = c;
    return this;
  }
  /** Big-endian 4 bytes, as S3 encodes CRC checksums (then base64). */
  digest(): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32BE((this.#crc ^ 0xffffffff) >>> 0);
    return b;
  }
}

export const crc32 = (data: Uint8Array): number => new Crc(CRC32_TABLE).update(data).digest().readUInt32BE();
export const crc32c = (data: Uint8Array): number =>
  new Crc(CRC32C_TABLE).update(data).digest().readUInt32BE();

export type ChecksumAlgorithm = 'CRC32' | 'CRC32C' | 'SHA1' | 'SHA256';
export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'SHA1', 'SHA256'];

/** `x-amz-checksum-crc32` → 'CRC32'; undefined for other names. */
export function algorithmOfHeader(name: string): ChecksumAlgorithm | undefined {
  const m = /^x-amz-checksum-(crc32c?|sha1|sha256)$/i.exec(name.trim());
  return m ? (m[1]!.toUpperCase() as ChecksumAlgorithm) : undefined;
}
export const headerOfAlgorithm = (a: ChecksumAlgorithm): string => `x-amz-checksum-${a.toLowerCase()}`;

export interface Hasher {
  update(data: Uint8Array): unknown;
  digest(): Buffer;
}

export function hasherFor(a: ChecksumAlgorithm): Hasher {
  switch (a) {
    case 'CRC32':
      return new Crc(CRC32_TABLE);
    case 'CRC32C':
      return new Crc(CRC32C_TABLE);
    case 'SHA1':
      return wrap(createHash('sha1'));
    case 'SHA256':
      return wrap(createHash('sha256'));
  }
}

const wrap = (h: Hash): Hasher => ({ update: (d) => h.update(d), digest: () => h.digest() });
