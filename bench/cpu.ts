// CPU time per request by role over a window of load, read from /proc: the load client (this process's
// own process.cpuUsage()), the server process, and every process under the server — Kindling's sandboxes
// (bwrap and the runtime inside) or a floor's children. Used by bench/run.ts and bench/profile.ts alike.
import fs from 'node:fs';

/** One clock tick of /proc/<pid>/stat (USER_HZ = 100), in µs. */
const TICK_US = 1e6 / 100;

export type Snapshot = Map<number, { ppid: number; ticks: number }>;

/** utime+stime (all threads, not waited-for children) of every process, in clock ticks, with its parent. */
export function snapshot(): Snapshot {
  const m: Snapshot = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      m.set(Number(d), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {}
  }
  return m;
}

/** Each process's children in `snap`. */
export function childrenOf(snap: Snapshot): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const [pid, p] of snap) {
    const list = children.get(p.ppid);
    if (list) list.push(pid);
    else children.set(p.ppid, [pid]);
  }
  return children;
}

/** `root` and every process below it. */
export function tree(children: Map<number, number[]>, root: number): number[] {
  return [root, ...(children.get(root) ?? []).flatMap((c) => tree(children, c))];
}

/** CPU microseconds per request, by role. */
export interface RoleCpu {
  client: number;
  server: number;
  /** Every process under the server: environments (bwrap + runtime), or a floor's children. */
  environment: number;
}

/**
 * Runs `load` and attributes the CPU used meanwhile to this process (the client), `serverPid` and its
 * descendants, per request (`requests` of load's result). Processes that exit during the window are not
 * counted; a tick is 10 ms, so a window should hold a few hundred ms of CPU per role to be exact.
 */
export async function measureCpu<T>(
  serverPid: number,
  load: () => Promise<T>,
  requests: (r: T) => number,
): Promise<{ result: T; cpu: RoleCpu; window: [number, number] }> {
  const before = snapshot();
  const selfBefore = process.cpuUsage();
  const t0 = Number(process.hrtime.bigint() / 1000n);
  const result = await load();
  const t1 = Number(process.hrtime.bigint() / 1000n);
  const self = process.cpuUsage(selfBefore);
  const after = snapshot();
  // A process started within the window counts nothing: a pool refill is not per-request work.
  const delta = (pid: number) =>
    (after.get(pid)?.ticks ?? 0) - (before.get(pid)?.ticks ?? after.get(pid)?.ticks ?? 0);
  let below = 0;
  for (const pid of tree(childrenOf(after), serverPid).slice(1)) below += delta(pid);
  const n = Math.max(1, requests(result));
  const per = (us: number) => Math.round(us / n);
  return {
    result,
    cpu: {
      client: per(self.user + self.system),
      server: per(delta(serverPid) * TICK_US),
      environment: per(below * TICK_US),
    },
    window: [t0, t1],
  };
}

/** `client / server / environment`, for a table cell. */
export const fmtCpu = (c: RoleCpu) => `${c.client} / ${c.server} / ${c.environment}`;
