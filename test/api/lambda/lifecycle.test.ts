// The Lambda function lifecycle through the unmodified AWS SDK against a real server and real worker.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  DeleteFunctionConcurrencyCommand,
  GetAccountSettingsCommand,
  GetFunctionCommand,
  GetFunctionConcurrencyCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  ListFunctionsCommand,
  ListTagsCommand,
  PutFunctionConcurrencyCommand,
  ResourceNotFoundException,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  waitUntilFunctionActiveV2,
  waitUntilFunctionUpdatedV2,
} from '@aws-sdk/client-lambda';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { echoHandler, handlerZip } from './zips.js';

let p: TestPlatform;
let lambda: LambdaClient;

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
});
after(async () => {
  lambda.destroy();
  await p.close();
});

const decode = (b: Uint8Array | undefined) => JSON.parse(Buffer.from(b ?? []).toString('utf8'));

async function create(name: string, source = echoHandler, extra: Record<string, unknown> = {}) {
  return lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::123456789012:role/any',
      Code: { ZipFile: await handlerZip(source) },
      ...extra,
    }),
  );
}

test('CreateFunction answers the configuration with the ARN, CodeSha256 and an Active state', async () => {
  const zip = await handlerZip(echoHandler);
  const out = await create('lc-create', echoHandler, { Description: 'hello', MemorySize: 256, Timeout: 10 });
  assert.equal(out.FunctionName, 'lc-create');
  assert.match(out.FunctionArn ?? '', /^arn:aws:lambda:us-east-1:\d{12}:function:lc-create$/);
  assert.equal(
    out.CodeSha256,
    (await import('node:crypto')).createHash('sha256').update(zip).digest('base64'),
  );
  assert.equal(out.CodeSize, zip.length);
  assert.equal(out.Version, '$LATEST');
  assert.equal(out.MemorySize, 256);
  assert.equal(out.Timeout, 10);
  assert.equal(out.Description, 'hello');
  assert.equal(out.State, 'Active');
  assert.match(out.LastModified ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
  assert.ok(out.RevisionId);
  await waitUntilFunctionActiveV2({ client: lambda, maxWaitTime: 10 }, { FunctionName: 'lc-create' });
});

test('GetFunction answers configuration, tags, concurrency and a downloadable code location', async () => {
  await create('lc-get', echoHandler, { Tags: { team: 'a' } });
  await lambda.send(
    new PutFunctionConcurrencyCommand({ FunctionName: 'lc-get', ReservedConcurrentExecutions: 3 }),
  );
  const out = await lambda.send(new GetFunctionCommand({ FunctionName: 'lc-get' }));
  assert.equal(out.Configuration?.FunctionName, 'lc-get');
  assert.deepEqual(out.Tags, { team: 'a' });
  assert.equal(out.Concurrency?.ReservedConcurrentExecutions, 3);
  assert.equal(out.Code?.RepositoryType, 'S3');
  const res = await fetch(out.Code?.Location ?? '');
  assert.equal(res.status, 200);
  const zip = Buffer.from(await res.arrayBuffer());
  assert.deepEqual(zip, await handlerZip(echoHandler));
});

test('a code location with a tampered token is refused', async () => {
  await create('lc-tamper');
  const out = await lambda.send(new GetFunctionCommand({ FunctionName: 'lc-tamper' }));
  const url = new URL(out.Code?.Location ?? '');
  url.searchParams.set('X-Kindling-Tenant', 't-someoneelse');
  const res = await fetch(url);
  assert.equal(res.status, 403);
});

test('GetFunctionConfiguration by name, partial ARN and full ARN answer the same function', async () => {
  const created = await create('lc-refs');
  const arn = created.FunctionArn ?? '';
  const account = arn.split(':')[4];
  for (const ref of ['lc-refs', `${account}:function:lc-refs`, arn, `${arn}:$LATEST`, 'lc-refs:$LATEST']) {
    const out = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: ref }));
    assert.equal(out.FunctionArn, arn, ref);
  }
});

