// The pre-trigger over real HTTP and the real CLI: `POST /kindling/v1/functions/{name}/prewarm` and
// `kindling prewarm <name> N --for 5m` warm a tenant's function, the SDK's next concurrent invokes meet
// no init; bad input and other tenants' functions are refused.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  InvokeCommand,
  LambdaClient,
  PutFunctionConcurrencyCommand,
} from '@aws-sdk/client-lambda';
import { KindlingClient } from '../../../src/cli/client.js';
import { zipDirectory } from '../../../src/cli/deploy.js';
import { cliEnv, functionDir, runCli } from '../../cli/helpers.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';

let p: TestPlatform;
let admin: KindlingClient;
let tenant: { client: KindlingClient; key: { accessKeyId: string; secretAccessKey: string } };

const CODE = `
const me = Math.random().toString(36).slice(2);
exports.handler = async (e) => {
  await new Promise((r) => setTimeout(r, e.wait ?? 0));
  return { me, initType: process.env.AWS_LAMBDA_INITIALIZATION_TYPE };
};`;

const clientFor = (key: { accessKeyId: string; secretAccessKey: string }) =>
  new KindlingClient({
    endpoint: p.endpoint,
    region: p.region,
    credentials: key,
    dataDir: p.platform.config.dataDir,
  });

async function create(
  key: { accessKeyId: string; secretAccessKey: string },
  name: string,
): Promise<LambdaClient> {
  const lambda = new LambdaClient(sdkConfig({ endpoint: p.endpoint, credentials: key }));
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::000000000000:role/test',
      Code: { ZipFile: await zipDirectory(functionDir({ 'index.js': CODE })) },
    }),
  );
  return lambda;
}

const errorType = async (res: Response) => ((await res.json()) as { __type: string }).__type;

before(async () => {
  p = await startPlatform();
  admin = clientFor(p.credentials);
  const res = await admin.signedFetch('POST', '/kindling/v1/tenants', { name: 'warmer' });
  assert.equal(res.status, 201);
  const key = ((await res.json()) as { accessKey: { accessKeyId: string; secretAccessKey: string } })
    .accessKey;
  tenant = { client: clientFor(key), key };
});

after(() => p.close());

test('a prewarmed function answers concurrent SDK invokes from environments initialised ahead', async () => {
  const lambda = await create(tenant.key, 'burst');
  try {
    const res = await tenant.client.signedFetch('POST', '/kindling/v1/functions/burst/prewarm', {
      count: 3,
      forSeconds: 120,
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      requested: number;
      warm: number;
      started: number;
      expiresAt: string;
    };
    assert.equal(body.requested, 3);
    assert.equal(body.warm, 3);
    assert.ok(Date.parse(body.expiresAt) > Date.now() + 60_000);
    const outs = await Promise.all(
      [1, 2, 3].map(() =>
        lambda.send(
          new InvokeCommand({ FunctionName: 'burst', LogType: 'Tail', Payload: Buffer.from('{"wait":400}') }),
        ),
      ),
    );
    for (const o of outs) {
      const log = Buffer.from(o.LogResult ?? '', 'base64').toString('utf8');
      assert.doesNotMatch(log, /Init Duration/, log);
      assert.equal(JSON.parse(Buffer.from(o.Payload!).toString()).initType, 'provisioned-concurrency');
    }
  } finally {
    lambda.destroy();
  }
});

test('`kindling prewarm` warms through the CLI and says how many', async () => {
  const lambda = await create(tenant.key, 'cli-burst');
  lambda.destroy();
  const r = await runCli(
    ['prewarm', 'cli-burst', '2', '--for', '5m'],
    cliEnv({ endpoint: p.endpoint, credentials: tenant.key }),
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /cli-burst: 2 of 2 environments warm \(2 started now\) until /);
  const bad = await runCli(
    ['prewarm', 'cli-burst', '2', '--for', 'soon'],
    cliEnv({ endpoint: p.endpoint, credentials: tenant.key }),
  );
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--for expects a duration/);
});

test('bad prewarm requests are refused and start nothing', async () => {
  const lambda = await create(tenant.key, 'guarded');
  try {
    const post = (body: unknown, c = tenant.client, name = 'guarded') =>
      c.signedFetch('POST', `/kindling/v1/functions/${name}/prewarm`, body);
    let res = await post({ count: 0 });
    assert.equal(res.status, 400);
    assert.equal(await errorType(res), 'ValidationException');
    res = await post({ count: 1, forSeconds: 86_401 });
    assert.equal(res.status, 400);
    res = await post({ count: 1, provisioned: true });
    assert.equal(res.status, 400);
    res = await post({ count: 1 }, tenant.client, 'no-such-function');
    assert.equal(res.status, 404);
    assert.equal(await errorType(res), 'ResourceNotFoundException');
    // Naming another tenant is for the admin only.
    res = await post({ count: 1, tenant: 'admin' });
    assert.equal(res.status, 403);
    // No more than the function may run at once.
    await lambda.send(
      new PutFunctionConcurrencyCommand({ FunctionName: 'guarded', ReservedConcurrentExecutions: 1 }),
    );
    res = await post({ count: 2 });
    assert.equal(res.status, 400);
    assert.equal(await errorType(res), 'InvalidParameterValueException');
    // The admin prewarms the tenant's function by naming the tenant.
    res = await post({ count: 1, tenant: 'warmer' }, admin);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as { warm: number }).warm, 1);
    // Another tenant's function is not found for the caller, as any missing one.
    const other = await admin.signedFetch('POST', '/kindling/v1/tenants', { name: 'nosy' });
    const nosy = clientFor(
      ((await other.json()) as { accessKey: { accessKeyId: string; secretAccessKey: string } }).accessKey,
    );
    res = await post({ count: 1 }, nosy);
    assert.equal(res.status, 404);
  } finally {
    lambda.destroy();
  }
});
