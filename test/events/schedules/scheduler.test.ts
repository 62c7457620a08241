// The scheduler over a real schedule store (this run's: SQLite, or PostgreSQL on that leg) with fake function
// lookup and tenants, driven by explicit times: what fires when, how the next fire advances, what each target
// receives; and several schedulers on one store (nodes): each tick fires once, a dead node's ticks are fired
// by the others. Accepted events go to a table with a unique request id, as the async queue's.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import type { FunctionRecord } from '../../../src/control/functions.js';
import type { Tenant } from '../../../src/control/tenants.js';
import { ScheduleStore } from '../../../src/events/schedules/schedule-repo.js';
import { Scheduler } from '../../../src/events/schedules/scheduler.js';
import type { Sql } from '../../../src/store/sql.js';
import { type SharedStore, sharedStore } from '../../helpers/shared-store.js';

const MIN = 60_000;
// In the future, so that the real clock (which putRule's wake-up fires against) never reaches these fires.
const T0 = Date.parse('2030-03-10T08:00:00Z');

const tenant = { id: 't-1', name: 't1', accountId: '123456789012', isAdmin: false } as unknown as Tenant;

let shared: SharedStore;
let sql: Sql;
let store: ScheduleStore;
let accepted: { fn: string; payload: unknown; source: string | undefined; node: string }[];
let missing: Set<string>;

let made: Scheduler[] = [];

interface NodeOptions {
  /** This node's connection (default: the test's). */
  sql?: Sql;
  node?: string;
  leaseMs?: number;
  /** Called before each accept: a node "dies" by never returning from it. */
  beforeAccept?: (requestId: string) => Promise<void>;
}

/** A scheduler as one node runs it: its own store object on its own connection. */
async function scheduler(o: NodeOptions = {}): Promise<Scheduler> {
  const q = o.sql ?? sql;
  const nodeStore = o.sql ? new ScheduleStore(q) : store;
  await nodeStore.ready();
  const s = new Scheduler({
    store: nodeStore,
    region: 'us-east-1',
    tenants: { get: (id) => (id === tenant.id ? tenant : undefined) },
    ...(o.leaseMs !== undefined && { leaseMs: o.leaseMs }),
    resolveFunction: (_t, arn) => {
      const name = arn.split(':')[6]!;
      if (missing.has(name)) throw new Error(`Function not found: ${arn}`);
      return { name, arn } as FunctionRecord;
    },
    accept: async (_t, rec, payload, opts) => {
      await o.beforeAccept?.(opts.requestId!);
      // The unique request id is what makes a repeated hand-over of one tick add nothing.
      await q.run('INSERT INTO accepted (request_id, fn) VALUES (?, ?)', [opts.requestId, rec.name]);
      accepted.push({
        fn: rec.name,
        payload: JSON.parse(payload.toString()),
        source: opts.source?.arn,
        node: o.node ?? 'a',
      });
      return opts.requestId;
    },
  });
  made.push(s);
  return s;
}

const fnArn = (name: string) => `arn:aws:lambda:us-east-1:${tenant.accountId}:function:${name}`;
const target = (id: string) => ({ id, arn: fnArn(id), input: undefined, inputPath: undefined });

beforeEach(async () => {
  shared = await sharedStore();
  sql = await shared.open();
  await sql.run('CREATE TABLE accepted (request_id TEXT PRIMARY KEY, fn TEXT NOT NULL)');
  store = new ScheduleStore(sql);
  accepted = [];
  missing = new Set();
});
afterEach(async () => {
  await Promise.all(made.map((s) => s.stop()));
  made = [];
  await shared.close();
});

test('a rate rule first fires one period after it was created', async () => {
  const s = await scheduler();
  const rule = await s.putRule(tenant, { name: 'r', scheduleExpression: 'rate(5 minutes)' }, T0);
  assert.equal(rule.nextFireAt, T0 + 5 * MIN);
});

test('nothing fires before the next fire time', async () => {
  const s = await scheduler();
  await s.putRule(tenant, { name: 'r', scheduleExpression: 'rate(5 minutes)' }, T0);
  await s.putTargets(tenant, 'r', [{ id: 'a', arn: fnArn('a'), input: undefined, inputPath: undefined }]);
  assert.equal(await s.fireDue(T0 + 5 * MIN - 1), 0);
  assert.deepEqual(accepted, []);
});

