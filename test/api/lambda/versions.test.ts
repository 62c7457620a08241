// Versions and aliases end to end through the unmodified SDK: publishing snapshots (with their
// preconditions), qualifiers on reads, invokes and deletes, weighted aliases, per-version environments
// that survive a change of $LATEST, and the bad input around them (including another tenant's names).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateAliasCommand,
  CreateFunctionUrlConfigCommand,
  DeleteAliasCommand,
  DeleteFunctionCommand,
  DeleteProvisionedConcurrencyConfigCommand,
  GetAliasCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  GetProvisionedConcurrencyConfigCommand,
  InvokeCommand,
  InvokeWithResponseStreamCommand,
  LambdaClient,
  ListAliasesCommand,
  ListFunctionsCommand,
  ListProvisionedConcurrencyConfigsCommand,
  ListVersionsByFunctionCommand,
  PublishLayerVersionCommand,
  PublishVersionCommand,
  PutFunctionEventInvokeConfigCommand,
  PutProvisionedConcurrencyConfigCommand,
  UpdateAliasCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { KindlingClient } from '../../../src/cli/client.js';
import { createFunction } from '../../helpers/functions.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { createQueue, receive } from '../../invoke/async/fixtures.js';
import { rawLambda } from './raw.js';
import { handlerZip, zipOf } from './zips.js';

let p: TestPlatform;
let lambda: LambdaClient;

/** Module state (a counter and an id made at init) shows which environment served a request. */
const source = (tag: string) => `
const env = Math.random().toString(36).slice(2);
let calls = 0;
export const handler = async (event, context) => ({
  tag: ${JSON.stringify(tag)},
  env,
  calls: ++calls,
  version: process.env.AWS_LAMBDA_FUNCTION_VERSION,
  stream: context.logStreamName,
  arn: context.invokedFunctionArn,
});`;

interface Ran {
  tag: string;
  env: string;
  calls: number;
  version: string;
  stream: string;
  arn: string;
}

async function invoke(name: string, qualifier?: string): Promise<{ ran: Ran; executed?: string }> {
  const out = await lambda.send(new InvokeCommand({ FunctionName: name, Qualifier: qualifier }));
  assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
  return { ran: JSON.parse(Buffer.from(out.Payload!).toString()) as Ran, executed: out.ExecutedVersion };
}

const errOf = async (pr: Promise<unknown>): Promise<{ name: string; message: string }> => {
  try {
    await pr;
  } catch (e) {
    return { name: (e as Error).name, message: (e as Error).message };
  }
  return { name: 'no error', message: '' };
};
const errName = async (pr: Promise<unknown>) => (await errOf(pr)).name;

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
});

after(async () => {
  lambda.destroy();
  await p.close();
});

test('a published version keeps its warm environment and module state when $LATEST changes', async () => {
  await createFunction(lambda, 'snap', source('one'));
  const v1 = await lambda.send(new PublishVersionCommand({ FunctionName: 'snap', Description: 'first' }));
  assert.equal(v1.Version, '1');
  assert.match(v1.FunctionArn!, /:function:snap:1$/);
  assert.equal(v1.Description, 'first');
  // Nothing changed since: the same version again.
  assert.equal((await lambda.send(new PublishVersionCommand({ FunctionName: 'snap' }))).Version, '1');

  const first = await invoke('snap', '1');
  assert.equal(first.executed, '1');
  assert.equal(first.ran.version, '1');
  assert.match(first.ran.stream, /\/\[1\]/);
  assert.match(first.ran.arn, /:function:snap:1$/);

  await lambda.send(
    new UpdateFunctionCodeCommand({ FunctionName: 'snap', ZipFile: await handlerZip(source('two')) }),
  );
  const again = await invoke('snap:1');
  assert.equal(again.ran.tag, 'one');
  assert.equal(again.ran.env, first.ran.env, 'same environment');
  assert.equal(again.ran.calls, 2, 'module state kept');
  const latest = await invoke('snap');
  assert.equal(latest.ran.tag, 'two');
  assert.equal(latest.executed, '$LATEST');
  assert.match(latest.ran.stream, /\/\[\$LATEST\]/);

  // Publish on UpdateFunctionCode; the configuration answered is the new version's.
  const v2 = await lambda.send(
    new UpdateFunctionCodeCommand({
      FunctionName: 'snap',
      ZipFile: await handlerZip(source('three')),
      Publish: true,
    }),
  );
  assert.equal(v2.Version, '2');
  assert.equal((await invoke('snap', '2')).ran.tag, 'three');
  assert.equal((await invoke('snap', '1')).ran.tag, 'one');

  const conf = await lambda.send(
    new GetFunctionConfigurationCommand({ FunctionName: 'snap', Qualifier: '1' }),
  );
  assert.equal(conf.Version, '1');
  assert.equal(conf.CodeSha256, v1.CodeSha256);
  assert.notEqual(conf.CodeSha256, v2.CodeSha256);
  const got = await lambda.send(new GetFunctionCommand({ FunctionName: `${v1.FunctionArn}` }));
  assert.equal(got.Configuration?.Version, '1');
});

