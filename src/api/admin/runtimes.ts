// `GET /kindling/v1/runtimes` (admin): every runtime the registry lists, what it runs on this host (binary
// and the version that really runs, or why it is not installed) and its warming pools. Driven by the
// registry alone, so a new entry shows up here by itself.
import { parsePoolKeyName } from '../../pool/pool-key.js';
import { RUNTIMES, type RuntimeDescription } from '../../runtimes/registry.js';
import type { PoolStats } from '../../worker/types.js';
import type { ApiResponse } from '../surface.js';
import { type AdminSurfaceDeps, json } from './request.js';

export interface RuntimeView extends RuntimeDescription {
  /** Names CreateFunction accepts for it (refused while `missing` is set). */
  names: string[];
  /** Names still served but refused for new functions. */
  aliases: string[];
  /** Its folder under runtimes/. */
  runtime: string;
  poolName: string;
  installed: boolean;
  /** Deprecated names with Lambda's deprecation date. */
  deprecated: Record<string, string>;
  /** Its warming pools on this node (one per network mode and /tmp size that has been used). */
  pools: PoolStats[];
}

export function runtimes(d: AdminSurfaceDeps): ApiResponse {
  const pools = d.pool?.stats().pools ?? [];
  const views: RuntimeView[] = RUNTIMES.map((r) => {
    const desc = r.describe();
    return {
      names: [...r.names],
      aliases: [...r.aliases],
      runtime: r.id,
      poolName: r.poolName,
      installed: desc.missing === undefined,
      ...desc,
      deprecated: { ...r.deprecated },
      pools: pools.filter((p) => parsePoolKeyName(p.runtimeKey)?.runtime === r.poolName),
    };
  });
  return json(200, { runtimes: views });
}
