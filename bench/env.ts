// `node dist/bench/env.js`: the environment's own costs, without the HTTP server: CPU microseconds per
// warm request spent in the environments' processes (a WorkerManager in this process drives real
// sandboxes with the trivial handler, at concurrency 1 and 16; read from /proc as bench/profile.ts does),
// and the PSS of an idle environment (its node alone and its whole sandbox tree) beside a bare idle
// `node`. Prints a table and one JSON document. ENV_BENCH_SECONDS sets each window (default 5).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { defaultConfig } from '../src/config.js';
import type { FunctionVersionSpec } from '../src/worker/types.js';
import { WorkerManager } from '../src/worker/worker-manager.js';
import { TRIVIAL } from './run.js';

const SECONDS = Number(process.env.ENV_BENCH_SECONDS ?? '5');
const TICK_US = 1e6 / 100; // USER_HZ

function procs(): Map<number, { ppid: number; ticks: number; comm: string }> {
  const m = new Map<number, { ppid: number; ticks: number; comm: string }>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
      m.set(Number(d), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), comm });
    } catch {}
  }
  return m;
}

function descendants(snap: Map<number, { ppid: number }>, root: number): number[] {
  const out = new Set<number>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, p] of snap) {
      if (!out.has(pid) && (p.ppid === root || out.has(p.ppid))) {
        out.add(pid);
        grew = true;
      }
    }
  }
  return [...out];
}

function smaps(pid: number): { rss: number; pss: number } {
  try {
    const t = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return { rss: Number(/Rss:\s+(\d+)/.exec(t)?.[1] ?? 0), pss: Number(/Pss:\s+(\d+)/.exec(t)?.[1] ?? 0) };
  } catch {
    return { rss: 0, pss: 0 };
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)]!;
};

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-envbench-'));
  fs.chmodSync(dir, 0o711);
  const runDir = path.join(dir, 'run');
  fs.mkdirSync(runDir, { recursive: true });
  const apiSocketPath = path.join(runDir, 'api.sock');
  const api = http.createServer((_req, res) => res.end('{}'));
  await new Promise<void>((r) => api.listen(apiSocketPath, r));
  fs.chmodSync(apiSocketPath, 0o666);
  const wm = new WorkerManager({
    config: defaultConfig({
      dataDir: dir,
      poolTarget: 0,
      poolMin: 0,
      poolMax: 0,
      keepAliveMs: 600_000,
      healthCheckIntervalMs: 600_000,
      sandbox: process.env.ENV_BENCH_SANDBOX === 'none' ? 'none' : 'bwrap',
    }),
    apiSocketPath,
    envRoot: path.join(dir, 'envs'),
    logger: { warn: (m: string) => console.error(m) },
  });
  wm.start();
  const codeDir = path.join(dir, 'code', 'trivial');
  fs.mkdirSync(codeDir, { recursive: true });
  fs.writeFileSync(path.join(codeDir, 'index.js'), TRIVIAL);
  const spec: FunctionVersionSpec = {
    tenantId: 'bench',
    accountId: '123456789012',
    functionName: 'env-bench',
    functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:env-bench',
    version: '$LATEST',
    versionKey: `env-bench:${randomUUID()}`,
    runtime: 'nodejs20.x',
    handler: 'index.handler',
    memoryMB: 128,
    timeoutSec: 3,
    environment: {},
    codeDir,
    ephemeralStorageMB: 512,
    networkOutbound: false,
    reservedConcurrency: undefined,
  };
  const payload = Buffer.from(JSON.stringify({ hello: 'world' }));
  const one = () =>
    wm.invoke(spec, payload, { requestId: randomUUID(), tenantConcurrency: 64 }).then((r) => {
      if (r.functionError !== undefined) throw new Error(r.payload.toString());
    });
  const load = async (c: number, seconds: number) => {
    const end = Date.now() + seconds * 1000;
    let n = 0;
    await Promise.all(
      Array.from({ length: c }, async () => {
        while (Date.now() < end) {
          await one();
          n++;
        }
      }),
    );
    return n;
  };
  const results: Record<string, unknown> = {};
  try {
    // ENV_BENCH_FIXED=n: n requests at c=16 and no timed windows, so idle memory compares across runs.
    const fixed = Number(process.env.ENV_BENCH_FIXED ?? '0');
    let left = fixed;
    if (fixed > 0) {
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (left-- > 0) await one();
        }),
      );
    }
    for (const c of fixed > 0 ? [] : (process.env.ENV_BENCH_C ?? '16,1').split(',').map(Number)) {
      await load(c, 1);
      const before = procs();
      // For perf/strace from outside: the environments' node processes, as the window starts.
      const nodes = descendants(before, process.pid).filter((pid) => before.get(pid)?.comm === 'node');
      console.error(`c=${c} window: node pids ${nodes.join(' ')}`);
      const self0 = process.cpuUsage();
      const n = await load(c, SECONDS);
      const self = process.cpuUsage(self0);
      const after = procs();
      let ticks = 0;
      for (const pid of descendants(after, process.pid)) {
        ticks += (after.get(pid)?.ticks ?? 0) - (before.get(pid)?.ticks ?? after.get(pid)?.ticks ?? 0);
      }
      results[`c${c}`] = {
        rps: Math.round(n / SECONDS),
        requests: n,
        hostUsPerRequest: Math.round((self.user + self.system) / n),
        envUsPerRequest: Math.round((ticks * TICK_US) / n),
      };
    }
    // Idle: every environment has answered; let the keep-alive freeze nothing (600 s) and let GC settle.
    await new Promise((r) => setTimeout(r, 1500));
    const snap = procs();
    const envRoots = [...snap].filter(([, p]) => p.ppid === process.pid).map(([pid]) => pid);
    const nodeOnly: number[] = [];
    const tree: number[] = [];
    for (const root of envRoots) {
      const pids = [root, ...descendants(snap, root)];
      let t = 0;
      for (const pid of pids) {
        const m = smaps(pid).pss;
        t += m;
        if (snap.get(pid)?.comm === 'node') nodeOnly.push(m / 1024);
      }
      tree.push(t / 1024);
    }
    const bare = spawn(process.execPath, ['-e', 'setInterval(()=>{},1e9)'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 1000));
    const barePss = smaps(bare.pid!).pss / 1024;
    bare.kill();
    results.idle = {
      environments: envRoots.length,
      pssNodeMB: median(nodeOnly),
      pssTreeMB: median(tree),
      bareNodePssMB: barePss,
      ratioNode: median(nodeOnly) / barePss,
      ratioTree: median(tree) / barePss,
    };
    for (const [k, v] of Object.entries(results)) console.log(k.padEnd(6), JSON.stringify(v));
    // To look at an idle environment from outside (smaps): ENV_BENCH_HOLD seconds before closing.
    const hold = Number(process.env.ENV_BENCH_HOLD ?? '0');
    if (hold > 0) {
      console.error(
        `holding ${hold} s; environments' node pids: ${[...snap]
          .filter(([pid, p]) => p.comm === 'node' && pid !== process.pid)
          .map(([pid]) => pid)
          .join(' ')}`,
      );
      await new Promise((r) => setTimeout(r, hold * 1000));
    }
  } finally {
    await wm.close();
    api.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
