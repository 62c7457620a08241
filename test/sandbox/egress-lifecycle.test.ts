// The user-mode network of an outbound sandbox belongs to it: slirp4netns ends with the sandbox, a sandbox
// whose slirp4netns died is retired, the platform relay still answers inside, and a server without
// slirp4netns answers granted tenants with a clear error instead of handing out the host's network.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import { findBwrap } from '../../src/sandbox/bwrap-driver.js';
import { detectEgress, Egress } from '../../src/sandbox/egress.js';
import { probeBwrapSync } from '../../src/sandbox/isolation.js';
import { asLambda } from '../helpers/lambda-errors.js';
import { fn, type Harness, harness, invoke, json } from '../worker/helpers.js';

function cannotRun(): string | undefined {
  const bwrap = findBwrap();
  if (bwrap === undefined) return 'bubblewrap is not installed';
  const failure = probeBwrapSync(bwrap);
  if (failure !== undefined) return `bubblewrap cannot create namespaces: ${failure}`;
  return detectEgress().problem;
}

const skip = cannotRun();
if (skip !== undefined) process.stderr.write(`egress lifecycle tests skipped: ${skip}\n`);
const opts = skip ? { skip } : {};

let h: Harness;
before(async () => {
  if (skip !== undefined) return;
  h = await harness({ poolTarget: 0 });
  // No warm spare: every slirp4netns seen belongs to the environment under test.
  h.wm.setPoolTarget('nodejs20.x+net', 0);
});
after(async () => {
  await h?.close();
});

/** slirp4netns processes this test process started (through its worker), by PID. */
function slirpChildren(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([, comm]) => comm === 'slirp4netns')
    .map(([pid]) => Number(pid));
}

const alive = (pid: number) => fs.existsSync(`/proc/${pid}`);

const relayProbe = `export const handler = async () => {
  const r = await fetch(process.env.AWS_ENDPOINT_URL + '/probe');
  return { relay: (await r.json()).via, endpoint: process.env.AWS_ENDPOINT_URL };
};`;

test(
  'an outbound sandbox reaches the platform relay on the usual endpoint, and its slirp4netns ends with it',
  opts,
  async () => {
    const before = new Set(slirpChildren());
    const s = fn(h, relayProbe, { networkOutbound: true });
    const r = await invoke(h, s);
    assert.deepEqual(json(r), { relay: 'unix-socket', endpoint: 'http://127.0.0.1:9001' });
    const mine = slirpChildren().filter((pid) => !before.has(pid));
    assert.equal(mine.length, 1, `slirp4netns processes: ${mine}`);
    h.wm.retireFunction(s.functionArn);
    for (let i = 0; i < 100 && alive(mine[0]!); i++) await new Promise((res) => setTimeout(res, 50));
    assert.equal(alive(mine[0]!), false, 'slirp4netns outlived its sandbox');
  },
);

test(
  "starting an outbound sandbox leaves the host's mounts alone: a named network namespace survives",
  opts,
  async (t) => {
    const name = `kdl-mounts-${process.pid}`;
    try {
      execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
    } catch (e) {
      t.skip(`cannot create a network namespace: ${(e as Error).message.split('\n')[0]}`);
      return;
    }
    try {
      const s = fn(h, relayProbe, { networkOutbound: true });
      assert.equal((json(await invoke(h, s)) as { relay: string }).relay, 'unix-socket');
      // `ip netns exec` fails with EINVAL once the namespace's bind mount under /run/netns is gone.
      execFileSync('ip', ['netns', 'exec', name, 'true'], { stdio: 'pipe' });
    } finally {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'pipe' });
    }
  },
);

