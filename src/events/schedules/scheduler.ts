// Schedules: EventBridge rule operations over the schedule store, and the timer that fires them. Every node
// runs the timer; a node fires a tick only after winning the compare-and-set that advances the rule (so a
// tick fires on one node), and hands it to the async queue with request ids derived from rule, tick and
// target (so a node that dies mid-hand-over leaves a leased claim another node finishes without doubling
// an event). A rule missed while every node was down fires once (never a burst of the missed ones), then
// continues from the current time. EventBridge Scheduler schedules (rows with a spec) fire through the same
// claims, with their own timing (schedule-timing.ts) and one target.
import { createHash, randomUUID } from 'node:crypto';
import type { FunctionRecord } from '../../control/functions.js';
import type { Tenant } from '../../control/tenants.js';
import type { AsyncInvokeOptions } from '../../invoke/types.js';
import { EventPatternError, parseEventPattern } from '../bus/pattern.js';
import { EventsErrors } from './errors.js';
import { nextFireAfter, parseScheduleExpression, type ScheduleExpression } from './expression.js';
import type { RuleState, ScheduleRule, ScheduleStore, ScheduleTarget } from './schedule-repo.js';
import { readSpec, timingOf, withContext } from './schedule-spec.js';
import { nextScheduledAfter, withinWindow } from './schedule-timing.js';

/** EventBridge's limit of targets per rule. */
export const MAX_TARGETS = 5;

type MaybePromise<T> = T | Promise<T>;

export interface SchedulerDeps {
  store: ScheduleStore;
  region: string;
  tenants: { get(id: string): MaybePromise<Tenant | undefined> };
  /** The tenant's function for a target ARN; throws when it has none. */
  resolveFunction(tenant: Tenant, arn: string): MaybePromise<FunctionRecord>;
  /**
   * Durably stores an async invocation with the request id given. A request id already stored must fail
   * with the store's unique-key error (or succeed without a second event): that is what makes a repeated
   * hand-over of one tick harmless.
   */
  accept(
    tenant: Tenant,
    rec: FunctionRecord,
    payload: Buffer,
    opts: AsyncInvokeOptions,
  ): MaybePromise<unknown>;
  /** How long a claimed tick may stay half handed-over before another node finishes it (default 30 s). */
  leaseMs?: number;
}

/** The channel rule changes are announced on, so every node re-reads its next fire time. */
export const SCHEDULES_CHANNEL = 'kindling_schedules';

