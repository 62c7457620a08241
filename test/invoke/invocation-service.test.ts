// The invocation service with a fake Worker: spec building, credentials, observers, cache invalidation.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, beforeEach, test } from 'node:test';
import { defaultConfig } from '../../src/config.js';
import { CodeStore } from '../../src/control/code-store.js';
import { FunctionStore } from '../../src/control/functions.js';
import { type Tenant, TenantStore } from '../../src/control/tenants.js';
import { LambdaErrors } from '../../src/errors.js';
import { InvocationService } from '../../src/invoke/invocation-service.js';
import { composeInvoker } from '../../src/invoke/invoker.js';
import { DirBlobStore } from '../../src/store/blobs/dir-blob-store.js';
import { type Db, openDatabase, SqliteSql } from '../../src/store/sqlite.js';
import type { InvocationRecord } from '../../src/telemetry/types.js';
import type { FunctionVersionSpec, InvocationResult, InvokeOptions, Worker } from '../../src/worker/types.js';
import { echoHandler, handlerZip } from '../api/lambda/zips.js';
import { asLambda } from '../helpers/lambda-errors.js';
import { tempDir } from '../helpers/platform.js';

class FakeWorker implements Worker {
  calls: { spec: FunctionVersionSpec; payload: Buffer; opts: InvokeOptions }[] = [];
  retired: { arn: string; keep?: string }[] = [];
  answer: Partial<InvocationResult> = {};
  async invoke(spec: FunctionVersionSpec, payload: Buffer, opts: InvokeOptions): Promise<InvocationResult> {
    this.calls.push({ spec, payload, opts });
    if (this.throttling) {
      for (const l of this.#throttleListeners) l(spec.tenantId, spec.functionArn);
      throw LambdaErrors.tooManyRequests(
        'Rate Exceeded.',
        'ReservedFunctionConcurrentInvocationLimitExceeded',
      );
    }
    return {
      requestId: opts.requestId,
      payload: Buffer.from('"ok"'),
      log: 'START\nEND\nREPORT\n',
      durationMs: 2,
      billedDurationMs: 2,
      maxMemoryUsedMB: 40,
      start: 'warm',
      ...this.answer,
    };
  }
  prewarms: { spec: FunctionVersionSpec; count: number; untilMs: number }[] = [];
  async prewarm(spec: FunctionVersionSpec, count: number, untilMs: number) {
    this.prewarms.push({ spec, count, untilMs });
    return { requested: count, warm: count, started: count, limitedBy: undefined, errors: [] };
  }
  retiredTenants: string[] = [];
  retireTenant(tenantId: string): void {
    this.retiredTenants.push(tenantId);
  }
  retireFunction(functionArn: string, keepVersionKey?: string): void {
    this.retired.push({ arn: functionArn, keep: keepVersionKey });
  }
  stats() {
    return {
      environments: { bound: 0, busy: 0, starting: 0 },
      pools: [],
      coldStarts: { pool: 0, cold: 0 },
      warmStarts: 0,
      recycled: 0,
    };
  }
  async drain(): Promise<void> {}
  /** Set to refuse the next invocations as the worker does (reporting each refusal). */
  throttling = false;
  #throttleListeners: ((tenantId: string, arn: string) => void)[] = [];
  onThrottle(listener: (tenantId: string, arn: string) => void): () => void {
    this.#throttleListeners.push(listener);
    return () => {
      this.#throttleListeners = this.#throttleListeners.filter((l) => l !== listener);
    };
  }
}

const dirs: string[] = [];
let db: Db;
let tenants: TenantStore;
let functions: FunctionStore;
let worker: FakeWorker;
let service: InvocationService;
let records: InvocationRecord[];
let tenant: Tenant;

beforeEach(async () => {
  const dir = tempDir('kindling-invoke-');
  dirs.push(dir);
  db = openDatabase(path.join(dir, 'db'));
  const sql = new SqliteSql(db);
  tenants = await TenantStore.open(sql);
  functions = await FunctionStore.open({
    sql,
    code: new CodeStore({ blobs: new DirBlobStore(path.join(dir, 'b')), cacheDir: path.join(dir, 'c') }),
    region: 'us-east-1',
  });
  worker = new FakeWorker();
  records = [];
  service = new InvocationService({
    config: defaultConfig({ dataDir: dir, tenantConcurrency: 7 }),
    tenants,
    functions,
    worker,
    observers: [{ onInvocation: (r) => records.push(r) }],
  });
  tenant = await tenants.create('t1');
  await functions.create(tenant, {
    name: 'f',
    runtime: 'nodejs20.x',
    handler: 'index.handler',
    zip: await handlerZip(echoHandler),
  });
});
/** Observers see records once the answer is on its way: in an Immediate after the invocation. */
const observed = () => new Promise<void>((resolve) => setImmediate(resolve));

afterEach(async () => {
  // A test's records reach the observers before the next test's fixtures replace them.
  await observed();
  db.close();
});
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

test('invokeSync hands the worker a spec built from the stored function', async () => {
  await functions.updateConfiguration(tenant, 'f', { memorySize: 256, timeout: 9, environment: { AB: 'c' } });
  const out = await service.invokeSync(tenant, 'f', Buffer.from('{}'));
  const call = worker.calls[0]!;
  assert.equal(call.spec.functionArn, `arn:aws:lambda:us-east-1:${tenant.accountId}:function:f`);
  assert.equal(call.spec.memoryMB, 256);
  assert.equal(call.spec.timeoutSec, 9);
  assert.deepEqual(call.spec.environment, { AB: 'c' });
  assert.equal(call.spec.version, '$LATEST');
  assert.ok(fs.existsSync(path.join(call.spec.codeDir, 'index.mjs')));
  assert.equal(call.opts.tenantConcurrency, 7);
  assert.equal(out.executedVersion, '$LATEST');
});

test('the tenant’s own concurrency limit overrides the platform default', async () => {
  const limited = await tenants.setConcurrencyLimit(tenant.id, 3);
  await service.invokeSync(limited, 'f', Buffer.from('{}'));
  assert.equal(worker.calls[0]!.opts.tenantConcurrency, 3);
});

test('session credentials are minted once per versionKey and reused', async () => {
  await service.invokeSync(tenant, 'f', Buffer.from('{}'));
  await service.invokeSync(tenant, 'f', Buffer.from('{}'));
  const [a, b] = worker.calls.map((c) => c.opts.credentials);
  assert.ok(a?.accessKeyId.startsWith('ASIA'));
  assert.equal(a?.accessKeyId, b?.accessKeyId);
  assert.equal((await tenants.resolveKey(a!.accessKeyId))?.tenant.id, tenant.id);
  await functions.updateConfiguration(tenant, 'f', { description: 'new version' });
  await service.invokeSync(tenant, 'f', Buffer.from('{}'));
  assert.notEqual(worker.calls[2]!.opts.credentials?.accessKeyId, a?.accessKeyId);
});

test('a new function is ready before its first request: credentials minted at create, once, even for concurrent requests', async () => {
  let minted = 0;
  const mint = tenants.createSessionKey.bind(tenants);
  tenants.createSessionKey = (...args: Parameters<typeof mint>) => {
    minted++;
    return mint(...args);
  };
  await functions.create(tenant, {
    name: 'g',
    runtime: 'nodejs20.x',
    handler: 'index.handler',
    zip: await handlerZip(echoHandler),
  });
  for (let i = 0; i < 100 && minted === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(minted, 1, 'minted when the function was created');
  await Promise.all([0, 1, 2].map(() => service.invokeSync(tenant, 'g', Buffer.from('{}'))));
  assert.equal(minted, 1, 'its requests use those');
  // A new version has none yet: requests that arrive together share one mint.
  await functions.updateConfiguration(tenant, 'g', { description: 'v2' });
  await Promise.all([0, 1, 2].map(() => service.invokeSync(tenant, 'g', Buffer.from('{}'))));
  assert.equal(minted, 2);
  const keys = new Set(worker.calls.slice(-3).map((c) => c.opts.credentials?.accessKeyId));
  assert.equal(keys.size, 1);
});

test('a configuration update retires the old environments and the next invoke sees the new versionKey', async () => {
  await service.invokeSync(tenant, 'f', Buffer.from('{}'));
  const rec = await functions.updateConfiguration(tenant, 'f', { timeout: 30 });
  assert.deepEqual(worker.retired, [{ arn: rec.arn, keep: rec.versionKey }]);
  await service.invokeSync(tenant, 'f', Buffer.from('{}'));
  assert.notEqual(worker.calls[0]!.spec.versionKey, worker.calls[1]!.spec.versionKey);
  assert.equal(worker.calls[1]!.spec.timeoutSec, 30);
});

test('a code update changes the code directory of the next invoke', async () => {
  await service.invokeSync(tenant, 'f', Buffer.from('{}'));
  await functions.updateCode(tenant, 'f', await handlerZip('export const handler = async () => 2;'));
  await service.invokeSync(tenant, 'f', Buffer.from('{}'));
  assert.notEqual(worker.calls[0]!.spec.codeDir, worker.calls[1]!.spec.codeDir);
});

test('deleting the function retires all its environments and later invokes are not found', async () => {
  const rec = await functions.delete(tenant, 'f');
  assert.deepEqual(worker.retired, [{ arn: rec.arn, keep: undefined }]);
  await assert.rejects(service.invokeSync(tenant, 'f', Buffer.from('{}')), (e) => asLambda(e).status === 404);
});

test('the retired network tag is refused and grants nothing', async () => {
  await assert.rejects(
    functions.tag(tenant, 'f', { 'kindling:network': 'outbound' }),
    (e: Error) =>
      asLambda(e).type === 'InvalidParameterValueException' &&
      /granted per tenant by an administrator/.test(e.message),
  );
  await service.invokeSync(tenant, 'f', Buffer.from('{}'));
  assert.equal(worker.calls[0]!.spec.networkOutbound, false);
});

test("an admin's network grant reaches the next invocation's spec and retires the tenant's environments", async () => {
  await service.invokeSync(tenant, 'f', Buffer.from('{}'));
  assert.equal(worker.calls[0]!.spec.networkOutbound, false);
  await tenants.setNetwork(tenant.id, { networkOutbound: true, egressAllow: ['10.1.0.0/16'] });
  assert.deepEqual(worker.retiredTenants, [tenant.id]);
  await service.invokeSync(tenant, 'f', Buffer.from('{}'));
  assert.equal(worker.calls[1]!.spec.networkOutbound, true);
  assert.deepEqual(worker.calls[1]!.spec.egressAllow, ['10.1.0.0/16']);
  await tenants.setNetwork(tenant.id, { networkOutbound: false, egressAllow: [] });
  await service.invokeSync(tenant, 'f', Buffer.from('{}'));
  assert.equal(worker.calls[2]!.spec.networkOutbound, false);
});

test('other tags keep the versionKey', async () => {
  const before = (await functions.get(tenant.id, 'f'))!;
  await functions.tag(tenant, 'f', { team: 'x' });
  assert.equal((await functions.get(tenant.id, 'f'))!.versionKey, before.versionKey);
});

test('every invocation is reported to the observers with its figures', async () => {
  worker.answer = { functionError: 'Unhandled', errorType: 'TypeError', initDurationMs: 12, start: 'cold' };
  const out = await service.invokeSync(tenant, 'f', Buffer.from('{}'), { requestId: 'req-1' });
  // Not before the answer is back: the observers' work is off the request's path.
  assert.equal(records.length, 0);
  assert.equal(out.requestId, 'req-1');
  await observed();
  assert.equal(records.length, 1);
  const r = records[0]!;
  assert.equal(r.requestId, 'req-1');
  assert.equal(r.errorType, 'TypeError');
  assert.equal(r.start, 'cold');
  assert.equal(r.initDurationMs, 12);
  assert.equal(r.memoryMB, 128);
  assert.equal(r.invocationType, 'RequestResponse');
  assert.equal(r.tenantId, tenant.id);
});

test('a failing observer does not fail the invocation', async () => {
  service.addObserver({
    onInvocation() {
      throw new Error('observer bug');
    },
  });
  const errors: unknown[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => void errors.push(a);
  try {
    const out = await service.invokeSync(tenant, 'f', Buffer.from('{}'));
    assert.equal(out.payload.toString(), '"ok"');
    await observed();
  } finally {
    console.error = orig;
  }
  assert.equal(errors.length, 1);
});

test('reserved concurrency 0 reaches the worker (the one place that admits or throttles)', async () => {
  await functions.setReservedConcurrency(tenant, 'f', 0, 10);
  await service.invokeSync(tenant, 'f', Buffer.from('{}'));
  assert.equal(worker.calls.length, 1);
  assert.equal(worker.calls[0]!.spec.reservedConcurrency, 0);
});

test('a throttle the worker reports reaches the observers once, and the refusal reaches the caller', async () => {
  const throttles: string[] = [];
  service.addObserver({ onInvocation() {}, onThrottle: (_t, arn) => throttles.push(arn) });
  worker.throttling = true;
  await assert.rejects(service.invokeSync(tenant, 'f', Buffer.from('{}')), (e) => {
    assert.equal(asLambda(e).type, 'TooManyRequestsException');
    assert.equal(asLambda(e).fields.Reason, 'ReservedFunctionConcurrentInvocationLimitExceeded');
    return true;
  });
  assert.deepEqual(throttles, [(await functions.get(tenant.id, 'f'))!.arn]);
  assert.equal(records.length, 0);
});

test('a function of another tenant is not found, also by full ARN', async () => {
  const stranger = await tenants.create('t2');
  const arn = (await functions.get(tenant.id, 'f'))!.arn;
  await assert.rejects(
    service.invokeSync(stranger, arn, Buffer.from('{}')),
    (e) => asLambda(e).status === 404,
  );
  await assert.rejects(
    service.invokeSync(stranger, 'f', Buffer.from('{}')),
    (e) => asLambda(e).status === 404,
  );
  assert.equal(worker.calls.length, 0);
});

test('a qualifier in the name that contradicts the Qualifier parameter is refused', async () => {
  await assert.rejects(
    service.invokeSync(tenant, 'f:$LATEST', Buffer.from('{}'), { qualifier: '1' }),
    (e) => asLambda(e).type === 'InvalidParameterValueException',
  );
});

test('the composed invoker sends invokeAsync to the async queue and invokeSync to the service', async () => {
  const invoker = composeInvoker(service, {
    invokeAsync: async (_t, ref) => ({ requestId: `queued:${ref}` }),
  });
  assert.deepEqual(await invoker.invokeAsync(tenant, 'f', Buffer.from('{}')), { requestId: 'queued:f' });
  assert.equal(worker.calls.length, 0);
  assert.equal((await invoker.invokeSync(tenant, 'f', Buffer.from('{}'))).payload.toString(), '"ok"');
  assert.equal(worker.calls.length, 1);
});

test('a record resolved just now runs without being read again; a held one is checked first', async () => {
  const rec = await service.resolve(tenant, 'f');
  const reads: string[] = [];
  const get = functions.get.bind(functions);
  functions.get = (tenantId, name) => {
    reads.push(name);
    return get(tenantId, name);
  };
  await service.execute(tenant, rec, Buffer.from('{}'));
  assert.deepEqual(reads, []);
  await service.run(tenant, rec, Buffer.from('{}'));
  assert.deepEqual(reads, ['f']);
  assert.equal(worker.calls.length, 2);
});

test('reserved concurrency across a tenant’s functions may not exceed its limit', async () => {
  await functions.create(tenant, {
    name: 'g',
    runtime: 'nodejs20.x',
    handler: 'index.handler',
    zip: await handlerZip(echoHandler),
  });
  await functions.setReservedConcurrency(tenant, 'f', 6, 10);
  await assert.rejects(
    functions.setReservedConcurrency(tenant, 'g', 5, 10),
    /exceeds account's ConcurrentExecutions limit/,
  );
  await functions.setReservedConcurrency(tenant, 'g', 4, 10);
});

test('run with an outdated record runs the function as it is now', async () => {
  const old = (await functions.get(tenant.id, 'f'))!;
  await functions.updateConfiguration(tenant, 'f', { timeout: 42 });
  await service.run(tenant, old, Buffer.from('{}'));
  assert.equal(worker.calls[0]!.spec.timeoutSec, 42);
});

test('run with the record of a deleted function is not found, also after re-creation under the same name', async () => {
  const old = (await functions.get(tenant.id, 'f'))!;
  await functions.delete(tenant, 'f');
  await assert.rejects(service.run(tenant, old, Buffer.from('{}')), (e) => asLambda(e).status === 404);
  await functions.create(tenant, {
    name: 'f',
    runtime: 'nodejs20.x',
    handler: 'index.handler',
    zip: await handlerZip(echoHandler),
  });
  await assert.rejects(service.run(tenant, old, Buffer.from('{}')), (e) => asLambda(e).status === 404);
  assert.equal(worker.calls.length, 0);
});
