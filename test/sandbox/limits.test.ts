// Resource limits with real cgroups: memory, process count, CPU time and /tmp size are stopped with a clear
// answer to the caller, and the host (this test process) stays fine.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, type TestContext, test } from 'node:test';
import { detectIsolation } from '../../src/worker/worker-manager.js';
import { fn, type Harness, harness, invoke, json } from '../worker/helpers.js';

// Limits need writable cgroups (root, or a delegated subtree); elsewhere these tests say why they skip.
const { controllers } = (await detectIsolation('bwrap')).cgroup;
const noMemory = controllers.memory ? false : 'the memory cgroup controller is not writable here';
const noPids = controllers.pids ? false : 'the pids cgroup controller is not writable here';

let h: Harness;
before(async () => {
  h = await harness();
});
after(async () => {
  await h.close();
});

/** The per-environment cgroups Kindling made under its own (v1 pids hierarchy or v2). */
function envCgroups(): string[] {
  const out: string[] = [];
  for (const base of ['/sys/fs/cgroup/pids', '/sys/fs/cgroup']) {
    if (!fs.existsSync(base)) continue;
    for (const parent of fs.readdirSync(base).filter((d) => d.startsWith(`kindling-${process.pid}-`))) {
      const dir = `${base}/${parent}`;
      out.push(
        ...fs
          .readdirSync(dir)
          .filter((d) => d.startsWith('env-'))
          .map((d) => `${dir}/${d}`),
      );
    }
  }
  return out;
}

/** Environments' cgroups holding more tasks than an idle runtime does. */
function crowdedCgroups(): string[] {
  return envCgroups().filter((d) => {
    try {
      return Number(fs.readFileSync(`${d}/pids.current`, 'utf8')) > 30;
    } catch {
      return false;
    }
  });
}

test('a handler allocating past its memory size answers Runtime.OutOfMemory; the next invoke is healthy', {
  skip: noMemory,
}, async () => {
  const s = fn(
    h,
    `export const handler = async (e) => { if (!e.hog) return 'ok'; const keep = [];
       for (;;) { keep.push(Buffer.alloc(8 << 20, 1)); await null; } };`,
    { memoryMB: 128, timeoutSec: 10 },
  );
  const r = await invoke(h, s, { hog: true }, { requestId: 'req-oom' });
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'Runtime.OutOfMemory');
  assert.equal((json(r) as { errorType: string }).errorType, 'Runtime.OutOfMemory');
  assert.equal(r.maxMemoryUsedMB, 128);
  assert.equal(json(await invoke(h, s, {})), 'ok');
});

test('a handler spinning the CPU is stopped at its timeout; the next invoke is healthy', async () => {
  const s = fn(h, 'export const handler = async (e) => { if (e.spin) for (;;) {} return "ok"; };', {
    timeoutSec: 1,
  });
  const r = await invoke(h, s, { spin: true });
  assert.equal(r.errorType, 'Sandbox.Timedout');
  assert.match((json(r) as { errorMessage: string }).errorMessage, /Task timed out after 1\.00 seconds/);
  assert.equal(json(await invoke(h, s, {})), 'ok');
});

test('a fork bomb is held by the pids limit and killed cleanly with its environment', {
  skip: noPids,
}, async () => {
  const s = fn(
    h,
    `import { spawn } from 'node:child_process'; import fs from 'node:fs';
     export const handler = async (e) => {
       if (!e.bomb) return 'ok';
       spawn('/bin/sh', ['-c', 'while true; do sleep 30 & done'], { stdio: 'ignore' });
       await new Promise((r) => setTimeout(r, 700));
       const tasks = fs.readdirSync('/proc').filter((x) => /^\\d+$/.test(x))
         .reduce((n, p) => { try { return n + fs.readdirSync('/proc/' + p + '/task').length; } catch { return n; } }, 0);
       console.log('TASKS=' + tasks);
       return new Promise(() => {});
     };`,
    { timeoutSec: 2 },
  );
  const r = await invoke(h, s, { bomb: true });
  assert.equal(r.errorType, 'Sandbox.Timedout');
  const tasks = Number(/TASKS=(\d+)/.exec(r.log)?.[1]);
  assert.ok(tasks > 10 && tasks <= 64, `tasks in sandbox: ${tasks}`);
  // The environment's cgroup (and every process in it) is gone shortly after.
  for (let i = 0; i < 100 && crowdedCgroups().length > 0; i++)
    await new Promise((res) => setTimeout(res, 50));
  assert.deepEqual(crowdedCgroups(), []);
  assert.equal(json(await invoke(h, s, {})), 'ok');
});