test('ListVersionsByFunction pages with $LATEST first; version numbers are never reused', async () => {
  await createFunction(lambda, 'many', source('a'), { Publish: true });
  for (const tag of ['b', 'c']) {
    await lambda.send(
      new UpdateFunctionCodeCommand({
        FunctionName: 'many',
        ZipFile: await handlerZip(source(tag)),
        Publish: true,
      }),
    );
  }
  const seen: string[] = [];
  let marker: string | undefined;
  do {
    const page = await lambda.send(
      new ListVersionsByFunctionCommand({ FunctionName: 'many', MaxItems: 2, Marker: marker }),
    );
    assert.ok((page.Versions?.length ?? 0) <= 2);
    seen.push(...(page.Versions ?? []).map((v) => v.Version!));
    marker = page.NextMarker;
  } while (marker);
  assert.deepEqual(seen, ['$LATEST', '1', '2', '3']);
  // ListFunctions' FunctionVersion=ALL is refused by name, not ignored.
  assert.equal(
    await errName(lambda.send(new ListFunctionsCommand({ FunctionVersion: 'ALL' }))),
    'InvalidParameterValueException',
  );
  await lambda.send(new DeleteFunctionCommand({ FunctionName: 'many', Qualifier: '3' }));
  assert.equal(await errName(invoke('many', '3')), 'ResourceNotFoundException');
  await lambda.send(
    new UpdateFunctionCodeCommand({ FunctionName: 'many', ZipFile: await handlerZip(source('d')) }),
  );
  assert.equal((await lambda.send(new PublishVersionCommand({ FunctionName: 'many' }))).Version, '4');
  assert.equal((await invoke('many:2')).ran.tag, 'b');
});

