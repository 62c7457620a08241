// URLs the platform hands a client outside work unchanged inside a function: the relay in each sandbox
// answers on the API's own port, so the unmodified SDK sending to a QueueUrl's origin, or plain fetch() of a
// presigned URL, reaches the platform. Real server on port 0, real bubblewrap sandboxes, unmodified SDKs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type CreateFunctionCommandInput, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { KindlingClient } from '../../src/cli/client.js';
import { presign } from '../api/s3/fixtures.js';
import { createFunction } from '../helpers/functions.js';
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

/** Sends `event.body` to exactly `event.queueUrl` with the SDK's SQS client and its defaults. */
const SENDER = `
  import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
  const sqs = new SQSClient({});
  export const handler = async (event) => {
    const out = await sqs.send(new SendMessageCommand({ QueueUrl: event.queueUrl, MessageBody: event.body }));
    return { messageId: out.MessageId };
  };`;

async function deploy(
  name: string,
  source: string,
  extra: Partial<CreateFunctionCommandInput> = {},
): Promise<void> {
  await createFunction(lambda, name, source, { Timeout: 10, ...extra });
}

async function call(name: string, event: unknown): Promise<Record<string, unknown>> {
  const out = await lambda.send(
    new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(event)), LogType: 'Tail' }),
  );
  const body = JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8')) as Record<string, unknown>;
  assert.equal(out.FunctionError, undefined, JSON.stringify(body));
  return body;
}

async function receiveOne(sqs: SQSClient, queueUrl: string): Promise<string | undefined> {
  const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 2 }));
  return r.Messages?.[0]?.Body;
}

test('a QueueUrl a client got outside works unchanged inside a function: the message reaches the client', async () => {
  const sqs = new SQSClient(sdkConfig(p));
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'handed-in' }));
  assert.ok(QueueUrl?.startsWith(`${p.endpoint}/`), QueueUrl);
  await deploy('sender', SENDER);
  const out = await call('sender', { queueUrl: QueueUrl, body: 'from inside' });
  assert.equal(typeof out.messageId, 'string');
  assert.equal(await receiveOne(sqs, QueueUrl!), 'from inside');
});

test('a QueueUrl on localhost (the origin a client used) works unchanged inside a function', async () => {
  const local = p.endpoint.replace('127.0.0.1', 'localhost');
  const sqs = new SQSClient(sdkConfig({ ...p, endpoint: local }));
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'on-localhost' }));
  assert.ok(QueueUrl?.startsWith(`${local}/`), QueueUrl);
  await deploy('sender-localhost', SENDER);
  await call('sender-localhost', { queueUrl: QueueUrl, body: 'via localhost' });
  assert.equal(await receiveOne(sqs, QueueUrl!), 'via localhost');
});

test('a function with outbound network also reaches a QueueUrl handed in', async () => {
  const sqs = new SQSClient(sdkConfig(p));
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'handed-in-net' }));
  // Outbound network is the admin's grant to the tenant (here the admin tenant itself).
  const admin = new KindlingClient({
    endpoint: p.endpoint,
    region: p.region,
    credentials: p.credentials,
    dataDir: p.platform.config.dataDir,
  });
  const grant = await admin.signedFetch('PUT', '/kindling/v1/tenants/admin/network', {
    networkOutbound: true,
  });
  assert.equal(grant.status, 200, await grant.text());
  await deploy('sender-net', SENDER);
  await call('sender-net', { queueUrl: QueueUrl, body: 'outbound' });
  assert.equal(await receiveOne(sqs, QueueUrl!), 'outbound');
});

test('a presigned S3 GET URL made outside is fetched inside a function with plain fetch()', async () => {
  const s3 = new S3Client({ ...sdkConfig(p), forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: 'handed' }));
  await s3.send(new PutObjectCommand({ Bucket: 'handed', Key: 'note.txt', Body: 'presigned body' }));
  const url = presign(p.endpoint, p.credentials, 'GET', '/handed/note.txt');
  await deploy(
    'fetcher',
    `export const handler = async (event) => {
       const r = await fetch(event.url);
       return { status: r.status, text: await r.text() };
     };`,
  );
  const out = await call('fetcher', { url });
  assert.deepEqual(out, { status: 200, text: 'presigned body' });
});

test('inside a function the platform answers on [::1] at its own port too', async () => {
  const port = new URL(p.endpoint).port;
  await deploy(
    'v6',
    `export const handler = async (event) => {
       const r = await fetch(event.url, { method: 'POST', body: '{}', headers: {
         'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.ListQueues' } });
       return { status: r.status, text: await r.text() };
     };`,
  );
  const out = await call('v6', { url: `http://[::1]:${port}/` });
  // Reached the API (unsigned, so refused with its own error), not a refused connection.
  assert.equal(out.status, 403, JSON.stringify(out));
  assert.match(String(out.text), /MissingAuthenticationToken/);
});
