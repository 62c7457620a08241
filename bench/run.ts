// `npm run bench`: Kindling's figures beside the floors, measured in one run on this machine.
// Prints a table and, last, one JSON document. Targets are ratios to the floors (DESIGN.md), never
// asserted in tests. Options: BENCH_QUICK=1 shortens every phase (for a smoke run).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { signRequest } from '../src/api/sigv4.js';
import { readCredentialsFile } from '../src/server/data-dir.js';
import { TRIM_AFTER_IDLE_MS } from '../src/worker/keep-alive.js';
import { afterIdleFigures } from './after-idle.js';
import { clusterFigures } from './cluster.js';
import { compileCacheFigures } from './compile-cache.js';
import { fmtCpu, type RoleCpu } from './cpu.js';
import { kindlingEventFigures } from './events.js';
import { functionUrlFigures } from './function-url.js';
import { type LatencyStats, request, stats, type Target } from './load.js';
import { environmentMemory, withBareIdleNodes } from './memory.js';
import { objectLambdaFigures } from './object-lambda.js';
import { providedFigures } from './provided.js';
import { pythonFigures } from './python.js';
import { s3SelectFigures } from './s3-select.js';
import { storageFigures } from './storage.js';
import { versionFigures } from './versions.js';
import { interleavedFigures, medianRatio, type WindowFigures } from './windows.js';
import { zipHandler } from './zip.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const quick = process.env.BENCH_QUICK === '1';
// `npm run bench -- --store postgres`: also the store comparison and the cluster figures (bench/cluster.ts).
const storeArg = process.argv.indexOf('--store');
const withPostgres = storeArg > 0 && process.argv[storeArg + 1] === 'postgres';
if (storeArg > 0 && !withPostgres) {
  console.error('usage: npm run bench [-- --store postgres]');
  process.exit(2);
}
const N_LATENCY = quick ? 300 : 3000;
/** Each c=16 window; there are ROUNDS of them per target, interleaved with the other targets' (bench/windows.ts). */
const THROUGHPUT_SECONDS = quick ? 2 : 5;
const ROUNDS = quick ? 1 : 3;
/** Each target's load after its first N_LATENCY requests, before any window: its steady state is measured. */
const WARM_SECONDS = quick ? 1 : 10;
const CONCURRENCY = 16;
const FIRST_INVOKE_SAMPLES = quick ? 3 : 15;

export interface Proc {
  child: ChildProcess;
  port: number;
  output: () => string;
}

export function startProcess(args: string[], env: Record<string, string> = {}): Promise<Proc> {
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not start: ${args.join(' ')}\n${out}`)), 30_000);
    child.stdout!.on('data', () => {
      const m = /listening on (?:http:\/\/[^:]+:)?(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), output: () => out });
      }
    });
    child.on('exit', () => reject(new Error(`exited: ${args.join(' ')}\n${out}`)));
  });
}

export function stop(p: Proc): Promise<void> {
  return new Promise((resolve) => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
    p.child.once('exit', () => resolve());
    p.child.kill('SIGTERM');
  });
}

const body = Buffer.from(JSON.stringify({ hello: 'world' }));

export interface KindlingClient {
  port: number;
  endpoint: string;
  creds: { accessKeyId: string; secretAccessKey: string };
  /** A signed request; for the hot path the signature is computed once and reused (valid 15 min). */
  signed(
    method: string,
    pathAndQuery: string,
    payload: Buffer,
    service?: string,
    extra?: Record<string, string>,
  ): Target;
  call(
    method: string,
    pathAndQuery: string,
    payload?: unknown,
    service?: string,
    extra?: Record<string, string>,
  ): Promise<{ status: number; json: any; ms: number; headers: http.IncomingHttpHeaders }>;
}

export function kindlingClient(
  port: number,
  creds: { accessKeyId: string; secretAccessKey: string },
): KindlingClient {
  const endpoint = `http://127.0.0.1:${port}`;
  const agent = new http.Agent({ keepAlive: true });
  const c: KindlingClient = {
    port,
    endpoint,
    creds,
    signed(method, pathAndQuery, payload, service = 'lambda', extra = {}) {
      const headers = signRequest({
        method,
        url: new URL(pathAndQuery, endpoint),
        headers: { 'content-type': 'application/json', ...extra },
        body: payload,
        ...creds,
        region: 'us-east-1',
        service,
      });
      return { port, path: pathAndQuery, headers, body: payload };
    },
    async call(method, pathAndQuery, payload, service = 'lambda', extra = {}) {
      const buf =
        payload === undefined
          ? Buffer.alloc(0)
          : Buffer.isBuffer(payload)
            ? payload
            : Buffer.from(JSON.stringify(payload));
      const r = await request(agent, c.signed(method, pathAndQuery, buf, service, extra), method);
      const text = r.body.toString();
      let json: any = text;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {}
      return { status: r.status, json, ms: r.ms, headers: r.headers };
    },
  };
  return c;
}

