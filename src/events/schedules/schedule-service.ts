// EventBridge Scheduler schedules: create, get, update, list and delete, per tenant, over the schedule store.
// They are rows of their own kind (a spec, a `group/name` key) that the rules' timer fires (scheduler.ts).
import type { FunctionRecord } from '../../control/functions.js';
import type { Tenant } from '../../control/tenants.js';
import { DomainError } from '../../errors.js';
import type { RuleState, ScheduleRule, ScheduleStore } from './schedule-repo.js';
import { readSpec, type ScheduleSpec, timingOf } from './schedule-spec.js';
import {
  instantOf,
  isTimeZone,
  nextScheduledAfter,
  parseSchedulerExpression,
  ScheduleTimingError,
  withinWindow,
} from './schedule-timing.js';

export class SchedulerApiError extends DomainError {}

const e = (code: string, message: string) => new SchedulerApiError(code, message);
export const SchedulerErrors = {
  validation: (message: string) => e('Validation', message),
  notFound: (message: string) => e('NotFound', message),
  conflict: (message: string) => e('Conflict', message),
} as const;

type MaybePromise<T> = T | Promise<T>;

export interface ScheduleServiceDeps {
  store: ScheduleStore;
  region: string;
  resolveFunction(tenant: Tenant, arn: string): MaybePromise<FunctionRecord>;
  /** The timer re-reads the next fire times (this node and the others). */
  changed(): Promise<void>;
}

export interface ScheduleInput {
  group: string;
  name: string;
  expression: string;
  timezone: string | undefined;
  windowMinutes: number | undefined;
  startDate: number | undefined;
  endDate: number | undefined;
  description: string | undefined;
  state: RuleState;
  actionAfterCompletion: 'NONE' | 'DELETE';
  clientToken: string | undefined;
  target: ScheduleSpec['target'];
}

export interface Schedule {
  row: ScheduleRule;
  spec: ScheduleSpec;
}

export class ScheduleService {
  readonly #d: ScheduleServiceDeps;

  constructor(deps: ScheduleServiceDeps) {
    this.#d = deps;
  }

  arn(tenant: Pick<Tenant, 'accountId'>, group: string, name: string): string {
    return `arn:aws:scheduler:${this.#d.region}:${tenant.accountId}:schedule/${group}/${name}`;
  }

  /** Only the default group exists; another group is not found, as a missing group is on Scheduler. */
  checkGroup(group: string): void {
    if (group !== 'default')
      throw SchedulerErrors.notFound(
        `Schedule group ${group} does not exist. Kindling has the default group only.`,
      );
  }

  async get(tenant: Tenant, group: string, name: string): Promise<Schedule> {
    this.checkGroup(group);
    const row = await this.#d.store.get(tenant.id, `${group}/${name}`);
    if (!row || row.spec === undefined) throw SchedulerErrors.notFound(`Schedule ${name} does not exist.`);
    return { row, spec: readSpec(row) };
  }

