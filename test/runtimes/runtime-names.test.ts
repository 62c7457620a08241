// Runtime names through the public API and CLI: CreateFunction/UpdateFunctionConfiguration accept a Node
// name only when that Node is installed here (nodejs18.x is not: refused, never run on another Node),
// invocations run on the named major, and `kindling runtimes` says what each name runs and its pools.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  GetFunctionCommand,
  InvokeCommand,
  type LambdaClient,
  UpdateFunctionConfigurationCommand,
  waitUntilFunctionUpdatedV2,
} from '@aws-sdk/client-lambda';
import type { RuntimeView } from '../../src/api/admin/runtimes.js';
import { KindlingClient } from '../../src/cli/client.js';
import { handlerZip } from '../api/lambda/zips.js';
import { cliEnv, runCli } from '../cli/helpers.js';
import { createFunction, lambdaClient } from '../helpers/functions.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';

let p: TestPlatform;
let lambda: LambdaClient;

before(async () => {
  p = await startPlatform();
  lambda = lambdaClient(p);
});
after(async () => {
  lambda.destroy();
  await p.close();
});

const WHO =
  'export const handler = async () => ({ v: process.version, env: process.env.AWS_EXECUTION_ENV });';

async function call(name: string): Promise<{ v: string; env: string }> {
  const out = await lambda.send(new InvokeCommand({ FunctionName: name }));
  const text = Buffer.from(out.Payload ?? []).toString();
  assert.equal(out.FunctionError, undefined, text);
  return JSON.parse(text) as { v: string; env: string };
}

type SdkError = Error & { $metadata: { httpStatusCode?: number } };
const notInstalled = (name: string) => (e: SdkError) =>
  e.name === 'InvalidParameterValueException' &&
  e.$metadata.httpStatusCode === 400 &&
  e.message.includes(`The runtime parameter of ${name} is not supported`) &&
  /Node\.js 18 is not installed on this host/.test(e.message);

test('CreateFunction with nodejs18.x (not installed here) is refused with InvalidParameterValueException', async () => {
  await assert.rejects(
    lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'old-node',
        Runtime: 'nodejs18.x',
        Handler: 'index.handler',
        Role: 'arn:aws:iam::123456789012:role/any',
        Code: { ZipFile: await handlerZip(WHO) },
      }),
    ),
    notInstalled('nodejs18.x'),
  );
  await assert.rejects(lambda.send(new GetFunctionCommand({ FunctionName: 'old-node' })), {
    name: 'ResourceNotFoundException',
  });
});

test('a nodejs22.x function runs on Node 22; switched to nodejs24.x it runs on Node 24', async () => {
  await createFunction(lambda, 'versions', WHO, { Runtime: 'nodejs22.x' });
  const first = await call('versions');
  assert.match(first.v, /^v22\./);
  assert.equal(first.env, 'AWS_Lambda_nodejs22.x');
  await lambda.send(
    new UpdateFunctionConfigurationCommand({ FunctionName: 'versions', Runtime: 'nodejs24.x' }),
  );
  await waitUntilFunctionUpdatedV2({ client: lambda, maxWaitTime: 30 }, { FunctionName: 'versions' });
  const second = await call('versions');
  assert.match(second.v, /^v24\./);
  assert.equal(second.env, 'AWS_Lambda_nodejs24.x');
  const got = await lambda.send(new GetFunctionCommand({ FunctionName: 'versions' }));
  assert.equal(got.Configuration?.Runtime, 'nodejs24.x');
});

test('UpdateFunctionConfiguration to nodejs18.x is refused and the function keeps its runtime', async () => {
  await createFunction(lambda, 'stays', WHO, { Runtime: 'nodejs20.x' });
  await assert.rejects(
    lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'stays', Runtime: 'nodejs18.x' })),
    notInstalled('nodejs18.x'),
  );
  assert.equal(
    (await lambda.send(new GetFunctionCommand({ FunctionName: 'stays' }))).Configuration?.Runtime,
    'nodejs20.x',
  );
  assert.match((await call('stays')).v, /^v20\./);
});

test('kindling runtimes lists each name with the Node it runs, its binary and its pools', async () => {
  await createFunction(lambda, 'pooled22', WHO, { Runtime: 'nodejs22.x' });
  await call('pooled22');
  const env = cliEnv(p);
  const table = await runCli(['runtimes'], env);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^RUNTIME\s+RUNS\s+BINARY\s+POOLS/);
  assert.match(
    table.stdout,
    /^nodejs20\.x\s+Node\.js 20\.\d+\.\d+ \(host\)\s+\S*node\s+nodejs20\.x \d+\/\d+/m,
  );
  assert.match(
    table.stdout,
    /^nodejs22\.x\s+Node\.js 22\.\d+\.\d+ \(npm:node22-linux-\w+\)\s+\S+\/bin\/node\s+nodejs22\.x \d+\/\d+/m,
  );
  assert.match(table.stdout, /^nodejs24\.x\s+Node\.js 24\.\d+\.\d+/m);
  assert.match(
    table.stdout,
    /^nodejs18\.x\s+not installed\s+-\s+-\s+deprecated by Lambda 2025-09-01; Node\.js 18 is not installed/m,
  );

  const json = await runCli(['runtimes', '--json'], env);
  assert.equal(json.code, 0, json.stderr);
  const list = JSON.parse(json.stdout) as RuntimeView[];
  const n22 = list.find((r) => r.names.includes('nodejs22.x'))!;
  assert.equal(n22.installed, true);
  assert.match(n22.version ?? '', /^22\.\d+\.\d+$/);
  assert.ok(n22.pools.some((pool) => pool.runtimeKey === 'nodejs22.x'));
  const n18 = list.find((r) => r.names.includes('nodejs18.x'))!;
  assert.equal(n18.installed, false);
  assert.equal(n18.version, undefined);
});

test('a tenant that is not the admin cannot read the runtimes (AccessDeniedException 403)', async () => {
  const admin = new KindlingClient({
    endpoint: p.endpoint,
    region: p.region,
    credentials: p.credentials,
    dataDir: p.platform.config.dataDir,
  });
  const made = await admin.signedFetch('POST', '/kindling/v1/tenants', { name: 'runtimes-reader' });
  assert.equal(made.status, 201);
  const key = ((await made.json()) as { accessKey: { accessKeyId: string; secretAccessKey: string } })
    .accessKey;
  const r = await runCli(['runtimes'], cliEnv({ endpoint: p.endpoint, credentials: key }));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /AccessDenied|admin/i);
});

test('kindling pool can size a nodejs22.x pool, and refuses nodejs18.x as not installed', async () => {
  const env = cliEnv(p);
  const set = await runCli(['pool', '--runtime', 'nodejs22.x', '--set', '1', '--json'], env);
  assert.equal(set.code, 0, set.stderr);
  assert.equal((JSON.parse(set.stdout) as { pool: { runtimeKey: string } }).pool.runtimeKey, 'nodejs22.x');
  const refused = await runCli(['pool', '--runtime', 'nodejs18.x', '--set', '1'], env);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /Node\.js 18 is not installed on this host/);
  assert.equal(refused.stderr.trim().split('\n').length, 1);
});
