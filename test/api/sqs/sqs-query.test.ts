// SQS's query protocol (form-encoded Action=..., XML answers) as distro AWS CLIs and older boto3 send it:
// raw requests signed with SigV4, answers parsed as XML.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { signRequest } from '../../../src/api/sigv4.js';
import { startPlatform, type TestPlatform } from '../../helpers/platform.js';

let p: TestPlatform;

before(async () => {
  p = await startPlatform();
});
after(async () => {
  await p.close();
});

async function query(params: Record<string, string>, path = '/'): Promise<{ status: number; xml: string }> {
  const url = new URL(path, p.endpoint);
  const body = new URLSearchParams({ Version: '2012-11-05', ...params }).toString();
  const headers = signRequest({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body,
    accessKeyId: p.credentials.accessKeyId,
    secretAccessKey: p.credentials.secretAccessKey,
    region: p.region,
    service: 'sqs',
  });
  delete headers.host;
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, xml: await res.text() };
}

const unescapeXml = (s: string) =>
  s.replace(
    /&(lt|gt|quot|apos|amp|#13);/g,
    (_, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&', '#13': '\r' })[e]!,
  );
/** Text of every <tag> element, in document order. */
const all = (xml: string, tag: string) =>
  [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => unescapeXml(m[1]!));
const one = (xml: string, tag: string) => all(xml, tag)[0];

async function createQueue(name: string): Promise<string> {
  const r = await query({ Action: 'CreateQueue', QueueName: name });
  assert.equal(r.status, 200, r.xml);
  return one(r.xml, 'QueueUrl')!;
}

test('CreateQueue answers an XML CreateQueueResponse in the 2012-11-05 namespace', async () => {
  const r = await query({ Action: 'CreateQueue', QueueName: 'xml-create' });
  assert.equal(r.status, 200);
  assert.match(r.xml, /<CreateQueueResponse xmlns="http:\/\/queue\.amazonaws\.com\/doc\/2012-11-05\/">/);
  assert.match(one(r.xml, 'QueueUrl')!, /\/\d{12}\/xml-create$/);
  assert.ok(one(r.xml, 'RequestId'));
});

test('a message sent and received over the query protocol keeps its body, attributes and digests', async () => {
  const url = await createQueue('xml-roundtrip');
  const body = 'a <b> & "c"';
  const sent = await query({
    Action: 'SendMessage',
    QueueUrl: url,
    MessageBody: body,
    'MessageAttribute.1.Name': 'timestamp',
    'MessageAttribute.1.Value.DataType': 'Number',
    'MessageAttribute.1.Value.StringValue': '1493147359900',
  });
  assert.equal(sent.status, 200, sent.xml);
  assert.equal(one(sent.xml, 'MD5OfMessageBody'), createHash('md5').update(body).digest('hex'));
  assert.equal(one(sent.xml, 'MD5OfMessageAttributes'), '235c5c510d26fb653d073faed50ae77c');

  const got = await query({
    Action: 'ReceiveMessage',
    QueueUrl: url,
    'AttributeName.1': 'All',
    'MessageAttributeName.1': 'All',
  });
  assert.equal(got.status, 200, got.xml);
  assert.equal(one(got.xml, 'Body'), body);
  assert.equal(one(got.xml, 'MessageId'), one(sent.xml, 'MessageId'));
  const names = all(got.xml, 'Name');
  const values = all(got.xml, 'Value');
  assert.ok(names.includes('ApproximateReceiveCount'));
  assert.equal(values[names.indexOf('ApproximateReceiveCount')], '1');
  assert.ok(names.includes('timestamp'));
  assert.equal(one(got.xml, 'StringValue'), '1493147359900');
  assert.equal(one(got.xml, 'DataType'), 'Number');

  const del = await query({
    Action: 'DeleteMessage',
    QueueUrl: url,
    ReceiptHandle: one(got.xml, 'ReceiptHandle')!,
  });
  assert.equal(del.status, 200, del.xml);
  assert.match(del.xml, /<DeleteMessageResponse /);
});

test('the queue URL may be given as the request path', async () => {
  const url = await createQueue('xml-path');
  const sent = await query({ Action: 'SendMessage', MessageBody: 'by path' }, new URL(url).pathname);
  assert.equal(sent.status, 200, sent.xml);
  const got = await query({ Action: 'ReceiveMessage' }, new URL(url).pathname);
  assert.equal(one(got.xml, 'Body'), 'by path');
});

test('SendMessageBatch entries are read from indexed form parameters', async () => {
  const url = await createQueue('xml-batch');
  const r = await query({
    Action: 'SendMessageBatch',
    QueueUrl: url,
    'SendMessageBatchRequestEntry.1.Id': 'first',
    'SendMessageBatchRequestEntry.1.MessageBody': 'one',
    'SendMessageBatchRequestEntry.2.Id': 'second',
    'SendMessageBatchRequestEntry.2.MessageBody': 'two',
    'SendMessageBatchRequestEntry.2.DelaySeconds': '1000',
  });
  assert.equal(r.status, 200, r.xml);
  assert.equal(all(r.xml, 'SendMessageBatchResultEntry').length, 1);
  const failed = all(r.xml, 'BatchResultErrorEntry');
  assert.equal(failed.length, 1);
  assert.equal(one(failed[0]!, 'Id'), 'second');
  assert.equal(one(failed[0]!, 'Code'), 'InvalidParameterValue');
  assert.equal(one(failed[0]!, 'SenderFault'), 'true');
});

test('GetQueueAttributes answers Attribute name/value pairs', async () => {
  const url = await createQueue('xml-attrs');
  const set = await query({
    Action: 'SetQueueAttributes',
    QueueUrl: url,
    'Attribute.1.Name': 'VisibilityTimeout',
    'Attribute.1.Value': '77',
  });
  assert.equal(set.status, 200, set.xml);
  const r = await query({
    Action: 'GetQueueAttributes',
    QueueUrl: url,
    'AttributeName.1': 'VisibilityTimeout',
    'AttributeName.2': 'QueueArn',
  });
  const names = all(r.xml, 'Name');
  const values = all(r.xml, 'Value');
  assert.equal(values[names.indexOf('VisibilityTimeout')], '77');
  assert.match(values[names.indexOf('QueueArn')]!, /^arn:aws:sqs:us-east-1:\d{12}:xml-attrs$/);
});

test('an unknown queue answers an XML ErrorResponse with the NonExistentQueue code', async () => {
  const r = await query({
    Action: 'SendMessage',
    QueueUrl: `${p.endpoint}/000000000000/nope`,
    MessageBody: 'x',
  });
  assert.equal(r.status, 400);
  assert.match(r.xml, /<ErrorResponse xmlns="http:\/\/queue\.amazonaws\.com\/doc\/2012-11-05\/">/);
  assert.equal(one(r.xml, 'Code'), 'AWS.SimpleQueueService.NonExistentQueue');
  assert.equal(one(r.xml, 'Type'), 'Sender');
});

test('an unknown action answers InvalidAction', async () => {
  const r = await query({ Action: 'FlyToTheMoon' });
  assert.equal(r.status, 400);
  assert.equal(one(r.xml, 'Code'), 'InvalidAction');
});

test('a non-numeric MaxNumberOfMessages answers InvalidParameterValue', async () => {
  const url = await createQueue('xml-bad-number');
  const r = await query({ Action: 'ReceiveMessage', QueueUrl: url, MaxNumberOfMessages: 'ten' });
  assert.equal(r.status, 400);
  assert.equal(one(r.xml, 'Code'), 'InvalidParameterValue');
});

test('a missing queue name answers MissingParameter', async () => {
  const r = await query({ Action: 'CreateQueue' });
  assert.equal(r.status, 400);
  assert.equal(one(r.xml, 'Code'), 'MissingParameter');
});

test('ListQueues answers one QueueUrl element per queue', async () => {
  await createQueue('xml-list-a');
  await createQueue('xml-list-b');
  const r = await query({ Action: 'ListQueues', QueueNamePrefix: 'xml-list-' });
  assert.deepEqual(
    all(r.xml, 'QueueUrl').map((u) => u.split('/').pop()),
    ['xml-list-a', 'xml-list-b'],
  );
});

test('a request signed with the wrong secret answers SignatureDoesNotMatch', async () => {
  const url = new URL('/', p.endpoint);
  const body = new URLSearchParams({ Action: 'ListQueues', Version: '2012-11-05' }).toString();
  const headers = signRequest({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body,
    accessKeyId: p.credentials.accessKeyId,
    secretAccessKey: 'wrong-secret',
    region: p.region,
    service: 'sqs',
  });
  delete headers.host;
  const res = await fetch(url, { method: 'POST', headers, body });
  assert.equal(res.status, 403);
  assert.equal(one(await res.text(), 'Code'), 'SignatureDoesNotMatch');
});

test('a GET request with the action in the query string is answered', async () => {
  await createQueue('xml-get');
  const url = new URL('/?Action=GetQueueUrl&QueueName=xml-get&Version=2012-11-05', p.endpoint);
  const headers = signRequest({
    method: 'GET',
    url,
    headers: {},
    accessKeyId: p.credentials.accessKeyId,
    secretAccessKey: p.credentials.secretAccessKey,
    region: p.region,
    service: 'sqs',
  });
  delete headers.host;
  const res = await fetch(url, { headers });
  const xml = await res.text();
  assert.equal(res.status, 200, xml);
  assert.match(one(xml, 'QueueUrl')!, /\/\d{12}\/xml-get$/);
});

test('form parameters naming __proto__ do not reach object prototypes', async () => {
  const r = await query({ Action: 'ListQueues', '__proto__.polluted': 'yes', 'Attribute.1.__proto__': 'x' });
  assert.equal(r.status, 200, r.xml);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
