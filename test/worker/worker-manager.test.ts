// WorkerManager with real sandboxes: placement (warm → pool → cold), concurrency limits, tenant and
// version separation, retirement, keep-alive and the completion hook.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { asLambda } from '../helpers/lambda-errors.js';
import { fn, type Harness, harness, invoke, json, spec, writeCode } from './helpers.js';

let h: Harness;
before(async () => {
  h = await harness({ queueWaitMs: 300 });
});
after(async () => {
  await h.close();
});

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const whoAmI =
  'const token = Math.random().toString(36).slice(2); export const handler = async (e) => { if (e.sleep) await new Promise((r) => setTimeout(r, e.sleep)); return token; };';

function isThrottle(e: unknown, reason?: string): boolean {
  return (
    asLambda(e).type === 'TooManyRequestsException' &&
    asLambda(e).status === 429 &&
    (reason === undefined || asLambda(e).fields.Reason === reason)
  );
}

test('a ready sandbox in the warming pool is used for the first invoke (a pool hit), then the env is warm', async () => {
  await until(() => h.wm.stats().pools.some((p) => p.runtimeKey === 'nodejs20.x' && p.ready >= 1));
  const before = h.wm.stats().coldStarts.pool;
  const s = fn(h, whoAmI);
  const first = await invoke(h, s);
  assert.equal(first.start, 'pool');
  assert.ok(first.initDurationMs !== undefined);
  assert.equal(h.wm.stats().coldStarts.pool, before + 1);
  const second = await invoke(h, s);
  assert.equal(second.start, 'warm');
  assert.equal(json(second), json(first));
  // The pool refills in the background.
  await until(() => h.wm.stats().pools.some((p) => p.runtimeKey === 'nodejs20.x' && p.ready >= 1));
});

test('with an empty pool a new sandbox is started (a cold start)', async () => {
  const h2 = await harness({ poolTarget: 0 });
  try {
    const r = await invoke(h2, fn(h2, whoAmI));
    assert.equal(r.functionError, undefined, r.payload.toString());
    assert.equal(r.start, 'cold');
    assert.equal(h2.wm.stats().coldStarts.cold, 1);
  } finally {
    await h2.close();
  }
});

test('setPoolTarget changes the pool size at run time and stats report it', async () => {
  h.wm.setPoolTarget('nodejs20.x', 2);
  await until(() => h.wm.stats().pools.find((p) => p.runtimeKey === 'nodejs20.x')?.ready === 2);
  assert.deepEqual(
    { ...h.wm.stats().pools.find((p) => p.runtimeKey === 'nodejs20.x'), starting: 0 },
    { runtimeKey: 'nodejs20.x', ready: 2, starting: 0, target: 2, mode: 'fixed' },
  );
  h.wm.setPoolTarget('nodejs20.x', 1);
  await until(() => h.wm.stats().pools.find((p) => p.runtimeKey === 'nodejs20.x')?.ready === 1);
});

test('reserved concurrency 0 throttles at once with TooManyRequestsException', async () => {
  const s = fn(h, whoAmI, { reservedConcurrency: 0 });
  const t0 = Date.now();
  await assert.rejects(invoke(h, s), (e) =>
    isThrottle(e, 'ReservedFunctionConcurrentInvocationLimitExceeded'),
  );
  assert.ok(Date.now() - t0 < 250, 'did not wait in the buffer');
});

test('a request over reserved concurrency waits in the buffer, then gets TooManyRequests', async () => {
  const s = fn(h, whoAmI, { reservedConcurrency: 1 });
  const slow = invoke(h, s, { sleep: 1200 });
  await new Promise((r) => setTimeout(r, 50));
  await assert.rejects(invoke(h, s, {}), (e) =>
    isThrottle(e, 'ReservedFunctionConcurrentInvocationLimitExceeded'),
  );
  const r = await slow;
  assert.equal(r.functionError, undefined);
});

test('a buffered request runs when a slot frees within the wait', async () => {
  const s = fn(h, whoAmI, { reservedConcurrency: 1 });
  await invoke(h, s); // warm one environment
  const [a, b] = await Promise.all([invoke(h, s, { sleep: 100 }), invoke(h, s, {})]);
  assert.equal(a.functionError, undefined);
  assert.equal(b.functionError, undefined);
  assert.equal(json(a), json(b), 'reserved concurrency 1: the same environment served both');
});

