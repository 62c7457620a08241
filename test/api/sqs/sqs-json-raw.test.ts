// Malformed JSON-protocol requests (what the SDK would never send) sent raw with SigV4: each gets SQS's
// error shape (`__type`, `message`, and the `x-amzn-query-error` header).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { signRequest } from '../../../src/api/sigv4.js';
import { startPlatform, type TestPlatform } from '../../helpers/platform.js';

let p: TestPlatform;
let queueUrl = '';

before(async () => {
  p = await startPlatform();
  const r = await call('CreateQueue', JSON.stringify({ QueueName: 'raw-json' }));
  queueUrl = (r.json as { QueueUrl: string }).QueueUrl;
});
after(async () => {
  await p.close();
});

async function call(
  action: string,
  body: string,
): Promise<{ status: number; json: Record<string, unknown>; queryError: string | null }> {
  const url = new URL('/', p.endpoint);
  const headers = signRequest({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': `AmazonSQS.${action}` },
    body,
    accessKeyId: p.credentials.accessKeyId,
    secretAccessKey: p.credentials.secretAccessKey,
    region: p.region,
    service: 'sqs',
  });
  delete headers.host;
  const res = await fetch(url, { method: 'POST', headers, body });
  return {
    status: res.status,
    json: (await res.json()) as Record<string, unknown>,
    queryError: res.headers.get('x-amzn-query-error'),
  };
}

test('a body that is not JSON answers 400 with a serialization error', async () => {
  const r = await call('SendMessage', '{"QueueUrl": ');
  assert.equal(r.status, 400);
  assert.match(String(r.json.__type), /#SerializationException$/);
});

test('a JSON body that is not an object answers 400', async () => {
  const r = await call('SendMessage', '[1, 2]');
  assert.equal(r.status, 400);
  assert.match(String(r.json.__type), /#SerializationException$/);
});

test('a missing QueueUrl answers MissingParameter', async () => {
  const r = await call('SendMessage', JSON.stringify({ MessageBody: 'x' }));
  assert.equal(r.status, 400);
  assert.equal(r.json.__type, 'com.amazonaws.sqs#MissingParameter');
  assert.equal(r.queryError, 'MissingParameter;Sender');
});

test('a missing MessageBody answers MissingParameter', async () => {
  const r = await call('SendMessage', JSON.stringify({ QueueUrl: queueUrl }));
  assert.equal(r.status, 400);
  assert.equal(r.json.__type, 'com.amazonaws.sqs#MissingParameter');
});

test('a number sent as a string answers InvalidParameterValue', async () => {
  const r = await call('ReceiveMessage', JSON.stringify({ QueueUrl: queueUrl, MaxNumberOfMessages: 'ten' }));
  assert.equal(r.status, 400);
  assert.equal(r.json.__type, 'com.amazonaws.sqs#InvalidParameterValue');
  assert.match(String(r.json.message), /MaxNumberOfMessages/);
});

test('a binary attribute that is not base64 answers InvalidParameterValue', async () => {
  const r = await call(
    'SendMessage',
    JSON.stringify({
      QueueUrl: queueUrl,
      MessageBody: 'x',
      MessageAttributes: { b: { DataType: 'Binary', BinaryValue: 'not base64!' } },
    }),
  );
  assert.equal(r.status, 400);
  assert.equal(r.json.__type, 'com.amazonaws.sqs#InvalidParameterValue');
});

test('an attribute of type String without a value answers InvalidParameterValue', async () => {
  const r = await call(
    'SendMessage',
    JSON.stringify({
      QueueUrl: queueUrl,
      MessageBody: 'x',
      MessageAttributes: { s: { DataType: 'String' } },
    }),
  );
  assert.equal(r.status, 400);
  assert.equal(r.json.__type, 'com.amazonaws.sqs#InvalidParameterValue');
});

test('an unknown operation answers 400 InvalidAction', async () => {
  const r = await call('LaunchRocket', '{}');
  assert.equal(r.status, 400);
  assert.equal(r.queryError, 'InvalidAction;Sender');
});

test('a nonexistent queue answers QueueDoesNotExist with the NonExistentQueue query code', async () => {
  const r = await call('GetQueueAttributes', JSON.stringify({ QueueUrl: `${p.endpoint}/000000000000/none` }));
  assert.equal(r.status, 400);
  assert.equal(r.json.__type, 'com.amazonaws.sqs#QueueDoesNotExist');
  assert.equal(r.queryError, 'AWS.SimpleQueueService.NonExistentQueue;Sender');
  assert.equal(r.json.message, 'The specified queue does not exist.');
});
