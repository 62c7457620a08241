// Warm after idle (issue 11, item 6): the latency of an invoke to an environment idle for 2 s (frozen
// after 1 s by the keep-alive) against a hot one (the same environment, invoked again at once), with
// hundreds of idle warm environments held, and the per-process floor's own after-idle ratio measured the
// same way.
//
// Why several functions: Kindling places a request on the most recently used idle environment of its
// function, so one function yields one idle sample per 2 s. With F functions sampled in turn, each idle
// IDLE_MS (and no more than a few ms longer) between its uses, F samples take 2 s; the other environments of each function stay idle
// throughout. Why background traffic: with the whole machine idle for 2 s the VM's own wake-up dominates
// (the bare per-process floor shows the same 2×), so another function (the floor: another child) is
// invoked at c=1 with a 1 ms pause meanwhile, and the figure isolates the environment's own idle cost
// (thaw, cold caches, page faults). The floor runs F+1 children, not hundreds: its idle children are
// never frozen and never scheduled, so how many there are does not change what one costs to wake.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCredentialsFile } from '../src/server/data-dir.js';
import { type LatencyStats, request, stats, type Target } from './load.js';
import { createFunction, type KindlingClient, kindlingClient, startProcess, stop } from './run.js';

const IDLE_MS = 2000;
const FUNCTIONS = 20;
/**
 * The busy row: requests each sampled environment serves before its idle wait, past the keep-alive's
 * threshold (1,000) for a trim; it is trimmed only after 10 s idle (TRIM_AFTER_IDLE_MS), so after 2 s it
 * is frozen as it was (docs/runtimes.md).
 */
const BUSY_REQUESTS = 1100;
const BUSY_FUNCTIONS = 16;
/** Sleeps until `until` (epoch ms) when asked: concurrent invokes each hold an environment till then. */
const HOLDER =
  'exports.handler = async (e) => { const ms = (e.until ?? 0) - Date.now(); if (ms > 0) await new Promise((r) => setTimeout(r, ms)); return { ok: true }; };';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Samples {
  idle: number[];
  hot: number[];
  background: number;
}

/**
 * Round 0 uses every key once; then, `rounds` times, each key is invoked after exactly IDLE_MS since its
 * last answer (idle), and again at once (hot). Background requests run at c=1 throughout. With `busy`,
 * each key first serves that many requests, then waits IDLE_MS (one key at a time).
 */
async function sample(
  target: (key: number) => Target,
  background: Target,
  rounds: number,
  keys = FUNCTIONS,
  busy = 0,
): Promise<Samples> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const bgAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let running = true;
  let background_ = 0;
  let bgError: Error | undefined;
  const bg = (async () => {
    while (running) {
      const r = await request(bgAgent, background);
      if (r.status >= 300) throw new Error(`background request: ${r.status} ${r.body}`);
      background_++;
      await sleep(1);
    }
  })().catch((e: Error) => {
    bgError = e;
  });
  const call = async (t: Target) => {
    const r = await request(agent, t);
    if (r.status >= 300) throw new Error(`after-idle request: ${r.status} ${r.body}`);
    return r.ms;
  };
  const out: Samples = { idle: [], hot: [], background: 0 };
  try {
    const lastEnd: number[] = [];
    for (let f = 0; f < keys; f++) {
      await call(target(f));
      lastEnd[f] = Date.now();
    }
    for (let r = 0; r < rounds; r++) {
      for (let f = 0; f < keys; f++) {
        if (busy > 0) {
          for (let i = 0; i < busy; i++) await call(target(f));
          lastEnd[f] = Date.now();
        }
        const wait = lastEnd[f]! + IDLE_MS - Date.now();
        if (wait > 0) await sleep(wait);
        out.idle.push(await call(target(f)));
        out.hot.push(await call(target(f)));
        lastEnd[f] = Date.now();
      }
    }
  } finally {
    running = false;
    await bg;
    agent.destroy();
    bgAgent.destroy();
  }
  if (bgError) throw bgError;
  out.background = background_;
  return out;
}

type Stats = {
  environments: { bound: number; busy: number; starting: number };
};

async function workerStats(k: KindlingClient): Promise<Stats> {
  const r = await k.call('GET', '/kindling/v1/pool', undefined, 'kindling');
  if (r.status !== 200) throw new Error(`pool stats: ${r.status}`);
  return r.json as Stats;
}