test('ListFunctions pages with MaxItems and NextMarker through every function once', async () => {
  for (const n of ['lc-page-1', 'lc-page-2', 'lc-page-3', 'lc-page-4', 'lc-page-5']) await create(n);
  const seen: string[] = [];
  let marker: string | undefined;
  let pages = 0;
  do {
    const out = await lambda.send(new ListFunctionsCommand({ MaxItems: 2, Marker: marker }));
    assert.ok((out.Functions ?? []).length <= 2);
    seen.push(...(out.Functions ?? []).map((f) => f.FunctionName ?? ''));
    marker = out.NextMarker;
    pages++;
  } while (marker);
  const mine = seen.filter((n) => n.startsWith('lc-page-'));
  assert.deepEqual(mine, ['lc-page-1', 'lc-page-2', 'lc-page-3', 'lc-page-4', 'lc-page-5']);
  assert.equal(new Set(seen).size, seen.length, 'no function twice');
  assert.ok(pages >= 3);
});

test('UpdateFunctionCode changes what the next invoke runs', async () => {
  await create('lc-code', 'export const handler = async () => "v1";');
  const first = await lambda.send(new InvokeCommand({ FunctionName: 'lc-code' }));
  assert.equal(decode(first.Payload), 'v1');
  const before = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'lc-code' }));
  const updated = await lambda.send(
    new UpdateFunctionCodeCommand({
      FunctionName: 'lc-code',
      ZipFile: await handlerZip('export const handler = async () => "v2";'),
    }),
  );
  assert.notEqual(updated.CodeSha256, before.CodeSha256);
  assert.notEqual(updated.RevisionId, before.RevisionId);
  await waitUntilFunctionUpdatedV2({ client: lambda, maxWaitTime: 10 }, { FunctionName: 'lc-code' });
  const second = await lambda.send(new InvokeCommand({ FunctionName: 'lc-code' }));
  assert.equal(decode(second.Payload), 'v2');
});

test('UpdateFunctionConfiguration with new environment variables reaches the next invoke', async () => {
  await create('lc-env', echoHandler, { Environment: { Variables: { GREETING: 'hello' } } });
  assert.equal(
    decode((await lambda.send(new InvokeCommand({ FunctionName: 'lc-env' }))).Payload).env,
    'hello',
  );
  const out = await lambda.send(
    new UpdateFunctionConfigurationCommand({
      FunctionName: 'lc-env',
      Environment: { Variables: { GREETING: 'bonjour' } },
      MemorySize: 512,
    }),
  );
  assert.deepEqual(out.Environment?.Variables, { GREETING: 'bonjour' });
  assert.equal(out.MemorySize, 512);
  assert.equal(
    decode((await lambda.send(new InvokeCommand({ FunctionName: 'lc-env' }))).Payload).env,
    'bonjour',
  );
});

test('UpdateFunctionConfiguration with a stale RevisionId is refused with PreconditionFailedException', async () => {
  const created = await create('lc-revision');
  await lambda.send(
    new UpdateFunctionConfigurationCommand({ FunctionName: 'lc-revision', Description: 'one' }),
  );
  await assert.rejects(
    lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: 'lc-revision',
        Description: 'two',
        RevisionId: created.RevisionId,
      }),
    ),
    (e: Error) => e.name === 'PreconditionFailedException',
  );
});

test('DeleteFunction makes the function answer 404 afterwards', async () => {
  const created = await create('lc-delete');
  await lambda.send(new DeleteFunctionCommand({ FunctionName: 'lc-delete' }));
  await assert.rejects(lambda.send(new GetFunctionCommand({ FunctionName: 'lc-delete' })), (e: Error) => {
    assert.ok(e instanceof ResourceNotFoundException);
    assert.equal(e.message, `Function not found: ${created.FunctionArn}`);
    assert.equal(e.$metadata.httpStatusCode, 404);
    return true;
  });
  await assert.rejects(
    lambda.send(new InvokeCommand({ FunctionName: 'lc-delete' })),
    ResourceNotFoundException,
  );
});

test('deleting one of two functions with the same code keeps the other runnable and downloadable', async () => {
  await create('lc-shared-a', 'export const handler = async () => "shared";');
  await create('lc-shared-b', 'export const handler = async () => "shared";');
  await lambda.send(new DeleteFunctionCommand({ FunctionName: 'lc-shared-a' }));
  assert.equal(
    decode((await lambda.send(new InvokeCommand({ FunctionName: 'lc-shared-b' }))).Payload),
    'shared',
  );
  const got = await lambda.send(new GetFunctionCommand({ FunctionName: 'lc-shared-b' }));
  assert.equal((await fetch(got.Code?.Location ?? '')).status, 200);
});

