// Memory of idle environments against a bare idle `node`, as PSS from /proc/<pid>/smaps_rollup (shared
// pages divided among the processes mapping them). Both are read in the same instant, so pages shared with
// every other Node process on the machine (the node binary, the libraries) are divided alike.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { childrenOf, snapshot, tree } from './cpu.js';
import { type LatencyStats, stats } from './load.js';

/** RSS and PSS (kB) of one process; zeros when it is gone. */
function mem(pid: number): { rss: number; pss: number } {
  try {
    const t = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return { rss: Number(/Rss:\s+(\d+)/.exec(t)?.[1] ?? 0), pss: Number(/Pss:\s+(\d+)/.exec(t)?.[1] ?? 0) };
  } catch {
    return { rss: 0, pss: 0 };
  }
}

const comm = (pid: number) => {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
};

export interface EnvironmentMemory {
  envs: number;
  /** The whole sandbox tree: the outer bwrap, bwrap as pid 1 of the sandbox, and the runtime (node). */
  rssMB: LatencyStats;
  pssMB: LatencyStats;
  /** The runtime alone: the tree without its bwrap processes. */
  runtimePssMB: LatencyStats;
}

/**
 * Each process tree under `serverPid` is one environment (a sandbox: bwrap → bwrap → node), ready in the
 * warming pool or bound to a function; every process of the tree is counted.
 */
export function environmentMemory(serverPid: number): EnvironmentMemory {
  const children = childrenOf(snapshot());
  const rss: number[] = [];
  const pss: number[] = [];
  const runtimePss: number[] = [];
  for (const root of children.get(serverPid) ?? []) {
    let r = 0;
    let p = 0;
    let runtime = 0;
    for (const pid of tree(children, root)) {
      const m = mem(pid);
      r += m.rss;
      p += m.pss;
      if (comm(pid) !== 'bwrap') runtime += m.pss;
    }
    rss.push(r / 1024);
    pss.push(p / 1024);
    runtimePss.push(runtime / 1024);
  }
  return { envs: rss.length, rssMB: stats(rss), pssMB: stats(pss), runtimePssMB: stats(runtimePss) };
}

/**
 * Starts `n` bare idle `node` processes (this Node binary, a timer and nothing else), lets them settle,
 * and calls `read` while they are alive; `bare` is their PSS (MB) per process.
 */
export async function withBareIdleNodes<T>(
  read: () => T,
  n = 5,
): Promise<{ bare: { pssMB: LatencyStats; rssMB: LatencyStats }; result: T }> {
  const procs = Array.from({ length: n }, () =>
    spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { stdio: 'ignore' }),
  );
  try {
    await new Promise((r) => setTimeout(r, 1500));
    const m = procs.map((p) => mem(p.pid!));
    const result = read();
    return {
      bare: { pssMB: stats(m.map((x) => x.pss / 1024)), rssMB: stats(m.map((x) => x.rss / 1024)) },
      result,
    };
  } finally {
    for (const p of procs) p.kill('SIGKILL');
  }
}