export async function createFunction(
  k: KindlingClient,
  name: string,
  code: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const r = await k.call('POST', '/2015-03-31/functions', {
    FunctionName: name,
    Runtime: 'nodejs20.x',
    Handler: 'index.handler',
    Role: 'arn:aws:iam::000000000000:role/bench',
    MemorySize: 128,
    Timeout: 30,
    Code: { ZipFile: (await zipHandler(code)).toString('base64') },
    ...extra,
  });
  if (r.status !== 201) throw new Error(`CreateFunction ${name}: ${r.status} ${JSON.stringify(r.json)}`);
}

export const TRIVIAL = 'exports.handler = async (event) => ({ ok: true, echo: event });';

/** Waits until the pool of `runtimeKey` holds `want` ready environments; false on timeout. */
export async function poolReady(
  k: KindlingClient,
  want = 1,
  timeoutMs = 20_000,
  runtimeKey = 'nodejs20.x',
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const r = await k.call('GET', '/kindling/v1/pool', undefined, 'kindling');
    const pools: { runtimeKey: string; ready: number }[] = r.json?.pools ?? [];
    if ((pools.find((p) => p.runtimeKey === runtimeKey)?.ready ?? 0) >= want) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Waits (up to 60 s) until no environment of the server is busy, twice in a row 250 ms apart. */
async function serverQuiet(k: KindlingClient): Promise<void> {
  const end = Date.now() + 60_000;
  let quiet = 0;
  while (Date.now() < end && quiet < 2) {
    const r = await k.call('GET', '/kindling/v1/pool', undefined, 'kindling');
    quiet = r.json?.environments?.busy === 0 ? quiet + 1 : 0;
    await new Promise((r) => setTimeout(r, 250));
  }
}

function bareNodeStartMs(samples = 10): LatencyStats {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = process.hrtime.bigint();
    spawnSync(process.execPath, ['-e', '0']);
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return stats(out);
}

/** `kindling ls` against the running server, start to exit (issue 11: a CLI that answers in a blink). */
function cliLsMs(port: number, creds: { accessKeyId: string; secretAccessKey: string }, samples = 10) {
  const env = {
    ...process.env,
    KINDLING_ENDPOINT: `http://127.0.0.1:${port}`,
    AWS_ACCESS_KEY_ID: creds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
  };
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [path.join(repo, 'bin/kindling.js'), 'ls'], { env });
    if (r.status !== 0) throw new Error(`kindling ls: ${r.stderr}`);
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return stats(out);
}

/** The 1, 5 and 15 minute load averages: a shared machine's figures are read with them. */
const loadAverage = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');

const row = (name: string, value: string, note = '') =>
  console.log(`${name.padEnd(58)} ${value.padStart(14)}  ${note}`);
const fmt = (s: LatencyStats) => `${s.p50.toFixed(3)} / ${s.p99.toFixed(3)}`;

