// S3 Object Lambda figures for `npm run bench` (issue 13): GetObject of a 1 MB object through an Object
// Lambda access point whose function passes the original through (fetches inputS3Url, streams it into
// WriteGetObjectResponse), against a plain GetObject of the same object, measured in the same run.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EMPTY_SHA256, signRequest } from '../src/api/sigv4.js';
import { readCredentialsFile } from '../src/server/data-dir.js';
import { type LatencyStats, request, stats, type Target } from './load.js';
import { createFunction, type KindlingClient, kindlingClient, startProcess, stop } from './run.js';

export interface ObjectLambdaFigures {
  rows: [string, string, string][];
  plain: LatencyStats;
  objectLambda: LatencyStats;
}

const PASS_THROUGH = `
const { S3Client, WriteGetObjectResponseCommand } = require('@aws-sdk/client-s3');
const { Readable } = require('node:stream');
const s3 = new S3Client({});
exports.handler = async (event) => {
  const { inputS3Url, outputRoute, outputToken } = event.getObjectContext;
  const original = await fetch(inputS3Url);
  await s3.send(new WriteGetObjectResponseCommand({
    RequestRoute: outputRoute,
    RequestToken: outputToken,
    Body: Readable.fromWeb(original.body),
    ContentLength: Number(original.headers.get('content-length')),
  }));
};`;

const BUCKET = 'bench-object-lambda';
const SIZE = 1024 * 1024;

function signedGet(k: KindlingClient, host: string, path: string, service: string): Target {
  const headers = signRequest({
    method: 'GET',
    url: new URL(`http://${host}:${k.port}${path}`),
    headers: { 'x-amz-content-sha256': EMPTY_SHA256 },
    ...k.creds,
    region: 'us-east-1',
    service,
  });
  return { port: k.port, path, headers, body: Buffer.alloc(0) };
}

async function gets(t: Target, n: number): Promise<LatencyStats> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const samples: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const r = await request(agent, t, 'GET');
      if (r.status !== 200 || r.body.length !== SIZE)
        throw new Error(`GetObject: ${r.status} ${r.body.length} bytes ${r.body.toString().slice(0, 300)}`);
      samples.push(r.ms);
    }
  } finally {
    agent.destroy();
  }
  return stats(samples);
}

export async function objectLambdaFigures(
  k: KindlingClient,
  opts: { samples: number },
): Promise<ObjectLambdaFigures> {
  const who = await k.call('POST', '/', Buffer.from('Action=GetCallerIdentity&Version=2011-06-15'), 'sts', {
    'content-type': 'application/x-www-form-urlencoded',
  });
  const account = /<Account>(\d{12})<\/Account>/.exec(String(who.json))?.[1];
  if (!account) throw new Error(`GetCallerIdentity: ${who.status} ${String(who.json)}`);
  const ok = (what: string, r: { status: number; json: unknown }) => {
    if (r.status >= 300) throw new Error(`${what}: ${r.status} ${String(r.json)}`);
  };
  ok('CreateBucket', await k.call('PUT', `/${BUCKET}`, Buffer.alloc(0), 's3'));
  ok('PutObject', await k.call('PUT', `/${BUCKET}/one-mb`, Buffer.alloc(SIZE, 7), 's3'));
  const control = { 'x-amz-account-id': account, 'content-type': 'application/xml' };
  ok(
    'CreateAccessPoint',
    await k.call(
      'PUT',
      '/v20180820/accesspoint/bench-ap',
      Buffer.from(`<CreateAccessPointRequest><Bucket>${BUCKET}</Bucket></CreateAccessPointRequest>`),
      's3',
      control,
    ),
  );
  await createFunction(k, 'bench-object-lambda', PASS_THROUGH);
  ok(
    'CreateAccessPointForObjectLambda',
    await k.call(
      'PUT',
      '/v20180820/accesspointforobjectlambda/bench-ol',
      Buffer.from(
        `<CreateAccessPointForObjectLambdaRequest><Configuration><SupportingAccessPoint>arn:aws:s3:us-east-1:${account}:accesspoint/bench-ap</SupportingAccessPoint><TransformationConfigurations><TransformationConfiguration><Actions><Action>GetObject</Action></Actions><ContentTransformation><AwsLambda><FunctionArn>arn:aws:lambda:us-east-1:${account}:function:bench-object-lambda</FunctionArn></AwsLambda></ContentTransformation></TransformationConfiguration></TransformationConfigurations></Configuration></CreateAccessPointForObjectLambdaRequest>`,
      ),
      's3',
      control,
    ),
  );
  const plain = signedGet(k, '127.0.0.1', `/${BUCKET}/one-mb`, 's3');
  // As the SDK addresses an Object Lambda access point ARN: `<name>-<account>.<endpoint host>`.
  const viaLambda = signedGet(k, `bench-ol-${account}.localhost`, '/one-mb', 's3-object-lambda');
  // Warm both (the function's environment, the server's JIT), then alternate rounds, keeping the median.
  await gets(plain, 20);
  await gets(viaLambda, 20);
  const rounds: [LatencyStats[], LatencyStats[]] = [[], []];
  for (let r = 0; r < 3; r++) {
    rounds[0].push(await gets(plain, Math.ceil(opts.samples / 3)));
    rounds[1].push(await gets(viaLambda, Math.ceil(opts.samples / 3)));
  }
  const median = (xs: LatencyStats[]) => [...xs].sort((a, b) => a.p50 - b.p50)[1]!;
  const p = median(rounds[0]);
  const o = median(rounds[1]);
  const fmt = (s: LatencyStats) => `${s.p50.toFixed(2)} / ${s.p99.toFixed(2)}`;
  return {
    plain: p,
    objectLambda: o,
    rows: [
      [
        'Object Lambda GetObject 1 MB: c=1 p50/p99 (ms)',
        fmt(o),
        `plain GetObject ${fmt(p)}; overhead ${(o.p50 - p.p50).toFixed(2)} ms p50 (${(o.p50 / p.p50).toFixed(2)}x)`,
      ],
    ],
  };
}

// `node dist/bench/object-lambda.js`: this module alone, against a server of its own.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-bench-'));
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const server = await startProcess([
    path.join(repo, 'bin/kindling.js'),
    'serve',
    '--port',
    '0',
    '--data-dir',
    dataDir,
  ]);
  try {
    const k = kindlingClient(server.port, readCredentialsFile(path.join(dataDir, 'credentials'))!);
    for (const [name, value, note] of (await objectLambdaFigures(k, { samples: 60 })).rows)
      console.log(`${name}: ${value}  (${note})`);
  } finally {
    await stop(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
