// The dispatcher with a fake invocation service over a real SQLite store: concurrency per function,
// throttles, recovery of events in flight, and shutdown handing running events back to the queue.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import type { FunctionRecord } from '../../../src/control/functions.js';
import { type Tenant, TenantStore } from '../../../src/control/tenants.js';
import { LambdaErrors } from '../../../src/errors.js';
import type { QueueEngine } from '../../../src/events/queue/types.js';
import { AsyncDispatcher } from '../../../src/invoke/async-dispatcher.js';
import { AsyncEventStore } from '../../../src/invoke/async-queue.js';
import { EventInvokeConfigStore } from '../../../src/invoke/event-invoke-config.js';
import type { SyncInvokeResult } from '../../../src/invoke/types.js';
import { legacyControlLookup } from '../../../src/server/legacy-control-lookup.js';
import { type Db, openDatabase } from '../../../src/store/database.js';
import { SqliteSql } from '../../../src/store/sqlite.js';
import { asLambda } from '../../helpers/lambda-errors.js';
import { tempDir } from '../../helpers/platform.js';
import { until } from './fixtures.js';

let dir: string;
let db: Db;
let tenants: TenantStore;
let tenant: Tenant;
let reserved: number | null;

/** A fake sync path: each run waits until the test releases it (or fails it). */
class FakeService {
  running = 0;
  maxRunning = 0;
  runs = 0;
  throttleNext = 0;
  readonly waiting: { resolve: () => void; requestId: string }[] = [];
  resolve(_t: Tenant, ref: string): FunctionRecord {
    return record(ref.split(':').pop() ?? ref);
  }
  async run(
    _t: Tenant,
    _rec: FunctionRecord,
    payload: Buffer,
    opts: { requestId?: string },
  ): Promise<SyncInvokeResult> {
    if (this.throttleNext > 0) {
      this.throttleNext--;
      throw LambdaErrors.tooManyRequests();
    }
    this.runs++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    await new Promise<void>((resolve) => this.waiting.push({ resolve, requestId: opts.requestId ?? '' }));
    this.running--;
    return {
      requestId: opts.requestId ?? '',
      payload,
      log: '',
      durationMs: 1,
      billedDurationMs: 1,
      maxMemoryUsedMB: 1,
      start: 'warm',
      functionArn: record('f').arn,
      executedVersion: '$LATEST',
    };
  }
  releaseAll(): void {
    for (const w of this.waiting.splice(0)) w.resolve();
  }
}

function record(name: string): FunctionRecord {
  return {
    id: name,
    tenantId: tenant.id,
    accountId: tenant.accountId,
    name,
    arn: `arn:aws:lambda:us-east-1:${tenant.accountId}:function:${name}`,
    reservedConcurrency: reserved,
    deadLetterTargetArn: undefined,
  } as unknown as FunctionRecord;
}

/** No test here has a queue destination: any use of the engine is a failure. */
const noQueues = new Proxy({} as QueueEngine, {
  get(_t, name) {
    throw new Error(`the queue engine is not part of this test (${String(name)})`);
  },
});

function dispatcher(service: FakeService, store = new AsyncEventStore(db), tenantConcurrency = 10) {
  return new AsyncDispatcher({
    config: { retryBaseMs: 10, tenantConcurrency },
    store,
    configs: new EventInvokeConfigStore(db),
    tenants: legacyControlLookup(db, 'us-east-1').tenants,
    functions: { get: (_t, name) => record(name) },
    service,
    queues: noQueues,
  });
}

beforeEach(async () => {
  dir = tempDir();
  db = openDatabase(path.join(dir, 'test.db'));
  tenants = await TenantStore.open(new SqliteSql(db));
  tenant = await tenants.create('t1');
  reserved = null;
});
afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('events of one function run concurrently up to its reserved concurrency and no further', async () => {
  reserved = 3;
  const svc = new FakeService();
  const d = dispatcher(svc);
  d.start();
  for (let i = 0; i < 8; i++) await d.invokeAsync(tenant, 'f', Buffer.from(`{"i":${i}}`));
  await until(() => (svc.running === 3 ? true : undefined));
  // Give the dispatcher every chance to overshoot before checking.
  await new Promise((r) => setImmediate(r));
  assert.equal(svc.running, 3);
  await until(() => {
    svc.releaseAll();
    return svc.runs === 8 && svc.running === 0 ? true : undefined;
  });
  assert.equal(svc.maxRunning, 3);
  await d.stop(Date.now());
});

test('a tenant’s events across its functions never take more than the tenant’s concurrency limit', async () => {
  const svc = new FakeService();
  const d = dispatcher(svc, new AsyncEventStore(db), 2);
  d.start();
  for (const fn of ['a', 'b', 'c'])
    for (let i = 0; i < 3; i++) await d.invokeAsync(tenant, fn, Buffer.from('{}'));
  await until(() => (svc.running === 2 ? true : undefined));
  await new Promise((r) => setImmediate(r));
  assert.equal(svc.running, 2);
  await until(() => {
    svc.releaseAll();
    return svc.runs === 9 && svc.running === 0 ? true : undefined;
  });
  assert.equal(svc.maxRunning, 2);
  await d.stop(Date.now());
});