test('writing 10 GB to /tmp ends in ENOSPC or Runtime.OutOfMemory, and the host is fine', async () => {
  const s = fn(
    h,
    `import fs from 'node:fs';
     export const handler = async () => { const fd = fs.openSync('/tmp/big', 'w'); const mb = Buffer.alloc(1 << 20, 7);
       let n = 0; try { for (; n < 10240; n++) fs.writeSync(fd, mb); return 'wrote all'; } catch (e) { return e.code + ' after ' + n + ' MB'; } };`,
    { memoryMB: 128, timeoutSec: 10 },
  );
  const r = await invoke(h, s);
  if (r.functionError === undefined) assert.match(String(json(r)), /^ENOSPC after \d+ MB$/);
  else assert.equal(r.errorType, 'Runtime.OutOfMemory');
});

test('/tmp is capped at EphemeralStorage: writing past it fails with ENOSPC', async () => {
  const s = fn(
    h,
    `import fs from 'node:fs';
     export const handler = async () => { const mb = Buffer.alloc(1 << 20, 7); let n = 0;
       try { for (; n < 1000; n++) fs.appendFileSync('/tmp/f', mb); return 'no limit'; } catch (e) { return e.code + ' ' + n; } };`,
    { memoryMB: 512, ephemeralStorageMB: 64 },
  );
  const v = String(json(await invoke(h, s)));
  const [code, n] = v.split(' ');
  assert.equal(code, 'ENOSPC');
  assert.ok(Number(n) <= 64, v);
});

test('each environment gets a memory limit and a CPU weight proportional to its memory size', {
  skip: noMemory,
}, async () => {
  const small = fn(h, 'export const handler = async () => 1;', { memoryMB: 128 });
  const big = fn(h, 'export const handler = async () => 1;', { memoryMB: 1769 });
  await invoke(h, small);
  await invoke(h, big);
  const read = (hier: string, file: string) => {
    const parent = `/sys/fs/cgroup/${hier}`;
    const dirs: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (!e.isDirectory()) continue;
        const p = `${d}/${e.name}`;
        if (e.name.startsWith('env-') && p.includes(`/kindling-${process.pid}-`)) dirs.push(p);
        else if (!e.name.startsWith('env-')) walk(p);
      }
    };
    walk(parent);
    return dirs.map((d) => fs.readFileSync(`${d}/${file}`, 'utf8').trim());
  };
  if (fs.existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes')) {
    const limits = read('memory', 'memory.limit_in_bytes');
    assert.ok(limits.includes(String(128 * 1024 * 1024)), limits.join(','));
    assert.ok(limits.includes(String(1769 * 1024 * 1024)), limits.join(','));
    const shares = read('cpu', 'cpu.shares');
    assert.ok(shares.includes('74') && shares.includes('1024'), shares.join(','));
  }
});

/** Each process of the environment's cgroup (v1 pids hierarchy): its state letter (R, S, T, Z...) and parent. */
function processes(envId: string): Array<{ pid: number; ppid: number; state: string }> {
  const dir = envCgroups().find((d) => d.endsWith(`/${envId}`));
  assert.ok(dir, `no cgroup for ${envId}`);
  const out: Array<{ pid: number; ppid: number; state: string }> = [];
  for (const pid of fs.readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter(Boolean)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(pid), ppid: Number(ppid), state: state! });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * bwrap's two monitors, found by parentage: its outer process (this test process's child: the harness
 * runs the worker here) and that one's child, the sandbox's pid 1. A freeze leaves them running.
 */
function monitors(envId: string): number[] {
  const all = processes(envId);
  const outer = all.find((p) => p.ppid === process.pid);
  assert.ok(outer, "bwrap's outer process is in the cgroup");
  const inner = all.find((p) => p.ppid === outer.pid);
  assert.ok(inner, "the sandbox's pid 1 is in the cgroup");
  return [outer.pid, inner.pid];
}

