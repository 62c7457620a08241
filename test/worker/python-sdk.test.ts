// End to end through a real server: python3.x functions created and invoked with the unmodified AWS SDK v3,
// GetFunction saying which Python really runs them, and boto3 inside the sandbox calling the platform's own
// SQS and Lambda APIs with the function's credentials through the relay.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  type CreateFunctionCommandInput,
  GetFunctionCommand,
  InvokeCommand,
  LambdaClient,
} from '@aws-sdk/client-lambda';
import { GetQueueUrlCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { hostPython } from '../../src/runtimes/python/interpreter.js';
import { zipOf } from '../api/lambda/zips.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../helpers/platform.js';

let p: TestPlatform;
let lambda: LambdaClient;

before(async () => {
  p = await startPlatform({ sandbox: 'bwrap' });
  lambda = new LambdaClient(sdkConfig(p));
});
after(async () => {
  await p.close();
});

async function createPython(name: string, source: string, extra: Partial<CreateFunctionCommandInput> = {}) {
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'python3.12',
      Handler: 'lambda_function.lambda_handler',
      Role: 'arn:aws:iam::123456789012:role/any',
      Code: { ZipFile: await zipOf([{ name: 'lambda_function.py', data: source }]) },
      ...extra,
    }),
  );
}

async function call(name: string, event: unknown = {}) {
  const out = await lambda.send(
    new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(event)), LogType: 'Tail' }),
  );
  return {
    error: out.FunctionError,
    body: JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8')) as unknown,
    log: Buffer.from(out.LogResult ?? '', 'base64').toString('utf8'),
  };
}

test('GetFunction keeps the runtime name asked for and names the real interpreter in RuntimeVersionConfig', async () => {
  await createPython(
    'py-version',
    'import sys\ndef lambda_handler(event, context):\n    return "%d.%d.%d" % sys.version_info[:3]\n',
  );
  const real = hostPython()!.version;
  const got = await lambda.send(new GetFunctionCommand({ FunctionName: 'py-version' }));
  assert.equal(got.Configuration?.Runtime, 'python3.12');
  assert.equal(
    got.Configuration?.RuntimeVersionConfig?.RuntimeVersionArn,
    `arn:aws:lambda:${p.region}::runtime:python:${real}`,
  );
  const r = await call('py-version');
  assert.equal(r.error, undefined, JSON.stringify(r.body));
  assert.equal(r.body, real);
  assert.match(r.log, new RegExp(`INIT_START Runtime Version: python:${real.replace(/\./g, '\\.')}\\t`));
});

test('a runtime name Lambda does not offer is refused at CreateFunction', async () => {
  await assert.rejects(
    createPython('py-old', 'def lambda_handler(e, c):\n    return 1\n', { Runtime: 'python3.8' }),
    (e: Error) => {
      assert.match(e.name, /InvalidParameterValueException|ValidationException/);
      return true;
    },
  );
});

test('boto3 inside the sandbox uses SQS and Lambda on Kindling with the function’s own credentials', async () => {
  await createPython(
    'py-boto3',
    `import boto3, os
sqs = boto3.client("sqs")
def lambda_handler(event, context):
    url = sqs.create_queue(QueueName="made-by-python")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello from " + context.function_name)
    names = [f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]]
    return {"endpoint": os.environ["AWS_ENDPOINT_URL"], "session": bool(os.environ.get("AWS_SESSION_TOKEN")),
            "names": sorted(names)}
`,
    { Timeout: 20 },
  );
  const r = await call('py-boto3');
  assert.equal(r.error, undefined, JSON.stringify(r.body));
  const body = r.body as { endpoint: string; session: boolean; names: string[] };
  // The relay answers inside on the API's own origin; the in-function key is a session key.
  assert.equal(body.endpoint, p.endpoint);
  assert.equal(body.session, true);
  assert.ok(body.names.includes('py-boto3'), JSON.stringify(body.names));
  const sqs = new SQSClient(sdkConfig(p));
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: 'made-by-python' }));
  const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
  assert.equal(got.Messages?.[0]?.Body, 'hello from py-boto3');
});

test("a Python error is logged once, in Python's own form, without Node's Invoke Error line", async () => {
  await createPython(
    'py-raises',
    'def lambda_handler(event, context):\n    raise ValueError("no good " + event["why"])\n',
  );
  const r = await call('py-raises', { why: 'at all' });
  assert.equal(r.error, 'Unhandled');
  assert.match(r.log, /\[ERROR\] ValueError: no good at all/);
  assert.doesNotMatch(r.log, /Invoke Error/);
  assert.equal(r.log.split('no good at all').length - 1, 1, r.log);
});
