// Presigned URLs live 1 s to a week, and a credential scope must name the server's region (issue 7,
// finding 6): each refused in the service's own words.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { exchange, presignUrl, signedHead, statusOf } from './helpers.js';

let p: TestPlatform;

before(async () => {
  p = await startPlatform();
});

after(() => p.close());

async function get(url: string): Promise<{ status: number; text: string; type: string }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text(), type: res.headers.get('x-amzn-errortype') ?? '' };
}

const s3Url = (expires: string, region?: string) =>
  presignUrl(p.endpoint, p.credentials, {
    method: 'GET',
    path: '/no-such-bucket-here/key',
    service: 's3',
    expires,
    ...(region && { region }),
  });

test('a presigned S3 URL valid for ten years is refused with AuthorizationQueryParametersError', async () => {
  const r = await get(s3Url(String(10 * 365 * 86400)));
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /<Code>AuthorizationQueryParametersError<\/Code>/);
  assert.match(r.text, /604800/);
});

test('a presigned S3 URL one second past a week is refused', async () => {
  const r = await get(s3Url('604801'));
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /AuthorizationQueryParametersError/);
});

test('a presigned S3 URL with X-Amz-Expires 0 is refused', async () => {
  const r = await get(s3Url('0'));
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /AuthorizationQueryParametersError/);
});

test('a presigned S3 URL with a fractional or non-numeric X-Amz-Expires is refused', async () => {
  for (const e of ['1.5', 'abc', '-5', '1e5']) {
    const r = await get(s3Url(e));
    assert.equal(r.status, 400, `${e}: ${r.text}`);
    assert.match(r.text, /AuthorizationQueryParametersError/);
  }
});

test('a presigned S3 URL without X-Amz-Expires is refused', async () => {
  const url = new URL(s3Url('60'));
  url.searchParams.delete('X-Amz-Expires');
  const r = await get(url.toString());
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /AuthorizationQueryParametersError/);
});

test('a presigned S3 URL valid for exactly a week is accepted', async () => {
  const r = await get(s3Url('604800'));
  // Authenticated: the bucket does not exist.
  assert.equal(r.status, 404, r.text);
  assert.match(r.text, /NoSuchBucket/);
});

test('a presigned Lambda URL valid for ten years is refused with IncompleteSignatureException', async () => {
  const url = presignUrl(p.endpoint, p.credentials, {
    method: 'GET',
    path: '/2015-03-31/functions',
    service: 'lambda',
    expires: String(10 * 365 * 86400),
  });
  const r = await get(url);
  assert.equal(r.status, 403, r.text);
  assert.equal(r.type, 'IncompleteSignatureException');
  assert.match(r.text, /604800/);
});

test('a presigned Lambda URL within a week is accepted', async () => {
  const url = presignUrl(p.endpoint, p.credentials, {
    method: 'GET',
    path: '/2015-03-31/functions',
    service: 'lambda',
    expires: '300',
  });
  const r = await get(url);
  assert.equal(r.status, 200, r.text);
});

test('a Lambda request scoped to another region is InvalidSignatureException naming the region', async () => {
  const raw = await exchange(
    p.endpoint,
    signedHead(p.endpoint, p.credentials, {
      method: 'GET',
      path: '/2015-03-31/functions',
      service: 'lambda',
      region: 'eu-west-1',
      headers: { connection: 'close' },
    }),
  );
  assert.equal(statusOf(raw), 403, raw);
  assert.match(raw, /InvalidSignatureException/);
  assert.match(raw, /Credential should be scoped to a valid region, not 'eu-west-1'/);
});

test('an S3 request scoped to another region is AuthorizationHeaderMalformed naming the expected region', async () => {
  const raw = await exchange(
    p.endpoint,
    signedHead(p.endpoint, p.credentials, {
      method: 'GET',
      path: '/',
      service: 's3',
      region: 'ap-south-1',
      headers: { connection: 'close' },
    }),
  );
  assert.equal(statusOf(raw), 400, raw);
  assert.match(raw, /<Code>AuthorizationHeaderMalformed<\/Code>/);
  assert.match(raw, /the region &apos;ap-south-1&apos; is wrong; expecting &apos;us-east-1&apos;/);
  assert.match(raw, /<Region>us-east-1<\/Region>/);
});

test('a presigned S3 URL scoped to another region is AuthorizationQueryParametersError', async () => {
  const r = await get(s3Url('60', 'eu-central-1'));
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /AuthorizationQueryParametersError/);
  assert.match(r.text, /eu-central-1/);
});

test('the SQS SDK configured for another region is refused with a 403 naming the region', async () => {
  const sqs = new SQSClient({ ...sdkConfig(p), region: 'eu-west-2' });
  try {
    await assert.rejects(
      sqs.send(new ListQueuesCommand({})),
      (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(e.$metadata?.httpStatusCode, 403);
        assert.match(e.message, /eu-west-2/);
        return true;
      },
    );
  } finally {
    sqs.destroy();
  }
});

test('the SQS SDK in the server region still works', async () => {
  const sqs = new SQSClient(sdkConfig(p));
  try {
    const out = await sqs.send(new ListQueuesCommand({}));
    assert.equal(out.$metadata.httpStatusCode, 200);
  } finally {
    sqs.destroy();
  }
});