test("the tenant's concurrency limit applies across its functions", async () => {
  const s1 = fn(h, whoAmI, { tenantId: 'tenant-limited' });
  const s2 = fn(h, whoAmI, { tenantId: 'tenant-limited' });
  const slow = invoke(h, s1, { sleep: 1200 }, { tenantConcurrency: 1 });
  await new Promise((r) => setTimeout(r, 50));
  await assert.rejects(invoke(h, s2, {}, { tenantConcurrency: 1 }), (e) =>
    isThrottle(e, 'ConcurrentInvocationLimitExceeded'),
  );
  await slow;
});

test('different tenants never share an environment, even with identical code', async () => {
  const code = writeCode(h, { 'index.mjs': whoAmI });
  const a = spec(code, { tenantId: 'tenant-a', functionName: 'same', versionKey: 'k-a' });
  const b = spec(code, { tenantId: 'tenant-b', functionName: 'same', versionKey: 'k-b' });
  const ta = json(await invoke(h, a));
  const tb = json(await invoke(h, b));
  assert.notEqual(ta, tb);
  assert.equal(json(await invoke(h, a)), ta);
  assert.equal(json(await invoke(h, b)), tb);
});

test('a new version of a function never reuses the old version’s environment', async () => {
  const v1 = fn(h, whoAmI);
  const v2 = { ...v1, versionKey: `${v1.versionKey}-2` };
  const t1 = json(await invoke(h, v1));
  const r2 = await invoke(h, v2);
  assert.notEqual(r2.start, 'warm');
  assert.notEqual(json(r2), t1);
});

test('retireFunction retires the environments of the function’s other versions', async () => {
  const v1 = fn(h, whoAmI);
  const v2 = { ...v1, versionKey: `${v1.versionKey}-new` };
  await invoke(h, v1);
  const t2 = json(await invoke(h, v2));
  h.wm.retireFunction(v1.functionArn, v2.versionKey);
  assert.notEqual((await invoke(h, v1)).start, 'warm', 'v1 envs were retired');
  const again = await invoke(h, v2);
  assert.equal(again.start, 'warm', 'the kept version stays warm');
  assert.equal(json(again), t2);
  h.wm.retireFunction(v1.functionArn);
  assert.notEqual((await invoke(h, v2)).start, 'warm');
});

test('a warm environment whose runtime died while idle is replaced, not used', async () => {
  const s = fn(h, `${whoAmI} export const die = 1; setTimeout(() => {}, 0);`);
  const s2 = fn(
    h,
    'export const handler = async (e) => { if (e.die) setTimeout(() => process.exit(1), 20); return "ok"; };',
  );
  await invoke(h, s);
  assert.equal(json(await invoke(h, s2, { die: true })), 'ok');
  await new Promise((r) => setTimeout(r, 200));
  const r = await invoke(h, s2, {});
  assert.equal(r.functionError, undefined);
  assert.notEqual(r.start, 'warm');
});

test('health checks retire idle environments that stopped answering', async () => {
  const s = fn(
    h,
    'export const handler = async (e) => { if (e.freeze) setTimeout(() => { const t = Date.now(); while (Date.now() - t < 3000); }, 10); return "ok"; };',
  );
  await invoke(h, s, { freeze: true });
  await new Promise((r) => setTimeout(r, 50));
  const bound = h.wm.stats().environments.bound;
  await h.wm.healthCheck(300);
  assert.equal(h.wm.stats().environments.bound, bound - 1);
});

test('a single-use function gets a fresh environment for every request', async () => {
  const s = fn(h, whoAmI, { singleUse: true });
  const a = await invoke(h, s);
  const b = await invoke(h, s);
  assert.notEqual(a.start, 'warm');
  assert.notEqual(b.start, 'warm');
  assert.notEqual(json(a), json(b));
});

test('the result reports durations, memory, start kind and error type (the one result shape)', async () => {
  const s = fn(
    h,
    "export const handler = async (e) => { if (e.fail) throw new RangeError('x'); return 1; };",
    { tenantId: 'tenant-t' },
  );
  const a = await invoke(h, s, {}, { requestId: 'req-hook-1' });
  const b = await invoke(h, s, { fail: true }, { requestId: 'req-hook-2' });
  assert.equal(a.requestId, 'req-hook-1');
  assert.notEqual(a.start, 'warm');
  assert.ok(a.initDurationMs !== undefined);
  assert.ok(a.maxMemoryUsedMB > 0 && a.maxMemoryUsedMB <= 128);
  assert.ok(a.billedDurationMs >= 1);
  assert.equal(a.errorType, undefined);
  assert.equal(b.start, 'warm');
  assert.equal(b.functionError, 'Unhandled');
  assert.equal(b.errorType, 'RangeError');
  assert.match(b.log, /^START RequestId: req-hook-2/m);
  assert.match(b.log, /Memory Size: 128 MB/);
});