test('a rule many periods overdue fires once and then waits for the first period after now', async () => {
  const s = await scheduler();
  await s.putRule(tenant, { name: 'r', scheduleExpression: 'rate(5 minutes)' }, T0);
  await s.putTargets(tenant, 'r', [{ id: 'a', arn: fnArn('a'), input: undefined, inputPath: undefined }]);
  const now = T0 + 47 * MIN;
  assert.equal(await s.fireDue(now), 1);
  assert.equal(accepted.length, 1);
  assert.equal((await store.get(tenant.id, 'r'))!.nextFireAt, T0 + 50 * MIN);
  assert.equal(await s.fireDue(now + 1), 0);
});

test('a cron rule fires at its next matching minute', async () => {
  const s = await scheduler();
  const rule = await s.putRule(tenant, { name: 'noon', scheduleExpression: 'cron(0 12 * * ? *)' }, T0);
  assert.equal(new Date(rule.nextFireAt!).toISOString(), '2030-03-10T12:00:00.000Z');
});

test('every target of a fire gets the same scheduled event, marked with the rule as source', async () => {
  const s = await scheduler();
  const rule = await s.putRule(tenant, { name: 'r', scheduleExpression: 'rate(1 hour)' }, T0);
  await s.putTargets(tenant, 'r', [
    { id: 'a', arn: fnArn('a'), input: undefined, inputPath: undefined },
    { id: 'b', arn: fnArn('b'), input: undefined, inputPath: undefined },
  ]);
  await s.fireDue(T0 + 60 * MIN);
  assert.deepEqual(
    accepted.map((a) => a.fn),
    ['a', 'b'],
  );
  assert.deepEqual(accepted[0]!.payload, accepted[1]!.payload);
  assert.equal(accepted[0]!.source, rule.arn);
  assert.equal((accepted[0]!.payload as { time: string }).time, '2030-03-10T09:00:00Z');
});

test('a target whose function is gone is skipped while the others fire and the rule advances', async () => {
  const s = await scheduler();
  await s.putRule(tenant, { name: 'r', scheduleExpression: 'rate(1 hour)' }, T0);
  await s.putTargets(tenant, 'r', [
    { id: 'a', arn: fnArn('a'), input: undefined, inputPath: undefined },
    { id: 'b', arn: fnArn('b'), input: undefined, inputPath: undefined },
  ]);
  missing.add('a');
  await s.fireDue(T0 + 60 * MIN);
  assert.deepEqual(
    accepted.map((a) => a.fn),
    ['b'],
  );
  assert.equal((await store.get(tenant.id, 'r'))!.nextFireAt, T0 + 120 * MIN);
});

test('re-enabling a rate rule starts its period at the enabling', async () => {
  const s = await scheduler();
  await s.putRule(tenant, { name: 'r', scheduleExpression: 'rate(10 minutes)' }, T0);
  await s.setState(tenant, 'r', 'DISABLED', T0 + MIN);
  assert.equal((await store.get(tenant.id, 'r'))!.nextFireAt, undefined);
  await s.setState(tenant, 'r', 'ENABLED', T0 + 3 * MIN);
  assert.equal((await store.get(tenant.id, 'r'))!.nextFireAt, T0 + 13 * MIN);
});

test('PutRule with the same expression keeps the rule’s phase', async () => {
  const s = await scheduler();
  await s.putRule(tenant, { name: 'r', scheduleExpression: 'rate(10 minutes)' }, T0);
  await s.putRule(
    tenant,
    { name: 'r', scheduleExpression: 'rate(10 minutes)', description: 'now described' },
    T0 + 4 * MIN,
  );
  assert.equal((await store.get(tenant.id, 'r'))!.nextFireAt, T0 + 10 * MIN);
});