test('throttled runs are retried until the function accepts them, without using up retries', async () => {
  const svc = new FakeService();
  svc.throttleNext = 4;
  const store = new AsyncEventStore(db);
  const d = dispatcher(svc, store);
  d.start();
  const { requestId } = await d.invokeAsync(tenant, 'f', Buffer.from('{}'));
  await until(() => (svc.waiting.length === 1 ? true : undefined));
  svc.releaseAll();
  const e = await until(() =>
    store.byRequestId(requestId)?.status === 'succeeded' ? store.byRequestId(requestId) : undefined,
  );
  assert.equal(e.throttles, 4);
  assert.equal(e.attempts, 1);
  await d.stop(Date.now());
});

test('events that were running when the process died are queued again and run at the next start', async () => {
  const store = new AsyncEventStore(db);
  const first = new FakeService();
  const d1 = dispatcher(first, store);
  d1.start();
  const { requestId } = await d1.invokeAsync(tenant, 'f', Buffer.from('{}'));
  await until(() => (first.waiting.length === 1 ? true : undefined));
  assert.equal(store.byRequestId(requestId)!.status, 'running');
  // A "new process": another dispatcher over the same store, the first one never finishing.
  const second = new FakeService();
  const d2 = dispatcher(second, store);
  d2.start();
  await until(() => (second.waiting.length === 1 ? true : undefined));
  assert.equal(second.waiting[0]!.requestId, requestId, 'the same request id runs again (at least once)');
  second.releaseAll();
  await until(() => (store.byRequestId(requestId)?.status === 'succeeded' ? true : undefined));
  assert.deepEqual(
    store.attempts(store.byRequestId(requestId)!.id).map((a) => a.outcome),
    ['interrupted', 'success'],
  );
  await d2.stop(Date.now());
});

test('stop hands events still running at the deadline back to the queue', async () => {
  const store = new AsyncEventStore(db);
  const svc = new FakeService();
  const d = dispatcher(svc, store);
  d.start();
  const { requestId } = await d.invokeAsync(tenant, 'f', Buffer.from('{}'));
  await until(() => (svc.waiting.length === 1 ? true : undefined));
  await d.stop(Date.now());
  assert.equal(store.byRequestId(requestId)!.status, 'queued');
  svc.releaseAll();
  await new Promise((r) => setImmediate(r));
  assert.equal(store.byRequestId(requestId)!.status, 'queued', 'a run finishing after stop changes nothing');
});

test('an accept while stopping is refused, so nothing is half-accepted', async () => {
  const d = dispatcher(new FakeService());
  d.start();
  await d.stop(Date.now());
  await assert.rejects(
    d.invokeAsync(tenant, 'f', Buffer.from('{}')),
    (e) => asLambda(e).type === 'ServiceException',
  );
});

test('a stored event that no longer validates is set aside and the others still run', async () => {
  const store = new AsyncEventStore(db);
  const svc = new FakeService();
  const d = dispatcher(svc, store);
  store.insert({
    requestId: 'broken',
    tenantId: tenant.id,
    functionName: 'f',
    functionArn: record('f').arn,
    qualifier: undefined,
    payload: Buffer.from('{}'),
    source: { kind: 'api' },
  });
  db.prepare("UPDATE async_events SET source_kind = 'bogus' WHERE request_id = 'broken'").run();
  d.start();
  const { requestId } = await d.invokeAsync(tenant, 'f', Buffer.from('{}'));
  await until(() => {
    svc.releaseAll();
    return store.byRequestId(requestId)?.status === 'succeeded' ? true : undefined;
  });
  const row = db.prepare("SELECT status FROM async_events WHERE request_id = 'broken'").get() as {
    status: string;
  };
  assert.equal(row.status, 'failed');
  await d.stop(Date.now());
});

test('accepts of one tick are stored together, and one bad entry fails alone', async () => {
  const store = new AsyncEventStore(db);
  const d = dispatcher(new FakeService(), store);
  const results = await Promise.allSettled([
    d.invokeAsync(tenant, 'f', Buffer.from('{}'), { requestId: 'one' }),
    d.invokeAsync(tenant, 'f', Buffer.from('{}'), { requestId: 'dup' }),
    d.invokeAsync(tenant, 'f', Buffer.from('{}'), { requestId: 'dup' }),
    d.invokeAsync(tenant, 'f', Buffer.from('{}'), { requestId: 'two' }),
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
  );
  for (const id of ['one', 'dup', 'two']) assert.ok(store.byRequestId(id), `${id} is stored`);
  await d.stop(Date.now());
});

test('an accept still waiting for its group commit when stop begins is stored and answered', async () => {
  const store = new AsyncEventStore(db);
  const d = dispatcher(new FakeService(), store);
  const accepted = d.invokeAsync(tenant, 'f', Buffer.from('{}'), { requestId: 'in-the-door' });
  // Let the accept reach its commit queue (it resolves the function first), then stop at once.
  await new Promise((r) => process.nextTick(r));
  await d.stop(Date.now());
  // Stored by the time stop returns (the platform closes the store right after its parts stop).
  assert.equal(store.byRequestId('in-the-door')?.status, 'queued');
  assert.deepEqual(await accepted, { requestId: 'in-the-door' });
});
