// The storage master key and what is derived from it: each owner's manifest key (a tenant's objects,
// or the platform's code) and the convergent salts. The key is KINDLING_STORAGE_KEY (64 hex digits) or,
// on one node, `storage.key` in the data dir (created 0600 at first start); on a shared blob store
// without the variable, one row in the database that every node reads (the first start writes it).
// Losing the key loses every stored object and code zip: blocks and manifests are unreadable without it.
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { Sql } from '../sql.js';

export const KEY_BYTES = 32;
const HEX_KEY = /^[0-9a-fA-F]{64}$/;

export class Keyring {
  readonly #master: Buffer;
  readonly #redundancy: number;
  readonly #manifestKeys = new Map<string, Buffer>();
  readonly #salts = new Map<number, Buffer>();

  /** `redundancy` (N ≥ 1): owners are spread over N salts, so a hot block has at most N ciphertexts. */
  constructor(master: Buffer, redundancy = 1) {
    if (master.length !== KEY_BYTES) throw new Error('the storage key must be 32 bytes');
    if (!Number.isInteger(redundancy) || redundancy < 1) throw new Error('storage redundancy must be ≥ 1');
    this.#master = master;
    this.#redundancy = redundancy;
  }

  get redundancy(): number {
    return this.#redundancy;
  }

  /** The AES-256-GCM key of an owner's manifests: another owner's key never opens them. */
  manifestKey(owner: string): Buffer {
    let k = this.#manifestKeys.get(owner);
    if (k === undefined) {
      k = Buffer.from(hkdfSync('sha256', this.#master, '', `kindling manifest\0${owner}`, KEY_BYTES));
      this.#manifestKeys.set(owner, k);
    }
    return k;
  }

  /**
   * The convergent salt of an owner's blocks: one of N, chosen by the owner (N = 1: one salt, every
   * identical block is stored once across tenants). Secret (derived from the master key), so holding
   * the blocks does not let anyone confirm a guessed plaintext.
   */
  salt(owner: string): Buffer {
    const i =
      this.#redundancy === 1
        ? 0
        : createHmac('sha256', this.#master)
            .update(`kindling redundancy\0${owner}`)
            .digest()
            .readUInt32BE(0) % this.#redundancy;
    let s = this.#salts.get(i);
    if (s === undefined) {
      s = Buffer.from(hkdfSync('sha256', this.#master, '', `kindling block salt\0${i}`, KEY_BYTES));
      this.#salts.set(i, s);
    }
    return s;
  }
}

/** Parses KINDLING_STORAGE_KEY; throws a one-line message when it is not 64 hex digits. */
export function parseStorageKey(value: string): Buffer {
  if (!HEX_KEY.test(value.trim())) throw new Error('KINDLING_STORAGE_KEY must be 64 hex digits (32 bytes)');
  return Buffer.from(value.trim(), 'hex');
}

/** The key file of one node's data dir: read, or created (0600) on the first start. */
export function keyFromFile(file: string): Buffer {
  try {
    return parseStorageKey(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${file}: ${(e as Error).message}`);
  }
  const key = randomBytes(KEY_BYTES);
  // 'wx': two starts at once agree on the first one's key. Synced before anything is sealed with it.
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return keyFromFile(file);
    throw e;
  }
  try {
    fs.writeSync(fd, `${key.toString('hex')}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return key;
}

/** The cluster's key in the database: the first node to start writes it, every node reads the same. */
export async function keyFromStore(sql: Sql): Promise<Buffer> {
  await sql.migrate('storage-key', [
    'CREATE TABLE storage_key (id INTEGER PRIMARY KEY CHECK (id = 1), key TEXT NOT NULL)',
  ]);
  await sql.run('INSERT INTO storage_key (id, key) VALUES (1, ?) ON CONFLICT (id) DO NOTHING', [
    randomBytes(KEY_BYTES).toString('hex'),
  ]);
  const row = await sql.get<{ key: string }>('SELECT key FROM storage_key WHERE id = 1');
  return parseStorageKey(row!.key);
}
