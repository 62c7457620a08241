// Per-node caches of the control plane (keys, tenants, function configurations) and how nodes tell each
// other to drop them: every write through a node invalidates its own copy and notifies the others on
// one channel; an empty payload (sent when a node's LISTEN connection comes back) clears everything.
import { randomUUID } from 'node:crypto';
import type { Sql } from '../store/sql.js';

export const CONTROL_CHANNEL = 'kindling_control';

export type ControlChange =
  | { kind: 'tenant'; id: string }
  /** The admin changed the tenant's network grant: every node retires the tenant's environments. */
  | { kind: 'network'; id: string }
  | { kind: 'key'; id: string }
  | { kind: 'function'; tenantId: string; name: string }
  | { kind: 'all' };

/** A change as received, with whether this store instance sent it. */
export type ReceivedChange = ControlChange & { own: boolean };

/** Publishes and receives control changes for one store instance (a TenantStore or a FunctionStore). */
export class ControlChannel {
  readonly #sql: Sql;
  readonly #origin = randomUUID();

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async subscribe(onChange: (change: ReceivedChange) => void): Promise<void> {
    await this.#sql.listen(CONTROL_CHANNEL, (payload) => onChange(this.#decode(payload)));
  }

  /**
   * Tells the other nodes. A failure is logged, not thrown: the write is committed already, and a node
   * that missed the notification because the database was away clears everything when its LISTEN
   * connection comes back.
   */
  async publish(change: ControlChange): Promise<void> {
    try {
      await this.#sql.notify(
        CONTROL_CHANNEL,
        change.kind === 'all' ? '' : JSON.stringify({ ...change, o: this.#origin }),
      );
    } catch (e) {
      console.error('kindling: could not notify other nodes of a control change:', (e as Error).message);
    }
  }

  #decode(payload: string): ReceivedChange {
    if (payload === '') return { kind: 'all', own: false };
    try {
      const { o, ...change } = JSON.parse(payload) as ControlChange & { o?: string };
      return { ...change, own: o === this.#origin };
    } catch {
      return { kind: 'all', own: false };
    }
  }
}

/**
 * A map whose entries are filled from the store: a read that began before an invalidation does not put
 * what it read (possibly the old row) into the cache after it.
 */
export class InvalidatedCache<V> {
  readonly #map = new Map<string, V>();
  #generation = 0;

  peek(key: string): V | undefined {
    return this.#map.get(key);
  }

  async load(key: string, fetch: () => Promise<V | undefined>): Promise<V | undefined> {
    const hit = this.#map.get(key);
    if (hit !== undefined) return hit;
    const generation = this.#generation;
    const value = await fetch();
    if (value !== undefined && generation === this.#generation) this.#map.set(key, value);
    return value;
  }

  delete(key: string): void {
    this.#map.delete(key);
    this.#generation++;
  }

  /** Drops every entry whose key starts with prefix (all qualifiers of one function). */
  deletePrefix(prefix: string): void {
    for (const k of this.#map.keys()) if (k.startsWith(prefix)) this.#map.delete(k);
    this.#generation++;
  }

  clear(): void {
    this.#map.clear();
    this.#generation++;
  }
}
