// A server started by a shell that then exits (a script, a job-control shell) keeps its frozen
// environments. cgroup v1 freezes an idle environment with SIGSTOP; when the process group holding a
// stopped process is orphaned, the kernel sends the whole group SIGHUP and SIGCONT. Sandboxes that shared
// the server's process group died then, all at once, and every function's next request was a cold start.
// Two things keep it from happening now: sandboxes start in a session of their own, and a freeze leaves
// bwrap's monitors (the server's children) running; the test fails only with both undone.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { readCredentialsFile } from '../../src/server/data-dir.js';
import { detectIsolation } from '../../src/worker/worker-manager.js';
import { createFunction, lambdaClient } from '../helpers/functions.js';
import { serveArgs, tempDir } from '../helpers/platform.js';

const { controllers } = (await detectIsolation('bwrap')).cgroup;
const noV1 =
  controllers.pids && fs.existsSync('/sys/fs/cgroup/pids')
    ? false
    : 'idle environments are stopped by signal only on cgroup v1';

/** Every descendant of `pid` with its process state (R, S, T, …). */
function descendants(pid: number): Array<{ pid: number; state: string }> {
  const all: Array<{ pid: number; ppid: number; state: string }> = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses; the last ')' ends it.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      all.push({ pid: Number(d), ppid: Number(ppid), state: state! });
    } catch {
      // gone
    }
  }
  const out: Array<{ pid: number; state: string }> = [];
  const parents = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) {
      if (!parents.has(p.ppid) || parents.has(p.pid)) continue;
      parents.add(p.pid);
      out.push({ pid: p.pid, state: p.state });
      grew = true;
    }
  }
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('frozen environments survive the shell that started their server exiting', { skip: noV1 }, async () => {
  const dataDir = tempDir();
  // Job control puts the server in a process group of its own whose only outside parent is this shell:
  // when the shell exits, the group is orphaned, as a server backgrounded by a script is.
  const shell = spawn(
    'bash',
    ['-c', 'set -m; "$@" & echo "server $!"; read -r _', 'bash', process.execPath, ...serveArgs(dataDir)],
    { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, KINDLING_POOL_TARGET: '0' } },
  );
  let out = '';
  shell.stdout.on('data', (d) => (out += d));
  shell.stderr.on('data', (d) => (out += d));
  const shellExited = new Promise((r) => shell.on('exit', r));
  let serverPid = 0;
  try {
    await until(
      () => /listening on http/.test(out) && /^server \d+$/m.test(out),
      'the server listens',
      30_000,
    );
    serverPid = Number(/^server (\d+)$/m.exec(out)![1]);
    const endpoint = /listening on (http:\/\/\S+)/.exec(out)![1]!;
    const credentials = readCredentialsFile(path.join(dataDir, 'credentials'))!;
    const lambda = lambdaClient({ endpoint, credentials });
    // Module state tells one environment from another: a new one draws another number.
    await createFunction(lambda, 'kept', 'const me = Math.random(); export const handler = async () => me;');
    const invoke = async () => {
      const r = await lambda.send(new InvokeCommand({ FunctionName: 'kept' }));
      assert.equal(r.FunctionError, undefined, Buffer.from(r.Payload ?? []).toString());
      return Buffer.from(r.Payload!).toString();
    };
    const first = await invoke();
    // Idle past its grace, the environment is stopped: its runtime is in state T (bwrap's monitors, the
    // server's child and grandchild, are left running).
    await until(
      () => descendants(serverPid).some((c) => c.state === 'T'),
      `an idle environment is stopped: ${JSON.stringify(descendants(serverPid))}`,
    );

    shell.stdin.end();
    await shellExited;
    // Had the group been sent SIGHUP, the stopped sandbox would be gone by now (or the server with it).
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(alive(serverPid), 'the server is still running');
    assert.equal(await invoke(), first, 'the next request ran in the same (warm) environment');
    lambda.destroy();
  } finally {
    shell.stdin.destroy();
    if (serverPid > 0 && alive(serverPid)) {
      process.kill(serverPid, 'SIGTERM');
      await until(() => !alive(serverPid), 'the server exits', 30_000).catch(() =>
        process.kill(serverPid, 'SIGKILL'),
      );
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
