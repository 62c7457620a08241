// Hostile and wrong requests to the Lambda surface: bad zips, names, ARNs, signatures, other tenants,
// and concurrent writes to one function. Real server, unmodified AWS SDK where it can send the request.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  type CreateFunctionCommandInput,
  DeleteFunctionCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  ListFunctionsCommand,
  ListTagsCommand,
  TagResourceCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { rawLambda } from './raw.js';
import { echoHandler, handlerZip, renameEntry, zipBomb, zipOf } from './zips.js';

let p: TestPlatform;
let lambda: LambdaClient;
let other: LambdaClient;
let otherCreds: { accessKeyId: string; secretAccessKey: string };
let arn = '';

const UNZIP = 'Could not unzip uploaded file. Please check your file, then try to upload again.';
type SdkError = Error & { $metadata: { httpStatusCode?: number }; Type?: string };

function input(
  name: string,
  zip: Uint8Array,
  extra: Partial<CreateFunctionCommandInput> = {},
): CreateFunctionCommandInput {
  return {
    FunctionName: name,
    Runtime: 'nodejs20.x',
    Handler: 'index.handler',
    Role: 'arn:aws:iam::1:role/r',
    Code: { ZipFile: zip },
    ...extra,
  };
}

async function refused(promise: Promise<unknown>, name: string, status: number, message?: RegExp | string) {
  await assert.rejects(promise, (e: SdkError) => {
    assert.equal(e.name, name, e.message);
    assert.equal(e.$metadata.httpStatusCode, status);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message) assert.match(e.message, message);
    return true;
  });
}

/** Nothing but finished digest directories may be in the code cache. */
function cacheEntries(): string[] {
  return fs.readdirSync(p.platform.paths.codeCache);
}

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
  const tenant = await p.platform.tenants.create('errors-other');
  const key = await p.platform.tenants.createKey(tenant.id);
  otherCreds = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
  other = new LambdaClient(sdkConfig({ ...p, credentials: otherCreds }));
  arn =
    (await lambda.send(new CreateFunctionCommand(input('private', await handlerZip(echoHandler)))))
      .FunctionArn ?? '';
});
after(async () => {
  lambda.destroy();
  other.destroy();
  await p.close();
});

test('a malformed zip is refused with InvalidParameterValueException and Lambda’s message', async () => {
  await refused(
    lambda.send(new CreateFunctionCommand(input('bad-malformed', Buffer.from('PK not really')))),
    'InvalidParameterValueException',
    400,
    UNZIP,
  );
});

test('an empty zip is refused with InvalidParameterValueException', async () => {
  await refused(
    lambda.send(new CreateFunctionCommand(input('bad-empty', await zipOf([])))),
    'InvalidParameterValueException',
    400,
    /^Could not unzip/,
  );
});

test('a zip with a .. entry is refused and writes nothing outside the code cache', async () => {
  const zip = renameEntry(
    await zipOf([{ name: 'xx/xx/escape.txt', data: 'x' }]),
    'xx/xx/escape.txt',
    '../../escape.txt',
  );
  await refused(
    lambda.send(new CreateFunctionCommand(input('bad-dotdot', zip))),
    'InvalidParameterValueException',
    400,
    /^Could not unzip/,
  );
  assert.ok(!fs.existsSync(path.join(p.platform.config.dataDir, 'escape.txt')));
  assert.ok(!fs.existsSync(path.join(path.dirname(p.platform.paths.codeCache), 'escape.txt')));
  assert.ok(!cacheEntries().some((e) => e.startsWith('.tmp')));
});

test('a zip with an absolute path entry is refused', async () => {
  const zip = renameEntry(
    await zipOf([{ name: 'Xtmp/kindling-abs-api.txt', data: 'x' }]),
    'Xtmp/kindling-abs-api.txt',
    '/tmp/kindling-abs-api.txt',
  );
  await refused(
    lambda.send(new CreateFunctionCommand(input('bad-absolute', zip))),
    'InvalidParameterValueException',
    400,
    /^Could not unzip/,
  );
  assert.ok(!fs.existsSync('/tmp/kindling-abs-api.txt'));
});

