// Schedules: EventBridge rule operations over the schedule store, and the timer that fires them. The timer
// sleeps until the earliest next fire; a fire stores one async invocation per target and advances the rule
// in the same transaction, so a kill mid-fire neither loses nor repeats it. A rule missed while the server
// was down fires once at start (never a burst of the missed ones), then continues from the current time.
import { randomUUID } from 'node:crypto';
import type { FunctionRecord } from '../../control/functions.js';
import type { Tenant } from '../../control/tenants.js';
import type { AsyncInvokeOptions } from '../../invoke/types.js';
import { EventsErrors } from './errors.js';
import { nextFireAfter, parseScheduleExpression, type ScheduleExpression } from './expression.js';
import type { RuleState, ScheduleRule, ScheduleStore, ScheduleTarget } from './schedule-repo.js';

/** EventBridge's limit of targets per rule. */
export const MAX_TARGETS = 5;

export interface SchedulerDeps {
  store: ScheduleStore;
  region: string;
  tenants: { get(id: string): Tenant | undefined };
  /** The tenant's function for a target ARN; throws when it has none. */
  resolveFunction(tenant: Tenant, arn: string): FunctionRecord;
  /** Stores an async invocation synchronously (inside the fire's transaction). */
  accept(tenant: Tenant, rec: FunctionRecord, payload: Buffer, opts: AsyncInvokeOptions): string;
}

export interface PutRuleInput {
  name: string;
  scheduleExpression: string;
  state?: RuleState;
  description?: string;
}

export type TargetFailure = { TargetId: string; ErrorCode: string; ErrorMessage: string };

function parseExpression(text: string): ScheduleExpression {
  try {
    return parseScheduleExpression(text);
  } catch {
    throw EventsErrors.invalidExpression();
  }
}

/** `$`, `$.a.b` and `$.list[0]`: the JSONPath forms InputPath is used with. */
export function selectPath(value: unknown, path: string): unknown {
  if (path === '$') return value;
  if (!path.startsWith('$.') && !path.startsWith('$['))
    throw EventsErrors.validation('InputPath is not valid.');
  let cur = value;
  for (const m of path.slice(1).matchAll(/\.([^.[\]]+)|\[(\d+)\]/g)) {
    const key = m[1] ?? Number(m[2]);
    cur =
      cur !== null && typeof cur === 'object' ? (cur as Record<string | number, unknown>)[key] : undefined;
  }
  return cur ?? null;
}

