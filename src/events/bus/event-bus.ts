// The default event bus: PutEvents matches each event against the tenant's enabled pattern rules and hands
// every matched target its payload (the EventBridge envelope, or the target's Input/InputPath) as an async
// invocation. All deliveries of one call are stored in one transaction before the call answers: an accepted
// PutEvents loses nothing across a kill, and a failed one stored nothing.
import { randomUUID } from 'node:crypto';
import type { FunctionRecord } from '../../control/functions.js';
import type { Tenant } from '../../control/tenants.js';
import type { AsyncInvokeOptions } from '../../invoke/types.js';
import type { SqlExecutor } from '../../store/sql.js';
import type { ScheduleStore } from '../schedules/schedule-repo.js';
import { derivedId, selectPath } from '../schedules/scheduler.js';
import { type EventPattern, matchesEventPattern, parseEventPattern } from './pattern.js';

type MaybePromise<T> = T | Promise<T>;

export interface EventBusDeps {
  store: ScheduleStore;
  region: string;
  /** The tenant's function for a target ARN; throws when it has none. */
  resolveFunction(tenant: Tenant, arn: string): MaybePromise<FunctionRecord>;
  /** Stores one async invocation inside the caller's transaction `q`. */
  accept(
    tenant: Tenant,
    rec: FunctionRecord,
    payload: Buffer,
    opts: AsyncInvokeOptions,
    q: SqlExecutor,
  ): MaybePromise<unknown>;
}

/** One validated PutEvents entry. */
export interface BusEvent {
  source: string;
  detailType: string;
  detail: Record<string, unknown>;
  resources: string[];
  /** ms since the epoch. */
  time: number;
}

/** Patterns compiled once per text (rules change rarely; PutEvents reads them per call). */
const COMPILED_LIMIT = 1_000;

export class EventBus {
  readonly #d: EventBusDeps;
  readonly #compiled = new Map<string, EventPattern>();

  constructor(deps: EventBusDeps) {
    this.#d = deps;
  }

  /** The EventBridge event a rule's targets receive. */
  envelope(tenant: Tenant, e: BusEvent, id: string): Record<string, unknown> {
    return {
      version: '0',
      id,
      'detail-type': e.detailType,
      source: e.source,
      account: tenant.accountId,
      time: new Date(e.time).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.#d.region,
      resources: e.resources,
      detail: e.detail,
    };
  }

  /** Undefined for a stored pattern this version cannot read (PutRule validated it): that rule matches nothing. */
  #pattern(text: string): EventPattern | undefined {
    let p = this.#compiled.get(text);
    if (!p) {
      try {
        p = parseEventPattern(text);
      } catch {
        return undefined;
      }
      if (this.#compiled.size >= COMPILED_LIMIT) this.#compiled.clear();
      this.#compiled.set(text, p);
    }
    return p;
  }

  /** Accepts the events (answering their ids, in order) once every matched delivery is stored. */
  async publish(tenant: Tenant, events: readonly BusEvent[]): Promise<string[]> {
    const ids = events.map(() => randomUUID());
    const rules = await this.#d.store.patternRules(tenant.id);
    if (rules.length === 0) return ids;
    const functions = new Map<string, FunctionRecord | undefined>();
    const deliveries: { rec: FunctionRecord; payload: Buffer; opts: AsyncInvokeOptions }[] = [];
    for (const [i, e] of events.entries()) {
      const id = ids[i]!;
      const envelope = this.envelope(tenant, e, id);
      for (const { rule, targets } of rules) {
        const pattern = this.#pattern(rule.eventPattern!);
        if (targets.length === 0 || !pattern || !matchesEventPattern(pattern, envelope)) continue;
        for (const t of targets) {
          // Functions are looked up before the transaction: nothing but its own SQL may run in it.
          if (!functions.has(t.arn)) {
            try {
              functions.set(t.arn, await this.#d.resolveFunction(tenant, t.arn));
            } catch {
              functions.set(t.arn, undefined);
            }
          }
          const rec = functions.get(t.arn);
          if (!rec) {
            console.error(`kindling: rule ${rule.arn}: target ${t.id} skipped: function ${t.arn} not found`);
            continue;
          }
          const payload =
            t.input !== undefined
              ? t.input
              : JSON.stringify(t.inputPath ? selectPath(envelope, t.inputPath) : envelope);
          deliveries.push({
            rec,
            payload: Buffer.from(payload),
            opts: { requestId: derivedId(id, rule.arn, t.id), source: { kind: 'schedule', arn: rule.arn } },
          });
        }
      }
    }
    if (deliveries.length > 0) {
      await this.#d.store.transaction(async (q) => {
        for (const d of deliveries) await this.#d.accept(tenant, d.rec, d.payload, d.opts, q);
      });
    }
    return ids;
  }
}