  async create(tenant: Tenant, input: ScheduleInput, now = Date.now()): Promise<string> {
    this.checkGroup(input.group);
    const existing = await this.#d.store.get(tenant.id, `${input.group}/${input.name}`);
    if (existing) {
      // A retried create (the SDK sends the same ClientToken again) answers as the first one did.
      if (input.clientToken !== undefined && readSpec(existing).clientToken === input.clientToken)
        return existing.arn;
      throw SchedulerErrors.conflict(`Schedule ${input.name} already exists.`);
    }
    const row = await this.#build(tenant, input, undefined, now);
    await this.#d.store.transaction(async (q) => {
      if (await this.#d.store.get(tenant.id, row.name, q))
        throw SchedulerErrors.conflict(`Schedule ${input.name} already exists.`);
      await this.#d.store.upsert(row, q);
    });
    await this.#d.changed();
    return row.arn;
  }

  /** UpdateSchedule replaces the whole schedule: what the call leaves out takes its default. */
  async update(tenant: Tenant, input: ScheduleInput, now = Date.now()): Promise<string> {
    const cur = await this.get(tenant, input.group, input.name);
    const row = await this.#build(tenant, input, cur, now);
    await this.#d.store.transaction(async (q) => {
      if (!(await this.#d.store.get(tenant.id, row.name, q)))
        throw SchedulerErrors.notFound(`Schedule ${input.name} does not exist.`);
      await this.#d.store.upsert(row, q);
    });
    await this.#d.changed();
    return row.arn;
  }

  async delete(tenant: Tenant, group: string, name: string): Promise<void> {
    await this.get(tenant, group, name);
    await this.#d.store.delete(tenant.id, `${group}/${name}`);
    await this.#d.changed();
  }

  /** Name order within the group, after `after`; `state` filters (a page may then hold fewer). */
  async list(
    tenant: Tenant,
    group: string,
    prefix: string,
    state: RuleState | undefined,
    after: string,
    limit: number,
  ): Promise<{ schedules: Schedule[]; last: string | undefined; more: boolean }> {
    this.checkGroup(group);
    const rows = await this.#d.store.list(
      tenant.id,
      `${group}/${prefix}`,
      after === '' ? '' : `${group}/${after}`,
      limit + 1,
      true,
    );
    const page = rows.slice(0, limit);
    const schedules = page
      .filter((r) => state === undefined || r.state === state)
      .map((row) => ({ row, spec: readSpec(row) }));
    const last = page[page.length - 1]?.name.slice(group.length + 1);
    return { schedules, last, more: rows.length > limit };
  }

  async #build(
    tenant: Tenant,
    input: ScheduleInput,
    cur: Schedule | undefined,
    now: number,
  ): Promise<ScheduleRule> {
    const timezone = input.timezone ?? 'UTC';
    if (!isTimeZone(timezone)) throw SchedulerErrors.validation(`Invalid time zone ${timezone}.`);
    let expression: ReturnType<typeof parseSchedulerExpression>;
    try {
      expression = parseSchedulerExpression(input.expression);
    } catch (err) {
      if (err instanceof ScheduleTimingError)
        throw SchedulerErrors.validation(`Invalid Schedule Expression ${input.expression}: ${err.message}.`);
      throw err;
    }
    if (expression.kind === 'at' && instantOf(timezone, expression.wallMs) <= now)
      throw SchedulerErrors.validation(`The one-time schedule ${input.expression} is in the past.`);
    if (input.startDate !== undefined && input.endDate !== undefined && input.startDate >= input.endDate)
      throw SchedulerErrors.validation('The StartDate must be before the EndDate.');
    if (input.endDate !== undefined && input.endDate <= now)
      throw SchedulerErrors.validation('The EndDate must be in the future.');
    if (!/^arn:aws[a-zA-Z-]*:lambda:/.test(input.target.arn))
      throw SchedulerErrors.validation(
        `Target ${input.target.arn} is not a Lambda function: Kindling schedules invoke functions only.`,
      );
    try {
      await this.#d.resolveFunction(tenant, input.target.arn);
    } catch {
      // Another tenant's function answers exactly like a missing one.
      throw SchedulerErrors.validation(`The target function ${input.target.arn} does not exist.`);
    }
    const name = `${input.group}/${input.name}`;
    const arn = this.arn(tenant, input.group, input.name);
    const spec: ScheduleSpec = {
      group: input.group,
      name: input.name,
      timezone,
      ...(input.windowMinutes !== undefined && { windowMinutes: input.windowMinutes }),
      ...(input.startDate !== undefined && { startDate: input.startDate }),
      ...(input.endDate !== undefined && { endDate: input.endDate }),
      actionAfterCompletion: input.actionAfterCompletion,
      ...((input.clientToken ?? cur?.spec.clientToken) !== undefined && {
        clientToken: input.clientToken ?? cur?.spec.clientToken,
      }),
      modifiedAt: now,
      target: input.target,
    };
    // A rate keeps its phase while its timing is unchanged; otherwise it counts from now (or StartDate).
    const sameTiming =
      cur !== undefined &&
      cur.row.expression === input.expression &&
      cur.spec.startDate === input.startDate &&
      cur.row.state === input.state;
    const anchor = sameTiming ? cur.row.anchorAt : (input.startDate ?? now);
    const row: ScheduleRule = {
      tenantId: tenant.id,
      name,
      arn,
      expression: input.expression,
      state: input.state,
      description: input.description,
      spec: JSON.stringify(spec),
      nextFireAt: undefined,
      tickAt: undefined,
      anchorAt: anchor,
      createdAt: cur?.row.createdAt ?? now,
      lastFiredAt: cur?.row.lastFiredAt,
    };
    if (input.state === 'ENABLED') {
      const scheduled = nextScheduledAfter(timingOf(row, spec), now, anchor);
      if (scheduled !== undefined) {
        row.nextFireAt = withinWindow(arn, scheduled, spec.windowMinutes);
        row.tickAt = row.nextFireAt === scheduled ? undefined : scheduled;
      }
    }
    return row;
  }
}