test('a zip with a symlink escaping the code directory is refused', async () => {
  const zip = await zipOf([
    { name: 'index.mjs', data: echoHandler },
    { name: 'secrets', data: '/etc', mode: 0o120777 },
  ]);
  await refused(
    lambda.send(new CreateFunctionCommand(input('bad-symlink', zip))),
    'InvalidParameterValueException',
    400,
    /^Could not unzip/,
  );
});

test('a zip bomb over 250 MB unzipped is refused without filling the code cache', async () => {
  const zip = await zipBomb(262_144_000 + 4 * 1024 * 1024);
  await refused(
    lambda.send(new CreateFunctionCommand(input('bad-bomb', zip))),
    'InvalidParameterValueException',
    400,
    'Unzipped size must be smaller than 262144000 bytes',
  );
  assert.ok(!cacheEntries().some((e) => e.startsWith('.tmp')));
  await refused(
    lambda.send(new GetFunctionCommand({ FunctionName: 'bad-bomb' })),
    'ResourceNotFoundException',
    404,
  );
});

test('a ZipFile over 50 MB is refused with RequestEntityTooLargeException', async () => {
  await refused(
    lambda.send(new CreateFunctionCommand(input('bad-huge', Buffer.alloc(52_428_801)))),
    'RequestEntityTooLargeException',
    413,
  );
});

test('UpdateFunctionCode with a bad zip keeps the previous code', async () => {
  const before = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'private' }));
  await refused(
    lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'private', ZipFile: Buffer.from('nope') })),
    'InvalidParameterValueException',
    400,
  );
  const after = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'private' }));
  assert.equal(after.CodeSha256, before.CodeSha256);
  assert.equal(after.RevisionId, before.RevisionId);
});

test('a function name with invalid characters is refused with Lambda’s validation wording', async () => {
  await refused(
    lambda.send(new CreateFunctionCommand(input('bad name!', await handlerZip(echoHandler)))),
    'ValidationException',
    400,
    /^1 validation error detected: Value 'bad name!' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: /,
  );
});

test('a function name longer than 64 characters is refused', async () => {
  await refused(
    lambda.send(new CreateFunctionCommand(input('a'.repeat(65), await handlerZip(echoHandler)))),
    'ValidationException',
    400,
    /Member must have length less than or equal to 64/,
  );
});

test('a malformed ARN is refused with a ValidationException', async () => {
  await refused(
    lambda.send(new GetFunctionCommand({ FunctionName: 'arn:aws:lambda:us-east-1:12:function:x y' })),
    'ValidationException',
    400,
    /at 'functionName'/,
  );
});

test('an invalid name in an invoke path is refused with a ValidationException', async () => {
  const r = await rawLambda(
    p.endpoint,
    `/2015-03-31/functions/${encodeURIComponent('no/slashes')}/invocations`,
    {
      method: 'POST',
      body: '{}',
      credentials: p.credentials,
    },
  );
  assert.equal(r.status, 400);
  assert.equal(r.headers.get('x-amzn-errortype'), 'ValidationException');
});

test('TagResource on something that is not a function ARN is refused', async () => {
  await refused(
    lambda.send(new ListTagsCommand({ Resource: 'private' })),
    'ValidationException',
    400,
    /at 'resource'/,
  );
});

test('MemorySize below 128 is refused with Lambda’s validation wording', async () => {
  await refused(
    lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'private', MemorySize: 100 })),
    'ValidationException',
    400,
    "1 validation error detected: Value '100' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128",
  );
});

test('Timeout above 900 is refused', async () => {
  await refused(
    lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'private', Timeout: 901 })),
    'ValidationException',
    400,
    /at 'timeout'.*less than or equal to 900/,
  );
});

test('an unsupported runtime is refused', async () => {
  await refused(
    lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'private', Runtime: 'python3.8' })),
    'ValidationException',
    400,
    // Every runtime the registry lists (others may join), the custom runtimes among them.
    /at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: \[nodejs20.x, nodejs22.x, nodejs24.x, nodejs18.x, python3.13, [^\]]*provided\.al2023, provided\.al2\b[^\]]*\]/,
  );
});

test('environment variables over 4 KB are refused', async () => {
  await refused(
    lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: 'private',
        Environment: { Variables: { BIG: 'x'.repeat(4100) } },
      }),
    ),
    'InvalidParameterValueException',
    400,
    /exceeded the 4KB limit/,
  );
});