test(
  'a sandbox whose slirp4netns died is retired: the next request gets a fresh environment',
  opts,
  async () => {
    const before = new Set(slirpChildren());
    const s = fn(h, relayProbe, { networkOutbound: true });
    assert.notEqual((await invoke(h, s)).start, 'warm');
    const mine = slirpChildren().filter((pid) => !before.has(pid));
    assert.equal(mine.length, 1);
    process.kill(mine[0]!, 'SIGKILL');
    for (let i = 0; i < 100 && alive(mine[0]!); i++) await new Promise((res) => setTimeout(res, 50));
    // The sandbox is killed when its network helper goes; give the worker a moment to see the exit.
    await new Promise((res) => setTimeout(res, 300));
    const r = await invoke(h, s);
    assert.notEqual(r.start, 'warm');
    assert.equal((json(r) as { relay: string }).relay, 'unix-socket');
  },
);

test('without slirp4netns a granted function gets a clear error, never the host network', opts, async () => {
  const noSlirp = await harness({ poolTarget: 0 }, { egressHelper: '/nonexistent/slirp4netns' });
  try {
    const s = fn(noSlirp, relayProbe, { networkOutbound: true });
    await assert.rejects(invoke(noSlirp, s), (e: Error) => {
      assert.equal(asLambda(e).type, 'ServiceException');
      assert.match(e.message, /granted outbound network.*slirp4netns is not installed/);
      return true;
    });
    const doctor = await noSlirp.wm.doctor();
    assert.equal(doctor.egress.mode, 'unavailable');
    // Functions without the grant still run.
    const plain = fn(noSlirp, 'export const handler = async () => "ok";');
    assert.equal(json(await invoke(noSlirp, plain)), 'ok');
  } finally {
    await noSlirp.close();
  }
});

test(
  'attaching the network leaves the loopback to bwrap, which may still be setting it up',
  opts,
  async () => {
    // bwrap reports the pid slirp4netns attaches to before its child configures the namespace; with the
    // loopback brought up by the attach first (slirp4netns --configure), the kernel gave it 127.0.0.1 and
    // bwrap's own add failed (EEXIST): "loopback: Failed RTM_NEWADDR", a sandbox that never started (seen
    // under load). Here the namespace is a bare one whose loopback nobody has touched, as bwrap's may be.
    const holder = spawn('unshare', ['--net', '--', 'sleep', '60'], { stdio: 'ignore' });
    const ns = (pid: number, ...args: string[]) =>
      execFileSync('nsenter', [`--target=${pid}`, '--net', '--', 'ip', '-o', ...args], { encoding: 'utf8' });
    try {
      const pid = holder.pid!;
      // unshare execs sleep once the namespace exists.
      for (let i = 0; i < 100 && fs.readlinkSync(`/proc/${pid}/exe`).endsWith('/unshare'); i++)
        await new Promise((res) => setTimeout(res, 20));
      const egress = await Egress.attach(pid, detectEgress());
      try {
        assert.match(ns(pid, 'link', 'show', 'dev', 'lo'), /state DOWN/);
        assert.equal(ns(pid, '-4', 'addr', 'show', 'dev', 'lo'), '');
        // What bwrap does next succeeds: the address (NLM_F_EXCL, as bwrap asks), then the link.
        execFileSync('nsenter', [
          `--target=${pid}`,
          '--net',
          '--',
          'ip',
          'addr',
          'add',
          '127.0.0.1/8',
          'dev',
          'lo',
        ]);
        execFileSync('nsenter', [`--target=${pid}`, '--net', '--', 'ip', 'link', 'set', 'lo', 'up']);
        // And the tap is what slirp4netns' --configure made it, behind the denials.
        assert.match(ns(pid, '-4', 'addr', 'show', 'dev', 'tap0'), /inet 10\.0\.2\.100\/24/);
        const routes = ns(pid, 'route', 'show');
        assert.match(routes, /^default via 10\.0\.2\.2 dev tap0/m);
        assert.match(routes, /^prohibit 169\.254\.0\.0\/16/m);
        assert.match(ns(pid, 'link', 'show', 'dev', 'tap0'), /mtu 65520 .*state (UP|UNKNOWN)/);
      } finally {
        egress.stop();
      }
    } finally {
      holder.kill('SIGKILL');
    }
  },
);