test('CreateFunction of an existing name answers ResourceConflictException 409', async () => {
  await create('lc-twice');
  await assert.rejects(create('lc-twice'), (e: Error & { $metadata: { httpStatusCode?: number } }) => {
    assert.equal(e.name, 'ResourceConflictException');
    assert.equal(e.$metadata.httpStatusCode, 409);
    assert.equal(e.message, 'Function already exist: lc-twice');
    return true;
  });
});

test('Put/Get/DeleteFunctionConcurrency round-trip the reserved concurrency', async () => {
  await create('lc-conc');
  assert.equal(
    (await lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: 'lc-conc' })))
      .ReservedConcurrentExecutions,
    undefined,
  );
  const put = await lambda.send(
    new PutFunctionConcurrencyCommand({ FunctionName: 'lc-conc', ReservedConcurrentExecutions: 2 }),
  );
  assert.equal(put.ReservedConcurrentExecutions, 2);
  assert.equal(
    (await lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: 'lc-conc' })))
      .ReservedConcurrentExecutions,
    2,
  );
  await lambda.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'lc-conc' }));
  assert.equal(
    (await lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: 'lc-conc' })))
      .ReservedConcurrentExecutions,
    undefined,
  );
});

test('reserved concurrency 0 throttles invokes with TooManyRequestsException and a Reason', async () => {
  await create('lc-throttle');
  await lambda.send(
    new PutFunctionConcurrencyCommand({ FunctionName: 'lc-throttle', ReservedConcurrentExecutions: 0 }),
  );
  await assert.rejects(
    lambda.send(new InvokeCommand({ FunctionName: 'lc-throttle' })),
    (e: Error & Record<string, unknown>) => {
      assert.equal(e.name, 'TooManyRequestsException');
      assert.equal(e.Reason, 'ReservedFunctionConcurrentInvocationLimitExceeded');
      assert.equal((e.$metadata as { httpStatusCode: number }).httpStatusCode, 429);
      return true;
    },
  );
});

test('TagResource, ListTags and UntagResource manage a function’s tags', async () => {
  const created = await create('lc-tags');
  const arn = created.FunctionArn ?? '';
  await lambda.send(new TagResourceCommand({ Resource: arn, Tags: { a: '1', b: '2' } }));
  assert.deepEqual((await lambda.send(new ListTagsCommand({ Resource: arn }))).Tags, { a: '1', b: '2' });
  await lambda.send(new UntagResourceCommand({ Resource: arn, TagKeys: ['a'] }));
  assert.deepEqual((await lambda.send(new ListTagsCommand({ Resource: arn }))).Tags, { b: '2' });
});

test('GetAccountSettings reports Lambda’s code limits and the tenant’s function count', async () => {
  const before = await lambda.send(new GetAccountSettingsCommand({}));
  await create('lc-account');
  const out = await lambda.send(new GetAccountSettingsCommand({}));
  assert.equal(out.AccountLimit?.CodeSizeZipped, 52428800);
  assert.equal(out.AccountLimit?.CodeSizeUnzipped, 262144000);
  assert.equal(out.AccountLimit?.ConcurrentExecutions, p.platform.config.tenantConcurrency);
  assert.equal(out.AccountUsage?.FunctionCount, (before.AccountUsage?.FunctionCount ?? 0) + 1);
});

test('DeadLetterConfig.TargetArn is stored, reported, and removed by an empty TargetArn', async () => {
  const dlq = 'arn:aws:sqs:us-east-1:123456789012:dead-letters';
  const created = await create('lc-dlq', echoHandler, { DeadLetterConfig: { TargetArn: dlq } });
  assert.equal(created.DeadLetterConfig?.TargetArn, dlq);
  const cleared = await lambda.send(
    new UpdateFunctionConfigurationCommand({ FunctionName: 'lc-dlq', DeadLetterConfig: { TargetArn: '' } }),
  );
  assert.equal(cleared.DeadLetterConfig?.TargetArn, undefined);
});

test('EphemeralStorage and Timeout set at create are reported back', async () => {
  const out = await create('lc-storage', echoHandler, { EphemeralStorage: { Size: 1024 }, Timeout: 60 });
  assert.equal(out.EphemeralStorage?.Size, 1024);
  assert.equal(out.Timeout, 60);
});