test('two schedulers on one store fire each tick exactly once, whichever node wins it', async () => {
  const a = await scheduler({ node: 'a' });
  const b = await scheduler({ sql: await shared.open(), node: 'b' });
  await a.putRule(tenant, { name: 'r', scheduleExpression: 'rate(1 minute)' }, T0);
  await a.putTargets(tenant, 'r', [target('f'), target('g')]);
  const ticks = 25;
  let fired = 0;
  for (let k = 1; k <= ticks; k++) {
    // Both nodes see the tick due at the same moment and race for it.
    const [x, y] = await Promise.all([a.fireDue(T0 + k * MIN), b.fireDue(T0 + k * MIN)]);
    assert.equal(x + y, 1, `tick ${k} fired by exactly one node`);
    fired += x + y;
  }
  assert.equal(fired, ticks);
  assert.equal(accepted.length, 2 * ticks);
  const times = accepted.filter((e) => e.fn === 'f').map((e) => (e.payload as { time: string }).time);
  assert.equal(new Set(times).size, ticks, 'one event per tick and target');
  const rows = await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM accepted');
  assert.equal(rows?.n, 2 * ticks);
});

test('a node that dies after claiming a tick leaves it to another node, which completes it without doubling', async () => {
  const lease = 30_000;
  let firstDone = false;
  // Node a claims the tick, stores the first target's event and dies before the second (never returns).
  const a = await scheduler({
    node: 'a',
    leaseMs: lease,
    beforeAccept: async () => {
      if (firstDone) await new Promise(() => {});
      firstDone = true;
    },
  });
  const b = await scheduler({ sql: await shared.open(), node: 'b', leaseMs: lease });
  await a.putRule(tenant, { name: 'r', scheduleExpression: 'rate(5 minutes)' }, T0);
  await a.putTargets(tenant, 'r', [target('f'), target('g')]);
  const tick = T0 + 5 * MIN;
  void a.fireDue(tick); // hangs with the tick claimed and half handed over
  while (accepted.length === 0) await new Promise((r) => setTimeout(r, 10));
  // While a's claim is live, b neither fires the tick again nor takes it over.
  assert.equal(await b.fireDue(tick + 1), 0);
  assert.deepEqual(
    accepted.map((e) => e.fn),
    ['f'],
  );
  // Once the claim's lease ran out (store clock), b finishes the hand-over: g gets its event, f not twice.
  await b.fireDue(tick + lease + 1);
  assert.deepEqual(
    accepted.map((e) => `${e.fn}@${e.node}`),
    ['f@a', 'g@b'],
  );
  assert.equal(
    (accepted[0]!.payload as { id: string }).id,
    (accepted[1]!.payload as { id: string }).id,
    'both targets got the same event',
  );
  // And b fires the following ticks alone.
  assert.equal(await b.fireDue(tick + 5 * MIN), 1);
  assert.equal(await b.fireDue(tick + 10 * MIN), 1);
  assert.equal(accepted.filter((e) => e.node === 'b').length, 5);
  const rows = await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM accepted');
  assert.equal(rows?.n, 6);
});

test('a node stopped without goodbye leaves the next ticks to the other, fired by its own timer', async () => {
  const a = await scheduler({ node: 'a' });
  const bSql = await shared.open();
  const b = await scheduler({ sql: bSql, node: 'b' });
  await a.start();
  await b.start();
  // Node a "dies": its timers stop, nothing is handed back.
  await a.stop();
  const now = await sql.now();
  await b.putRule(tenant, { name: 'soon', scheduleExpression: 'rate(1 minute)' }, now - MIN + 3_000);
  await b.putTargets(tenant, 'soon', [target('f')]);
  const deadline = Date.now() + 15_000;
  while (accepted.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(
    accepted.map((e) => `${e.fn}@${e.node}`),
    ['f@b'],
  );
});

test('a rule changed through one node is fired by another node’s timer', async () => {
  const bSql = await shared.open();
  // Two SQLite connections share no notifications: there b finds the rule at its rescan (leaseMs).
  const b = await scheduler({ sql: bSql, node: 'b', leaseMs: 2_000 });
  await b.start();
  const a = await scheduler({ node: 'a' });
  // Node a only writes the rule (its timer never runs); b learns of it through the store.
  const now = await sql.now();
  await a.putRule(tenant, { name: 'elsewhere', scheduleExpression: 'rate(1 minute)' }, now - MIN + 3_000);
  await a.stop();
  await a.putTargets(tenant, 'elsewhere', [target('f')]);
  const deadline = Date.now() + 15_000;
  while (accepted.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(
    accepted.map((e) => `${e.fn}@${e.node}`),
    ['f@b'],
  );
});
