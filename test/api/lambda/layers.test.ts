// Layers through the unmodified AWS SDK: publishing, reading, listing and deleting layer versions, and
// the `Layers` of functions, with Lambda's checks (five at most, versions that exist and are the caller's,
// hostile zips) and version numbers that are never reused.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import {
  AddLayerVersionPermissionCommand,
  CreateFunctionCommand,
  DeleteLayerVersionCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  GetLayerVersionByArnCommand,
  GetLayerVersionCommand,
  InvokeCommand,
  LambdaClient,
  ListLayersCommand,
  ListLayerVersionsCommand,
  PublishLayerVersionCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { KindlingClient } from '../../../src/cli/client.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { rawLambda } from './raw.js';
import { handlerZip, renameEntry, zipOf } from './zips.js';

let p: TestPlatform;
let lambda: LambdaClient;
let other: LambdaClient;

const errOf = async (pr: Promise<unknown>): Promise<{ name: string; message: string }> => {
  try {
    await pr;
  } catch (e) {
    return e as { name: string; message: string };
  }
  return { name: 'no error', message: '' };
};

const layerZip = (files: Record<string, string>) =>
  zipOf(Object.entries(files).map(([name, data]) => ({ name, data })));

async function publish(client: LambdaClient, name: string, files: Record<string, string>, extra = {}) {
  return client.send(
    new PublishLayerVersionCommand({
      LayerName: name,
      Content: { ZipFile: await layerZip(files) },
      ...extra,
    }),
  );
}

async function createFn(name: string, layers: string[], source = 'export const handler = async () => 1;') {
  return lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::000000000000:role/test',
      Code: { ZipFile: await handlerZip(source) },
      Layers: layers,
    }),
  );
}

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
  const admin = new KindlingClient({
    endpoint: p.endpoint,
    region: p.region,
    credentials: p.credentials,
    dataDir: p.platform.config.dataDir,
  });
  const made = await admin.signedFetch('POST', '/kindling/v1/tenants', { name: 'other' });
  assert.equal(made.status, 201);
  const body = (await made.json()) as { accessKey: { accessKeyId: string; secretAccessKey: string } };
  other = new LambdaClient(sdkConfig({ endpoint: p.endpoint, credentials: body.accessKey }));
});

after(async () => {
  lambda?.destroy();
  other?.destroy();
  await p?.close();
});

test('PublishLayerVersion numbers versions and GetLayerVersion / ByArn answer them', async () => {
  const v1 = await publish(
    lambda,
    'libs',
    { 'nodejs/node_modules/a/index.js': 'module.exports = 1;' },
    {
      Description: 'first',
      CompatibleRuntimes: ['nodejs20.x'],
      CompatibleArchitectures: [process.arch === 'arm64' ? 'arm64' : 'x86_64'],
      LicenseInfo: 'MIT',
    },
  );
  assert.equal(v1.Version, 1);
  assert.match(v1.LayerArn!, /^arn:aws:lambda:[a-z0-9-]+:\d{12}:layer:libs$/);
  assert.equal(v1.LayerVersionArn, `${v1.LayerArn}:1`);
  assert.equal(v1.Description, 'first');
  assert.equal(v1.LicenseInfo, 'MIT');
  assert.deepEqual(v1.CompatibleRuntimes, ['nodejs20.x']);
  assert.ok((v1.Content?.CodeSize ?? 0) > 0);
  assert.match(v1.Content!.CodeSha256!, /^[A-Za-z0-9+/]{43}=$/);
  const v2 = await publish(lambda, 'libs', { 'nodejs/node_modules/a/index.js': 'module.exports = 2;' });
  assert.equal(v2.Version, 2);

  const got = await lambda.send(new GetLayerVersionCommand({ LayerName: 'libs', VersionNumber: 1 }));
  assert.equal(got.LayerVersionArn, v1.LayerVersionArn);
  assert.equal(got.Content?.CodeSha256, v1.Content?.CodeSha256);
  const byArn = await lambda.send(new GetLayerVersionByArnCommand({ Arn: v2.LayerVersionArn! }));
  assert.equal(byArn.Version, 2);
  const byLayerArn = await lambda.send(
    new GetLayerVersionCommand({ LayerName: v1.LayerArn!, VersionNumber: 2 }),
  );
  assert.equal(byLayerArn.Version, 2);
});