test('an alias routes its weighted share to the other version and says which one ran', async () => {
  await createFunction(lambda, 'shift', source('blue'), { Publish: true });
  await lambda.send(
    new UpdateFunctionCodeCommand({
      FunctionName: 'shift',
      ZipFile: await handlerZip(source('green')),
      Publish: true,
    }),
  );
  const made = await lambda.send(
    new CreateAliasCommand({
      FunctionName: 'shift',
      Name: 'live',
      FunctionVersion: '1',
      Description: 'prod',
    }),
  );
  assert.match(made.AliasArn!, /:function:shift:live$/);
  const only = await invoke('shift:live');
  assert.equal(only.executed, '1');
  assert.equal(only.ran.tag, 'blue');

  const upd = await lambda.send(
    new UpdateAliasCommand({
      FunctionName: 'shift',
      Name: 'live',
      RoutingConfig: { AdditionalVersionWeights: { '2': 0.5 } },
      RevisionId: made.RevisionId,
    }),
  );
  assert.deepEqual(upd.RoutingConfig?.AdditionalVersionWeights, { '2': 0.5 });
  const executed = new Set<string>();
  for (let i = 0; i < 30; i++) {
    const r = await invoke('shift', 'live');
    assert.equal(r.ran.tag, r.executed === '1' ? 'blue' : 'green');
    executed.add(r.executed!);
  }
  assert.deepEqual([...executed].sort(), ['1', '2']);

  // A stale RevisionId on UpdateAlias is refused.
  assert.equal(
    await errName(
      lambda.send(
        new UpdateAliasCommand({ FunctionName: 'shift', Name: 'live', RevisionId: made.RevisionId }),
      ),
    ),
    'PreconditionFailedException',
  );
  // The version an alias points to (or routes to) cannot be deleted.
  const refused = await errOf(
    lambda.send(new DeleteFunctionCommand({ FunctionName: 'shift', Qualifier: '2' })),
  );
  assert.equal(refused.name, 'ResourceConflictException');
  assert.match(refused.message, /live/);
  assert.equal(
    await errName(lambda.send(new DeleteFunctionCommand({ FunctionName: 'shift', Qualifier: '1' }))),
    'ResourceConflictException',
  );

  await lambda.send(
    new CreateAliasCommand({ FunctionName: 'shift', Name: 'edge', FunctionVersion: '$LATEST' }),
  );
  const byVersion = await lambda.send(
    new ListAliasesCommand({ FunctionName: 'shift', FunctionVersion: '1' }),
  );
  assert.deepEqual(
    byVersion.Aliases?.map((a) => a.Name),
    ['live'],
  );
  const first = await lambda.send(new ListAliasesCommand({ FunctionName: 'shift', MaxItems: 1 }));
  assert.deepEqual(
    first.Aliases?.map((a) => a.Name),
    ['edge'],
  );
  const rest = await lambda.send(new ListAliasesCommand({ FunctionName: 'shift', Marker: first.NextMarker }));
  assert.deepEqual(
    rest.Aliases?.map((a) => a.Name),
    ['live'],
  );
  assert.equal((await invoke('shift:edge')).executed, '$LATEST');
  // An alias to $LATEST follows $LATEST's code.
  await lambda.send(
    new UpdateFunctionCodeCommand({ FunctionName: 'shift', ZipFile: await handlerZip(source('latest')) }),
  );
  assert.equal((await invoke('shift:edge')).ran.tag, 'latest');
  assert.equal((await invoke('shift:live')).ran.tag === 'latest', false);
  await lambda.send(new DeleteAliasCommand({ FunctionName: 'shift', Name: 'edge' }));
  assert.equal(
    await errName(lambda.send(new GetAliasCommand({ FunctionName: 'shift', Name: 'edge' }))),
    'ResourceNotFoundException',
  );
  assert.equal(await errName(invoke('shift:edge')), 'ResourceNotFoundException');
});

test('deleting the function deletes its versions and aliases', async () => {
  await createFunction(lambda, 'gone', source('x'), { Publish: true });
  await lambda.send(new CreateAliasCommand({ FunctionName: 'gone', Name: 'live', FunctionVersion: '1' }));
  await lambda.send(new DeleteFunctionCommand({ FunctionName: 'gone' }));
  await createFunction(lambda, 'gone', source('y'));
  assert.equal(await errName(invoke('gone:1')), 'ResourceNotFoundException');
  assert.equal(await errName(invoke('gone:live')), 'ResourceNotFoundException');
  const list = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: 'gone' }));
  assert.deepEqual(
    list.Versions?.map((v) => v.Version),
    ['$LATEST'],
  );
});

test('publishing with a stale RevisionId or CodeSha256 is refused', async () => {
  const arn = await createFunction(lambda, 'pre', source('x'));
  const cur = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: arn }));
  await lambda.send(
    new UpdateFunctionCodeCommand({ FunctionName: 'pre', ZipFile: await handlerZip(source('z')) }),
  );
  assert.equal(
    await errName(
      lambda.send(new PublishVersionCommand({ FunctionName: 'pre', RevisionId: cur.RevisionId })),
    ),
    'PreconditionFailedException',
  );
  assert.equal(
    await errName(
      lambda.send(new PublishVersionCommand({ FunctionName: 'pre', CodeSha256: cur.CodeSha256 })),
    ),
    'InvalidParameterValueException',
  );
  const now = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'pre' }));
  const v = await lambda.send(
    new PublishVersionCommand({
      FunctionName: 'pre',
      CodeSha256: now.CodeSha256,
      RevisionId: now.RevisionId,
    }),
  );
  assert.equal(v.Version, '1');
});