/**
 * Holds `want` environments: every function gets its share of invokes that sleep until a common deadline,
 * so each needs its own environment. They are sent a few at a time (IN_FLIGHT not yet busy): a burst of
 * hundreds of cold starts on two cores makes every runtime miss its start timeout. A first small wave
 * measures how fast this host starts environments; the next is given the time that rate needs for the
 * rest (the held ones are reused at once), and if it still falls short another one tops up.
 */
async function fill(
  k: KindlingClient,
  names: string[],
  want: number,
  log: (m: string) => void,
  maxWaveMs: number,
): Promise<number> {
  const IN_FLIGHT = 8;
  // Exactly `want` in all: one more would have to evict a held one (past the server's capacity).
  const list = Array.from({ length: want }, (_, i) => names[i % names.length]!);
  let count = Math.min(want, 3 * IN_FLIGHT);
  let budgetMs = 8000;
  let held = 0;
  for (let wave = 0; wave < 4 && held < want; wave++) {
    const started = Date.now();
    const until = started + budgetMs;
    const answers: Promise<{ status: number }>[] = [];
    let busy = 0;
    let busyAt = 0;
    while (Date.now() < until - 1000) {
      const now = (await workerStats(k)).environments.busy;
      if (now > busy) [busy, busyAt] = [now, Date.now() - started];
      if (busy >= count) break;
      for (let room = IN_FLIGHT - (answers.length - busy); room > 0 && answers.length < count; room--) {
        const name = list[answers.length]!;
        answers.push(k.call('POST', `/2015-03-31/functions/${name}/invocations`, { until }));
      }
      await sleep(100);
    }
    const statuses = new Set((await Promise.all(answers)).map((r) => r.status));
    const before = held;
    held = (await workerStats(k)).environments.bound;
    log(
      `wave ${wave}: ${answers.length} sent, ${busy} busy after ${busyAt} ms; ${held} bound; statuses ${[...statuses]}`,
    );
    // Environments started per ms in this wave, and the time the missing ones need at that rate.
    const rate = Math.max(held - before, 1) / Math.max(busyAt, 1000);
    count = want;
    // Bounded: on a host too busy to start them all in time, fewer are held, and the row says how many.
    budgetMs = Math.min(maxWaveMs, Math.round(4000 + (1.3 * (want - held)) / rate));
  }
  return held;
}

export interface AfterIdleFigures {
  kindling: {
    environmentsHeld: number;
    /** The server's own ceiling on environments (one per 96 MB of host memory by default). */
    serverCapacity: number;
    fillSeconds: number;
    idle: LatencyStats;
    hot: LatencyStats;
    ratio: number;
    backgroundRequests: number;
    /** Environments that served `requestsBefore` requests before their idle wait. */
    busy: { requestsBefore: number; idle: LatencyStats; hot: LatencyStats };
  };
  floor: {
    children: number;
    idle: LatencyStats;
    hot: LatencyStats;
    ratio: number;
    backgroundRequests: number;
  };
  rows: [string, string, string][];
}