export class Scheduler {
  readonly #d: SchedulerDeps;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(deps: SchedulerDeps) {
    this.#d = deps;
  }

  ruleArn(tenant: Pick<Tenant, 'accountId'>, name: string): string {
    return `arn:aws:events:${this.#d.region}:${tenant.accountId}:rule/${name}`;
  }

  #require(tenant: Tenant, name: string): ScheduleRule {
    const r = this.#d.store.get(tenant.id, name);
    if (!r) throw EventsErrors.ruleNotFound(name);
    return r;
  }

  #next(expr: ScheduleExpression, now: number, anchor: number): number | undefined {
    return nextFireAfter(expr, now, anchor);
  }

  putRule(tenant: Tenant, input: PutRuleInput, now = Date.now()): ScheduleRule {
    const expr = parseExpression(input.scheduleExpression);
    const cur = this.#d.store.get(tenant.id, input.name);
    const state = input.state ?? 'ENABLED';
    // Keep the schedule's phase when nothing about its timing changed.
    const same = cur && cur.expression === input.scheduleExpression && cur.state === state;
    const anchor = same ? cur.anchorAt : now;
    const rule: ScheduleRule = {
      tenantId: tenant.id,
      name: input.name,
      arn: this.ruleArn(tenant, input.name),
      expression: input.scheduleExpression,
      state,
      // EventBridge replaces a rule with what PutRule says: omitted fields are not kept.
      description: input.description,
      nextFireAt: state === 'ENABLED' ? (same ? cur.nextFireAt : this.#next(expr, now, anchor)) : undefined,
      anchorAt: anchor,
      createdAt: cur?.createdAt ?? now,
      lastFiredAt: cur?.lastFiredAt,
    };
    this.#d.store.upsert(rule);
    this.wake();
    return rule;
  }

  describe(tenant: Tenant, name: string): ScheduleRule {
    return this.#require(tenant, name);
  }

  list(tenant: Tenant, prefix: string, after: string, limit: number): ScheduleRule[] {
    return this.#d.store.list(tenant.id, prefix, after, limit);
  }

  /** EventBridge refuses to delete a rule that still has targets; deleting a missing rule is a no-op. */
  deleteRule(tenant: Tenant, name: string): void {
    this.#d.store.transaction(() => {
      if (!this.#d.store.get(tenant.id, name)) return;
      if (this.#d.store.targets(tenant.id, name).length > 0) throw EventsErrors.hasTargets();
      this.#d.store.delete(tenant.id, name);
    });
    this.wake();
  }

  setState(tenant: Tenant, name: string, state: RuleState, now = Date.now()): void {
    const r = this.#require(tenant, name);
    if (r.state === state) return;
    this.putRule(tenant, { name, scheduleExpression: r.expression, state, description: r.description }, now);
  }

  targets(tenant: Tenant, name: string): ScheduleTarget[] {
    this.#require(tenant, name);
    return this.#d.store.targets(tenant.id, name);
  }

  /** Per-entry results as EventBridge answers: an entry whose ARN is not the tenant's function fails alone. */
  putTargets(tenant: Tenant, name: string, targets: readonly ScheduleTarget[]): TargetFailure[] {
    return this.#d.store.transaction(() => {
      this.#require(tenant, name);
      const failed: TargetFailure[] = [];
      const existing = new Set(this.#d.store.targets(tenant.id, name).map((t) => t.id));
      for (const t of targets) {
        if (!/^arn:aws[a-zA-Z-]*:lambda:/.test(t.arn)) {
          failed.push({
            TargetId: t.id,
            ErrorCode: 'ValidationException',
            ErrorMessage: `Target ${t.arn} is not a Lambda function: Kindling schedules invoke functions only.`,
          });
          continue;
        }
        try {
          this.#d.resolveFunction(tenant, t.arn);
        } catch {
          failed.push({
            TargetId: t.id,
            ErrorCode: 'ValidationException',
            ErrorMessage: `Function ${t.arn} does not exist.`,
          });
          continue;
        }
        if (!existing.has(t.id) && existing.size >= MAX_TARGETS) {
          throw EventsErrors.limitExceeded('The requested resource exceeds the maximum number allowed.');
        }
        existing.add(t.id);
        this.#d.store.putTarget(tenant.id, name, t);
      }
      return failed;
    });
  }

  removeTargets(tenant: Tenant, name: string, ids: readonly string[]): TargetFailure[] {
    return this.#d.store.transaction(() => {
      this.#require(tenant, name);
      const failed: TargetFailure[] = [];
      for (const id of ids) {
        if (!this.#d.store.removeTarget(tenant.id, name, id)) {
          failed.push({
            TargetId: id,
            ErrorCode: 'ResourceNotFoundException',
            ErrorMessage: `Target ${id} does not exist on rule ${name}.`,
          });
        }
      }
      return failed;
    });
  }

  /** Lambda's scheduled-event JSON for one fire of a rule. */
  scheduledEvent(tenant: Tenant, rule: ScheduleRule, at: number, id = randomUUID()): Record<string, unknown> {
    return {
      version: '0',
      id,
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: tenant.accountId,
      time: new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.#d.region,
      resources: [rule.arn],
      detail: {},
    };
  }

  /**
   * Fires every due rule once, each in its own transaction with its async events and its new next fire
   * time. Returns how many rules fired.
   */
  fireDue(now = Date.now()): number {
    let fired = 0;
    for (const rule of this.#d.store.due(now)) {
      this.#d.store.transaction(() => {
        const cur = this.#d.store.get(rule.tenantId, rule.name);
        if (cur?.state !== 'ENABLED' || cur.nextFireAt === undefined || cur.nextFireAt > now) return;
        const tenant = this.#d.tenants.get(cur.tenantId);
        if (tenant) {
          const event = this.scheduledEvent(tenant, cur, cur.nextFireAt);
          for (const t of this.#d.store.targets(cur.tenantId, cur.name)) {
            let payload: string;
            let rec: FunctionRecord;
            try {
              payload =
                t.input !== undefined
                  ? t.input
                  : JSON.stringify(t.inputPath ? selectPath(event, t.inputPath) : event);
              rec = this.#d.resolveFunction(tenant, t.arn);
            } catch (e) {
              console.error(`kindling: schedule ${cur.arn}: target ${t.id} skipped: ${(e as Error).message}`);
              continue;
            }
            this.#d.accept(tenant, rec, Buffer.from(payload), { source: { kind: 'schedule', arn: cur.arn } });
          }
        }
        // From now, not from the missed time: a schedule missed while down fires once, not once per miss.
        const next = nextFireAfter(parseScheduleExpression(cur.expression), now, cur.anchorAt);
        this.#d.store.setNextFire(cur.tenantId, cur.name, next, now);
        fired++;
      });
    }
    return fired;
  }

  start(): void {
    this.#stopped = false;
    this.wake();
  }

  /** Fires what is due and sleeps until the earliest next fire (call after any rule change). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    let minDelay = 1;
    try {
      this.fireDue();
    } catch (e) {
      console.error('kindling: schedules: firing failed:', e);
      minDelay = 1_000; // no tight loop while the store is failing
    }
    const next = this.#d.store.nextFireAt();
    if (next === undefined) return;
    // Timers fire up to a millisecond early; a too-early wake-up just sleeps again for the rest.
    this.#timer = setTimeout(() => this.wake(), Math.min(Math.max(next - Date.now(), minDelay), 2 ** 31 - 1));
    this.#timer.unref?.();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
