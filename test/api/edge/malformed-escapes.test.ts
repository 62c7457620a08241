// A malformed percent-escape anywhere in a path or parameter is a 4xx in the surface's own words on
// every surface, signed or not: no 500 is reachable from input (issue 7, finding 6).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { exchange, signedHead, statusOf, unsignedHead } from './helpers.js';

let p: TestPlatform;
let account: string;

before(async () => {
  p = await startPlatform();
  account = (await p.platform.tenants.get('admin'))?.accountId ?? '000000000000';
});

after(() => p.close());

const ESCAPES = ['%ZZ', '%', '%E0%A4%A', '%C3%28', '%FF', 'a%2', '%uD800'];

interface Surface {
  name: string;
  service: string;
  method: string;
  /** A path on the surface with the escape in a path segment. */
  path: (bad: string) => string;
  headers?: Record<string, string>;
  body?: string;
}

const SURFACES: Surface[] = [
  {
    name: 'SQS JSON',
    service: 'sqs',
    method: 'POST',
    path: (bad) => `/${bad}`,
    headers: { 'x-amz-target': 'AmazonSQS.ListQueues', 'content-type': 'application/x-amz-json-1.0' },
    body: '{}',
  },
  {
    name: 'SQS query',
    service: 'sqs',
    method: 'POST',
    path: (bad) => `/${account}/${bad}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'Action=GetQueueAttributes&AttributeName.1=All',
  },
  { name: 'S3 path-style', service: 's3', method: 'GET', path: (bad) => `/some-bucket/${bad}` },
  { name: 'S3 bucket', service: 's3', method: 'GET', path: (bad) => `/${bad}` },
  { name: 'Lambda', service: 'lambda', method: 'GET', path: (bad) => `/2015-03-31/functions/${bad}` },
  {
    name: 'Lambda invoke',
    service: 'lambda',
    method: 'POST',
    path: (bad) => `/2015-03-31/functions/${bad}/invocations`,
    body: '{}',
  },
  {
    name: 'EventBridge',
    service: 'events',
    method: 'POST',
    path: (bad) => `/${bad}`,
    headers: { 'x-amz-target': 'AWSEvents.ListRules', 'content-type': 'application/x-amz-json-1.1' },
    body: '{}',
  },
  { name: 'admin', service: 'kindling', method: 'GET', path: (bad) => `/kindling/v1/tenants/${bad}` },
  {
    name: 'admin logs',
    service: 'kindling',
    method: 'GET',
    path: (bad) => `/kindling/v1/functions/${bad}/logs`,
  },
];

function signed(s: Surface, path: string): string {
  return signedHead(p.endpoint, p.credentials, {
    method: s.method,
    path,
    service: s.service,
    body: s.body ?? '',
    headers: {
      ...s.headers,
      connection: 'close',
      ...(s.service === 's3' && { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }),
    },
  });
}

function unsigned(s: Surface, path: string): string {
  return unsignedHead({
    method: s.method,
    path,
    headers: s.headers,
    contentLength: Buffer.byteLength(s.body ?? ''),
  });
}

for (const s of SURFACES) {
  for (const bad of ESCAPES) {
    test(`${s.name}: '${bad}' in the path answers 4xx, signed and unsigned`, async () => {
      for (const head of [signed(s, s.path(bad)), unsigned(s, s.path(bad))]) {
        const raw = await exchange(p.endpoint, head, s.body ?? '');
        const status = statusOf(raw);
        assert.ok(status >= 400 && status < 500, raw);
      }
    });
    test(`${s.name}: '${bad}' in a query parameter answers 4xx, signed and unsigned`, async () => {
      const path = `${s.path('ok')}?x=${bad}&${bad}=y`;
      for (const head of [signed(s, path), unsigned(s, path)]) {
        const raw = await exchange(p.endpoint, head, s.body ?? '');
        const status = statusOf(raw);
        assert.ok(status >= 400 && status < 500, raw);
      }
    });
  }
}

test('S3 answers InvalidURI for a malformed escape in an object key', async () => {
  const s = SURFACES.find((x) => x.name === 'S3 path-style')!;
  const raw = await exchange(p.endpoint, signed(s, s.path('%ZZ')));
  assert.equal(statusOf(raw), 400, raw);
  assert.match(raw, /<Code>InvalidURI<\/Code>/);
});

test('the SQS query protocol answers InvalidAddress for a malformed escape in the queue path', async () => {
  const s = SURFACES.find((x) => x.name === 'SQS query')!;
  const raw = await exchange(p.endpoint, signed(s, s.path('%ZZ')), s.body);
  assert.equal(statusOf(raw), 400, raw);
  assert.match(raw, /<Code>InvalidAddress<\/Code>/);
});

test('the SQS query protocol refuses a malformed escape in a form parameter with InvalidParameterValue', async () => {
  const body = `Action=GetQueueAttributes&QueueUrl=http%3A%2F%2Flocalhost%2F${account}%2F%ZZ`;
  const s: Surface = { ...SURFACES.find((x) => x.name === 'SQS query')!, path: () => '/', body };
  const raw = await exchange(p.endpoint, signed(s, '/'), body);
  assert.equal(statusOf(raw), 400, raw);
  assert.match(raw, /<Code>InvalidParameterValue<\/Code>/);
});

test('a queue URL whose name decodes to a malformed escape (%25ZZ) is QueueDoesNotExist, not a 500', async () => {
  const s = SURFACES.find((x) => x.name === 'SQS query')!;
  const raw = await exchange(p.endpoint, signed(s, s.path('%25ZZ')), s.body);
  assert.equal(statusOf(raw), 400, raw);
  assert.match(raw, /NonExistentQueue/);
});

test('an SQS JSON QueueUrl with a malformed escape is QueueDoesNotExist, not a 500', async () => {
  const body = JSON.stringify({ QueueUrl: `${p.endpoint}/${account}/%ZZ` });
  const s: Surface = {
    ...SURFACES.find((x) => x.name === 'SQS JSON')!,
    headers: { 'x-amz-target': 'AmazonSQS.GetQueueAttributes', 'content-type': 'application/x-amz-json-1.0' },
    body,
  };
  const raw = await exchange(p.endpoint, signed(s, '/'), body);
  assert.equal(statusOf(raw), 400, raw);
  assert.match(raw, /QueueDoesNotExist/);
});

test('Lambda answers ValidationException 400 for a malformed escape in a function name', async () => {
  const s = SURFACES.find((x) => x.name === 'Lambda')!;
  const raw = await exchange(p.endpoint, signed(s, s.path('%E0%A4%A')));
  assert.equal(statusOf(raw), 400, raw);
  assert.match(raw, /ValidationException/);
});

test('the admin API answers ValidationException 400 for a malformed escape in a tenant name', async () => {
  const s = SURFACES.find((x) => x.name === 'admin')!;
  const raw = await exchange(p.endpoint, signed(s, s.path('%ZZ')));
  assert.equal(statusOf(raw), 400, raw);
  assert.match(raw, /ValidationException/);
});