export async function afterIdleFigures(opts: {
  quick: boolean;
  repo: string;
  here: string;
}): Promise<AfterIdleFigures> {
  const target = opts.quick ? 60 : 300;
  const rounds = opts.quick ? 1 : 3;
  const body = Buffer.from('{}');
  const log = (m: string) => process.env.BENCH_VERBOSE && console.error(`after-idle: ${m}`);

  // The floor first, on a machine with nothing else of the bench running.
  const floor = await startProcess([path.join(opts.here, 'floors.js'), 'per-process', String(FUNCTIONS + 1)]);
  let floorSamples: Samples;
  try {
    const pinned = (i: number): Target => ({
      port: floor.port,
      path: `/child/${i}`,
      headers: { 'content-type': 'application/json' },
      body,
    });
    floorSamples = await sample(pinned, pinned(FUNCTIONS), rounds);
  } finally {
    await stop(floor);
  }

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-bench-idle-'));
  const server = await startProcess(
    [path.join(opts.repo, 'bin/kindling.js'), 'serve', '--port', '0', '--data-dir', dataDir],
    // Room for all of them and the background function's (the default is one per 96 MB of memory).
    { KINDLING_POOL_TARGET: '2', KINDLING_MAX_ENVIRONMENTS: String(target + 16) },
  );
  try {
    const k = kindlingClient(server.port, readCredentialsFile(path.join(dataDir, 'credentials'))!);
    // As a user would: the admin raises its own tenant's concurrency limit (64 by default).
    const limit = await k.call(
      'PUT',
      '/kindling/v1/tenants/admin/concurrency',
      { limit: target + 16 },
      'kindling',
    );
    if (limit.status !== 200)
      throw new Error(`tenant concurrency: ${limit.status} ${JSON.stringify(limit.json)}`);
    const nodes = await k.call('GET', '/kindling/v1/nodes', undefined, 'kindling');
    const capacity: number = nodes.json?.nodes?.[0]?.capacity ?? Number.POSITIVE_INFINITY;
    // Past the capacity the least recently used idle environment is evicted; the background function needs one.
    const want = Math.min(target, capacity - 1);
    const names = Array.from({ length: FUNCTIONS }, (_, i) => `bench-idle-${i}`);
    for (const name of [...names, 'bench-idle-background'])
      await createFunction(k, name, HOLDER, { Timeout: 300 });
    const t0 = Date.now();
    const held = await fill(k, names, want, log, opts.quick ? 30_000 : 90_000);
    const fillSeconds = (Date.now() - t0) / 1000;
    const before = await workerStats(k);
    if (before.environments.busy !== 0) throw new Error(`environments still busy: ${JSON.stringify(before)}`);
    const invoke = (name: string) => k.signed('POST', `/2015-03-31/functions/${name}/invocations`, body);
    const targets = names.map(invoke);
    const s = await sample((f) => targets[f]!, invoke('bench-idle-background'), rounds);
    const after = await workerStats(k);
    // Then environments that were busy before their idle wait (frozen as they are: trimmed only after 10 s).
    const b = await sample(
      (f) => targets[f]!,
      invoke('bench-idle-background'),
      1,
      opts.quick ? 2 : BUSY_FUNCTIONS,
      BUSY_REQUESTS,
    );
    const busyIdle = stats(b.idle);
    const busyHot = stats(b.hot);
    log(`held ${held}; before ${JSON.stringify(before)}; after ${JSON.stringify(after)}`);
    const idle = stats(s.idle);
    const hot = stats(s.hot);
    const floorIdle = stats(floorSamples.idle);
    const floorHot = stats(floorSamples.hot);
    const ratio = idle.p50 / hot.p50;
    const floorRatio = floorIdle.p50 / floorHot.p50;
    const fmt = (x: LatencyStats) => `${x.p50.toFixed(3)} / ${x.p99.toFixed(3)}`;
    // Environments evicted or retired while sampling would make `held` a claim, not a measure.
    const stillHeld = after.environments.bound + after.environments.busy - 1;
    return {
      kindling: {
        environmentsHeld: Math.min(held, stillHeld),
        serverCapacity: capacity,
        fillSeconds,
        idle,
        hot,
        ratio,
        backgroundRequests: s.background,
        busy: { requestsBefore: BUSY_REQUESTS, idle: busyIdle, hot: busyHot },
      },
      floor: {
        children: FUNCTIONS + 1,
        idle: floorIdle,
        hot: floorHot,
        ratio: floorRatio,
        backgroundRequests: floorSamples.background,
      },
      rows: [
        [
          `kindling:     idle warm environments held (of ${target} wanted)`,
          String(Math.min(held, stillHeld)),
          `server capacity ${capacity} (KINDLING_MAX_ENVIRONMENTS); filled in ${fillSeconds.toFixed(0)} s`,
        ],
        [
          `floor per-process: after ${IDLE_MS / 1000} s idle p50/p99 (ms)`,
          fmt(floorIdle),
          `hot ${fmt(floorHot)}; ratio ${floorRatio.toFixed(2)}x (${floorIdle.n} samples, background c=1)`,
        ],
        [
          `kindling:     Invoke after ${IDLE_MS / 1000} s idle p50/p99 (ms)`,
          fmt(idle),
          `hot ${fmt(hot)}; ratio ${ratio.toFixed(2)}x (target <= 1.5x; ${idle.n} samples, background c=1)`,
        ],
        [
          `kindling:     ... after ${BUSY_REQUESTS} requests, then ${IDLE_MS / 1000} s idle p50/p99 (ms)`,
          fmt(busyIdle),
          `hot ${fmt(busyHot)}; ratio ${(busyIdle.p50 / busyHot.p50).toFixed(2)}x (${busyIdle.n} samples; busy environments: no target)`,
        ],
      ],
    };
  } finally {
    await stop(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

// `node dist/bench/after-idle.js`: this row alone (BENCH_QUICK=1 shortens it, BENCH_VERBOSE=1 tells the fill).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  afterIdleFigures({ quick: process.env.BENCH_QUICK === '1', repo: path.resolve(here, '../..'), here })
    .then((f) => {
      for (const [name, value, note] of f.rows)
        console.log(`${name.padEnd(58)} ${value.padStart(14)}  ${note}`);
      console.log(JSON.stringify(f, null, 2));
    })
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
