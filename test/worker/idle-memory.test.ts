// An environment going idle after a busy spell is frozen at once, and later woken to give back the memory it
// grew into (V8's young generation, which only a memory-reducing collection shrinks) and frozen again: not at
// the freeze, since that collection costs its next requests their warm state. A lightly used one is only
// frozen, and the trim never freezes an environment that was taken for a request meanwhile.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { mock, test } from 'node:test';
import type { ExecutionEnvironment } from '../../src/runtimes/runtime.js';
import { EnvSlot } from '../../src/worker/env-slot.js';
import { KeepAlive } from '../../src/worker/keep-alive.js';
import { IdleEnvironments } from '../../src/worker/placement.js';
import { fn, harness, invoke, json, spec } from './helpers.js';

/** The trim's idle time in these tests (1 s of it is the freeze's grace). */
const TRIM_AFTER_IDLE_MS = 2500;

/** The processes of an environment's sandbox, from its cgroup (v1 pids hierarchy or v2). */
function envPids(envId: string): number[] | undefined {
  for (const base of ['/sys/fs/cgroup/pids', '/sys/fs/cgroup']) {
    if (!fs.existsSync(base)) continue;
    for (const parent of fs.readdirSync(base).filter((d) => d.startsWith(`kindling-${process.pid}-`))) {
      const procs = `${base}/${parent}/${envId}/cgroup.procs`;
      if (fs.existsSync(procs)) return fs.readFileSync(procs, 'utf8').split('\n').filter(Boolean).map(Number);
    }
  }
  return undefined;
}

/**
 * Anonymous memory of the environment's runtime (its node process), kB: the heap the trim gives back. Not
 * PSS: its share of the node binary's pages moves as other processes come and go (a test running beside
 * this one starting sandboxes lowered it by over 1 MB while this environment was frozen).
 */