test('a deleted version is gone and its number is never given again', async () => {
  const a = await publish(lambda, 'once', { 'x.txt': '1' });
  await lambda.send(new DeleteLayerVersionCommand({ LayerName: 'once', VersionNumber: a.Version! }));
  const e = await errOf(lambda.send(new GetLayerVersionCommand({ LayerName: 'once', VersionNumber: 1 })));
  assert.equal(e.name, 'ResourceNotFoundException');
  const b = await publish(lambda, 'once', { 'x.txt': '2' });
  assert.equal(b.Version, 2);
  // Deleting what is not there answers as Lambda does (no error).
  await lambda.send(new DeleteLayerVersionCommand({ LayerName: 'once', VersionNumber: 99 }));
});

test('ListLayerVersions filters by runtime and pages; ListLayers shows the latest matching version', async () => {
  for (const rt of ['python3.12', 'nodejs20.x', 'python3.12', 'python3.12'])
    await publish(lambda, 'paged', { 'f.txt': rt + Math.random() }, { CompatibleRuntimes: [rt] });
  const first = await lambda.send(
    new ListLayerVersionsCommand({ LayerName: 'paged', CompatibleRuntime: 'python3.12', MaxItems: 2 }),
  );
  assert.deepEqual(
    first.LayerVersions?.map((v) => v.Version),
    [4, 3],
  );
  assert.ok(first.NextMarker);
  const second = await lambda.send(
    new ListLayerVersionsCommand({
      LayerName: 'paged',
      CompatibleRuntime: 'python3.12',
      Marker: first.NextMarker,
    }),
  );
  assert.deepEqual(
    second.LayerVersions?.map((v) => v.Version),
    [1],
  );
  assert.equal(second.NextMarker, undefined);
  const layers = await lambda.send(new ListLayersCommand({ CompatibleRuntime: 'nodejs20.x' }));
  const paged = layers.Layers?.find((l) => l.LayerName === 'paged');
  assert.equal(paged?.LatestMatchingVersion?.Version, 2);
  const all = await lambda.send(new ListLayersCommand({}));
  assert.ok(all.Layers?.some((l) => l.LayerName === 'libs'));
  assert.equal(all.Layers?.find((l) => l.LayerName === 'paged')?.LatestMatchingVersion?.Version, 4);
});

test("another tenant's layer is not found, exactly like a missing one", async () => {
  const mine = await publish(lambda, 'private', { 'secret.txt': 's' });
  const get = await errOf(other.send(new GetLayerVersionByArnCommand({ Arn: mine.LayerVersionArn! })));
  const missing = await errOf(
    other.send(new GetLayerVersionByArnCommand({ Arn: mine.LayerVersionArn!.replace(/:1$/, ':77') })),
  );
  assert.equal(get.name, 'ResourceNotFoundException');
  assert.equal(missing.name, 'ResourceNotFoundException');
  const byName = await errOf(
    other.send(new GetLayerVersionCommand({ LayerName: mine.LayerArn!, VersionNumber: 1 })),
  );
  assert.equal(byName.name, 'ResourceNotFoundException');
  const list = await other.send(new ListLayerVersionsCommand({ LayerName: mine.LayerArn! }));
  assert.deepEqual(list.LayerVersions, []);
  assert.ok(!(await other.send(new ListLayersCommand({}))).Layers?.some((l) => l.LayerName === 'private'));
  // Deleting it through its ARN does nothing to the owner's version.
  await other.send(new DeleteLayerVersionCommand({ LayerName: mine.LayerArn!, VersionNumber: 1 }));
  await lambda.send(new GetLayerVersionByArnCommand({ Arn: mine.LayerVersionArn! }));
  // Nor can a function of the other tenant use it: the same answer as a version that does not exist.
  const used = await errOf(
    other.send(
      new CreateFunctionCommand({
        FunctionName: 'thief',
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: 'arn:aws:iam::000000000000:role/test',
        Code: { ZipFile: await handlerZip('export const handler = async () => 1;') },
        Layers: [mine.LayerVersionArn!],
      }),
    ),
  );
  assert.equal(used.name, 'InvalidParameterValueException');
  assert.equal(used.message, `Layer version ${mine.LayerVersionArn} does not exist.`);
});

