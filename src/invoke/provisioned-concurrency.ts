// Provisioned concurrency: keeps the configured number of environments of a version or alias initialised
// (init code run, AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency) through the prewarm path, so
// invocations up to that number never see an init. Every node warms every configuration (re-read from the
// store each refresh, so a node converges within one refresh) and reports its own status.
import type { ProvisionedConcurrencyStore, ProvisionedConfig } from '../control/provisioned-concurrency.js';
import type { Tenant, TenantStore } from '../control/tenants.js';
import { isNotFound } from '../errors.js';
import type { InvocationService } from './invocation-service.js';

export type ProvisionedState = 'IN_PROGRESS' | 'READY' | 'FAILED';

export interface ProvisionedStatus {
  status: ProvisionedState;
  /** Initialised environments of the configuration on this node. */
  available: number;
  reason?: string;
}

/** Environments are kept this long past each refresh; a deleted configuration's lapse within it. */
const KEEP_MS = 5 * 60_000;

export interface ProvisionedWarmerOptions {
  store: ProvisionedConcurrencyStore;
  tenants: TenantStore;
  service: Pick<InvocationService, 'prewarm'>;
  refreshMs?: number;
}

const keyOf = (c: Pick<ProvisionedConfig, 'functionId' | 'qualifier'>) => `${c.functionId}\0${c.qualifier}`;

export class ProvisionedWarmer {
  readonly #o: ProvisionedWarmerOptions;
  readonly #status = new Map<string, ProvisionedStatus>();
  /** The latest warm-up per configuration: an older one finishing late does not overwrite its status. */
  readonly #runs = new Map<string, number>();
  #run = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: ProvisionedWarmerOptions) {
    this.#o = o;
  }

  get store(): ProvisionedConcurrencyStore {
    return this.#o.store;
  }

  /** Warms every stored configuration now and again every refresh. */
  start(): void {
    void this.#refresh();
    this.#timer = setInterval(() => void this.#refresh(), this.#o.refreshMs ?? 60_000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  status(c: ProvisionedConfig): ProvisionedStatus {
    return this.#status.get(keyOf(c)) ?? { status: 'IN_PROGRESS', available: 0 };
  }

  /** Stores the configuration and starts warming it (the answer does not wait: IN_PROGRESS). */
  async put(tenant: Tenant, c: ProvisionedConfig): Promise<void> {
    await this.#o.store.put(c);
    this.#status.set(keyOf(c), { status: 'IN_PROGRESS', available: 0 });
    void this.#warm(tenant, c);
  }

  async delete(c: Pick<ProvisionedConfig, 'functionId' | 'qualifier'>): Promise<boolean> {
    this.#status.delete(keyOf(c));
    this.#runs.delete(keyOf(c));
    return this.#o.store.delete(c.functionId, c.qualifier);
  }

  async #refresh(): Promise<void> {
    try {
      for (const c of await this.#o.store.all()) {
        const tenant = await this.#o.tenants.get(c.tenantId);
        if (tenant) await this.#warm(tenant, c);
      }
    } catch (e) {
      console.error('kindling: refreshing provisioned concurrency failed:', e);
    }
  }

  async #warm(tenant: Tenant, c: ProvisionedConfig): Promise<void> {
    const key = keyOf(c);
    const run = ++this.#run;
    this.#runs.set(key, run);
    let next: ProvisionedStatus;
    try {
      const r = await this.#o.service.prewarm(
        tenant,
        `${c.functionName}:${c.qualifier}`,
        c.requested,
        KEEP_MS,
      );
      next =
        r.warm >= c.requested
          ? { status: 'READY', available: r.warm }
          : {
              status: r.errors.length > 0 ? 'FAILED' : 'IN_PROGRESS',
              available: r.warm,
              reason:
                r.errors[0] ?? (r.limitedBy ? 'Not enough concurrency or capacity on this node.' : undefined),
            };
    } catch (e) {
      // The version or alias is gone: so is its configuration.
      if (isNotFound(e)) {
        await this.delete(c).catch(() => false);
        return;
      }
      next = { status: 'FAILED', available: 0, reason: (e as Error).message };
    }
    if (this.#runs.get(key) === run) this.#status.set(key, next);
  }
}
