// The scheduler over a real schedule store with fake function lookup and accept, driven by explicit
// times: what fires when, how the next fire advances, and what each target receives.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import type { FunctionRecord } from '../../../src/control/functions.js';
import { type Tenant, TenantStore } from '../../../src/control/tenants.js';
import { ScheduleStore } from '../../../src/events/schedules/schedule-repo.js';
import { Scheduler } from '../../../src/events/schedules/scheduler.js';
import { legacyControlLookup } from '../../../src/server/legacy-control-lookup.js';
import { type Db, openDatabase } from '../../../src/store/database.js';
import { SqliteSql } from '../../../src/store/sqlite.js';
import { tempDir } from '../../helpers/platform.js';

const MIN = 60_000;
// In the future, so that the real clock (which putRule's wake-up fires against) never reaches these fires.
const T0 = Date.parse('2030-03-10T08:00:00Z');

let dir: string;
let db: Db;
let tenant: Tenant;
let store: ScheduleStore;
let accepted: { fn: string; payload: unknown; source: string | undefined }[];
let missing: Set<string>;

let made: Scheduler[] = [];
function scheduler(): Scheduler {
  const s = new Scheduler({
    store,
    region: 'us-east-1',
    tenants: legacyControlLookup(db, 'us-east-1').tenants,
    resolveFunction: (_t, arn) => {
      const name = arn.split(':')[6]!;
      if (missing.has(name)) throw new Error(`Function not found: ${arn}`);
      return { name, arn } as FunctionRecord;
    },
    accept: (_t, rec, payload, opts) => {
      accepted.push({ fn: rec.name, payload: JSON.parse(payload.toString()), source: opts.source?.arn });
      return 'req';
    },
  });
  made.push(s);
  return s;
}

const fnArn = (name: string) => `arn:aws:lambda:us-east-1:${tenant.accountId}:function:${name}`;

beforeEach(async () => {
  dir = tempDir();
  db = openDatabase(path.join(dir, 'test.db'));
  tenant = await (await TenantStore.open(new SqliteSql(db))).create('t1');
  store = new ScheduleStore(db);
  accepted = [];
  missing = new Set();
});
afterEach(() => {
  for (const s of made) s.stop();
  made = [];
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a rate rule first fires one period after it was created', () => {
  const s = scheduler();
  const rule = s.putRule(tenant, { name: 'r', scheduleExpression: 'rate(5 minutes)' }, T0);
  assert.equal(rule.nextFireAt, T0 + 5 * MIN);
});

test('nothing fires before the next fire time', () => {
  const s = scheduler();
  s.putRule(tenant, { name: 'r', scheduleExpression: 'rate(5 minutes)' }, T0);
  s.putTargets(tenant, 'r', [{ id: 'a', arn: fnArn('a'), input: undefined, inputPath: undefined }]);
  assert.equal(s.fireDue(T0 + 5 * MIN - 1), 0);
  assert.deepEqual(accepted, []);
});

test('a rule many periods overdue fires once and then waits for the first period after now', () => {
  const s = scheduler();
  s.putRule(tenant, { name: 'r', scheduleExpression: 'rate(5 minutes)' }, T0);
  s.putTargets(tenant, 'r', [{ id: 'a', arn: fnArn('a'), input: undefined, inputPath: undefined }]);
  const now = T0 + 47 * MIN;
  assert.equal(s.fireDue(now), 1);
  assert.equal(accepted.length, 1);
  assert.equal(store.get(tenant.id, 'r')!.nextFireAt, T0 + 50 * MIN);
  assert.equal(s.fireDue(now + 1), 0);
});

test('a cron rule fires at its next matching minute', () => {
  const s = scheduler();
  const rule = s.putRule(tenant, { name: 'noon', scheduleExpression: 'cron(0 12 * * ? *)' }, T0);
  assert.equal(new Date(rule.nextFireAt!).toISOString(), '2030-03-10T12:00:00.000Z');
});

test('every target of a fire gets the same scheduled event, marked with the rule as source', () => {
  const s = scheduler();
  const rule = s.putRule(tenant, { name: 'r', scheduleExpression: 'rate(1 hour)' }, T0);
  s.putTargets(tenant, 'r', [
    { id: 'a', arn: fnArn('a'), input: undefined, inputPath: undefined },
    { id: 'b', arn: fnArn('b'), input: undefined, inputPath: undefined },
  ]);
  s.fireDue(T0 + 60 * MIN);
  assert.deepEqual(
    accepted.map((a) => a.fn),
    ['a', 'b'],
  );
  assert.deepEqual(accepted[0]!.payload, accepted[1]!.payload);
  assert.equal(accepted[0]!.source, rule.arn);
  assert.equal((accepted[0]!.payload as { time: string }).time, '2030-03-10T09:00:00Z');
});

test('a target whose function is gone is skipped while the others fire and the rule advances', () => {
  const s = scheduler();
  s.putRule(tenant, { name: 'r', scheduleExpression: 'rate(1 hour)' }, T0);
  s.putTargets(tenant, 'r', [
    { id: 'a', arn: fnArn('a'), input: undefined, inputPath: undefined },
    { id: 'b', arn: fnArn('b'), input: undefined, inputPath: undefined },
  ]);
  missing.add('a');
  s.fireDue(T0 + 60 * MIN);
  assert.deepEqual(
    accepted.map((a) => a.fn),
    ['b'],
  );
  assert.equal(store.get(tenant.id, 'r')!.nextFireAt, T0 + 120 * MIN);
});

test('re-enabling a rate rule starts its period at the enabling', () => {
  const s = scheduler();
  s.putRule(tenant, { name: 'r', scheduleExpression: 'rate(10 minutes)' }, T0);
  s.setState(tenant, 'r', 'DISABLED', T0 + MIN);
  assert.equal(store.get(tenant.id, 'r')!.nextFireAt, undefined);
  s.setState(tenant, 'r', 'ENABLED', T0 + 3 * MIN);
  assert.equal(store.get(tenant.id, 'r')!.nextFireAt, T0 + 13 * MIN);
});

test('PutRule with the same expression keeps the rule’s phase', () => {
  const s = scheduler();
  s.putRule(tenant, { name: 'r', scheduleExpression: 'rate(10 minutes)' }, T0);
  s.putRule(
    tenant,
    { name: 'r', scheduleExpression: 'rate(10 minutes)', description: 'now described' },
    T0 + 4 * MIN,
  );
  assert.equal(store.get(tenant.id, 'r')!.nextFireAt, T0 + 10 * MIN);
});