/** A UUID-shaped id that is the same on every node for the same inputs. */
export function derivedId(...parts: (string | number)[]): string {
  const h = createHash('sha256').update(parts.join('\n')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((Number.parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The store's "this key exists already" (SQLite or PostgreSQL), possibly wrapped once. */
function isDuplicateKey(e: unknown): boolean {
  for (let cur = e as { code?: unknown; cause?: unknown } | undefined, i = 0; cur && i < 3; i++) {
    if (
      cur.code === '23505' ||
      cur.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
      cur.code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
    )
      return true;
    cur = cur.cause as typeof cur;
  }
  return false;
}

export interface PutRuleInput {
  name: string;
  /** At least one of scheduleExpression and eventPattern. */
  scheduleExpression?: string | undefined;
  eventPattern?: string | undefined;
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
  readonly #leaseMs: number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #round: Promise<void> | undefined;
  #again = false;
  #unlisten: (() => void) | undefined;

  constructor(deps: SchedulerDeps) {
    this.#d = deps;
    this.#leaseMs = deps.leaseMs ?? 30_000;
  }

  ruleArn(tenant: Pick<Tenant, 'accountId'>, name: string): string {
    return `arn:aws:events:${this.#d.region}:${tenant.accountId}:rule/${name}`;
  }

  async #require(tenant: Tenant, name: string): Promise<ScheduleRule> {
    const r = await this.#d.store.get(tenant.id, name);
    if (!r) throw EventsErrors.ruleNotFound(name);
    return r;
  }

  #next(expr: ScheduleExpression, now: number, anchor: number): number | undefined {
    return nextFireAfter(expr, now, anchor);
  }

  /** Wakes this node now and every other node through the store (after a change of timed rows). */
  async changed(): Promise<void> {
    void this.wake();
    await this.#d.store.sql.notify(SCHEDULES_CHANNEL).catch(() => {
      // The others re-read their next fire time within a rescan period anyway.
    });
  }

  async putRule(tenant: Tenant, input: PutRuleInput, now?: number): Promise<ScheduleRule> {
    const text = input.scheduleExpression ?? '';
    const expr = text === '' ? undefined : parseExpression(text);
    if (input.eventPattern !== undefined) {
      try {
        parseEventPattern(input.eventPattern);
      } catch (e) {
        if (e instanceof EventPatternError) throw EventsErrors.invalidPattern(e.message);
        throw e;
      }
    }
    const at = now ?? (await this.#d.store.sql.now());
    const cur = await this.#d.store.get(tenant.id, input.name);
    const state = input.state ?? 'ENABLED';
    // Keep the schedule's phase when nothing about its timing changed.
    const same = cur && cur.expression === text && cur.state === state;
    const anchor = same ? cur.anchorAt : at;
    const rule: ScheduleRule = {
      tenantId: tenant.id,
      name: input.name,
      arn: this.ruleArn(tenant, input.name),
      expression: text,
      eventPattern: input.eventPattern,
      state,
      // EventBridge replaces a rule with what PutRule says: omitted fields are not kept.
      description: input.description,
      nextFireAt:
        state === 'ENABLED' && expr ? (same ? cur.nextFireAt : this.#next(expr, at, anchor)) : undefined,
      anchorAt: anchor,
      createdAt: cur?.createdAt ?? at,
      lastFiredAt: cur?.lastFiredAt,
    };
    await this.#d.store.upsert(rule);
    await this.changed();
    return rule;
  }

  describe(tenant: Tenant, name: string): Promise<ScheduleRule> {
    return this.#require(tenant, name);
  }

  list(tenant: Tenant, prefix: string, after: string, limit: number): Promise<ScheduleRule[]> {
    return this.#d.store.list(tenant.id, prefix, after, limit);
  }

  /** EventBridge refuses to delete a rule that still has targets; deleting a missing rule is a no-op. */
  async deleteRule(tenant: Tenant, name: string): Promise<void> {
    const { store } = this.#d;
    await store.transaction(async (q) => {
      if (!(await store.get(tenant.id, name, q))) return;
      if ((await store.targets(tenant.id, name, q)).length > 0) throw EventsErrors.hasTargets();
      await store.delete(tenant.id, name, q);
    });
    await this.changed();
  }

  async setState(tenant: Tenant, name: string, state: RuleState, now?: number): Promise<void> {
    const r = await this.#require(tenant, name);
    if (r.state === state) return;
    await this.putRule(
      tenant,
      {
        name,
        scheduleExpression: r.expression || undefined,
        eventPattern: r.eventPattern,
        state,
        description: r.description,
      },
      now,
    );
  }

  async targets(tenant: Tenant, name: string): Promise<ScheduleTarget[]> {
    await this.#require(tenant, name);
    return this.#d.store.targets(tenant.id, name);
  }

  /** Per-entry results as EventBridge answers: an entry whose ARN is not the tenant's function fails alone. */
  async putTargets(
    tenant: Tenant,
    name: string,
    targets: readonly ScheduleTarget[],
  ): Promise<TargetFailure[]> {
    const { store } = this.#d;
    await this.#require(tenant, name);
    const failed: TargetFailure[] = [];
    const valid: ScheduleTarget[] = [];
    // Functions are looked up before the transaction: nothing but the transaction's own SQL may run in it.
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
        await this.#d.resolveFunction(tenant, t.arn);
      } catch {
        failed.push({
          TargetId: t.id,
          ErrorCode: 'ValidationException',
          ErrorMessage: `Function ${t.arn} does not exist.`,
        });
        continue;
      }
      valid.push(t);
    }
    await store.transaction(async (q) => {
      if (!(await store.get(tenant.id, name, q))) throw EventsErrors.ruleNotFound(name);
      const existing = new Set((await store.targets(tenant.id, name, q)).map((t) => t.id));
      for (const t of valid) {
        if (!existing.has(t.id) && existing.size >= MAX_TARGETS) {
          throw EventsErrors.limitExceeded('The requested resource exceeds the maximum number allowed.');
        }
        existing.add(t.id);
        await store.putTarget(tenant.id, name, t, q);
      }
    });
    return failed;
  }

  async removeTargets(tenant: Tenant, name: string, ids: readonly string[]): Promise<TargetFailure[]> {
    const { store } = this.#d;
    return store.transaction(async (q) => {
      if (!(await store.get(tenant.id, name, q))) throw EventsErrors.ruleNotFound(name);
      const failed: TargetFailure[] = [];
      for (const id of ids) {
        if (!(await store.removeTarget(tenant.id, name, id, q))) {
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
  scheduledEvent(
    tenant: Tenant,
    rule: ScheduleRule,
    at: number,
    id: string = randomUUID(),
  ): Record<string, unknown> {
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
   * Finishes hand-overs other nodes left behind, then fires every due rule this node wins the claim of.
   * `now` is the store's clock unless given. Returns how many ticks this node fired.
   */
  async fireDue(now?: number): Promise<number> {
    const { store } = this.#d;
    const at = now ?? (await store.sql.now());
    let fired = 0;
    for (const rule of await store.stalledFirings(at)) {
      const tick = rule.firingAt;
      if (tick === undefined) continue;
      if (!(await store.reclaimFiring(rule.tenantId, rule.name, tick, at, at + this.#leaseMs))) continue;
      // The scheduled time of a flexible fire is not kept past its claim: the fire time stands in for it.
      await this.#handOver(rule, tick, tick);
      await this.#done(rule, tick);
    }
    for (const rule of await store.due(at)) {
      const tick = rule.nextFireAt;
      if (tick === undefined) continue;
      let next: number | undefined;
      let nextTickAt: number | undefined;
      try {
        ({ next, nextTickAt } = this.#after(rule, at));
      } catch (e) {
        // A row this version cannot read (never written by it): parked (no next fire) rather than fired
        // wrongly, or found due again at every wake-up.
        console.error(`kindling: schedule ${rule.arn} parked: ${(e as Error).message}`);
        if (await store.claimTick(rule.tenantId, rule.name, tick, undefined, at, at + this.#leaseMs))
          await store.firingDone(rule.tenantId, rule.name, tick);
        continue;
      }
      const claimed = await store.claimTick(
        rule.tenantId,
        rule.name,
        tick,
        next,
        at,
        at + this.#leaseMs,
        nextTickAt,
      );
      if (!claimed) continue;
      await this.#handOver(rule, tick, rule.tickAt ?? tick);
      await this.#done(rule, tick, next === undefined);
      fired++;
    }
    return fired;
  }

  /**
   * A fired row's next fire time (and its scheduled time when a flexible window moves it). From now, not
   * from the missed time: a schedule missed while down fires once, not once per miss; a flexible fire late
   * within its window continues from its own scheduled time.
   */
  #after(rule: ScheduleRule, at: number): { next: number | undefined; nextTickAt: number | undefined } {
    if (rule.spec === undefined)
      return {
        next: nextFireAfter(parseScheduleExpression(rule.expression), at, rule.anchorAt),
        nextTickAt: undefined,
      };
    // A one-time schedule is done once it fired.
    if (rule.expression.startsWith('at(')) return { next: undefined, nextTickAt: undefined };
    const spec = readSpec(rule);
    const windowMs = (spec.windowMinutes ?? 0) * 60_000;
    const base = rule.tickAt !== undefined && at <= rule.tickAt + windowMs ? rule.tickAt : at;
    const scheduled = nextScheduledAfter(timingOf(rule, spec), base, rule.anchorAt);
    if (scheduled === undefined) return { next: undefined, nextTickAt: undefined };
    const next = withinWindow(rule.arn, scheduled, spec.windowMinutes);
    return { next, nextTickAt: next === scheduled ? undefined : scheduled };
  }

  /** The tick is handed over; a schedule with nothing left to fire and ActionAfterCompletion DELETE goes. */
  async #done(rule: ScheduleRule, tick: number, finished?: boolean): Promise<void> {
    const { store } = this.#d;
    await store.firingDone(rule.tenantId, rule.name, tick);
    if (rule.spec === undefined) return;
    const current = finished ?? (await store.get(rule.tenantId, rule.name))?.nextFireAt === undefined;
    if (current && readSpec(rule).actionAfterCompletion === 'DELETE') {
      await store.deleteIfFinished(rule.tenantId, rule.name);
    }
  }

  /** Stores one async invocation per target for the tick; repeating it for the same tick adds nothing. */
  async #handOver(rule: ScheduleRule, tick: number, scheduledAt: number): Promise<void> {
    const tenant = await this.#d.tenants.get(rule.tenantId);
    if (!tenant) return;
    if (rule.spec !== undefined) return this.#handOverSchedule(tenant, rule, tick, scheduledAt);
    const event = this.scheduledEvent(tenant, rule, tick, derivedId(rule.arn, tick));
    for (const t of await this.#d.store.targets(rule.tenantId, rule.name)) {
      let payload: string;
      let rec: FunctionRecord;
      try {
        payload =
          t.input !== undefined
            ? t.input
            : JSON.stringify(t.inputPath ? selectPath(event, t.inputPath) : event);
        rec = await this.#d.resolveFunction(tenant, t.arn);
      } catch (e) {
        console.error(`kindling: schedule ${rule.arn}: target ${t.id} skipped: ${(e as Error).message}`);
        continue;
      }
      try {
        await this.#d.accept(tenant, rec, Buffer.from(payload), {
          requestId: derivedId(rule.arn, tick, t.id),
          source: { kind: 'schedule', arn: rule.arn },
        });
      } catch (e) {
        // Stored by an earlier hand-over of this tick (a node died after it): not a second event.
        if (!isDuplicateKey(e)) throw e;
      }
    }
  }

  /** A Scheduler schedule's one target gets its Input (context keywords replaced) or `{}`, as Scheduler sends. */
  async #handOverSchedule(
    tenant: Tenant,
    rule: ScheduleRule,
    tick: number,
    scheduledAt: number,
  ): Promise<void> {
    const spec = readSpec(rule);
    const requestId = derivedId(rule.arn, tick);
    let rec: FunctionRecord;
    try {
      rec = await this.#d.resolveFunction(tenant, spec.target.arn);
    } catch (e) {
      console.error(`kindling: schedule ${rule.arn}: target skipped: ${(e as Error).message}`);
      return;
    }
    const input =
      spec.target.input === undefined
        ? '{}'
        : withContext(spec.target.input, {
            arn: rule.arn,
            scheduledAt,
            executionId: requestId.replaceAll('-', '').slice(0, 16),
          });
    try {
      await this.#d.accept(tenant, rec, Buffer.from(input), {
        requestId,
        source: { kind: 'schedule', arn: rule.arn },
      });
    } catch (e) {
      if (!isDuplicateKey(e)) throw e;
    }
  }

  async start(): Promise<void> {
    this.#stopped = false;
    const { store } = this.#d;
    await store.ready();
    // One node by construction: what a killed process left half handed-over is finished now.
    if (store.sql.dialect === 'sqlite') await store.expireFirings();
    this.#unlisten = await store.sql.listen(SCHEDULES_CHANNEL, () => void this.wake());
    await this.wake();
  }

  /**
   * Fires what is due and sleeps until the earliest next fire, or at most a lease period (a rule another
   * node changed while a notification was lost). Resolves when this round is done; never rejects.
   */
  wake(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#round !== undefined) {
      this.#again = true;
      return this.#round;
    }
    this.#round = this.#run().finally(() => {
      this.#round = undefined;
    });
    return this.#round;
  }

  async #run(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    let delay = this.#leaseMs;
    do {
      this.#again = false;
      let minDelay = 1;
      try {
        await this.fireDue();
        const next = await this.#d.store.nextFireAt();
        const now = await this.#d.store.sql.now();
        if (next !== undefined) delay = Math.min(delay, next - now);
      } catch (e) {
        console.error('kindling: schedules: firing failed:', (e as Error).message);
        minDelay = 1_000; // no tight loop while the store is failing
      }
      // Timers fire up to a millisecond early; a too-early wake-up just sleeps again for the rest.
      delay = Math.min(Math.max(delay, minDelay), 2 ** 31 - 1);
    } while (this.#again && !this.#stopped);
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.wake(), delay);
    this.#timer.unref?.();
  }

  /** Stops firing; a tick this node claimed and is handing over finishes first. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unlisten?.();
    this.#unlisten = undefined;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round;
  }
}
