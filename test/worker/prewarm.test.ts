// Prewarming (Kindling's pre-trigger) in real sandboxes: N environments initialised ahead of requests and
// parked, so that many concurrent requests meet no init; their init output is not lost; the tenant's
// concurrency bounds how many; they outlive the keep-alive until their window ends, then lapse.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { asLambda } from '../helpers/lambda-errors.js';
import { fn, type Harness, harness, invoke, json } from './helpers.js';

let h: Harness;
before(async () => {
  h = await harness({ keepAliveMs: 300, poolTarget: 0 });
});
after(async () => {
  await h.close();
});

// Each environment names itself at init; the handler waits so concurrent requests need one each.
const CODE = `
const me = Math.random().toString(36).slice(2);
console.log('init of', me);
export const handler = async (e) => {
  await new Promise((r) => setTimeout(r, e.wait ?? 0));
  return { me, initType: process.env.AWS_LAMBDA_INITIALIZATION_TYPE };
};`;

const soon = () => Date.now() + 60_000;
const OPTS = { tenantConcurrency: 64 };

function bound(arn: string): number {
  return h.wm.environments().filter((e) => e.functionArn === arn && e.state !== 'retired').length;
}

test('prewarmed environments serve concurrent requests without an init, and log their init with them', async () => {
  const s = fn(h, CODE);
  const r = await h.wm.prewarm(s, 3, soon(), OPTS);
  assert.deepEqual(r, { requested: 3, warm: 3, started: 3, limitedBy: undefined, errors: [] });
  const results = await Promise.all([1, 2, 3].map(() => invoke(h, s, { wait: 400 })));
  for (const res of results) {
    assert.equal(res.start, 'warm');
    assert.equal(res.initDurationMs, undefined);
    assert.equal((json(res) as { initType: string }).initType, 'provisioned-concurrency');
  }
  const names = results.map((res) => (json(res) as { me: string }).me);
  assert.equal(new Set(names).size, 3);
  // Each environment's init line arrives with its first request, before START.
  for (const [i, res] of results.entries()) {
    const at = res.log.indexOf(`init of ${names[i]}`);
    assert.ok(at >= 0 && at < res.log.indexOf('START'), res.log);
  }
  // A second prewarm of the same count finds them there: nothing new starts.
  const again = await h.wm.prewarm(s, 3, soon(), OPTS);
  assert.equal(again.started, 0);
  assert.equal(again.warm, 3);
});

test("the tenant's concurrency limit bounds how many environments a prewarm starts", async () => {
  const s = fn(h, CODE);
  const r = await h.wm.prewarm(s, 5, soon(), { tenantConcurrency: 2 });
  assert.equal(r.started <= 2, true, JSON.stringify(r));
  assert.equal(r.limitedBy, 'concurrency');
  assert.ok(bound(s.functionArn) <= 2);
});

test('prewarmed environments outlive the keep-alive until their window ends, then lapse', async () => {
  const s = fn(h, CODE);
  const until = Date.now() + 5_000;
  await h.wm.prewarm(s, 2, until, OPTS);
  // Well past the 300 ms keep-alive (however long the inits took on a busy host), still there.
  await new Promise((r) => setTimeout(r, 1_000));
  assert.ok(Date.now() < until - 500, 'the inits took most of the window: nothing to check');
  assert.equal(bound(s.functionArn), 2);
  let left = bound(s.functionArn);
  for (let i = 0; i < 100 && left > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = bound(s.functionArn);
  }
  assert.equal(left, 0);
});

test('an init that fails is reported, and leaves no environment behind', async () => {
  const s = fn(h, "throw new Error('no init for you');\nexport const handler = async () => 1;");
  const r = await h.wm.prewarm(s, 2, soon(), OPTS);
  assert.equal(r.started, 0);
  assert.equal(r.warm, 0);
  assert.ok(r.errors.length >= 1, JSON.stringify(r));
  assert.equal(bound(s.functionArn), 0);
});

test('idle environments of other functions give way to a prewarm; kept ones are never evicted for a cold start', async () => {
  const small = await harness({ keepAliveMs: 60_000, poolTarget: 0 }, { maxEnvironments: 3 });
  try {
    const live = (s: { functionArn: string }) =>
      small.wm.environments().filter((e) => e.functionArn === s.functionArn && e.state !== 'retired').length;
    const others = [1, 2, 3].map((i) => fn(small, `export const handler = async () => ${i};`));
    for (const s of others) assert.equal((await invoke(small, s)).functionError, undefined);
    assert.equal(small.wm.environments().length, 3, 'the host is full of idle environments');
    // Idle environments are a cache: the tenant's limit (3) and the host's room count them out.
    const kept = fn(small, CODE);
    const r = await small.wm.prewarm(kept, 2, soon(), { tenantConcurrency: 3 });
    assert.deepEqual(r, { requested: 2, warm: 2, started: 2, limitedBy: undefined, errors: [] });
    assert.equal(live(kept), 2);
    // A cold start takes the last idle one's place, never a kept one's; while it runs and only kept ones
    // are idle, another cold start is throttled.
    const slow = fn(
      small,
      'export const handler = async (e) => { await new Promise((r) => setTimeout(r, e.wait)); return 4; };',
    );
    const running = invoke(small, slow, { wait: 1_500 });
    for (
      let i = 0;
      i < 200 &&
      !small.wm.environments().some((e) => e.functionArn === slow.functionArn && e.state === 'busy');
      i++
    )
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(live(kept), 2);
    await assert.rejects(
      invoke(small, fn(small, 'export const handler = async () => 5;')),
      (e: unknown) => asLambda(e).type === 'TooManyRequestsException' && asLambda(e).status === 429,
    );
    assert.equal(json(await running), 4);
    assert.equal(live(kept), 2);
  } finally {
    await small.close();
  }
});
