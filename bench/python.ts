// Python figures for `npm run bench`, against the same running server as the Node figures:
//   - first Invoke after CreateFunction of a python3.12 function with the Python pool warm, beside a bare
//     `python3 -c 0` start measured in the same run;
//   - first Invoke after CreateFunction with the Python pool empty: the environment is a clone of the zygote
//     (runtimes/python/zygote.py), beside a second server started with KINDLING_PYTHON_ZYGOTE=0 where it is
//     a fresh interpreter, the two measured in turns;
//   - PSS of an idle (bound, warm) Python environment (every process in its cgroup) beside a bare idle
//     python3, and the zygote's own PSS;
//   - an experiment: os.fork() of an interpreter that has loaded the runtime (no sandbox), against starting
//     a fresh interpreter to the same point.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostPython } from '../src/runtimes/python/interpreter.js';
import { readCredentialsFile } from '../src/server/data-dir.js';
import { type LatencyStats, stats } from './load.js';
import { type KindlingClient, kindlingClient, poolReady, startProcess, stop } from './run.js';
import { zipHandler } from './zip.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const BOOTSTRAP = path.resolve(here, '../../src/runtimes/python/bootstrap.py');

export interface PythonFigures {
  rows: [string, string, string][];
  [k: string]: unknown;
}

const fmt = (s: LatencyStats) => `${s.p50.toFixed(3)} / ${s.p99.toFixed(3)}`;
const TRIVIAL = 'def lambda_handler(event, context):\n    return {"ok": True, "echo": event}\n';

async function createPython(k: KindlingClient, name: string): Promise<void> {
  const r = await k.call('POST', '/2015-03-31/functions', {
    FunctionName: name,
    Runtime: 'python3.12',
    Handler: 'lambda_function.lambda_handler',
    Role: 'arn:aws:iam::000000000000:role/bench',
    MemorySize: 128,
    Timeout: 30,
    Code: { ZipFile: (await zipHandler(TRIVIAL, 'lambda_function.py')).toString('base64') },
  });
  if (r.status !== 201) throw new Error(`CreateFunction ${name}: ${r.status} ${JSON.stringify(r.json)}`);
}

function bareStartMs(python: string, samples = 10): LatencyStats {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = process.hrtime.bigint();
    spawnSync(python, ['-c', '0']);
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return stats(out);
}

// ---- memory: PSS of process trees, from /proc ----

function childrenMap(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {}
  }
  return children;
}