test('aliases with bad routing are refused: $LATEST with weights, weights outside 0–1, two extra versions', async () => {
  await createFunction(lambda, 'bad', source('1'), { Publish: true });
  for (const tag of ['2', '3'])
    await lambda.send(
      new UpdateFunctionCodeCommand({
        FunctionName: 'bad',
        ZipFile: await handlerZip(source(tag)),
        Publish: true,
      }),
    );
  const alias = (FunctionVersion: string, weights: Record<string, number>) =>
    errName(
      lambda.send(
        new CreateAliasCommand({
          FunctionName: 'bad',
          Name: 'a',
          FunctionVersion,
          RoutingConfig: { AdditionalVersionWeights: weights },
        }),
      ),
    );
  assert.equal(await alias('$LATEST', { '1': 0.1 }), 'InvalidParameterValueException');
  assert.equal(await alias('1', { '2': 1.5 }), 'ValidationException');
  assert.equal(await alias('1', { '2': -0.1 }), 'ValidationException');
  assert.equal(await alias('1', { '2': 0.1, '3': 0.1 }), 'InvalidParameterValueException');
  assert.equal(await alias('1', { '1': 0.1 }), 'InvalidParameterValueException');
  assert.equal(await alias('1', { '9': 0.1 }), 'ResourceNotFoundException');
  assert.equal(await alias('7', {}), 'ResourceNotFoundException');
  // Nothing was made by the refused calls.
  assert.equal(
    await errName(lambda.send(new GetAliasCommand({ FunctionName: 'bad', Name: 'a' }))),
    'ResourceNotFoundException',
  );
  await lambda.send(new CreateAliasCommand({ FunctionName: 'bad', Name: 'a', FunctionVersion: '1' }));
  assert.equal(
    await errName(
      lambda.send(new CreateAliasCommand({ FunctionName: 'bad', Name: 'a', FunctionVersion: '2' })),
    ),
    'ResourceConflictException',
  );
  // Updating to weights on $LATEST is refused the same way.
  assert.equal(
    await errName(
      lambda.send(
        new UpdateAliasCommand({
          FunctionName: 'bad',
          Name: 'a',
          FunctionVersion: '$LATEST',
          RoutingConfig: { AdditionalVersionWeights: { '2': 0.5 } },
        }),
      ),
    ),
    'InvalidParameterValueException',
  );
  // An alias name that is all digits would be a version.
  assert.equal(
    await errName(
      lambda.send(new CreateAliasCommand({ FunctionName: 'bad', Name: '12', FunctionVersion: '1' })),
    ),
    'ValidationException',
  );
});

test('qualifiers that do not exist are not found; malformed ones are refused; writes to a version are refused', async () => {
  await createFunction(lambda, 'quals', source('q'), { Publish: true });
  assert.equal(await errName(invoke('quals', '5')), 'ResourceNotFoundException');
  assert.equal(await errName(invoke('quals', 'nope')), 'ResourceNotFoundException');
  assert.equal(await errName(invoke('quals:bad!')), 'ValidationException');
  assert.equal(await errName(invoke('quals', 'a b')), 'ValidationException');
  assert.equal(await errName(invoke('quals:1', '2')), 'InvalidParameterValueException');
  assert.equal(
    await errName(
      lambda.send(
        new UpdateFunctionCodeCommand({ FunctionName: 'quals:1', ZipFile: await handlerZip(source('w')) }),
      ),
    ),
    'InvalidParameterValueException',
  );
  assert.equal(
    await errName(lambda.send(new PublishVersionCommand({ FunctionName: 'quals:1' }))),
    'InvalidParameterValueException',
  );
  assert.equal(
    await errName(lambda.send(new DeleteFunctionCommand({ FunctionName: 'quals', Qualifier: '$LATEST' }))),
    'InvalidParameterValueException',
  );
  // The function is still there, version 1 too.
  assert.equal((await invoke('quals:1')).executed, '1');
});

