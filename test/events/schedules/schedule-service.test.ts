// Scheduler API schedules over a real schedule store (this run's: SQLite, or PostgreSQL on that leg), fired
// by the rules' timer at explicit times: a one-time schedule fires once, a flexible fire lands in its window
// and the next continues from its scheduled time, EndDate ends a schedule, DELETE after completion.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import type { FunctionRecord } from '../../../src/control/functions.js';
import type { Tenant } from '../../../src/control/tenants.js';
import { ScheduleStore } from '../../../src/events/schedules/schedule-repo.js';
import { type ScheduleInput, ScheduleService } from '../../../src/events/schedules/schedule-service.js';
import { Scheduler } from '../../../src/events/schedules/scheduler.js';
import { type SharedStore, sharedStore } from '../../helpers/shared-store.js';

const MIN = 60_000;
// In the future, so the real clock (which each change's wake-up fires against) never reaches these fires.
const T0 = Date.parse('2030-03-10T08:00:00Z');
const tenant = { id: 't-1', name: 't1', accountId: '123456789012', isAdmin: false } as unknown as Tenant;
const FN = `arn:aws:lambda:us-east-1:${tenant.accountId}:function:f`;

let shared: SharedStore;
let store: ScheduleStore;
let scheduler: Scheduler;
let service: ScheduleService;
let accepted: { payload: string; requestId: string }[];

beforeEach(async () => {
  shared = await sharedStore();
  store = new ScheduleStore(await shared.open());
  await store.ready();
  accepted = [];
  const resolveFunction = (_t: Tenant, arn: string) => {
    if (arn !== FN) throw new Error('not found');
    return { name: 'f', arn } as FunctionRecord;
  };
  scheduler = new Scheduler({
    store,
    region: 'us-east-1',
    tenants: { get: () => tenant },
    resolveFunction,
    accept: (_t, _rec, payload, opts) => {
      accepted.push({ payload: payload.toString(), requestId: opts.requestId! });
    },
  });
  service = new ScheduleService({ store, region: 'us-east-1', resolveFunction, changed: async () => {} });
});
afterEach(async () => {
  await scheduler.stop();
  await shared.close();
});

const input = (name: string, extra: Partial<ScheduleInput> = {}): ScheduleInput => ({
  group: 'default',
  name,
  expression: 'rate(1 hour)',
  timezone: undefined,
  windowMinutes: undefined,
  startDate: undefined,
  endDate: undefined,
  description: undefined,
  state: 'ENABLED',
  actionAfterCompletion: 'NONE',
  clientToken: undefined,
  target: { arn: FN, roleArn: 'r', maxEventAgeSeconds: 86400, maxRetryAttempts: 185 },
  ...extra,
});

const row = (name: string) => store.get(tenant.id, `default/${name}`);

test('a one-time schedule fires once at its time and then has nothing left to fire', async () => {
  await service.create(tenant, input('once', { expression: 'at(2030-03-10T09:00:00)' }), T0);
  assert.equal(await scheduler.fireDue(T0 + 59 * MIN), 0);
  assert.equal(await scheduler.fireDue(T0 + 60 * MIN), 1);
  assert.equal(await scheduler.fireDue(T0 + 600 * MIN), 0);
  assert.equal(accepted.length, 1);
  assert.deepEqual(JSON.parse(accepted[0]!.payload), {});
  const r = await row('once');
  assert.equal(r?.nextFireAt, undefined);
});

test('ActionAfterCompletion DELETE removes a one-time schedule after it fired', async () => {
  await service.create(
    tenant,
    input('gone', { expression: 'at(2030-03-10T09:00:00)', actionAfterCompletion: 'DELETE' }),
    T0,
  );
  await scheduler.fireDue(T0 + 60 * MIN);
  assert.equal(await row('gone'), undefined);
});

test('a flexible fire lands within its window and the next one follows its scheduled time', async () => {
  await service.create(
    tenant,
    input('flex', {
      windowMinutes: 30,
      target: { ...input('x').target, input: '"<aws.scheduler.scheduled-time>"' },
    }),
    T0,
  );
  const first = (await row('flex'))!;
  assert.equal(first.tickAt ?? first.nextFireAt, T0 + 60 * MIN);
  assert.ok(first.nextFireAt! >= T0 + 60 * MIN && first.nextFireAt! < T0 + 90 * MIN);
  assert.equal(await scheduler.fireDue(first.nextFireAt!), 1);
  assert.equal(
    JSON.parse(accepted[0]!.payload),
    '2030-03-10T09:00:00Z',
    'the scheduled time, not the fire time',
  );
  const second = (await row('flex'))!;
  assert.equal(second.tickAt ?? second.nextFireAt, T0 + 120 * MIN);
});

test('EndDate ends a recurring schedule', async () => {
  await service.create(tenant, input('ending', { endDate: T0 + 150 * MIN }), T0);
  assert.equal(await scheduler.fireDue(T0 + 60 * MIN), 1);
  assert.equal(await scheduler.fireDue(T0 + 120 * MIN), 1);
  assert.equal((await row('ending'))?.nextFireAt, undefined);
  assert.equal(await scheduler.fireDue(T0 + 180 * MIN), 0);
});

test('a disabled schedule does not fire; enabling it by an update does', async () => {
  await service.create(tenant, input('off', { state: 'DISABLED' }), T0);
  assert.equal(await scheduler.fireDue(T0 + 60 * MIN), 0);
  await service.update(tenant, input('off'), T0 + 61 * MIN);
  assert.equal(await scheduler.fireDue(T0 + 121 * MIN), 1);
});

test('schedules are not rules: ListRules and DescribeRule never see them', async () => {
  await service.create(tenant, input('hidden'), T0);
  assert.deepEqual(await store.list(tenant.id, '', '', 10), []);
  assert.equal((await store.list(tenant.id, '', '', 10, true)).length, 1);
});

test('a schedule row whose settings cannot be read is parked, not fired or found due again', async () => {
  await service.create(tenant, input('corrupt'), T0);
  await store.sql.run("UPDATE schedule_rules SET spec = '{\"group\":1}' WHERE name = 'default/corrupt'");
  assert.equal(await scheduler.fireDue(T0 + 60 * MIN), 0);
  assert.deepEqual(accepted, []);
  assert.equal((await row('corrupt'))?.nextFireAt, undefined);
});