test('a throttled request is reported to onThrottle with its tenant and function', async () => {
  const seen: string[] = [];
  const h2 = await harness({ poolTarget: 0 }, { onThrottle: (t, arn) => seen.push(`${t} ${arn}`) });
  try {
    const s = fn(h2, whoAmI, { tenantId: 'tenant-q', reservedConcurrency: 0 });
    await assert.rejects(invoke(h2, s), (e) => asLambda(e).type === 'TooManyRequestsException');
    assert.deepEqual(seen, [`tenant-q ${s.functionArn}`]);
  } finally {
    await h2.close();
  }
});

test('an unsupported runtime is refused with InvalidRuntimeException', async () => {
  await assert.rejects(
    invoke(h, fn(h, whoAmI, { runtime: 'python3.8' })),
    (e) => asLambda(e).type === 'InvalidRuntimeException',
  );
});

test('idle environments are torn down after keep-alive', async () => {
  const h2 = await harness({ keepAliveMs: 300, poolTarget: 0 });
  try {
    const s = fn(h2, whoAmI);
    await invoke(h2, s);
    assert.equal(h2.wm.stats().environments.bound, 1);
    assert.equal((await invoke(h2, s)).start, 'warm');
    await until(() => h2.wm.stats().environments.bound === 0, 3000);
    assert.equal((await invoke(h2, s)).start, 'cold');
  } finally {
    await h2.close();
  }
});

test('drain lets a running invocation finish, then refuses new ones', async () => {
  const h2 = await harness({ poolTarget: 0 });
  const s = fn(h2, whoAmI);
  const running = invoke(h2, s, { sleep: 300 });
  await new Promise((r) => setTimeout(r, 150));
  const drained = h2.wm.drain(5000);
  await assert.rejects(invoke(h2, s), (e) => asLambda(e).type === 'ServiceException');
  const r = await running;
  assert.equal(r.functionError, undefined);
  await drained;
  await h2.close();
});

test('at the environment cap the least recently used idle environment makes room; with none idle, a throttle', async () => {
  const h2 = await harness({ poolTarget: 0 }, { maxEnvironments: 2 });
  try {
    const [a, b, c] = [fn(h2, whoAmI), fn(h2, whoAmI), fn(h2, whoAmI)];
    await invoke(h2, a);
    await invoke(h2, b);
    await invoke(h2, c); // evicts a's environment, the least recently used
    assert.equal(h2.wm.stats().environments.bound, 2);
    assert.equal((await invoke(h2, b)).start, 'warm');
    assert.notEqual((await invoke(h2, a)).start, 'warm');
    // Both slots busy: nothing to evict.
    const busy = [invoke(h2, a, { sleep: 800 }), invoke(h2, b, { sleep: 800 })];
    await new Promise((r) => setTimeout(r, 100));
    await assert.rejects(invoke(h2, c), (e) => isThrottle(e));
    await Promise.all(busy);
  } finally {
    await h2.close();
  }
});

test('concurrent cold starts do not overshoot the environment cap together', async () => {
  // With an empty pool each start awaits a new sandbox; every start must count against the cap from the
  // moment it makes room, or five at once would all see "room for two" and start five environments.
  const h2 = await harness({ poolTarget: 0 }, { maxEnvironments: 2 });
  try {
    const fns = Array.from({ length: 5 }, () => fn(h2, whoAmI));
    const outcomes = await Promise.allSettled(fns.map((f) => invoke(h2, f, { sleep: 300 })));
    const ok = outcomes.filter((o) => o.status === 'fulfilled').length;
    const throttled = outcomes.filter((o) => o.status === 'rejected' && isThrottle(o.reason)).length;
    assert.equal(ok + throttled, 5, JSON.stringify(outcomes.filter((o) => o.status === 'rejected')));
    assert.equal(ok, 2);
    const e = h2.wm.stats().environments;
    assert.ok(e.bound + e.starting <= 2, JSON.stringify(e));
  } finally {
    await h2.close();
  }
});

test('an invocation still running at the drain deadline is ended and its caller gets an error answer', async () => {
  const h2 = await harness({ poolTarget: 0 });
  const s = fn(h2, whoAmI, { timeoutSec: 30 });
  await invoke(h2, s);
  const running = invoke(h2, s, { sleep: 20_000 });
  await new Promise((r) => setTimeout(r, 100));
  await h2.wm.drain(200);
  const r = await running;
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'Runtime.ExitError');
  await h2.close();
});