test('unknown fields on the new operations are refused by name', async () => {
  await createFunction(lambda, 'fields', source('f'), { Publish: true });
  const raw = (method: string, path: string, body: Record<string, unknown>) =>
    rawLambda(p.endpoint, `/2015-03-31/functions/fields${path}`, {
      method,
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
      credentials: p.credentials,
    });
  for (const [method, path, body] of [
    ['POST', '/versions', { Bogus: 1 }],
    ['POST', '/aliases', { Name: 'x', FunctionVersion: '1', Bogus: 1 }],
    ['PUT', '/aliases/x', { Bogus: 1 }],
  ] as const) {
    const r = await raw(method, path, body);
    assert.equal(r.status, 400, `${method} ${path}`);
    assert.equal(r.headers.get('x-amzn-errortype'), 'InvalidParameterValueException');
    assert.match(String(r.json?.message ?? r.json?.Message), /Bogus/);
  }
});

test("another tenant's versions and aliases answer exactly like missing ones", async () => {
  await createFunction(lambda, 'mine', source('m'), { Publish: true });
  await lambda.send(new CreateAliasCommand({ FunctionName: 'mine', Name: 'live', FunctionVersion: '1' }));
  const admin = new KindlingClient({
    endpoint: p.endpoint,
    region: p.region,
    credentials: p.credentials,
    dataDir: p.platform.config.dataDir,
  });
  const made = await admin.signedFetch('POST', '/kindling/v1/tenants', { name: 'other' });
  assert.equal(made.status, 201);
  const body = (await made.json()) as {
    accessKey: { accessKeyId: string; secretAccessKey: string };
  };
  const other = new LambdaClient(sdkConfig({ endpoint: p.endpoint, credentials: body.accessKey }));
  try {
    const mineArn = (await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'mine' })))
      .FunctionArn!;
    for (const name of ['mine:1', 'mine:live', `${mineArn}:1`, `${mineArn}:live`]) {
      const theirs = await errOf(other.send(new InvokeCommand({ FunctionName: name })));
      const missingName = name.replace('mine', 'missing');
      const missing = await errOf(other.send(new InvokeCommand({ FunctionName: missingName })));
      // A name is looked up among the caller's own functions; another account's ARN is refused alike.
      assert.equal(
        theirs.name,
        name.startsWith('arn:') ? 'AccessDeniedException' : 'ResourceNotFoundException',
      );
      assert.equal(theirs.name, missing.name, name);
      assert.equal(theirs.message.replaceAll('mine', 'missing'), missing.message, name);
    }
    assert.equal(
      await errName(other.send(new GetAliasCommand({ FunctionName: 'mine', Name: 'live' }))),
      'ResourceNotFoundException',
    );
    assert.equal(
      await errName(other.send(new PublishVersionCommand({ FunctionName: 'mine' }))),
      'ResourceNotFoundException',
    );
    assert.equal(
      await errName(other.send(new DeleteFunctionCommand({ FunctionName: 'mine', Qualifier: '1' }))),
      'ResourceNotFoundException',
    );
    assert.equal(
      await errName(
        other.send(
          new UpdateAliasCommand({ FunctionName: 'mine', Name: 'live', FunctionVersion: '$LATEST' }),
        ),
      ),
      'ResourceNotFoundException',
    );
    // The owner's alias is untouched.
    assert.equal(
      (await lambda.send(new GetAliasCommand({ FunctionName: 'mine', Name: 'live' }))).FunctionVersion,
      '1',
    );
  } finally {
    other.destroy();
  }
});

test("an async invoke of an alias runs its version, with the alias's own event invoke config", async () => {
  const sqs = new SQSClient(sdkConfig(p));
  try {
    const dest = await createQueue(sqs, 'alias-success');
    await createFunction(lambda, 'later', source('v1'), { Publish: true });
    await lambda.send(
      new UpdateFunctionCodeCommand({ FunctionName: 'later', ZipFile: await handlerZip(source('v2')) }),
    );
    await lambda.send(new CreateAliasCommand({ FunctionName: 'later', Name: 'live', FunctionVersion: '1' }));
    await lambda.send(
      new PutFunctionEventInvokeConfigCommand({
        FunctionName: 'later',
        Qualifier: 'live',
        DestinationConfig: { OnSuccess: { Destination: dest.arn } },
      }),
    );
    // $LATEST has no destination: only the alias's invocation reaches the queue.
    await lambda.send(new InvokeCommand({ FunctionName: 'later', InvocationType: 'Event' }));
    const out = await lambda.send(new InvokeCommand({ FunctionName: 'later:live', InvocationType: 'Event' }));
    assert.equal(out.StatusCode, 202);
    const [m] = await receive(sqs, dest.url, 1);
    const rec = JSON.parse(m!.Body!) as {
      requestContext: { functionArn: string };
      responseContext: { executedVersion: string };
      responsePayload: Ran;
    };
    assert.equal(rec.responseContext.executedVersion, '1');
    assert.equal(rec.responsePayload.tag, 'v1');
    assert.match(rec.requestContext.functionArn, /:function:later:1$/);
    assert.equal((await receive(sqs, dest.url, 1, 1_500)).length, 0);
  } finally {
    sqs.destroy();
  }
});