function runtimeAnonKb(envId: string): number {
  for (const pid of envPids(envId) ?? []) {
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'node') continue;
      return Number(/^Anonymous:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))![1]);
    } catch {
      // exited meanwhile
    }
  }
  return 0;
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); ) {
    if (Date.now() > end) assert.fail(`${what}: not after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('an environment that grew its young generation is frozen as it is, then gives the memory back once idle a while', async (t) => {
  const h = await harness({ poolTarget: 0 }, { trimAfterIdleMs: TRIM_AFTER_IDLE_MS });
  try {
    // Each request keeps its garbage alive for the next fifty: survivors grow the young generation to its cap.
    const s = fn(
      h,
      `const ring = [];
       export const handler = async () => { ring.push(new Array(4000).fill(Math.random())); if (ring.length > 50) ring.shift(); return ring.length; };`,
    );
    // Past the keep-alive's threshold for a trim (1,000 requests since the last).
    for (let i = 0; i < 1100; i++) assert.equal(typeof json(await invoke(h, s)), 'number');
    const [env] = h.wm.environments();
    assert.ok(env);
    if (envPids(env.id) === undefined) {
      t.skip('no per-environment cgroup to find its processes by');
      return;
    }
    const idleSince = Date.now();
    await until('frozen', () => h.wm.environments()[0]?.frozen === true);
    // Frozen, nothing in it runs: its memory stays as it is until the trim (a collection between
    // invocations may have run before the freeze; that is not the trim).
    const frozen = runtimeAnonKb(env.id);
    // Two touched 1 MB semi-spaces shrink to V8's initial half; loading the inspector costs less than that.
    await until('trimmed', () => frozen - runtimeAnonKb(env.id) > 1024);
    assert.ok(Date.now() - idleSince >= TRIM_AFTER_IDLE_MS - 100, 'trimmed only once idle that long');
    await until('frozen again', () => h.wm.environments()[0]?.frozen === true);
    // Still the same warm environment, and it serves as before.
    const r = await invoke(h, s);
    assert.equal(r.start, 'warm');
    assert.equal(h.wm.environments()[0]?.id, env.id);
  } finally {
    await h.close();
  }
});

test("a function that breaks the runtime's trim (a Session that never answers) is frozen all the same", async () => {
  const h = await harness({ poolTarget: 0 }, { trimAfterIdleMs: TRIM_AFTER_IDLE_MS });
  try {
    // User code may replace what the runtime will use at idle: its own module, its own sandbox.
    const s = fn(
      h,
      `import inspector from 'node:inspector';
       inspector.Session = class { connect() {} post() {} disconnect() {} };
       export const handler = async () => 'ok';`,
    );
    for (let i = 0; i < 1100; i++) assert.equal(json(await invoke(h, s)), 'ok');
    const [env] = h.wm.environments();
    assert.ok(env);
    // Frozen after the grace; woken for the trim, then its 500 ms without an answer: frozen again, not left running.
    await until('frozen', () => h.wm.environments()[0]?.frozen === true);
    await new Promise((r) => setTimeout(r, TRIM_AFTER_IDLE_MS + 700));
    assert.ok(h.wm.environments()[0]?.frozen, 'frozen despite the unanswered trim');
    const r = await invoke(h, s);
    assert.equal(r.start, 'warm');
    assert.equal(json(r), 'ok');
    assert.equal(h.wm.environments()[0]?.id, env.id);
  } finally {
    await h.close();
  }
});

/** An environment double whose trim the test settles by hand. */
function fakeEnvironment() {
  const trims: Array<(ok: boolean) => void> = [];
  let freezes = 0;
  const env = {
    id: 'env-fake',
    state: 'bound',
    trimMemory: () => new Promise<boolean>((r) => trims.push(r)),
    freeze: () => {
      freezes++;
      return true;
    },
    thaw: () => true,
  };
  return { env, trims, freezes: () => freezes };
}

test('a busy environment is trimmed once idle a while, and the trim never freezes one taken for a request meanwhile', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const idle = new IdleEnvironments();
    const keep = new KeepAlive(idle, 60_000, () => {}, 5_000);
    const fake = fakeEnvironment();
    const slot = new EnvSlot(fake.env as unknown as ExecutionEnvironment);
    slot.spec = spec('/nonexistent');
    // Lightly used: frozen after the grace, and never woken for a trim.
    keep.park(slot);
    mock.timers.tick(1000);
    assert.equal(fake.freezes(), 1);
    mock.timers.tick(10_000);
    assert.equal(fake.trims.length, 0);
    keep.wake(slot);
    assert.equal(slot.frozen, false);

    // After a busy spell: frozen as it is after the grace, asked to trim only once idle for 5 s.
    slot.invocations += 1000;
    keep.park(slot);
    mock.timers.tick(1000);
    assert.equal(fake.freezes(), 2);
    assert.equal(fake.trims.length, 0, 'no trim at the freeze');
    mock.timers.tick(3999);
    assert.equal(fake.trims.length, 0);
    mock.timers.tick(1);
    assert.equal(fake.trims.length, 1, 'idle for 5 s: woken and asked to trim');
    assert.equal(slot.frozen, false, 'thawed to trim');

    // A request takes it while the runtime trims, finishes, and it is parked again.
    keep.wake(slot);
    fake.env.state = 'busy';
    fake.trims[0]!(true);
    await new Promise((r) => setImmediate(r));
    assert.equal(fake.freezes(), 2, 'not frozen while busy');
    fake.env.state = 'bound';
    slot.invocations += 1000;
    keep.park(slot);
    await new Promise((r) => setImmediate(r));
    assert.equal(fake.freezes(), 2, 'nor right after: the earlier trim was for an earlier park');

    mock.timers.tick(1000);
    assert.equal(fake.freezes(), 3);
    mock.timers.tick(4000);
    assert.equal(fake.trims.length, 2);
    // A runtime that did not answer in time (false) is frozen all the same.
    fake.trims[1]!(false);
    await new Promise((r) => setImmediate(r));
    assert.equal(fake.freezes(), 4);
    assert.equal(slot.frozen, true);
  } finally {
    mock.timers.reset();
  }
});
