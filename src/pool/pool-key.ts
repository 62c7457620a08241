// What a warming pool's sandboxes are interchangeable for: one runtime, one network mode, one /tmp size.
// A typed value; its name (`nodejs20.x`, `nodejs20.x+net`, `nodejs20.x+tmp1024`) is for stats and admins.

/** Lambda's default EphemeralStorage, in MB. */
export const DEFAULT_TMP_MB = 512;

export interface PoolKey {
  /** The runtime's pool name (registry: poolName). */
  readonly runtime: string;
  readonly networkOutbound: boolean;
  readonly tmpSizeMB: number;
}

export function poolKeyName(k: PoolKey): string {
  return `${k.runtime}${k.networkOutbound ? '+net' : ''}${k.tmpSizeMB !== DEFAULT_TMP_MB ? `+tmp${k.tmpSizeMB}` : ''}`;
}

/** Parses an admin's runtime key (`nodejs20.x+net+tmp1024`); undefined when malformed. */
export function parsePoolKeyName(name: string): PoolKey | undefined {
  const m = /^([^+]+)(\+net)?(?:\+tmp(\d+))?$/.exec(name);
  if (m === null) return undefined;
  return { runtime: m[1]!, networkOutbound: m[2] !== undefined, tmpSizeMB: Number(m[3] ?? DEFAULT_TMP_MB) };
}

/** The default pool of a runtime: no network, the default /tmp (the only one that keeps a floor). */
export function isDefaultPool(k: PoolKey): boolean {
  return !k.networkOutbound && k.tmpSizeMB === DEFAULT_TMP_MB;
}
