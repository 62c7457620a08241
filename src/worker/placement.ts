// Placement of a request on an environment, in DESIGN.md's order: an idle warm environment already
// holding this version → a sandbox from the warming pool, bound now → a newly started sandbox.
// Idle environments are kept per versionKey and network grant, so one is never handed to another tenant
// or version, nor kept serving a tenant whose network grant changed.
import type { WarmingPool } from '../pool/warming-pool.js';
import type { SandboxVolume } from '../sandbox/driver.js';
import { EnvSlot } from './env-slot.js';
import type { FunctionVersionSpec, StartKind } from './types.js';

/** What an idle environment is reusable for: one version, built for one network grant. */
export function idleKey(spec: FunctionVersionSpec): string {
  return spec.networkOutbound
    ? `${spec.versionKey}\0net\0${(spec.egressAllow ?? []).join(',')}`
    : spec.versionKey;
}

export class IdleEnvironments {
  private readonly byVersion = new Map<string, EnvSlot[]>();

  /** Most recently used first, so the least used ones age out under keep-alive. `key`: idleKey(spec). */
  take(key: string): EnvSlot | undefined {
    const list = this.byVersion.get(key);
    if (list === undefined) return undefined;
    let slot = list.pop();
    while (slot !== undefined && !slot.env.alive()) {
      clearTimeout(slot.idleTimer);
      void slot.env.retire();
      slot = list.pop();
    }
    if (list.length === 0) this.byVersion.delete(key);
    return slot;
  }

  put(slot: EnvSlot): void {
    if (slot.spec === undefined) return;
    const key = idleKey(slot.spec);
    let list = this.byVersion.get(key);
    if (list === undefined) {
      list = [];
      this.byVersion.set(key, list);
    }
    list.push(slot);
  }

  remove(slot: EnvSlot): boolean {
    if (slot.spec === undefined) return false;
    const key = idleKey(slot.spec);
    const list = this.byVersion.get(key);
    const i = list?.indexOf(slot) ?? -1;
    if (list === undefined || i < 0) return false;
    list.splice(i, 1);
    if (list.length === 0) this.byVersion.delete(key);
    return true;
  }

  /** Idle environments per versionKey (whatever network grant they were built for). */
  versions(): Record<string, { functionArn: string; idle: number }> {
    const out: Record<string, { functionArn: string; idle: number }> = {};
    for (const list of this.byVersion.values()) {
      const spec = list[0]?.spec;
      if (spec === undefined) continue;
      const entry = out[spec.versionKey];
      if (entry === undefined) out[spec.versionKey] = { functionArn: spec.functionArn, idle: list.length };
      else entry.idle += list.length;
    }
    return out;
  }

  all(): EnvSlot[] {
    return [...this.byVersion.values()].flat();
  }

  /** The idle environment unused for the longest time (evicted first when the host is full). */
  leastRecentlyUsed(eligible: (s: EnvSlot) => boolean = () => true): EnvSlot | undefined {
    let lru: EnvSlot | undefined;
    for (const list of this.byVersion.values()) {
      for (const s of list) if ((lru === undefined || s.lastUsed < lru.lastUsed) && eligible(s)) lru = s;
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
  slot: EnvSlot;
  start: StartKind;
}

/**
 * Finds an environment for `key` (idleKey of the spec). A 'pool' or 'cold' environment comes back unbound:
 * the caller binds it to the version (and owns it from then on).
 */
export async function place(
  idle: IdleEnvironments,
  key: string,
  pool: WarmingPool,
  allowWarm: boolean,
  /** Called before a new environment is made; frees capacity or throws. */
  makeRoom: () => void,
  /** Whose request it is: a new environment is started for that tenant. */
  tenantId?: string,
  /** A volume the version mounts: never a pool sandbox (they hold none), always a new start. */
  volume?: SandboxVolume,
): Promise<Placed> {
  if (allowWarm) {
    const warm = idle.take(key);
    if (warm !== undefined) return { slot: warm, start: 'warm' };
  }
  makeRoom();
  if (volume !== undefined)
    return { slot: new EnvSlot(await pool.startNew(tenantId, volume)), start: 'cold' };
  const hit = pool.take();
  if (hit !== undefined) return { slot: new EnvSlot(hit), start: 'pool' };
  return { slot: new EnvSlot(await pool.startNew(tenantId)), start: 'cold' };
}