async function main(): Promise<void> {
  const results: Record<string, unknown> = {
    machine: {
      cpus: os.cpus().length,
      node: process.version,
      date: new Date().toISOString(),
      loadAverageAtStart: os.loadavg(),
    },
  };
  console.log(
    `Kindling bench — ${os.cpus().length} cores, Node ${process.version}${quick ? ' (quick)' : ''}; load average ${loadAverage()}\n`,
  );

  // --- the warm path: the floors and Kindling side by side, their windows interleaved (bench/windows.ts)
  const floorProcs: Array<{ mode: string; proc: Awaited<ReturnType<typeof startProcess>>; target: Target }> =
    [];
  // The per-process floor keeps its 16 children at c=1 too: one of them serves (the most recently used).
  for (const mode of ['inproc', 'ipc', 'per-process'] as const) {
    const proc = await startProcess([path.join(here, 'floors.js'), mode, String(CONCURRENCY)]);
    const target: Target = {
      port: proc.port,
      path: '/',
      headers: { 'content-type': 'application/json' },
      body,
    };
    floorProcs.push({ mode, proc, target });
  }
  // The per-process floor plus a Lambda-compatible server's own work (SigV4, logs), sent what Kindling is sent.
  {
    const creds = { accessKeyId: 'AKIAFLOORBENCH000000', secretAccessKey: randomBytes(20).toString('hex') };
    const proc = await startProcess(
      [path.join(here, 'floors.js'), 'per-process-lambda', String(CONCURRENCY)],
      { FLOOR_ACCESS_KEY_ID: creds.accessKeyId, FLOOR_SECRET_ACCESS_KEY: creds.secretAccessKey },
    );
    const target = kindlingClient(proc.port, creds).signed(
      'POST',
      '/2015-03-31/functions/bench-trivial/invocations',
      body,
    );
    floorProcs.push({ mode: 'per-process-lambda', proc, target });
  }
  const floors: Record<string, WindowFigures> = {};
  results.floors = floors;
  // Once the windows are done, and whatever fails after the floors started (stopping twice is a no-op).
  const stopFloors = () => Promise.all(floorProcs.map((f) => stop(f.proc)));

  // --- Kindling
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-bench-'));
  const server = await startProcess(
    [path.join(repo, 'bin/kindling.js'), 'serve', '--port', '0', '--data-dir', dataDir],
    {
      KINDLING_POOL_TARGET: '2',
    },
  ).catch(async (e: unknown) => {
    await stopFloors();
    throw e;
  });
  const creds = readCredentialsFile(path.join(dataDir, 'credentials'))!;
  const k = kindlingClient(server.port, creds);
  try {
    await createFunction(k, 'bench-trivial', TRIVIAL);
    const invoke = k.signed('POST', '/2015-03-31/functions/bench-trivial/invocations', body);
    const figures = await interleavedFigures(
      [
        ...floorProcs.map((f) => ({ name: f.mode, target: f.target, pid: f.proc.child.pid! })),
        // The warming pool refilled before each window: its sandboxes' start is not per-request work.
        { name: 'kindling', target: invoke, pid: server.child.pid!, settle: () => poolReady(k, 2) },
      ],
      {
        concurrency: CONCURRENCY,
        latencyRequests: N_LATENCY,
        warmSeconds: WARM_SECONDS,
        throughputSeconds: THROUGHPUT_SECONDS,
        rounds: ROUNDS,
      },
      'kindling',
    );
    await stopFloors();
    for (const f of floorProcs) floors[f.mode] = figures.get(f.mode)!;
    const warm = figures.get('kindling')!;
    const warmLatency = warm.latency;
    const warmThroughput = warm.throughput;
    // The environments just served, idle long enough to have given back what they grew into (frozen at
    // 1 s, trimmed at TRIM_AFTER_IDLE_MS); bare idle nodes started beside them, both read in the same instant.
    await new Promise((r) => setTimeout(r, TRIM_AFTER_IDLE_MS));
    const { bare: bareNode, result: memory } = await withBareIdleNodes(() =>
      environmentMemory(server.child.pid!),
    );

    // First invoke after CreateFunction, pool holding a ready sandbox.
    const poolHit: number[] = [];
    for (let i = 0; i < FIRST_INVOKE_SAMPLES; i++) {
      if (!(await poolReady(k))) throw new Error('pool never had a ready sandbox');
      await createFunction(k, `bench-pool-${i}`, TRIVIAL);
      const r = await k.call('POST', `/2015-03-31/functions/bench-pool-${i}/invocations`, { first: true });
      if (r.status !== 200) throw new Error(`pool-hit invoke: ${r.status}`);
      poolHit.push(r.ms);
    }
    // And with the pool empty: the sandbox is started on demand.
    await k.call('PUT', '/kindling/v1/pool/nodejs20.x', { target: 0 }, 'kindling');
    await new Promise((r) => setTimeout(r, 500));
    const coldStart: number[] = [];
    for (let i = 0; i < FIRST_INVOKE_SAMPLES; i++) {
      await createFunction(k, `bench-cold-${i}`, TRIVIAL);
      const r = await k.call('POST', `/2015-03-31/functions/bench-cold-${i}/invocations`, { first: true });
      if (r.status !== 200) throw new Error(`cold invoke: ${r.status}`);
      coldStart.push(r.ms);
    }
    const bareNodeStart = bareNodeStartMs();
    const cliLs = cliLsMs(server.port, creds);
    results.kindling = {
      warmLatency,
      freshLatency: warm.fresh,
      warmThroughput,
      warmCpu: warm.cpu,
      firstInvokePoolHit: stats(poolHit),
      firstInvokePoolEmpty: stats(coldStart),
      bareNodeProcessStart: bareNodeStart,
      cliLs,
      idleEnvironmentMemory: memory,
      bareIdleNodeMemory: bareNode,
    };
    await k.call('PUT', '/kindling/v1/pool/nodejs20.x', { target: 2 }, 'kindling');

    const ipcRps = floors.ipc!.throughput.rps;
    // Ratios are the median of each round's (bench/windows.ts): windows seconds apart, not minutes.
    const perRound = (a: number[], b: number[]) =>
      `${ROUNDS} interleaved rounds: ${a.map((x, i) => (x / b[i]!).toFixed(2)).join(' / ')}`;
    console.log(`${'measure'.padEnd(58)} ${'value'.padStart(14)}  target`);
    const freshNote = (f: LatencyStats) =>
      `first ${f.n} requests of a fresh process: p50 ${f.p50.toFixed(3)}`;
    row(
      'floor inproc: sync latency c=1 p50/p99 (ms)',
      fmt(floors.inproc!.latency),
      freshNote(floors.inproc!.fresh),
    );
    row(
      'floor ipc:    sync latency c=1 p50/p99 (ms)',
      fmt(floors.ipc!.latency),
      freshNote(floors.ipc!.fresh),
    );
    row(
      'floor per-process: sync latency c=1 p50/p99 (ms)',
      fmt(floors['per-process']!.latency),
      freshNote(floors['per-process']!.fresh),
    );
    row(
      'floor per-process + Lambda work: c=1 p50/p99 (ms)',
      fmt(floors['per-process-lambda']!.latency),
      `SigV4, request id, Invoke's headers, a stored log record; ${freshNote(floors['per-process-lambda']!.fresh)}`,
    );
    row(
      'kindling:     warm Invoke c=1 p50/p99 (ms)',
      fmt(warmLatency),
      `ratio to ipc p50 ${medianRatio(warm.rounds.p50, floors.ipc!.rounds.p50).toFixed(2)}x (target <= 1.3x; ${perRound(warm.rounds.p50, floors.ipc!.rounds.p50)}); ${freshNote(warm.fresh)} (${(warm.fresh.p50 / floors.ipc!.fresh.p50).toFixed(2)}x)`,
    );
    // The median window's figure; each round's (the median of its windows) beside it.
    const rounds = (f: WindowFigures) => `rounds ${f.rounds.rps.join(' / ')}`;
    row(
      `floor inproc: throughput c=${CONCURRENCY} (req/s)`,
      String(floors.inproc!.throughput.rps),
      rounds(floors.inproc!),
    );
    row(`floor ipc:    throughput c=${CONCURRENCY} (req/s)`, String(ipcRps), rounds(floors.ipc!));
    // Kindling's own model with nothing else: one request per process at a time, N processes.
    const modelRps = floors['per-process']!.throughput.rps;
    row(
      `floor per-process: throughput c=${CONCURRENCY}, ${CONCURRENCY} children (req/s)`,
      String(modelRps),
      rounds(floors['per-process']!),
    );
    const lambdaFloorRps = floors['per-process-lambda']!.throughput.rps;
    row(
      `floor per-process + Lambda work: throughput c=${CONCURRENCY} (req/s)`,
      String(lambdaFloorRps),
      `ratio to per-process ${medianRatio(floors['per-process-lambda']!.rounds.rps, floors['per-process']!.rounds.rps).toFixed(2)}x; ${rounds(floors['per-process-lambda']!)}`,
    );
    row(
      `kindling:     warm Invoke throughput c=${CONCURRENCY} (req/s)`,
      String(warmThroughput.rps),
      `${rounds(warm)}; ratio to per-process ${medianRatio(warm.rounds.rps, floors['per-process']!.rounds.rps).toFixed(2)}x (target >= 0.75x; ${perRound(warm.rounds.rps, floors['per-process']!.rounds.rps)}), to ipc ${medianRatio(warm.rounds.rps, floors.ipc!.rounds.rps).toFixed(2)}x, to per-process + Lambda work ${medianRatio(warm.rounds.rps, floors['per-process-lambda']!.rounds.rps).toFixed(2)}x, errors ${warmThroughput.errors}`,
    );
    // CPU µs per request by role, from the same windows as the figures above (bench/cpu.ts).
    const cpuRow = (name: string, c: RoleCpu, note = '') =>
      row(`${name} CPU/request client/server/env (µs)`, fmtCpu(c), note);
    const cpuTargets = (c: RoleCpu) =>
      `targets: env <= 30 (${c.environment <= 30 ? 'met' : 'missed'}), server <= 60 (${c.server <= 60 ? 'met' : 'missed'})`;
    for (const [window, c] of [
      [`c=${CONCURRENCY}`, 'c16'],
      ['c=1', 'c1'],
    ] as const) {
      cpuRow(`floor ipc ${window}:`, floors.ipc!.cpu[c]);
      cpuRow(`floor per-process ${window}:`, floors['per-process']!.cpu[c]);
      cpuRow(`floor per-process + Lambda work ${window}:`, floors['per-process-lambda']!.cpu[c]);
      cpuRow(`kindling ${window}:`, warm.cpu[c], cpuTargets(warm.cpu[c]));
    }
    row(
      'kindling:     first Invoke after Create, pool hit p50/p99 (ms)',
      fmt(stats(poolHit)),
      'target p50 <= 5 ms (issue 10; was <= 15 ms)',
    );
    row(
      'kindling:     first Invoke after Create, pool empty p50/p99 (ms)',
      fmt(stats(coldStart)),
      'target p50 <= 20 ms (issue 10: a clone; Node has none yet)',
    );
    row('bare `node -e 0` process start p50/p99 (ms)', fmt(bareNodeStart));
    row('cli:          `kindling ls` start to exit p50/p99 (ms)', fmt(cliLs), 'target p50 <= 150 ms');
    row('kindling:     idle warm environments measured', String(memory.envs));
    row('kindling:     RSS per idle environment p50 (MB)', memory.rssMB.p50.toFixed(1));
    const pssRatio = memory.pssMB.p50 / bareNode.pssMB.p50;
    row(`bare idle \`node\` (${bareNode.pssMB.n} processes): PSS p50 (MB)`, bareNode.pssMB.p50.toFixed(1));
    row(
      'kindling:     PSS per idle environment p50 (MB)',
      memory.pssMB.p50.toFixed(1),
      `ratio to bare idle node ${pssRatio.toFixed(2)}x (target <= 1.3x); bwrap, bwrap (pid 1) and node`,
    );
    row(
      'kindling:     its runtime (node) alone, PSS p50 (MB)',
      memory.runtimePssMB.p50.toFixed(1),
      `ratio to bare idle node ${(memory.runtimePssMB.p50 / bareNode.pssMB.p50).toFixed(2)}x; bwrap's share ${(memory.pssMB.p50 - memory.runtimePssMB.p50).toFixed(1)} MB`,
    );

    const events = await kindlingEventFigures(k, { quick });
    results.events = events;
    for (const [name, value, note] of events.rows) row(name, value, note);
    // The async invokes just accepted still run for a while on a busy host, holding the tenant's
    // concurrency: the next rows would be throttled (429) or slowed by them.
    await serverQuiet(k);

    const provided = await providedFigures(k, { samples: N_LATENCY, nodeWarm: warmLatency, repo });
    results.provided = provided;
    for (const [name, value, note] of provided.rows) row(name, value, note);
    const python = await pythonFigures(k, server.child.pid!, { quick });
    if (python !== undefined) {
      results.python = python;
      for (const [name, value, note] of python.rows) row(name, value, note);
    }
    const urls = await functionUrlFigures(k, {
      samples: N_LATENCY,
      seconds: THROUGHPUT_SECONDS,
      concurrency: CONCURRENCY,
    });
    results.functionUrls = urls;
    for (const [name, value, note] of urls.rows) row(name, value, note);
    const objectLambda = await objectLambdaFigures(k, { samples: quick ? 30 : 150 });
    results.objectLambda = objectLambda;
    for (const [name, value, note] of objectLambda.rows) row(name, value, note);
    const versions = await versionFigures(k, { samples: N_LATENCY });
    results.versions = versions;
    for (const [name, value, note] of versions.rows) row(name, value, note);
    const compileCache = await compileCacheFigures(k, dataDir, { quick, python: python !== undefined });
    results.compileCache = compileCache;
    for (const [name, value, note] of compileCache.rows) row(name, value, note);
    const s3Select = await s3SelectFigures(k, { quick });
    results.s3Select = s3Select;
    for (const [name, value, note] of s3Select.rows) row(name, value, note);
  } finally {
    await stop(server);
    await stopFloors();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  // Its own server, once the one above is gone: hundreds of environments held idle.
  const afterIdle = await afterIdleFigures({ quick, repo, here });
  results.afterIdle = afterIdle;
  for (const [name, value, note] of afterIdle.rows) row(name, value, note);
  const storage = await storageFigures({ quick, repo });
  results.storage = storage;
  for (const [name, value, note] of storage.rows) row(name, value, note);
  if (withPostgres) results.stores = await clusterFigures({ quick, row });
  // Other work on the machine can slow Kindling's sandboxes more than the floors' children: they share one
  // cgroup's CPU weight, where each process outside competes with its own.
  console.log(`\nload average at the end ${loadAverage()}`);
  console.log(`\n${JSON.stringify(results, null, 2)}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