/** The state letters of the environment's processes other than bwrap's monitors: the runtime and its children. */
function processStates(envId: string): string[] {
  const spared = monitors(envId);
  return processes(envId)
    .filter((p) => !spared.includes(p.pid))
    .map((p) => p.state);
}

/** The monitors are never stopped: stopping them would wake the server (SIGCHLD) on every freeze and thaw. */
function monitorsRunning(envId: string): boolean {
  const spared = monitors(envId);
  return processes(envId).every((p) => !spared.includes(p.pid) || p.state === 'S' || p.state === 'R');
}

/**
 * Stopped (T), exiting (Z, X), or waiting in the kernel uninterruptibly (D: a vfork() parent whose child
 * was stopped before its exec): such a one cannot run, and stops on its pending SIGSTOP when it leaves.
 */
const stoppedOrGone = (states: string[]) =>
  states.every((s) => s === 'T' || s === 'Z' || s === 'X' || s === 'D');

/** A harness with an empty pool where idle environments are stopped by signal (cgroup v1); else a skip. */
async function stoppingHarness(t: TestContext): Promise<Harness | undefined> {
  const { controllers: c } = (await detectIsolation('bwrap')).cgroup;
  if (!c.pids || !fs.existsSync('/sys/fs/cgroup/pids')) {
    t.skip('no cgroup v1 here');
    return undefined;
  }
  return harness({ poolTarget: 0 });
}

async function waitFor(cond: () => boolean): Promise<boolean> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

test('an idle environment is frozen (its background work stops) and thawed for the next request', async (t) => {
  const h2 = await stoppingHarness(t);
  if (h2 === undefined) return;
  try {
    const s = fn(
      h2,
      'let ticks = 0; setInterval(() => ticks++, 5); export const handler = async () => ticks;',
    );
    await invoke(h2, s);
    const [env] = h2.wm.environments();
    assert.ok(env);
    assert.ok(await waitFor(() => stoppedOrGone(processStates(env.id))), processStates(env.id).join(''));
    assert.ok(monitorsRunning(env.id), JSON.stringify(processes(env.id)));
    // Stopped, the timer does not tick: the count is the same after a while.
    const frozenAt = json(await invoke(h2, s));
    assert.ok(
      processStates(env.id).every((st) => st !== 'T'),
      processStates(env.id).join(''),
    );
    assert.ok(await waitFor(() => stoppedOrGone(processStates(env.id))));
    await new Promise((r) => setTimeout(r, 500));
    const r = await invoke(h2, s);
    assert.equal(r.start, 'warm');
    assert.equal(r.functionError, undefined);
    // 1 s of grace before the freeze ticks ~200 times; the 500 ms frozen would add ~100 more.
    const ticked = (json(r) as number) - (frozenAt as number);
    assert.ok(ticked < 280, `ticked ${ticked} times across a freeze`);
  } finally {
    await h2.close();
  }
});

test('a background process that keeps forking is stopped with the rest of its idle environment', async (t) => {
  const h2 = await stoppingHarness(t);
  if (h2 === undefined) return;
  try {
    // A shell that forks a short-lived child in a loop: every freeze races a fork. It names itself bwrap
    // (comm), as a tenant that read the freeze code would: the monitors are told apart by pid, not name.
    const s = fn(
      h2,
      `import { spawn } from 'node:child_process';
       let started = false;
       export const handler = async () => {
         if (!started) { started = true; spawn('/bin/sh', ['-c', 'printf bwrap > /proc/self/comm; while :; do /bin/true; done'], { stdio: 'ignore', detached: true }).unref(); }
         return 'ok';
       };`,
    );
    await invoke(h2, s);
    const [env] = h2.wm.environments();
    assert.ok(env);
    for (let i = 0; i < 3; i++) {
      assert.ok(await waitFor(() => stoppedOrGone(processStates(env.id))), processStates(env.id).join(''));
      // Still stopped a moment later: nothing left running could have continued the others.
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(stoppedOrGone(processStates(env.id)), processStates(env.id).join(''));
      assert.ok(monitorsRunning(env.id), JSON.stringify(processes(env.id)));
      const r = await invoke(h2, s);
      assert.equal(r.start, 'warm');
      assert.ok(processStates(env.id).some((st) => st === 'R' || st === 'S'));
    }
  } finally {
    await h2.close();
  }
});