test('a layer zip with a .. entry or an absolute path is refused and publishes nothing', async () => {
  for (const [i, evil] of ['../../escape-layer.txt', '/tmp/kindling-layer-abs.t'].entries()) {
    const placeholder = 'x'.repeat(evil.length);
    const zip = renameEntry(await zipOf([{ name: placeholder, data: 'x' }]), placeholder, evil);
    const e = await errOf(
      lambda.send(new PublishLayerVersionCommand({ LayerName: `hostile${i}`, Content: { ZipFile: zip } })),
    );
    assert.equal(e.name, 'InvalidParameterValueException');
    assert.match(e.message, /^Could not unzip/);
    const list = await lambda.send(new ListLayerVersionsCommand({ LayerName: `hostile${i}` }));
    assert.deepEqual(list.LayerVersions, []);
  }
  assert.ok(!fs.existsSync('/tmp/kindling-layer-abs.t'));
});

test('unknown fields and layer permissions are refused by name', async () => {
  // The SDK sends only fields it knows: a raw request carries the unknown one.
  const body = JSON.stringify({
    Content: { ZipFile: (await layerZip({ 'a.txt': 'a' })).toString('base64') },
    Bogus: 1,
  });
  const raw = await rawLambda(p.endpoint, '/2018-10-31/layers/x/versions', {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json' },
    credentials: p.credentials,
    region: p.region,
  });
  assert.equal(raw.status, 400);
  assert.equal(raw.headers.get('x-amzn-errortype'), 'InvalidParameterValueException');
  assert.match(String(raw.json?.message), /Bogus/);
  const nested = await rawLambda(p.endpoint, '/2018-10-31/layers/x/versions', {
    method: 'POST',
    body: JSON.stringify({
      Content: { ZipFile: (await layerZip({ 'a.txt': 'a' })).toString('base64'), Sneaky: 1 },
    }),
    headers: { 'content-type': 'application/json' },
    credentials: p.credentials,
    region: p.region,
  });
  assert.equal(nested.status, 400);
  assert.match(String(nested.json?.message), /Content\.Sneaky/);
  const created = await rawLambda(p.endpoint, '/2015-03-31/functions', {
    method: 'POST',
    body: JSON.stringify({
      FunctionName: 'unknown-layer-field',
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::000000000000:role/test',
      Code: { ZipFile: (await handlerZip('export const handler = async () => 1;')).toString('base64') },
      Layers: [],
      LayerConfig: {},
    }),
    headers: { 'content-type': 'application/json' },
    credentials: p.credentials,
    region: p.region,
  });
  assert.equal(created.status, 400);
  assert.match(String(created.json?.message), /LayerConfig/);
  const perm = await errOf(
    lambda.send(
      new AddLayerVersionPermissionCommand({
        LayerName: 'libs',
        VersionNumber: 1,
        StatementId: 's',
        Action: 'lambda:GetLayerVersion',
        Principal: '*',
      }),
    ),
  );
  assert.equal(perm.name, 'InvalidParameterValueException');
  assert.match(perm.message, /AddLayerVersionPermission/);
});