test("a function URL on an alias runs the alias's version", async () => {
  await createFunction(lambda, 'web', source('old'), { Publish: true });
  await lambda.send(
    new UpdateFunctionCodeCommand({ FunctionName: 'web', ZipFile: await handlerZip(source('new')) }),
  );
  await lambda.send(new CreateAliasCommand({ FunctionName: 'web', Name: 'prod', FunctionVersion: '1' }));
  const url = await lambda.send(
    new CreateFunctionUrlConfigCommand({ FunctionName: 'web', Qualifier: 'prod', AuthType: 'NONE' }),
  );
  assert.match(url.FunctionArn!, /:function:web:prod$/);
  const res = await fetch(url.FunctionUrl!);
  assert.equal(res.status, 200);
  const ran = (await res.json()) as Ran;
  assert.equal(ran.tag, 'old');
  assert.equal(ran.version, '1');
});

test('provisioned concurrency on an alias goes IN_PROGRESS → READY and its requests see no init', async () => {
  const initType = `
const type = process.env.AWS_LAMBDA_INITIALIZATION_TYPE;
export const handler = async () => { await new Promise((r) => setTimeout(r, 200)); return { type }; };`;
  await createFunction(lambda, 'prov', initType, { Publish: true });
  await lambda.send(new CreateAliasCommand({ FunctionName: 'prov', Name: 'pc', FunctionVersion: '1' }));
  const put = await lambda.send(
    new PutProvisionedConcurrencyConfigCommand({
      FunctionName: 'prov',
      Qualifier: 'pc',
      ProvisionedConcurrentExecutions: 2,
    }),
  );
  assert.equal(put.RequestedProvisionedConcurrentExecutions, 2);
  assert.equal(put.Status, 'IN_PROGRESS');
  let status: string | undefined;
  for (let i = 0; i < 600 && status !== 'READY'; i++) {
    const got = await lambda.send(
      new GetProvisionedConcurrencyConfigCommand({ FunctionName: 'prov', Qualifier: 'pc' }),
    );
    status = got.Status;
    assert.notEqual(status, 'FAILED', got.StatusReason);
    if (status !== 'READY') await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(status, 'READY');
  // Two requests at once: each on an environment initialised ahead, neither with an init.
  const outs = await Promise.all(
    [0, 1].map(() => lambda.send(new InvokeCommand({ FunctionName: 'prov:pc', LogType: 'Tail' }))),
  );
  for (const out of outs) {
    const log = Buffer.from(out.LogResult!, 'base64').toString();
    assert.doesNotMatch(log, /Init Duration/);
    assert.deepEqual(JSON.parse(Buffer.from(out.Payload!).toString()), { type: 'provisioned-concurrency' });
    assert.equal(out.ExecutedVersion, '1');
  }
  const list = await lambda.send(new ListProvisionedConcurrencyConfigsCommand({ FunctionName: 'prov' }));
  assert.equal(list.ProvisionedConcurrencyConfigs?.length, 1);
  assert.match(list.ProvisionedConcurrencyConfigs?.[0]?.FunctionArn ?? '', /:function:prov:pc$/);
  await lambda.send(new DeleteProvisionedConcurrencyConfigCommand({ FunctionName: 'prov', Qualifier: 'pc' }));
  assert.equal(
    await errName(
      lambda.send(new GetProvisionedConcurrencyConfigCommand({ FunctionName: 'prov', Qualifier: 'pc' })),
    ),
    'ProvisionedConcurrencyConfigNotFoundException',
  );
});

test('provisioned concurrency refuses $LATEST, no qualifier, too many, zero and unknown fields', async () => {
  await createFunction(lambda, 'provbad', source('p'), { Publish: true });
  const put = (Qualifier: string | undefined, n: number) =>
    errName(
      lambda.send(
        new PutProvisionedConcurrencyConfigCommand({
          FunctionName: 'provbad',
          Qualifier,
          ProvisionedConcurrentExecutions: n,
        }),
      ),
    );
  assert.equal(await put('$LATEST', 1), 'InvalidParameterValueException');
  assert.equal(await put(undefined, 1), 'InvalidParameterValueException');
  assert.equal(await put('1', 1_000_000), 'InvalidParameterValueException');
  assert.equal(await put('1', 0), 'ValidationException');
  assert.equal(await put('9', 1), 'ResourceNotFoundException');
  const r = await rawLambda(p.endpoint, '/2019-09-30/functions/provbad/provisioned-concurrency?Qualifier=1', {
    method: 'PUT',
    body: JSON.stringify({ ProvisionedConcurrentExecutions: 1, Bogus: true }),
    headers: { 'content-type': 'application/json' },
    credentials: p.credentials,
  });
  assert.equal(r.headers.get('x-amzn-errortype'), 'InvalidParameterValueException');
  assert.equal(
    await errName(
      lambda.send(new GetProvisionedConcurrencyConfigCommand({ FunctionName: 'provbad', Qualifier: '1' })),
    ),
    'ProvisionedConcurrencyConfigNotFoundException',
  );
});

test('a published version keeps the layers it was published with when $LATEST changes them', async () => {
  const layer = async (word: string) =>
    (
      await lambda.send(
        new PublishLayerVersionCommand({
          LayerName: 'words',
          Content: {
            ZipFile: await zipOf([
              { name: 'nodejs/node_modules/word/index.js', data: `module.exports = '${word}';` },
            ]),
          },
        }),
      )
    ).LayerVersionArn!;
  const first = await layer('one');
  const second = await layer('two');
  const src = `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
export const handler = async () => require('word');`;
  await createFunction(lambda, 'layered', src, { Layers: [first], Publish: true });
  await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'layered', Layers: [second] }));
  const run = async (qualifier: string) => {
    const out = await lambda.send(new InvokeCommand({ FunctionName: 'layered', Qualifier: qualifier }));
    return JSON.parse(Buffer.from(out.Payload!).toString());
  };
  for (let i = 0; i < 30 && (await run('$LATEST')) !== 'two'; i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.equal(await run('$LATEST'), 'two');
  assert.equal(await run('1'), 'one');
  const v1 = await lambda.send(
    new GetFunctionConfigurationCommand({ FunctionName: 'layered', Qualifier: '1' }),
  );
  assert.deepEqual(
    v1.Layers?.map((l) => l.Arn),
    [first],
  );
});

