// Custom runtime figures for `npm run bench`, against the same running server as the invoke figures: warm
// Invoke of a provided.al2023 function whose bootstrap is a compiled C program (bench/provided-bootstrap.c,
// one kept-alive connection to the Runtime API, as the Go and Rust clients keep), beside the Node runtime's
// warm Invoke measured in the same run; and the memory of the Runtime API shim each such sandbox runs.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type LatencyStats, latency, stats } from './load.js';
import type { KindlingClient } from './run.js';
import { zipHandler } from './zip.js';

/** RSS and PSS (MB) of every process named `comm` on the host. */
function processMemory(comm: string): { n: number; rssMB: LatencyStats; pssMB: LatencyStats } {
  const rss: number[] = [];
  const pss: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== comm) continue;
      const t = fs.readFileSync(`/proc/${d}/smaps_rollup`, 'utf8');
      rss.push(Number(/Rss:\s+(\d+)/.exec(t)?.[1] ?? 0) / 1024);
      pss.push(Number(/Pss:\s+(\d+)/.exec(t)?.[1] ?? 0) / 1024);
    } catch {}
  }
  return { n: rss.length, rssMB: stats(rss), pssMB: stats(pss) };
}

export interface ProvidedFigures {
  rows: [string, string, string][];
  [k: string]: unknown;
}

export async function providedFigures(
  k: KindlingClient,
  opts: { samples: number; nodeWarm: LatencyStats; repo: string },
): Promise<ProvidedFigures> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-bench-provided-'));
  try {
    const bin = path.join(dir, 'bootstrap');
    execFileSync('cc', ['-O2', '-o', bin, path.join(opts.repo, 'bench', 'provided-bootstrap.c')]);
    const r = await k.call('POST', '/2015-03-31/functions', {
      FunctionName: 'bench-provided',
      Runtime: 'provided.al2023',
      Handler: 'bootstrap',
      Role: 'arn:aws:iam::000000000000:role/bench',
      MemorySize: 128,
      Timeout: 30,
      Code: { ZipFile: (await zipHandler(fs.readFileSync(bin), 'bootstrap', 0o100755)).toString('base64') },
    });
    if (r.status !== 201)
      throw new Error(`CreateFunction bench-provided: ${r.status} ${JSON.stringify(r.json)}`);
    const invoke = k.signed(
      'POST',
      '/2015-03-31/functions/bench-provided/invocations',
      Buffer.from(JSON.stringify({ hello: 'world' })),
    );
    const warm = await latency(invoke, opts.samples);
    const shim = processMemory('kindling-rapi');
    const boot = processMemory('bootstrap');
    const ratio = warm.p50 / opts.nodeWarm.p50;
    const fmt = (s: LatencyStats) => `${s.p50.toFixed(3)} / ${s.p99.toFixed(3)}`;
    return {
      warmLatency: warm,
      ratioToNodeP50: Math.round(ratio * 1000) / 1000,
      shimMemory: shim,
      bootstrapMemory: boot,
      rows: [
        [
          'kindling:     provided.al2023 (C bootstrap) warm Invoke p50/p99 (ms)',
          fmt(warm),
          `ratio to nodejs20.x warm p50 ${ratio.toFixed(2)}x`,
        ],
        [
          'kindling:     Runtime API shim RSS / PSS p50 (MB)',
          `${shim.rssMB.p50.toFixed(2)} / ${shim.pssMB.p50.toFixed(2)}`,
          `${shim.n} shim(s); C bootstrap ${boot.rssMB.p50.toFixed(2)} / ${boot.pssMB.p50.toFixed(2)} MB`,
        ],
      ],
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
