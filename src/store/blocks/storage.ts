// The encrypted, deduplicated storage of code zips and object bodies: the master key, the block pool
// shared by both, the two manifest stores over it, the sweep of unreferenced blocks and the figures of
// `kindling storage`. KINDLING_STORAGE=plain writes plain blobs (the comparison path of the bench);
// reads open either kind, so switching in both directions keeps every stored body readable.
import path from 'node:path';
import type { BlobStore } from '../blobs/blob-store.js';
import type { Sql } from '../sql.js';
import { BlockPool, blockName, storedSize } from './blocks.js';
import { Keyring, keyFromFile, keyFromStore, parseStorageKey } from './keyring.js';
import { SealedBlobStore } from './sealed-blob-store.js';

/** The owner of code zips: one per digest, shared by every tenant that uploads the same zip. */
export const CODE_OWNER = 'code';
/** The owner of a tenant's object bodies (its manifest key). */
export const tenantOwner = (tenantId: string): string => `tenant:${tenantId}`;

export interface StorageSettings {
  /** KINDLING_STORAGE: 'sealed' (default) or 'plain'. */
  mode: 'sealed' | 'plain';
  /** KINDLING_STORAGE_REDUNDANCY: N ≥ 1 salts, owners spread over them (1: full dedup). */
  redundancy: number;
  /** KINDLING_STORAGE_KEY (64 hex digits), else the data dir's file or the database's row. */
  key: string | undefined;
}

export function storageSettings(env: NodeJS.ProcessEnv): StorageSettings {
  const mode = env.KINDLING_STORAGE || 'sealed';
  if (mode !== 'sealed' && mode !== 'plain') throw new Error('KINDLING_STORAGE must be sealed or plain');
  const n = env.KINDLING_STORAGE_REDUNDANCY ? Number(env.KINDLING_STORAGE_REDUNDANCY) : 1;
  if (!Number.isInteger(n) || n < 1 || n > 1024)
    throw new Error('KINDLING_STORAGE_REDUNDANCY must be an integer from 1 to 1024');
  if (env.KINDLING_STORAGE_KEY) parseStorageKey(env.KINDLING_STORAGE_KEY);
  return { mode, redundancy: n, key: env.KINDLING_STORAGE_KEY || undefined };
}

export interface OwnerFigures {
  /** Bytes of the bodies as stored by their owners (what they uploaded). */
  logicalBytes: number;
  /** Bytes of the distinct blocks (and plain blobs) those bodies use. */
  physicalBytes: number;
  bodies: number;
}

export interface StorageFigures {
  total: OwnerFigures & { blocks: number };
  owners: Map<string, OwnerFigures>;
}

export class Storage {
  readonly code: SealedBlobStore;
  readonly objects: SealedBlobStore;
  readonly pool: BlockPool;
  readonly #shared: boolean;

  constructor(opts: {
    raw: { code: BlobStore; objects: BlobStore; blocks: BlobStore; shared: boolean };
    keyring: Keyring;
    seal: boolean;
  }) {
    this.#shared = opts.raw.shared;
    this.pool = new BlockPool(opts.raw.blocks, opts.keyring, { shared: opts.raw.shared });
    this.code = new SealedBlobStore(opts.raw.code, this.pool, { seal: opts.seal, defaultOwner: CODE_OWNER });
    this.objects = new SealedBlobStore(opts.raw.objects, this.pool, { seal: opts.seal });
  }

  /** Opens the key (env, the data dir's file on one node, the database's row on a shared store). */
  static async open(opts: {
    raw: { code: BlobStore; objects: BlobStore; blocks: BlobStore; shared: boolean };
    settings: StorageSettings;
    dataDir: string;
    sql: Sql;
  }): Promise<Storage> {
    const { settings } = opts;
    const master =
      settings.key !== undefined
        ? parseStorageKey(settings.key)
        : opts.raw.shared
          ? await keyFromStore(opts.sql)
          : keyFromFile(path.join(opts.dataDir, 'storage.key'));
    return new Storage({
      raw: opts.raw,
      keyring: new Keyring(master, settings.redundancy),
      seal: settings.mode === 'sealed',
    });
  }

  /**
   * Removes blocks no manifest of code or objects references. Call after the manifest stores' own
   * sweeps (their orphan manifests go first, then their blocks). See BlockPool.sweep for the races.
   */
  sweep(graceMs: number): Promise<{ removed: number }> {
    return this.pool.sweep(
      async () => {
        const live = new Set<string>();
        for (const store of [this.code, this.objects])
          for await (const e of store.manifests())
            if (e.manifest) for (const b of e.manifest.blocks) live.add(blockName(b.key));
        return live;
      },
      this.#shared ? graceMs : 0,
    );
  }

  /** Logical and physical bytes per owner and in total (reads every manifest: an admin's question). */
  async figures(): Promise<StorageFigures> {
    const owners = new Map<string, OwnerFigures & { names: Set<string> }>();
    const all = new Map<string, number>();
    let plainBytes = 0;
    let bodies = 0;
    let logical = 0;
    for (const store of [this.code, this.objects]) {
      for await (const e of store.manifests()) {
        bodies++;
        if (e.manifest === undefined) {
          // A plain blob (written before the block layer, or in plain mode): owner unknown here.
          plainBytes += e.plainBytes ?? 0;
          logical += e.plainBytes ?? 0;
          continue;
        }
        const m = e.manifest;
        let o = owners.get(m.owner);
        if (o === undefined) {
          o = { logicalBytes: 0, physicalBytes: 0, bodies: 0, names: new Set() };
          owners.set(m.owner, o);
        }
        o.logicalBytes += m.size;
        o.bodies++;
        logical += m.size;
        for (const b of m.blocks) {
          const name = blockName(b.key);
          if (!o.names.has(name)) {
            o.names.add(name);
            o.physicalBytes += storedSize(b);
          }
          all.set(name, storedSize(b));
        }
      }
    }
    let physical = plainBytes;
    for (const s of all.values()) physical += s;
    return {
      total: { logicalBytes: logical, physicalBytes: physical, bodies, blocks: all.size },
      owners: new Map(
        [...owners].map(([k, v]) => [
          k,
          { logicalBytes: v.logicalBytes, physicalBytes: v.physicalBytes, bodies: v.bodies },
        ]),
      ),
    };
  }
}