test("a function's Layers: kept in order, answered by GetFunction, and checked as Lambda checks them", async () => {
  const arns: string[] = [];
  for (let i = 0; i < 6; i++)
    arns.push((await publish(lambda, `six${i}`, { [`f${i}.txt`]: `${i}` })).LayerVersionArn!);
  const sixth = await errOf(createFn('too-many', arns));
  assert.equal(sixth.name, 'InvalidParameterValueException');
  assert.match(sixth.message, /more than 5 layers/);

  const made = await createFn('layered', [arns[2]!, arns[0]!]);
  assert.deepEqual(
    made.Layers?.map((l) => l.Arn),
    [arns[2], arns[0]],
  );
  assert.ok(made.Layers?.every((l) => l.CodeSize! > 0));
  const got = await lambda.send(new GetFunctionCommand({ FunctionName: 'layered' }));
  assert.deepEqual(
    got.Configuration?.Layers?.map((l) => l.Arn),
    [arns[2], arns[0]],
  );

  const gone = await publish(lambda, 'deleted', { 'd.txt': 'd' });
  await lambda.send(new DeleteLayerVersionCommand({ LayerName: 'deleted', VersionNumber: gone.Version! }));
  const e = await errOf(
    lambda.send(
      new UpdateFunctionConfigurationCommand({ FunctionName: 'layered', Layers: [gone.LayerVersionArn!] }),
    ),
  );
  assert.equal(e.name, 'InvalidParameterValueException');
  assert.equal(e.message, `Layer version ${gone.LayerVersionArn} does not exist.`);
  const twice = await errOf(
    lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: 'layered',
        Layers: [arns[1]!, arns[1]!.replace(/:1$/, ':1')],
      }),
    ),
  );
  assert.equal(twice.name, 'InvalidParameterValueException');
  const bad = await errOf(
    lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'layered', Layers: ['not-an-arn'] })),
  );
  assert.equal(bad.name, 'ValidationException');

  // Nothing changed by the refusals; an empty list removes the layers.
  const cfg = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'layered' }));
  assert.equal(cfg.Layers?.length, 2);
  const cleared = await lambda.send(
    new UpdateFunctionConfigurationCommand({ FunctionName: 'layered', Layers: [] }),
  );
  assert.equal(cleared.Layers, undefined);
});

test('a function keeps running a layer version deleted after it was attached (as on Lambda)', async () => {
  const v = await publish(lambda, 'kept', {
    'nodejs/node_modules/kept/index.js': 'module.exports = "still here";',
  });
  await createFn(
    'uses-kept',
    [v.LayerVersionArn!],
    "import { createRequire } from 'node:module'; const r = createRequire(import.meta.url); export const handler = async () => r('kept');",
  );
  await lambda.send(new DeleteLayerVersionCommand({ LayerName: 'kept', VersionNumber: v.Version! }));
  const out = await lambda.send(new InvokeCommand({ FunctionName: 'uses-kept' }));
  assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
  assert.equal(JSON.parse(Buffer.from(out.Payload!).toString()), 'still here');
});

test('a layer with extensions is taken by every runtime that starts them: Node, Python and custom', async () => {
  const ext = (await publish(lambda, 'ext-layer', { 'extensions/counter': '#!/bin/sh\nexit 0\n' }))
    .LayerVersionArn!;
  const plain = (await publish(lambda, 'plain-layer', { 'python/helper.py': 'X = 1\n' })).LayerVersionArn!;
  const python = async (name: string, layers: string[]) =>
    lambda.send(
      new CreateFunctionCommand({
        FunctionName: name,
        Runtime: 'python3.12',
        Handler: 'lambda_function.lambda_handler',
        Role: 'arn:aws:iam::000000000000:role/test',
        Code: {
          ZipFile: await zipOf([
            { name: 'lambda_function.py', data: 'def lambda_handler(e, c):\n  return 1\n' },
          ]),
        },
        Layers: layers,
      }),
    );
  const created = await python('py-ext', [plain, ext]);
  assert.deepEqual(
    created.Layers?.map((l) => l.Arn),
    [plain, ext],
  );
  await createFn('node-ext', [ext]);
  await python('py-plain', [plain]);
  // Attached later, or moved to another runtime that starts them: taken too (the runtimes' own tests run them).
  for (const change of [
    { FunctionName: 'py-plain', Layers: [ext] },
    { FunctionName: 'node-ext', Runtime: 'python3.12' as const, Handler: 'lambda_function.lambda_handler' },
    { FunctionName: 'py-ext', Runtime: 'provided.al2023' as const, Handler: 'function.handler' },
  ]) {
    const out = await lambda.send(new UpdateFunctionConfigurationCommand(change));
    assert.ok(
      out.Layers?.some((l) => l.Arn === ext),
      JSON.stringify(change),
    );
  }
});
