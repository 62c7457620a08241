// Versions figures for `npm run bench` (issue 12): the Invoke API through an alias and through a version
// number beside the unqualified name (target: no measurable overhead), and the first requests after
// provisioned concurrency reports READY (target: none of them with an init).
import http from 'node:http';
import { type LatencyStats, latency, request } from './load.js';
import { createFunction, type KindlingClient, TRIVIAL } from './run.js';

export interface VersionFigures {
  rows: [string, string, string][];
  unqualified: LatencyStats;
  alias: LatencyStats;
  version: LatencyStats;
  provisioned: { requests: number; withInit: number; readyMs: number };
}

/** The first requests after READY run at once, each on its own environment: as many as provisioned. */
const PROVISIONED = 4;

export async function versionFigures(k: KindlingClient, opts: { samples: number }): Promise<VersionFigures> {
  const F = '/2015-03-31/functions';
  await createFunction(k, 'bench-alias', TRIVIAL, { Publish: true });
  const alias = await k.call('POST', `${F}/bench-alias/aliases`, { Name: 'live', FunctionVersion: '1' });
  if (alias.status !== 201) throw new Error(`CreateAlias: ${alias.status} ${JSON.stringify(alias.json)}`);
  const body = Buffer.from(JSON.stringify({ hello: 'world' }));
  // Three alternating rounds each, the round with the median p50 kept: a busy host's slow minute
  // does not land on one of them only.
  const targets = [
    k.signed('POST', `${F}/bench-alias/invocations`, body),
    k.signed('POST', `${F}/bench-alias%3Alive/invocations`, body),
    k.signed('POST', `${F}/bench-alias/invocations?Qualifier=1`, body),
  ];
  const rounds: LatencyStats[][] = [[], [], []];
  for (let r = 0; r < 3; r++)
    for (const [i, t] of targets.entries()) rounds[i]!.push(await latency(t, Math.ceil(opts.samples / 3)));
  const median = (xs: LatencyStats[]) => [...xs].sort((a, b) => a.p50 - b.p50)[1]!;
  const [plain, viaAlias, viaVersion] = rounds.map(median) as [LatencyStats, LatencyStats, LatencyStats];

  // An init that takes a while, so that one on the request path would show.
  await createFunction(
    k,
    'bench-provisioned',
    'const t = Date.now(); while (Date.now() - t < 100); exports.handler = async () => { await new Promise((r) => setTimeout(r, 50)); return 1; };',
    { Publish: true },
  );
  const pc = '/2019-09-30/functions/bench-provisioned/provisioned-concurrency?Qualifier=1';
  const started = Date.now();
  const put = await k.call('PUT', pc, { ProvisionedConcurrentExecutions: PROVISIONED });
  if (put.status !== 202)
    throw new Error(`PutProvisionedConcurrencyConfig: ${put.status} ${JSON.stringify(put.json)}`);
  for (;;) {
    const got = await k.call('GET', pc);
    if (got.json?.Status === 'READY') break;
    if (got.json?.Status === 'FAILED' || Date.now() - started > 120_000)
      throw new Error(`provisioned concurrency not READY: ${JSON.stringify(got.json)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const readyMs = Date.now() - started;
  const agent = new http.Agent({ keepAlive: true });
  const target = k.signed('POST', `${F}/bench-provisioned/invocations?Qualifier=1`, body, 'lambda', {
    'x-amz-log-type': 'Tail',
  });
  const outs = await Promise.all(Array.from({ length: PROVISIONED }, () => request(agent, target)));
  agent.destroy();
  const withInit = outs.filter((o) =>
    Buffer.from(String(o.headers['x-amz-log-result'] ?? ''), 'base64')
      .toString()
      .includes('Init Duration'),
  ).length;
  await k.call('DELETE', pc);

  const fmt = (s: LatencyStats) => `${s.p50.toFixed(3)} / ${s.p99.toFixed(3)}`;
  return {
    unqualified: plain,
    alias: viaAlias,
    version: viaVersion,
    provisioned: { requests: PROVISIONED, withInit, readyMs },
    rows: [
      [
        'alias routing: Invoke NAME:alias c=1 p50/p99 (ms)',
        fmt(viaAlias),
        `unqualified ${fmt(plain)}; ratio ${(viaAlias.p50 / plain.p50).toFixed(2)}x (target: none measurable)`,
      ],
      [
        'version: Invoke Qualifier=1 c=1 p50/p99 (ms)',
        fmt(viaVersion),
        `ratio to unqualified ${(viaVersion.p50 / plain.p50).toFixed(2)}x`,
      ],
      [
        `provisioned concurrency: first ${PROVISIONED} requests after READY with an init`,
        `${withInit} of ${PROVISIONED}`,
        `target 0; READY ${readyMs} ms after PutProvisionedConcurrencyConfig (100 ms init each)`,
      ],
    ],
  };
}
