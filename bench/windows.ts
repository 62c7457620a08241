// The warm-path windows of `npm run bench`, interleaved: every target (the floors and Kindling) is started
// and warmed, then measured in rounds, one c=16 window and one c=1 window per target per round, the
// targets' order turning each round, and one target (Kindling) measured again between each of the others'.
// This VM's speed drifts by ±30 % over minutes (a bare `node -e 0` takes 70 ms in one phase and 110 in the
// next); measured one after another, a floor and Kindling could fall in different phases and their ratio
// read that drift. A ratio is read per round, between windows seconds apart, and the median round's figures
// are reported. Kindling between every other window also keeps its environments' idle time under its
// trim delay (TRIM_AFTER_IDLE_MS): the windows measure its warm steady state, not its first seconds after a
// long pause (bench/after-idle.ts measures those).
import { measureCpu, type RoleCpu } from './cpu.js';
import { type LatencyStats, latency, type Target, throughput, warmUp } from './load.js';

export interface WindowTarget {
  name: string;
  target: Target;
  /** The process whose CPU is the server's (its descendants are the environments). */
  pid: number;
  /** Waited for before each window (Kindling: its warming pool refilled, not per-request work). */
  settle?: () => Promise<unknown>;
}

type Throughput = Awaited<ReturnType<typeof throughput>>;

export interface WindowFigures {
  /** The first requests of the fresh process (before any warming). */
  fresh: LatencyStats;
  /** The window with the median c=1 p50, and the one with the median c=16 throughput, over all rounds. */
  latency: LatencyStats;
  throughput: Throughput;
  cpu: { c1: RoleCpu; c16: RoleCpu };
  /** Each round's figures (the median of the round's windows), in round order. */
  rounds: { p50: number[]; rps: number[] };
}

export interface WindowOptions {
  concurrency: number;
  /** Requests of the fresh-process and c=1 windows. */
  latencyRequests: number;
  warmSeconds: number;
  throughputSeconds: number;
  rounds: number;
}

/** The index of the median of `xs` (the lower one of an even count). */
export function medianIndex(xs: readonly number[]): number {
  const order = xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
  return order[(order.length - 1) >> 1]![1];
}

/** The median of `a[i] / b[i]` over the rounds: a ratio of windows measured side by side. */
export function medianRatio(a: readonly number[], b: readonly number[]): number {
  const r = a.map((x, i) => x / b[i]!);
  return r[medianIndex(r)]!;
}

/**
 * `between` (a target's name) is measured before each of the others' windows; its figures for a round are
 * the median of its windows of that round.
 */
export async function interleavedFigures(
  targets: readonly WindowTarget[],
  o: WindowOptions,
  between?: string,
): Promise<Map<string, WindowFigures>> {
  const settle = (w: WindowTarget) => w.settle?.() ?? Promise.resolve();
  const fresh = new Map<string, LatencyStats>();
  // Each target's first requests, then its warm-up: a fresh process runs unoptimised code for its first
  // few thousand requests (each of Kindling's environments too), which the windows are not about.
  for (const w of targets) {
    await settle(w);
    fresh.set(w.name, await latency(w.target, o.latencyRequests, 0));
    await warmUp(w.target, o.concurrency);
    await throughput(w.target, o.concurrency, o.warmSeconds);
  }
  type Window = {
    round: number;
    c16: { result: Throughput; cpu: RoleCpu };
    c1: { result: LatencyStats; cpu: RoleCpu };
  };
  const windows = new Map<string, Window[]>(targets.map((w) => [w.name, []]));
  const hub = targets.find((w) => w.name === between);
  const others = targets.filter((w) => w !== hub);
  for (let round = 0; round < o.rounds; round++) {
    const order: WindowTarget[] = [];
    for (let k = 0; k < others.length; k++) {
      if (hub) order.push(hub);
      order.push(others[(k + round) % others.length]!);
    }
    for (const w of order) {
      await settle(w);
      // A second of load first: environments idle since this target's last window were frozen.
      await throughput(w.target, o.concurrency, 1);
      const c16 = await measureCpu(
        w.pid,
        () => throughput(w.target, o.concurrency, o.throughputSeconds),
        (r) => r.requests + o.concurrency, // and the one warm-up request per connection throughput() makes
      );
      const c1 = await measureCpu(
        w.pid,
        () => latency(w.target, o.latencyRequests, 0),
        (s) => s.n,
      );
      windows.get(w.name)!.push({ round, c16, c1 });
    }
  }
  const out = new Map<string, WindowFigures>();
  const median = (xs: number[]) => xs[medianIndex(xs)]!;
  for (const w of targets) {
    const ws = windows.get(w.name)!;
    const p50 = (x: Window) => x.c1.result.p50;
    const rps = (x: Window) => x.c16.result.rps;
    const perRound = (f: (x: Window) => number) =>
      Array.from({ length: o.rounds }, (_, r) => median(ws.filter((x) => x.round === r).map(f)));
    const l = ws[medianIndex(ws.map(p50))]!.c1;
    const t = ws[medianIndex(ws.map(rps))]!.c16;
    out.set(w.name, {
      fresh: fresh.get(w.name)!,
      latency: l.result,
      throughput: t.result,
      cpu: { c1: l.cpu, c16: t.cpu },
      rounds: { p50: perRound(p50), rps: perRound(rps) },
    });
  }
  return out;
}
