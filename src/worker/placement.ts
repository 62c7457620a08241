// Placement of a request on an environment, in DESIGN.md's order: an idle warm environment already
// holding this version → a sandbox from the warming pool, bound now → a newly started sandbox.
// Idle environments are kept per versionKey and network grant, so one is never handed to another tenant
// or version, nor kept serving a tenant whose network grant changed.
import type { RuntimeProcess } from '../pool/runtime-process.js';
import type { WarmingPool } from '../pool/warming-pool.js';
import { Environment } from './environment.js';
import type { FunctionVersionSpec, StartKind } from './types.js';

/** What an idle environment is reusable for: one version, built for one network grant. */
export function idleKey(spec: FunctionVersionSpec): string {
  return spec.networkOutbound
    ? `${spec.versionKey}\0net\0${(spec.egressAllow ?? []).join(',')}`
    : spec.versionKey;
}

export class IdleEnvironments {
  private readonly byVersion = new Map<string, Environment[]>();

  /** Most recently used first, so the least used ones age out under keep-alive. `key`: idleKey(spec). */
  take(key: string): Environment | undefined {
    const list = this.byVersion.get(key);
    if (list === undefined) return undefined;
    let env = list.pop();
    while (env !== undefined && !env.rt.sandbox.alive()) {
      void env.retire();
      env = list.pop();
    }
    if (list.length === 0) this.byVersion.delete(key);
    return env;
  }

  put(env: Environment): void {
    if (env.spec === undefined) return;
    const key = idleKey(env.spec);
    let list = this.byVersion.get(key);
    if (list === undefined) {
      list = [];
      this.byVersion.set(key, list);
    }
    list.push(env);
  }

  remove(env: Environment): boolean {
    if (env.spec === undefined) return false;
    const key = idleKey(env.spec);
    const list = this.byVersion.get(key);
    const i = list?.indexOf(env) ?? -1;
    if (list === undefined || i < 0) return false;
    list.splice(i, 1);
    if (list.length === 0) this.byVersion.delete(key);
    return true;
  }

  all(): Environment[] {
    return [...this.byVersion.values()].flat();
  }

  /** The idle environment unused for the longest time (evicted first when the host is full). */
  leastRecentlyUsed(): Environment | undefined {
    let lru: Environment | undefined;
    for (const list of this.byVersion.values()) {
      for (const env of list) if (lru === undefined || env.lastUsed < lru.lastUsed) lru = env;
    }
    return lru;
  }

  get size(): number {
    let n = 0;
    for (const l of this.byVersion.values()) n += l.length;
    return n;
  }
}

export interface Placed {
  env: Environment;
  start: StartKind;
}

/**
 * Finds an environment for `key` (idleKey of the spec). A 'pool' or 'cold' environment comes back unbound: the caller binds
 * it to the version (and owns it from then on).
 */
export async function place(
  idle: IdleEnvironments,
  key: string,
  pool: WarmingPool,
  allowWarm: boolean,
  /** Called before a new environment is made; frees capacity or throws. */
  makeRoom: () => void,
): Promise<Placed> {
  if (allowWarm) {
    const warm = idle.take(key);
    if (warm !== undefined) return { env: warm, start: 'warm' };
  }
  makeRoom();
  const hit: RuntimeProcess | undefined = pool.take();
  if (hit !== undefined) return { env: new Environment(hit), start: 'pool' };
  return { env: new Environment(await pool.startNew()), start: 'cold' };
}
