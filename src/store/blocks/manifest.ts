// A stored body's manifest: its size and its blocks' keys, AES-256-GCM under its owner's manifest key
// (Keyring.manifestKey), so the blocks alone reveal nothing and one tenant's key does not open another's.
// Layout: MAGIC | owner length (1 byte) | owner | nonce (12) | sealed body | tag (16); the header is the
// cipher's associated data. Body: version (1), block count (4), size (8), then per block key (32) + size (4).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { BlockRef } from './blocks.js';
import type { Keyring } from './keyring.js';

export const MAGIC = Buffer.from('KNDLMF1\n');
const ENTRY = 36;
const TAG = 16;
const NONCE = 12;

export interface Manifest {
  owner: string;
  size: number;
  blocks: BlockRef[];
}

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

export const isManifest = (head: Buffer): boolean =>
  head.length >= MAGIC.length && head.subarray(0, MAGIC.length).equals(MAGIC);

export function sealManifest(keys: Keyring, m: Manifest): Buffer {
  const owner = Buffer.from(m.owner, 'utf8');
  if (owner.length === 0 || owner.length > 255) throw new Error(`invalid manifest owner ${m.owner}`);
  const header = Buffer.concat([MAGIC, Buffer.from([owner.length]), owner]);
  const body = Buffer.allocUnsafe(13 + m.blocks.length * ENTRY);
  body.writeUInt8(1, 0);
  body.writeUInt32BE(m.blocks.length, 1);
  body.writeBigUInt64BE(BigInt(m.size), 5);
  m.blocks.forEach((b, i) => {
    b.key.copy(body, 13 + i * ENTRY);
    body.writeUInt32BE(b.size, 13 + i * ENTRY + 32);
  });
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', keys.manifestKey(m.owner), nonce);
  cipher.setAAD(header);
  const sealed = Buffer.concat([cipher.update(body), cipher.final()]);
  return Buffer.concat([header, nonce, sealed, cipher.getAuthTag()]);
}

/** The owner a manifest names in its header (for the sweeper, which opens every owner's manifests). */
export function manifestOwner(buf: Buffer): string {
  if (!isManifest(buf) || buf.length < MAGIC.length + 1) throw new ManifestError('not a manifest');
  const n = buf[MAGIC.length]!;
  if (buf.length < MAGIC.length + 1 + n + NONCE + TAG) throw new ManifestError('manifest truncated');
  return buf.subarray(MAGIC.length + 1, MAGIC.length + 1 + n).toString('utf8');
}

/** Opens a manifest with `owner`'s key; ManifestError when it is not that owner's or does not authenticate. */
export function openManifest(keys: Keyring, buf: Buffer, owner: string): Manifest {
  if (manifestOwner(buf) !== owner) throw new ManifestError('the manifest belongs to another owner');
  const start = MAGIC.length + 1 + Buffer.byteLength(owner, 'utf8');
  const decipher = createDecipheriv(
    'aes-256-gcm',
    keys.manifestKey(owner),
    buf.subarray(start, start + NONCE),
  );
  decipher.setAAD(buf.subarray(0, start));
  decipher.setAuthTag(buf.subarray(buf.length - TAG));
  let body: Buffer;
  try {
    body = Buffer.concat([decipher.update(buf.subarray(start + NONCE, buf.length - TAG)), decipher.final()]);
  } catch {
    throw new ManifestError('the manifest does not authenticate (corrupt, or sealed under another key)');
  }
  const count = body.readUInt32BE(1);
  if (body.readUInt8(0) !== 1 || body.length !== 13 + count * ENTRY)
    throw new ManifestError('unknown manifest version');
  const blocks: BlockRef[] = [];
  for (let i = 0; i < count; i++) {
    const at = 13 + i * ENTRY;
    blocks.push({ key: Buffer.from(body.subarray(at, at + 32)), size: body.readUInt32BE(at + 32) });
  }
  return { owner, size: Number(body.readBigUInt64BE(5)), blocks };
}
