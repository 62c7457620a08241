// Invoke through the AWS SDK and raw signed HTTP against a real server and worker.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  InvokeAsyncCommand,
  InvokeCommand,
  LambdaClient,
} from '@aws-sdk/client-lambda';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { rawLambda } from './raw.js';
import { echoHandler, handlerZip } from './zips.js';

let p: TestPlatform;
let lambda: LambdaClient;
let echoArn = '';

const decode = (b: Uint8Array | undefined) => JSON.parse(Buffer.from(b ?? []).toString('utf8'));
const invokePath = (name: string) => `/2015-03-31/functions/${encodeURIComponent(name)}/invocations`;

async function create(name: string, source: string) {
  const out = await lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::123456789012:role/any',
      Code: { ZipFile: await handlerZip(source) },
    }),
  );
  return out.FunctionArn ?? '';
}

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
  echoArn = await create('echo', echoHandler);
  await create(
    'fails',
    'export const handler = async () => { console.log("about to fail"); throw new TypeError("boom"); };',
  );
  await create(
    'logs',
    'export const handler = async (e) => { console.log("x".repeat(6000)); console.log("tail-marker"); return e; };',
  );
});
after(async () => {
  lambda.destroy();
  await p.close();
});

test('RequestResponse answers 200 with the handler’s JSON result and X-Amz-Executed-Version', async () => {
  const out = await lambda.send(new InvokeCommand({ FunctionName: 'echo', Payload: Buffer.from('{"a":1}') }));
  assert.equal(out.StatusCode, 200);
  assert.deepEqual(decode(out.Payload).echo, { a: 1 });
  assert.equal(out.ExecutedVersion, '$LATEST');
  assert.equal(out.FunctionError, undefined);
});

test('an invoke by full ARN runs the same function', async () => {
  const out = await lambda.send(
    new InvokeCommand({ FunctionName: echoArn, Payload: Buffer.from('{"b":2}') }),
  );
  assert.deepEqual(decode(out.Payload).echo, { b: 2 });
});

test('an empty payload reaches the handler as an empty object', async () => {
  const out = await lambda.send(new InvokeCommand({ FunctionName: 'echo' }));
  assert.deepEqual(decode(out.Payload).echo, {});
});

test('DryRun answers 204 without running the function', async () => {
  const out = await lambda.send(new InvokeCommand({ FunctionName: 'echo', InvocationType: 'DryRun' }));
  assert.equal(out.StatusCode, 204);
});

test('DryRun of an unknown function answers 404', async () => {
  await assert.rejects(
    lambda.send(new InvokeCommand({ FunctionName: 'no-such-fn', InvocationType: 'DryRun' })),
    (e: Error) => e.name === 'ResourceNotFoundException',
  );
});

test('LogType Tail answers the last 4 KB of the log, base64, in X-Amz-Log-Result', async () => {
  const out = await lambda.send(new InvokeCommand({ FunctionName: 'logs', LogType: 'Tail' }));
  const log = Buffer.from(out.LogResult ?? '', 'base64').toString('utf8');
  assert.ok(Buffer.byteLength(log) <= 4096);
  assert.ok(Buffer.byteLength(log) > 3000, 'it is the tail of a longer log, not an empty string');
  assert.match(log, /tail-marker/);
  assert.match(log, /REPORT RequestId: /);
});

test('without LogType Tail no log is returned', async () => {
  const out = await lambda.send(new InvokeCommand({ FunctionName: 'logs' }));
  assert.equal(out.LogResult, undefined);
});

test('a handler error answers 200 with X-Amz-Function-Error Unhandled and Lambda’s error JSON', async () => {
  const out = await lambda.send(new InvokeCommand({ FunctionName: 'fails', LogType: 'Tail' }));
  assert.equal(out.StatusCode, 200);
  assert.equal(out.FunctionError, 'Unhandled');
  const body = decode(out.Payload);
  assert.equal(body.errorType, 'TypeError');
  assert.equal(body.errorMessage, 'boom');
  assert.ok(Array.isArray(body.trace ?? body.stackTrace));
  assert.match(Buffer.from(out.LogResult ?? '', 'base64').toString(), /about to fail/);
});

test('a payload that is not JSON answers 400 InvalidRequestContentException', async () => {
  const r = await rawLambda(p.endpoint, invokePath('echo'), {
    method: 'POST',
    body: 'not json{',
    credentials: p.credentials,
  });
  assert.equal(r.status, 400);
  assert.equal(r.headers.get('x-amzn-errortype'), 'InvalidRequestContentException');
  assert.equal(r.json?.Type, 'User');
  assert.match(String(r.json?.message), /^Could not parse request body into json: /);
});

test('a payload over 6 MB answers 413 RequestEntityTooLargeException', async () => {
  const big = Buffer.from(JSON.stringify({ s: 'x'.repeat(6_291_456) }));
  await assert.rejects(
    lambda.send(new InvokeCommand({ FunctionName: 'echo', Payload: big })),
    (e: Error & { $metadata: { httpStatusCode?: number } }) => {
      assert.equal(e.name, 'RequestEntityTooLargeException');
      assert.equal(e.$metadata.httpStatusCode, 413);
      return true;
    },
  );
});

test('a payload of exactly 6 MB is accepted', async () => {
  const s = 'y'.repeat(6_291_456 - '{"s":""}'.length);
  const out = await lambda.send(
    new InvokeCommand({ FunctionName: 'echo', Payload: Buffer.from(JSON.stringify({ s })), LogType: 'None' }),
  );
  assert.equal(out.StatusCode, 200);
  assert.equal(out.FunctionError, undefined);
});

