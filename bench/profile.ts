// `npm run bench:profile`: where the time of a warm Invoke goes, measured the same way for the IPC floor,
// the per-process floor and Kindling. For each, at concurrency 16 and 1: requests per second and CPU
// microseconds per request by role (the load client, the server, the processes under it that run the
// handler, read from /proc as bench/cpu.ts does for `npm run bench` too), and for
// Kindling's server a V8 CPU profile of each window grouped by the Kindling module each sample was in.
// Prints a table and then one JSON document. BENCH_QUICK=1 shortens it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCredentialsFile } from '../src/server/data-dir.js';
import { type RoleCpu as CpuSplit, measureCpu } from './cpu.js';
import { type Target, throughput } from './load.js';
import { createFunction, kindlingClient, type Proc, startProcess, stop, TRIVIAL } from './run.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const quick = process.env.BENCH_QUICK === '1';
const SECONDS = quick ? 2 : 8;
interface RoleCpu {
  rps: number;
  requests: number;
  errors: number;
  /** CPU microseconds per request. */
  usPerRequest: CpuSplit;
}

/** Load at concurrency c for SECONDS after a warm-up, with the CPU it cost by role (bench/cpu.ts). */
async function measure(
  t: Target,
  serverPid: number,
  c: number,
): Promise<RoleCpu & { window: [number, number] }> {
  // Every connection and environment first, and long enough for V8 to have optimised the hot code of the
  // server and of each environment (a few thousand requests each): the window is the steady state.
  await throughput(t, c, quick ? 1 : 10);
  const m = await measureCpu(
    serverPid,
    () => throughput(t, c, SECONDS),
    (r) => r.requests + c, // and the one warm-up request per connection throughput() makes
  );
  return {
    rps: m.result.rps,
    requests: m.result.requests,
    errors: m.result.errors,
    usPerRequest: m.cpu,
    window: m.window,
  };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Busy samples within [from, to] (monotonic µs, the clock V8's profiler and hrtime share), each put
 * under the innermost Kindling module on its stack, and split into syscall writes, GC and JavaScript.
 */
function groupProfile(
  p: CpuProfile,
  from: number,
  to: number,
): { busyMs: number; groups: [string, number][] } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const groups = new Map<string, number>();
  let busy = 0;
  let ts = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    ts += dt;
    if (ts < from || ts > to) continue;
    const leaf = byId.get(p.samples[i]!)!;
    const fn = leaf.callFrame.functionName;
    if (fn === '(idle)' || fn === '(root)' || fn === '(program)') continue;
    busy += dt;
    const kind =
      fn === 'writeBuffer' || fn === 'writev' || fn === 'writeUtf8String' || fn === 'writeLatin1String'
        ? 'socket write (wall time: the process it wakes may run first)'
        : fn === '(garbage collector)'
          ? 'GC'
          : 'JS and natives';
    let where = '(outside Kindling code)';
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const url = byId.get(id)!.callFrame.url;
      const at = url.indexOf('/dist/src/');
      if (at >= 0) {
        where = url.slice(at + '/dist/src/'.length).replace(/\.js$/, '');
        break;
      }
    }
    const key = kind === 'GC' ? 'GC' : `${kind} in ${where}`;
    groups.set(key, (groups.get(key) ?? 0) + dt);
  }
  return {
    busyMs: Math.round(busy / 1000),
    groups: [...groups].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round((1000 * v) / busy) / 10]),
  };
}

async function main(): Promise<void> {
  const body = Buffer.from(JSON.stringify({ hello: 'world' }));
  const results: Record<string, unknown> = {
    machine: { cpus: os.cpus().length, node: process.version, date: new Date().toISOString() },
  };
  console.log(
    `Kindling profile — ${os.cpus().length} cores, Node ${process.version}${quick ? ' (quick)' : ''}\n`,
  );

  const floor = await startProcess([path.join(here, 'floors.js'), 'ipc']);
  const floorTarget: Target = {
    port: floor.port,
    path: '/',
    headers: { 'content-type': 'application/json' },
    body,
  };
  const floorFigures = {
    c16: await measure(floorTarget, floor.child.pid!, 16),
    c1: await measure(floorTarget, floor.child.pid!, 1),
  };
  await stop(floor);
  // Kindling's own model, nothing else: N children serving one request at a time, N = the concurrency.
  const perProcessFloor = async (c: number) => {
    const p = await startProcess([path.join(here, 'floors.js'), 'per-process', String(c)]);
    try {
      return await measure({ ...floorTarget, port: p.port }, p.child.pid!, c);
    } finally {
      await stop(p);
    }
  };
  const perProcessFigures = { c16: await perProcessFloor(16), c1: await perProcessFloor(1) };

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-profile-'));
  // Sandboxes run as their own host users: they must traverse the directory the data dir is in.
  fs.chmodSync(dataDir, 0o711);
  const profDir = path.join(dataDir, 'cpu-profile');
  let server: Proc | undefined;
  try {
    server = await startProcess(
      [
        '--cpu-prof',
        `--cpu-prof-dir=${profDir}`,
        path.join(repo, 'bin/kindling.js'),
        'serve',
        '--port',
        '0',
        '--data-dir',
        path.join(dataDir, 'data'),
      ],
      { KINDLING_POOL_TARGET: '2' },
    );
    const k = kindlingClient(server.port, readCredentialsFile(path.join(dataDir, 'data', 'credentials'))!);
    await createFunction(k, 'profile-trivial', TRIVIAL);
    const invoke = k.signed('POST', '/2015-03-31/functions/profile-trivial/invocations', body);
    const c16 = await measure(invoke, server.child.pid!, 16);
    const c1 = await measure(invoke, server.child.pid!, 1);
    await stop(server);
    server = undefined;
    const file = fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    const cpuProfile = file
      ? (JSON.parse(fs.readFileSync(path.join(profDir, file), 'utf8')) as CpuProfile)
      : undefined;
    const profiles = cpuProfile
      ? { 'c=16': groupProfile(cpuProfile, ...c16.window), 'c=1': groupProfile(cpuProfile, ...c1.window) }
      : undefined;
    results.floorIpc = floorFigures;
    results.floorPerProcess = perProcessFigures;
    results.kindling = { c16, c1, serverProfile: profiles };

    const row = (name: string, r: RoleCpu) =>
      console.log(
        `${name.padEnd(26)} ${String(r.rps).padStart(7)} ${String(r.usPerRequest.client).padStart(8)} ${String(r.usPerRequest.server).padStart(8)} ${String(r.usPerRequest.environment).padStart(11)}`,
      );
    console.log(
      `${'target'.padEnd(26)} ${'req/s'.padStart(7)} ${'client'.padStart(8)} ${'server'.padStart(8)} ${'environment'.padStart(11)}   (CPU µs per request)`,
    );
    row('floor ipc c=16', floorFigures.c16);
    row('floor per-process c=16', perProcessFigures.c16);
    row('kindling  c=16', c16);
    row('floor ipc c=1', floorFigures.c1);
    row('floor per-process c=1', perProcessFigures.c1);
    row('kindling  c=1', c1);
    for (const [window, profile] of Object.entries(profiles ?? {})) {
      console.log(`\nKindling server, ${window} window: ${profile.busyMs} ms busy; share of busy time`);
      for (const [k, v] of profile.groups.slice(0, 14)) console.log(`${v.toFixed(1).padStart(6)}%  ${k}`);
    }
  } finally {
    if (server) await stop(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  console.log(`\n${JSON.stringify(results, null, 2)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
