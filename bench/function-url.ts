// Function URL figures for `npm run bench` (issue 12): the same trivial handler reached through its URL
// (a plain HTTP request, AuthType NONE, turned into a payload 2.0 event and back) and through the Invoke
// API (SigV4-signed), each measured in the same run at c=1 and c=16, and the ratio (target: within 1.1×).
import { type LatencyStats, latency, type Target, throughput } from './load.js';
import { createFunction, type KindlingClient, TRIVIAL } from './run.js';

export interface FunctionUrlFigures {
  rows: [string, string, string][];
  url: { latency: LatencyStats; rps: number };
  invoke: { latency: LatencyStats; rps: number };
}

export async function functionUrlFigures(
  k: KindlingClient,
  opts: { samples: number; seconds: number; concurrency: number },
): Promise<FunctionUrlFigures> {
  await createFunction(k, 'bench-url', TRIVIAL);
  const made = await k.call('POST', '/2021-10-31/functions/bench-url/url', { AuthType: 'NONE' });
  if (made.status !== 201)
    throw new Error(`CreateFunctionUrlConfig: ${made.status} ${JSON.stringify(made.json)}`);
  const urlPath = new URL(made.json.FunctionUrl as string).pathname;
  const body = Buffer.from(JSON.stringify({ hello: 'world' }));
  const viaUrl: Target = {
    port: k.port,
    path: urlPath,
    headers: { 'content-type': 'application/json' },
    body,
  };
  const viaInvoke = k.signed('POST', '/2015-03-31/functions/bench-url/invocations', body);
  // Both paths warmed first (the environment's first requests and the server's JIT would otherwise land on
  // whichever is measured first), then three alternating rounds each, the round with the median p50 kept,
  // so that neither gets the quieter minute.
  await latency(viaUrl, 300);
  await latency(viaInvoke, 300);
  const rounds: [LatencyStats[], LatencyStats[]] = [[], []];
  for (let r = 0; r < 3; r++) {
    rounds[0].push(await latency(viaUrl, Math.ceil(opts.samples / 3)));
    rounds[1].push(await latency(viaInvoke, Math.ceil(opts.samples / 3)));
  }
  const median = (xs: LatencyStats[]) => [...xs].sort((a, b) => a.p50 - b.p50)[1]!;
  const urlLatency = median(rounds[0]);
  const invokeLatency = median(rounds[1]);
  const invokeRps = (await throughput(viaInvoke, opts.concurrency, opts.seconds)).rps;
  const urlRun = await throughput(viaUrl, opts.concurrency, opts.seconds);
  const fmt = (s: LatencyStats) => `${s.p50.toFixed(3)} / ${s.p99.toFixed(3)}`;
  return {
    url: { latency: urlLatency, rps: urlRun.rps },
    invoke: { latency: invokeLatency, rps: invokeRps },
    rows: [
      [
        'function URL: c=1 p50/p99 (ms)',
        fmt(urlLatency),
        `Invoke API ${fmt(invokeLatency)}; ratio ${(urlLatency.p50 / invokeLatency.p50).toFixed(2)}x (target <= 1.1x)`,
      ],
      [
        `function URL: throughput c=${opts.concurrency} (req/s)`,
        String(urlRun.rps),
        `Invoke API ${invokeRps}; ratio ${(urlRun.rps / invokeRps).toFixed(2)}x (target >= 0.91x), errors ${urlRun.errors}`,
      ],
    ],
  };
}