test('an unknown function answers 404 ResourceNotFoundException with its ARN, as Lambda renders it', async () => {
  const r = await rawLambda(p.endpoint, invokePath('missing-fn'), {
    method: 'POST',
    body: '{}',
    credentials: p.credentials,
  });
  assert.equal(r.status, 404);
  assert.equal(r.headers.get('x-amzn-errortype'), 'ResourceNotFoundException');
  assert.ok(r.headers.get('x-amzn-requestid'));
  assert.match(
    String(r.json?.Message),
    /^Function not found: arn:aws:lambda:us-east-1:\d{12}:function:missing-fn$/,
  );
  assert.equal(r.json?.Type, 'User');
});

test('an unknown InvocationType answers a ValidationException', async () => {
  const r = await rawLambda(p.endpoint, invokePath('echo'), {
    method: 'POST',
    body: '{}',
    headers: { 'x-amz-invocation-type': 'Sometimes' },
    credentials: p.credentials,
  });
  assert.equal(r.status, 400);
  assert.equal(r.headers.get('x-amzn-errortype'), 'ValidationException');
  assert.match(String(r.json?.message), /Value 'Sometimes' at 'invocationType' failed to satisfy constraint/);
});

test('a qualifier other than $LATEST is not found', async () => {
  await assert.rejects(
    lambda.send(new InvokeCommand({ FunctionName: 'echo', Qualifier: '7' })),
    (e: Error) => e.name === 'ResourceNotFoundException' && /function:echo:7$/.test(e.message),
  );
});

test('the function gets short-lived credentials of its own tenant', async () => {
  await create(
    'creds',
    'export const handler = async () => ({ id: process.env.AWS_ACCESS_KEY_ID, token: !!process.env.AWS_SESSION_TOKEN });',
  );
  const out = decode((await lambda.send(new InvokeCommand({ FunctionName: 'creds' }))).Payload);
  assert.match(out.id, /^ASIA/);
  assert.equal(out.token, true);
  const key = await p.platform.tenants.resolveKey(out.id);
  assert.equal(key?.tenant.accountId, echoArn.split(':')[4]);
});

test('InvocationType Event answers 202 once the event is accepted', async () => {
  const out = await lambda.send(
    new InvokeCommand({
      FunctionName: 'echo',
      InvocationType: 'Event',
      Payload: Buffer.from('{"later":true}'),
    }),
  );
  assert.equal(out.StatusCode, 202);
  assert.equal(out.Payload?.length ?? 0, 0);
});

test('an Event payload over 256 KB answers 413', async () => {
  const big = Buffer.from(JSON.stringify({ s: 'x'.repeat(262_144) }));
  await assert.rejects(
    lambda.send(new InvokeCommand({ FunctionName: 'echo', InvocationType: 'Event', Payload: big })),
    (e: Error) => e.name === 'RequestEntityTooLargeException',
  );
});

test('a client context reaches the handler as context.clientContext', async () => {
  await create('ctx', 'export const handler = async (e, context) => context.clientContext ?? null;');
  const ClientContext = Buffer.from(JSON.stringify({ custom: { app: 'tests' } })).toString('base64');
  const out = await lambda.send(new InvokeCommand({ FunctionName: 'ctx', ClientContext }));
  assert.deepEqual(decode(out.Payload).custom, { app: 'tests' });
});

test('a client context that is not base64 JSON answers InvalidRequestContentException', async () => {
  const r = await rawLambda(p.endpoint, invokePath('echo'), {
    method: 'POST',
    body: '{}',
    headers: { 'x-amz-client-context': Buffer.from('not json').toString('base64') },
    credentials: p.credentials,
  });
  assert.equal(r.status, 400);
  assert.equal(r.headers.get('x-amzn-errortype'), 'InvalidRequestContentException');
  assert.equal(r.json?.message, 'Client context must be a valid Base64-encoded JSON object.');
});

test('the deprecated InvokeAsync answers Status 202', async () => {
  const out = await lambda.send(
    new InvokeAsyncCommand({ FunctionName: 'echo', InvokeArgs: Buffer.from('{"old":true}') }),
  );
  assert.equal(out.Status, 202);
});

test('a function calls the Lambda API with its own credentials and sees its own tenant’s functions', async () => {
  await create(
    'self-aware',
    `import { LambdaClient, GetFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
     export const handler = async () => {
       const client = new LambdaClient({});
       const out = await client.send(new GetFunctionConfigurationCommand({ FunctionName: 'echo' }));
       return out.FunctionArn;
     };`,
  );
  const out = await lambda.send(new InvokeCommand({ FunctionName: 'self-aware' }));
  assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
  assert.equal(decode(out.Payload), echoArn);
});

test('a malformed Qualifier answers a ValidationException', async () => {
  const r = await rawLambda(
    p.endpoint,
    `${invokePath('echo')}?Qualifier=${encodeURIComponent('bad qualifier')}`,
    {
      method: 'POST',
      body: '{}',
      credentials: p.credentials,
    },
  );
  assert.equal(r.status, 400);
  assert.equal(r.headers.get('x-amzn-errortype'), 'ValidationException');
  assert.match(String(r.json?.message), /Value 'bad qualifier' at 'qualifier'/);
});