test('InvokeWithResponseStream of an alias names the version that ran before the first byte', async () => {
  await createFunction(lambda, 'streamed', source('blue'), { Publish: true });
  await lambda.send(
    new UpdateFunctionCodeCommand({
      FunctionName: 'streamed',
      ZipFile: await handlerZip(source('green')),
      Publish: true,
    }),
  );
  await lambda.send(
    new CreateAliasCommand({
      FunctionName: 'streamed',
      Name: 'live',
      FunctionVersion: '1',
      RoutingConfig: { AdditionalVersionWeights: { '2': 0.5 } },
    }),
  );
  const seen = new Set<string>();
  for (let i = 0; i < 40 && seen.size < 2; i++) {
    const out = await lambda.send(
      new InvokeWithResponseStreamCommand({
        FunctionName: 'streamed',
        Qualifier: 'live',
        Payload: Buffer.from('{}'),
      }),
    );
    let body = '';
    for await (const e of out.EventStream!)
      if (e.PayloadChunk?.Payload) body += Buffer.from(e.PayloadChunk.Payload);
    const ran = JSON.parse(body) as Ran;
    // The header was sent before the handler answered; it must name the version whose code answered.
    assert.equal(out.ExecutedVersion, ran.version);
    assert.equal(ran.tag, ran.version === '1' ? 'blue' : 'green');
    seen.add(out.ExecutedVersion!);
  }
  assert.deepEqual([...seen].sort(), ['1', '2']);
});