test('reserved environment variable names are refused', async () => {
  await refused(
    lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: 'private',
        Environment: { Variables: { AWS_REGION: 'x' } },
      }),
    ),
    'InvalidParameterValueException',
    400,
    /Reserved keys used in this request: AWS_REGION/,
  );
});

test('EphemeralStorage above 10240 MB is refused', async () => {
  await refused(
    lambda.send(
      new UpdateFunctionConfigurationCommand({ FunctionName: 'private', EphemeralStorage: { Size: 10241 } }),
    ),
    'ValidationException',
    400,
    /at 'ephemeralStorage.size'/,
  );
});

test('another tenant cannot get the function by name', async () => {
  await refused(
    other.send(new GetFunctionCommand({ FunctionName: 'private' })),
    'ResourceNotFoundException',
    404,
  );
});

test('another tenant cannot get the function by its full ARN', async () => {
  await refused(other.send(new GetFunctionCommand({ FunctionName: arn })), 'ResourceNotFoundException', 404);
});

test('another tenant does not see the function in ListFunctions', async () => {
  const out = await other.send(new ListFunctionsCommand({}));
  assert.deepEqual(out.Functions ?? [], []);
});

test('another tenant cannot invoke the function by its full ARN', async () => {
  // Another account's function without a policy granting the call: Lambda's AccessDenied, never the
  // function's answer (permissions.test.ts covers the grant).
  await refused(other.send(new InvokeCommand({ FunctionName: arn })), 'AccessDeniedException', 403);
});

test('another tenant cannot delete or update the function by its full ARN', async () => {
  await refused(
    other.send(new DeleteFunctionCommand({ FunctionName: arn })),
    'ResourceNotFoundException',
    404,
  );
  await refused(
    other.send(new UpdateFunctionConfigurationCommand({ FunctionName: arn, Description: 'mine' })),
    'ResourceNotFoundException',
    404,
  );
  const still = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'private' }));
  assert.notEqual(still.Description, 'mine');
});

test('another tenant can neither list nor set the function’s tags by its ARN', async () => {
  await refused(other.send(new ListTagsCommand({ Resource: arn })), 'ResourceNotFoundException', 404);
  await refused(
    other.send(new TagResourceCommand({ Resource: arn, Tags: { 'kindling:network': 'outbound' } })),
    'ResourceNotFoundException',
    404,
  );
  const tags = await lambda.send(new ListTagsCommand({ Resource: arn }));
  assert.equal(tags.Tags?.['kindling:network'], undefined);
});

test('another tenant may create its own function of the same name', async () => {
  const out = await other.send(new CreateFunctionCommand(input('private', await handlerZip(echoHandler))));
  assert.notEqual(out.FunctionArn, arn);
  assert.equal(out.FunctionName, 'private');
});