function pssKB(pid: number): number {
  try {
    return Number(/Pss:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** The environment a process belongs to: its memory cgroup, when that is an environment's (env-…). */
function envOf(pid: number): string | undefined {
  try {
    const cg = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    return /^\d+:(?:memory)?:.*\/(env-[0-9a-f]+)$/m.exec(cg)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * PSS (MB) of each Python environment of the server: every process in its cgroup (bwrap, the placeholder,
 * a clone's monitor, the interpreter), and its interpreter alone; plus the zygotes' PSS.
 */
function pythonEnvironmentMemory(serverPid: number): {
  envs: number;
  treeMB: LatencyStats;
  pythonMB: LatencyStats;
  zygoteMB: number;
} {
  const children = childrenMap();
  const tree = (pid: number): number[] => [pid, ...(children.get(pid) ?? []).flatMap(tree)];
  const all = new Map<string, number[]>();
  const pys = new Map<string, number[]>();
  let zygoteKB = 0;
  for (const pid of tree(serverPid).slice(1)) {
    const argv = cmdline(pid);
    const env = envOf(pid);
    if (env === undefined) {
      if (argv.includes('zygote.py')) zygoteKB += pssKB(pid);
      continue;
    }
    all.set(env, [...(all.get(env) ?? []), pid]);
    // The interpreter itself (argv[0] python…), not the bwrap processes whose argv carry its command; a
    // clone's argv is the zygote's, its monitor's too (the monitor's uid is not the sandbox's, though).
    const interpreter =
      /^\S*python[\d.]*\s/.test(argv) &&
      (argv.includes('/var/runtime/bootstrap.py') || (argv.includes('zygote.py') && isSandboxUser(pid)));
    if (interpreter) pys.set(env, [...(pys.get(env) ?? []), pid]);
  }
  const trees: number[] = [];
  const pythons: number[] = [];
  for (const [env, pids] of all) {
    const py = pys.get(env);
    if (py === undefined) continue;
    trees.push(pids.reduce((n, p) => n + pssKB(p), 0) / 1024);
    pythons.push(py.reduce((n, p) => n + pssKB(p), 0) / 1024);
  }
  return { envs: trees.length, treeMB: stats(trees), pythonMB: stats(pythons), zygoteMB: zygoteKB / 1024 };
}

function isSandboxUser(pid: number): boolean {
  try {
    const uid = Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return uid !== 0 && uid !== 65534;
  } catch {
    return false;
  }
}

/** PSS (MB) of a bare python3 sitting idle (blocked reading stdin), measured while the environments run. */
async function bareIdlePssMB(python: string): Promise<number> {
  const child = spawn(python, ['-c', 'import sys; sys.stdin.read()'], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  await new Promise((r) => setTimeout(r, 300));
  const kb = pssKB(child.pid!);
  child.stdin!.end();
  await new Promise((r) => child.once('exit', r));
  return kb / 1024;
}

// ---- the zygote experiment ----

const ZYGOTE_EXPERIMENT = `
import importlib.util, json, os, sys, time
n = int(sys.argv[2])
spec = importlib.util.spec_from_file_location("kindling_bootstrap", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
m.load_runtime()
fork, total = [], []
for _ in range(n):
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    fork.append((time.perf_counter() - t) * 1000)
    os.waitpid(pid, 0)
    total.append((time.perf_counter() - t) * 1000)
sys.__stdout__.write(json.dumps({"fork": fork, "total": total}))
`;

/** A fresh interpreter to the runtime's loaded state (and exit) vs os.fork() of one already there. */
function zygoteExperiment(
  python: string,
  samples: number,
): { freshMs: LatencyStats; forkMs: LatencyStats; forkExitWaitMs: LatencyStats } {
  const load = `import importlib.util; s = importlib.util.spec_from_file_location("b", ${JSON.stringify(BOOTSTRAP)}); m = importlib.util.module_from_spec(s); s.loader.exec_module(m); m.load_runtime()`;
  const fresh: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = process.hrtime.bigint();
    spawnSync(python, ['-I', '-B', '-c', load]);
    fresh.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const r = spawnSync(python, ['-I', '-B', '-c', ZYGOTE_EXPERIMENT, BOOTSTRAP, String(samples)], {
    encoding: 'utf8',
  });
  const forks = JSON.parse(r.stdout || '{"fork":[],"total":[]}') as { fork: number[]; total: number[] };
  return { freshMs: stats(fresh), forkMs: stats(forks.fork), forkExitWaitMs: stats(forks.total) };
}

/** Misses: a python3.12 function created and invoked with its pool at 0, on `k` and on a server without zygote. */
async function poolEmptyFigures(
  k: KindlingClient,
  serverPid: number,
  samples: number,
): Promise<{
  clone: LatencyStats;
  fresh: LatencyStats | undefined;
  cloneMemory: ReturnType<typeof pythonEnvironmentMemory>;
  freshMemory: ReturnType<typeof pythonEnvironmentMemory> | undefined;
}> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-bench-py-nozygote-'));
  let other: Awaited<ReturnType<typeof startProcess>> | undefined;
  try {
    other = await startProcess(
      [path.resolve(here, '../../bin/kindling.js'), 'serve', '--port', '0', '--data-dir', dataDir],
      { KINDLING_PYTHON_ZYGOTE: '0' },
    );
  } catch {
    other = undefined;
  }
  try {
    const k2 =
      other === undefined
        ? undefined
        : kindlingClient(other.port, readCredentialsFile(path.join(dataDir, 'credentials'))!);
    const servers = [k, ...(k2 ? [k2] : [])];
    for (const s of servers) await s.call('PUT', '/kindling/v1/pool/python3', { target: 0 }, 'kindling');
    // The zygote is started with the runtime's first environment: one miss first, not measured.
    for (const s of servers) {
      await createPython(s, 'bench-py-empty-warm');
      await s.call('POST', '/2015-03-31/functions/bench-py-empty-warm/invocations', {});
    }
    await new Promise((r) => setTimeout(r, 1000));
    const clone: number[] = [];
    const fresh: number[] = [];
    for (let i = 0; i < samples; i++) {
      for (const [s, out] of [
        [k, clone],
        [k2, fresh],
      ] as const) {
        if (s === undefined) continue;
        await createPython(s, `bench-py-empty-${i}`);
        const r = await s.call('POST', `/2015-03-31/functions/bench-py-empty-${i}/invocations`, {
          first: true,
        });
        if (r.status !== 200 || r.headers['x-amz-function-error'] !== undefined)
          throw new Error(`python pool-empty invoke: ${r.status} ${JSON.stringify(r.json)}`);
        out.push(r.ms);
      }
    }
    // Idle (bound, warm) environments of both servers, made the two ways, side by side.
    await new Promise((r) => setTimeout(r, 1000));
    return {
      clone: stats(clone),
      fresh: k2 === undefined ? undefined : stats(fresh),
      cloneMemory: pythonEnvironmentMemory(serverPid),
      freshMemory: other === undefined ? undefined : pythonEnvironmentMemory(other.child.pid!),
    };
  } finally {
    if (other !== undefined) await stop(other);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function pythonFigures(
  k: KindlingClient,
  serverPid: number,
  opts: { quick: boolean },
): Promise<PythonFigures | undefined> {
  const py = hostPython();
  if (py === undefined) return undefined;
  const samples = opts.quick ? 3 : 15;
  const r0 = await k.call('PUT', '/kindling/v1/pool/python3', { target: 2 }, 'kindling');
  if (r0.status !== 200) throw new Error(`python pool target: ${r0.status} ${JSON.stringify(r0.json)}`);
  const poolHit: number[] = [];
  for (let i = 0; i < samples; i++) {
    if (!(await poolReady(k, 1, 30_000, 'python3')))
      throw new Error('the python pool never had a ready sandbox');
    await createPython(k, `bench-py-${i}`);
    const r = await k.call('POST', `/2015-03-31/functions/bench-py-${i}/invocations`, { first: true });
    if (r.status !== 200 || r.headers['x-amz-function-error'] !== undefined)
      throw new Error(`python pool-hit invoke: ${r.status} ${JSON.stringify(r.json)}`);
    poolHit.push(r.ms);
  }
  await poolReady(k, 2, 30_000, 'python3');
  const memory = pythonEnvironmentMemory(serverPid);
  const empty = await poolEmptyFigures(k, serverPid, samples);
  await k.call('PUT', '/kindling/v1/pool/python3', { target: 2 }, 'kindling');
  const bare = bareStartMs(py.path);
  const bareIdle = await bareIdlePssMB(py.path);
  const zygote = zygoteExperiment(py.path, opts.quick ? 5 : 20);
  const hit = stats(poolHit);
  return {
    python: py,
    firstInvokePoolHit: hit,
    firstInvokePoolEmptyClone: empty.clone,
    firstInvokePoolEmptyNoZygote: empty.fresh,
    idleEnvironmentPssClone: empty.cloneMemory,
    idleEnvironmentPssNoZygote: empty.freshMemory,
    bareProcessStart: bare,
    idleEnvironmentPss: memory,
    bareIdlePssMB: bareIdle,
    zygoteExperiment: zygote,
    rows: [
      [
        `kindling:     python3.12 first Invoke after Create, pool hit p50/p99 (ms)`,
        fmt(hit),
        `target p50 <= 10 ms (Python ${py.version})`,
      ],
      [
        `kindling:     python3.12 first Invoke after Create, pool empty (clone) p50/p99 (ms)`,
        fmt(empty.clone),
        'target p50 <= 20 ms',
      ],
      [
        `kindling:     python3.12 first Invoke after Create, pool empty (no zygote) p50/p99 (ms)`,
        empty.fresh === undefined ? 'n/a' : fmt(empty.fresh),
        'KINDLING_PYTHON_ZYGOTE=0: a fresh interpreter per miss',
      ],
      ['bare `python3 -c 0` process start p50/p99 (ms)', fmt(bare), ''],
      [
        'kindling:     PSS per idle Python environment p50 (MB)',
        memory.treeMB.p50.toFixed(1),
        `${memory.envs} envs; python alone ${memory.pythonMB.p50.toFixed(1)} MB; ratio to bare ${(memory.treeMB.p50 / bareIdle).toFixed(2)}x (target <= 1.3x); zygote ${memory.zygoteMB.toFixed(1)} MB`,
      ],
      [
        'kindling:     PSS per idle Python environment, made by clone / by start p50 (MB)',
        `${empty.cloneMemory.treeMB.p50.toFixed(1)} / ${empty.freshMemory?.treeMB.p50.toFixed(1) ?? 'n/a'}`,
        `${empty.cloneMemory.envs} / ${empty.freshMemory?.envs ?? 0} envs after the pool-empty rows; python alone ${empty.cloneMemory.pythonMB.p50.toFixed(1)} / ${empty.freshMemory?.pythonMB.p50.toFixed(1) ?? 'n/a'} MB`,
      ],
      ['bare idle python3 PSS (MB)', bareIdle.toFixed(1), ''],
      [
        'experiment:   fresh python3 to runtime loaded p50/p99 (ms)',
        fmt(zygote.freshMs),
        'what a pool miss pays for the interpreter today',
      ],
      [
        'experiment:   os.fork() of a loaded runtime p50/p99 (ms)',
        fmt(zygote.forkMs),
        `until fork() returns; with the child's exit and wait ${fmt(zygote.forkExitWaitMs)}; no sandbox`,
      ],
    ],
  };
}

// `node dist/bench/python.js [--quick]`: the Python figures alone, against a server of their own.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-bench-py-'));
  const server = await startProcess([
    path.resolve(here, '../../bin/kindling.js'),
    'serve',
    '--port',
    '0',
    '--data-dir',
    dataDir,
  ]);
  try {
    const k = kindlingClient(server.port, readCredentialsFile(path.join(dataDir, 'credentials'))!);
    const figs = await pythonFigures(k, server.child.pid!, { quick: process.argv.includes('--quick') });
    for (const [name, value, note] of figs?.rows ?? [])
      console.log(`${name.padEnd(66)} ${value.padStart(16)}  ${note}`);
    const { rows: _rows, ...rest } = figs ?? { rows: [] };
    console.log(JSON.stringify(rest, null, 2));
  } finally {
    await stop(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