test('a request without Authorization answers MissingAuthenticationTokenException', async () => {
  const r = await rawLambda(p.endpoint, '/2015-03-31/functions/private', {
    credentials: p.credentials,
    unsigned: true,
  });
  assert.equal(r.status, 403);
  assert.equal(r.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
});

test('a request signed with the wrong secret answers InvalidSignatureException', async () => {
  const r = await rawLambda(p.endpoint, '/2015-03-31/functions/private', {
    credentials: { accessKeyId: p.credentials.accessKeyId, secretAccessKey: 'wrong-secret' },
  });
  assert.equal(r.status, 403);
  assert.equal(r.headers.get('x-amzn-errortype'), 'InvalidSignatureException');
});

test('a request signed 20 minutes ago answers InvalidSignatureException (expired)', async () => {
  const r = await rawLambda(p.endpoint, '/2015-03-31/functions/private', {
    credentials: p.credentials,
    now: new Date(Date.now() - 20 * 60_000),
  });
  assert.equal(r.status, 403);
  assert.equal(r.headers.get('x-amzn-errortype'), 'InvalidSignatureException');
  assert.match(String(r.json?.message), /Signature expired/);
});

test('a request with an unknown access key answers UnrecognizedClientException', async () => {
  const r = await rawLambda(p.endpoint, '/2015-03-31/functions/private', {
    credentials: { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'x' },
  });
  assert.equal(r.status, 403);
  assert.equal(r.headers.get('x-amzn-errortype'), 'UnrecognizedClientException');
});

test('the SDK sees a wrong secret as InvalidSignatureException', async () => {
  const bad = new LambdaClient(
    sdkConfig({ ...p, credentials: { ...p.credentials, secretAccessKey: 'nope' } }),
  );
  try {
    await refused(
      bad.send(new GetFunctionCommand({ FunctionName: 'private' })),
      'InvalidSignatureException',
      403,
    );
  } finally {
    bad.destroy();
  }
});

test('concurrent creates of one name: exactly one wins, the others get 409', async () => {
  const zip = await handlerZip(echoHandler);
  const results = await Promise.allSettled(
    Array.from({ length: 6 }, () => lambda.send(new CreateFunctionCommand(input('race-create', zip)))),
  );
  const ok = results.filter((r) => r.status === 'fulfilled');
  const conflicts = results.filter(
    (r) => r.status === 'rejected' && (r.reason as Error).name === 'ResourceConflictException',
  );
  assert.equal(ok.length, 1);
  assert.equal(conflicts.length, 5);
  const list = await lambda.send(new ListFunctionsCommand({}));
  assert.equal((list.Functions ?? []).filter((f) => f.FunctionName === 'race-create').length, 1);
});

test('concurrent code and configuration updates leave a consistent function', async () => {
  await lambda.send(new CreateFunctionCommand(input('race-update', await handlerZip(echoHandler))));
  const zips = await Promise.all(
    [1, 2, 3].map((i) => handlerZip(`export const handler = async () => ${i};`)),
  );
  const results = await Promise.allSettled([
    ...zips.map((z) =>
      lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'race-update', ZipFile: z })),
    ),
    ...[1, 2, 3].map((i) =>
      lambda.send(
        new UpdateFunctionConfigurationCommand({ FunctionName: 'race-update', Description: `d${i}` }),
      ),
    ),
  ]);
  assert.ok(results.every((r) => r.status === 'fulfilled'));
  const cfg = await lambda.send(new GetFunctionCommand({ FunctionName: 'race-update' }));
  const served = Buffer.from(await (await fetch(cfg.Code?.Location ?? '')).arrayBuffer());
  const { createHash } = await import('node:crypto');
  assert.equal(
    createHash('sha256').update(served).digest('base64'),
    cfg.Configuration?.CodeSha256,
    'the stored blob matches the reported hash',
  );
  assert.match(cfg.Configuration?.Description ?? '', /^d[123]$/);
  const out = await lambda.send(new InvokeCommand({ FunctionName: 'race-update' }));
  const value = JSON.parse(Buffer.from(out.Payload ?? []).toString());
  const expected =
    zips.findIndex((z) => createHash('sha256').update(z).digest('base64') === cfg.Configuration?.CodeSha256) +
    1;
  assert.equal(value, expected, 'the running code is the code reported');
});

test('concurrent update and delete: the function is either gone everywhere or intact', async () => {
  await lambda.send(new CreateFunctionCommand(input('race-delete', await handlerZip(echoHandler))));
  const results = await Promise.allSettled([
    lambda.send(
      new UpdateFunctionCodeCommand({
        FunctionName: 'race-delete',
        ZipFile: await handlerZip('export const handler = async () => "new";'),
      }),
    ),
    lambda.send(new DeleteFunctionCommand({ FunctionName: 'race-delete' })),
    lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'race-delete', Description: 'x' })),
    lambda.send(new DeleteFunctionCommand({ FunctionName: 'race-delete' })),
  ]);
  for (const r of results) {
    if (r.status === 'rejected') assert.equal((r.reason as Error).name, 'ResourceNotFoundException');
  }
  assert.equal(
    results.filter((r, i) => (i === 1 || i === 3) && r.status === 'fulfilled').length,
    1,
    'exactly one delete succeeds',
  );
  await refused(
    lambda.send(new GetFunctionCommand({ FunctionName: 'race-delete' })),
    'ResourceNotFoundException',
    404,
  );
  await refused(
    lambda.send(new InvokeCommand({ FunctionName: 'race-delete' })),
    'ResourceNotFoundException',
    404,
  );
  // It can be created again from scratch.
  await lambda.send(new CreateFunctionCommand(input('race-delete', await handlerZip(echoHandler))));
});
