// POST object (browser form uploads): policies made by AWS's own helpers (@aws-sdk/s3-presigned-post and
// boto3's generate_presigned_post), S3's errors for every refused form, and the attacks on it.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { signingKey } from '../../../src/api/sigv4.js';
import { sdkConfig } from '../../helpers/platform.js';
import { runPython } from '../../helpers/process.js';
import { rejects } from '../../helpers/sdk-errors.js';
import {
  bodyOf,
  bucketName,
  type Creds,
  client,
  putPolicy,
  rawRequest,
  type S3Fixture,
  startS3,
} from './fixtures.js';

let f: S3Fixture;
let other: S3Client;
let otherCreds: Creds;
let bucket: string;

before(async () => {
  f = await startS3();
  const tenant = await f.t.platform.tenants.create('post-other');
  const key = await f.t.platform.tenants.createKey(tenant.id);
  otherCreds = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
  other = client({ endpoint: f.t.endpoint, credentials: otherCreds });
  bucket = bucketName('post');
  await f.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => {
  f.s3.destroy();
  other.destroy();
  await f.t.close();
});

type Fields = Record<string, string>;

/** POSTs the fields in order, then the file last (unless `file` is null), as a browser form does. */
async function post(
  url: string,
  fields: Fields,
  file: { name: string; body: string | Buffer } | null = { name: 'hello.txt', body: 'hello, form' },
  after: Fields = {},
): Promise<{ status: number; body: string; headers: Headers }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  if (file)
    form.append(
      'file',
      new Blob([typeof file.body === 'string' ? file.body : new Uint8Array(file.body)]),
      file.name,
    );
  for (const [k, v] of Object.entries(after)) form.append(k, v);
  const res = await fetch(url, { method: 'POST', body: form, redirect: 'manual' });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/** In a key, the uploaded file's name. */
const FILENAME = '$' + '{filename}';
const code = (body: string) => /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
const message = (body: string) =>
  /<Message>([^<]*)<\/Message>/
    .exec(body)?.[1]
    ?.replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'");

async function presignedPost(
  s3: S3Client,
  b: string,
  key: string,
  opts: { Conditions?: unknown[]; Fields?: Fields; Expires?: number } = {},
) {
  return createPresignedPost(s3, { Bucket: b, Key: key, ...opts } as Parameters<
    typeof createPresignedPost
  >[1]);
}

/** A policy signed by hand, for what the helpers will not make (expired, malformed, foreign conditions). */
function signedFields(creds: Creds, policy: unknown, extra: Fields = {}): Fields {
  const now = new Date();
  const amzDate = now.toISOString().replace(/[-:]|\.\d{3}/g, '');
  const date = amzDate.slice(0, 8);
  const b64 = Buffer.from(typeof policy === 'string' ? policy : JSON.stringify(policy)).toString('base64');
  return {
    ...extra,
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${creds.accessKeyId}/${date}/us-east-1/s3/aws4_request`,
    'X-Amz-Date': amzDate,
    Policy: b64,
    'X-Amz-Signature': createHmac('sha256', signingKey(creds.secretAccessKey, date, 'us-east-1', 's3'))
      .update(b64)
      .digest('hex'),
  };
}

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();
const sigConditions = (creds: Creds) => {
  const date = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
  return [
    ['starts-with', '$x-amz-algorithm', ''],
    ['starts-with', '$x-amz-credential', creds.accessKeyId],
    ['starts-with', '$x-amz-date', date.slice(0, 8)],
  ];
};

async function exists(b: string, key: string): Promise<boolean> {
  const out = await f.s3.send(new ListObjectsV2Command({ Bucket: b, Prefix: key }));
  return (out.Contents ?? []).some((c) => c.Key === key);
}

test('a form from createPresignedPost uploads to a key ending in the file name, with its content type, metadata, ACL and a 201 PostResponse', async () => {
  const { url, fields } = await presignedPost(f.s3, bucket, `uploads/${FILENAME}`, {
    Conditions: [
      ['starts-with', '$key', 'uploads/'],
      ['content-length-range', 1, 1024],
      ['starts-with', '$Content-Type', 'text/'],
    ],
    Fields: {
      'Content-Type': 'text/plain',
      'x-amz-meta-color': 'blue',
      success_action_status: '201',
      acl: 'public-read',
    },
    Expires: 600,
  });
  const res = await post(url, fields, { name: 'hello.txt', body: 'hello, form' });
  assert.equal(res.status, 201, res.body);
  assert.match(res.body, /<PostResponse[^>]*><Location>http:\/\/[^<]+\/uploads\/hello\.txt<\/Location>/);
  assert.match(
    res.body,
    new RegExp(`<Bucket>${bucket}</Bucket><Key>uploads/hello.txt</Key><ETag>&quot;[0-9a-f]{32}&quot;</ETag>`),
  );
  const got = await f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'uploads/hello.txt' }));
  assert.equal((await bodyOf(got)).toString(), 'hello, form');
  assert.equal(got.ContentType, 'text/plain');
  assert.deepEqual(got.Metadata, { color: 'blue' });
  // acl=public-read: an anonymous GET reads it.
  const anonymous = await rawRequest(`${f.t.endpoint}/${bucket}/uploads/hello.txt`, { method: 'GET' });
  assert.equal(anonymous.status, 200);
  assert.equal(anonymous.body, 'hello, form');
});

test('success_action_status 200 and the default 204 answer with the ETag; success_action_redirect answers 303 with bucket, key and etag', async () => {
  const p = await presignedPost(f.s3, bucket, 'status/a', { Fields: { success_action_status: '200' } });
  const ok = await post(p.url, p.fields);
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.body, '');
  assert.match(ok.headers.get('etag') ?? '', /^"[0-9a-f]{32}"$/);
  const d = await presignedPost(f.s3, bucket, 'status/b');
  const none = await post(d.url, d.fields);
  assert.equal(none.status, 204, none.body);
  const r = await presignedPost(f.s3, bucket, 'status/c d', {
    Fields: { success_action_redirect: 'https://example.test/done?x=1' },
  });
  const redirected = await post(r.url, r.fields, { name: 'c.bin', body: 'ccc' });
  assert.equal(redirected.status, 303, redirected.body);
  const to = new URL(redirected.headers.get('location')!);
  assert.equal(to.origin, 'https://example.test');
  assert.equal(to.searchParams.get('x'), '1');
  assert.equal(to.searchParams.get('bucket'), bucket);
  assert.equal(to.searchParams.get('key'), 'status/c d');
  assert.match(to.searchParams.get('etag') ?? '', /^"[0-9a-f]{32}"$/);
  const head = await f.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'status/c d' }));
  assert.equal(head.ContentLength, 3);
  assert.equal(head.ContentType, 'binary/octet-stream');
});

test('a key outside the policy starts-with is AccessDenied and stores nothing', async () => {
  const { url, fields } = await presignedPost(f.s3, bucket, `mine/${FILENAME}`, {
    Conditions: [['starts-with', '$key', 'mine/']],
  });
  const res = await post(url, { ...fields, key: 'theirs/evil.txt' });
  assert.equal(res.status, 403, res.body);
  assert.equal(code(res.body), 'AccessDenied');
  assert.equal(
    message(res.body),
    'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "mine/"]',
  );
  assert.equal(await exists(bucket, 'theirs/evil.txt'), false);
  // A filename cannot climb out of the prefix either: the key is checked as sent, then the name appended.
  const sneaky = await post(url, fields, { name: '../../x', body: 'x' });
  assert.equal(sneaky.status, 204, sneaky.body);
  assert.equal(await exists(bucket, 'mine/../../x'), true);
});

test('a field the policy does not cover is AccessDenied (Extra input fields), and so is a changed covered field', async () => {
  const { url, fields } = await presignedPost(f.s3, bucket, 'extra', {
    Fields: { 'Content-Type': 'text/plain' },
  });
  const extra = await post(url, { ...fields, 'x-amz-meta-sneaky': 'yes' });
  assert.equal(extra.status, 403, extra.body);
  assert.equal(message(extra.body), 'Invalid according to Policy: Extra input fields: x-amz-meta-sneaky');
  const changed = await post(url, { ...fields, 'Content-Type': 'text/html' });
  assert.equal(changed.status, 403, changed.body);
  assert.equal(
    message(changed.body),
    'Invalid according to Policy: Policy Condition failed: ["eq", "$content-type", "text/plain"]',
  );
  // x-ignore-* fields need no condition.
  const ignored = await post(url, { ...fields, 'x-ignore-submit': 'Upload' });
  assert.equal(ignored.status, 204, ignored.body);
  assert.equal(await exists(bucket, 'extra'), true);
});

test('content-length-range refuses a larger file with EntityTooLarge and a smaller one with EntityTooSmall', async () => {
  const { url, fields } = await presignedPost(f.s3, bucket, 'sized', {
    Conditions: [['content-length-range', 5, 10]],
  });
  const big = await post(url, fields, { name: 'b', body: Buffer.alloc(11, 'x') });
  assert.equal(big.status, 400, big.body);
  assert.equal(code(big.body), 'EntityTooLarge');
  const small = await post(url, fields, { name: 's', body: 'abcd' });
  assert.equal(small.status, 400, small.body);
  assert.equal(code(small.body), 'EntityTooSmall');
  assert.equal(await exists(bucket, 'sized'), false);
  const fits = await post(url, fields, { name: 'f', body: '0123456789' });
  assert.equal(fits.status, 204, fits.body);
});

test('an expired policy is AccessDenied "Policy expired"; a tampered one SignatureDoesNotMatch; a malformed one InvalidPolicyDocument', async () => {
  const conditions = [{ bucket }, ['starts-with', '$key', ''], ...sigConditions(f.t.credentials)];
  const expired = signedFields(
    f.t.credentials,
    { expiration: new Date(Date.now() - 1000).toISOString(), conditions },
    { key: 'expired' },
  );
  const res = await post(`${f.t.endpoint}/${bucket}`, expired);
  assert.equal(res.status, 403, res.body);
  assert.equal(message(res.body), 'Invalid according to Policy: Policy expired.');
  const good = signedFields(f.t.credentials, { expiration: inAnHour(), conditions }, { key: 'tampered' });
  const tampered = await post(`${f.t.endpoint}/${bucket}`, {
    ...good,
    Policy: Buffer.from(JSON.stringify({ expiration: inAnHour(), conditions: [] })).toString('base64'),
  });
  assert.equal(tampered.status, 403, tampered.body);
  assert.equal(code(tampered.body), 'SignatureDoesNotMatch');
  const noExpiry = await post(
    `${f.t.endpoint}/${bucket}`,
    signedFields(f.t.credentials, { conditions }, { key: 'k' }),
  );
  assert.equal(noExpiry.status, 400, noExpiry.body);
  assert.equal(code(noExpiry.body), 'InvalidPolicyDocument');
  assert.equal(message(noExpiry.body), 'Invalid Policy: Policy missing expiration.');
  const notJson = await post(
    `${f.t.endpoint}/${bucket}`,
    signedFields(f.t.credentials, '{not json', { key: 'k' }),
  );
  assert.equal(code(notJson.body), 'InvalidPolicyDocument');
  assert.equal(await exists(bucket, 'expired'), false);
  assert.equal(await exists(bucket, 'tampered'), false);
});

test('a policy for another bucket fails its bucket condition', async () => {
  const b2 = bucketName('post-two');
  await f.s3.send(new CreateBucketCommand({ Bucket: b2 }));
  const { fields } = await presignedPost(f.s3, bucket, 'moved');
  const res = await post(`${f.t.endpoint}/${b2}`, fields);
  assert.equal(res.status, 403, res.body);
  assert.equal(
    message(res.body),
    `Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "${bucket}"]`,
  );
  assert.equal(await exists(b2, 'moved'), false);
});

test("a policy signed with another tenant's key for your bucket is AccessDenied and stores nothing", async () => {
  const { url, fields } = await presignedPost(other, bucket, 'foreign');
  const res = await post(url, fields);
  assert.equal(res.status, 403, res.body);
  assert.equal(code(res.body), 'AccessDenied');
  assert.equal(message(res.body), 'Access Denied');
  assert.equal(await exists(bucket, 'foreign'), false);
  // An unknown key is InvalidAccessKeyId.
  const unknown = await presignedPost(
    client({
      endpoint: f.t.endpoint,
      credentials: { accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'x' },
    }),
    bucket,
    'unknown',
  );
  const res2 = await post(unknown.url, unknown.fields);
  assert.equal(res2.status, 403, res2.body);
  assert.equal(code(res2.body), 'InvalidAccessKeyId');
});

test('anonymous POST without a policy: AccessDenied on a private bucket, stored on a public-read-write one', async () => {
  const denied = await post(`${f.t.endpoint}/${bucket}`, { key: 'anon' });
  assert.equal(denied.status, 403, denied.body);
  assert.equal(code(denied.body), 'AccessDenied');
  const open = bucketName('post-open');
  await f.s3.send(new CreateBucketCommand({ Bucket: open, ACL: 'public-read-write' }));
  const res = await post(`${f.t.endpoint}/${open}`, {
    key: `anon/${FILENAME}`,
    'Content-Type': 'text/plain',
  });
  assert.equal(res.status, 204, res.body);
  const got = await f.s3.send(new GetObjectCommand({ Bucket: open, Key: 'anon/hello.txt' }));
  assert.equal((await bodyOf(got)).toString(), 'hello, form');
  assert.equal(got.ContentType, 'text/plain');
});

test('bucket policy conditions on s3:x-amz-acl read the form’s acl field: a Deny cannot be dodged by POST', async () => {
  const b = bucketName('post-cond');
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  await putPolicy(f.s3, b, [
    {
      Effect: 'Allow',
      Principal: '*',
      Action: ['s3:PutObject', 's3:PutObjectAcl'],
      Resource: `arn:aws:s3:::${b}/*`,
    },
    {
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:PutObjectAcl',
      Resource: `arn:aws:s3:::${b}/*`,
      Condition: { StringLike: { 's3:x-amz-acl': 'public*' } },
    },
  ]);
  const url = `${f.t.endpoint}/${b}`;
  const denied = await post(url, { key: 'pub', acl: 'public-read' });
  assert.equal(denied.status, 403, denied.body);
  assert.equal(code(denied.body), 'AccessDenied');
  // The same header on the request itself says nothing about the form's acl.
  const form = new FormData();
  form.append('key', 'pub2');
  form.append('acl', 'public-read-write');
  form.append('file', new Blob(['x']), 'x.txt');
  const viaHeader = await fetch(url, { method: 'POST', body: form, headers: { 'x-amz-acl': 'private' } });
  assert.equal(viaHeader.status, 403, await viaHeader.text());
  assert.equal((await post(url, { key: 'priv', acl: 'private' })).status, 204);
  assert.equal((await post(url, { key: 'none' })).status, 204);
  assert.ok(!(await exists(b, 'pub')) && !(await exists(b, 'pub2')));
  assert.ok((await exists(b, 'priv')) && (await exists(b, 'none')));
});

test('missing key, no file, a field after the file and unsupported fields are refused with S3 errors', async () => {
  const { url, fields } = await presignedPost(f.s3, bucket, 'shape', {
    Conditions: [['starts-with', '$Content-Type', '']],
  });
  const { key: _key, ...noKey } = fields;
  const missing = await post(url, noKey);
  assert.equal(missing.status, 400, missing.body);
  assert.equal(code(missing.body), 'InvalidArgument');
  assert.match(message(missing.body) ?? '', /^Bucket POST must contain a field named 'key'/);
  const noFile = await post(url, fields, null);
  assert.equal(noFile.status, 400, noFile.body);
  assert.equal(message(noFile.body), 'POST requires exactly one file upload per request.');
  const trailing = await post(url, fields, { name: 'x', body: 'data' }, { 'Content-Type': 'text/html' });
  assert.equal(trailing.status, 400, trailing.body);
  assert.equal(message(trailing.body), 'The file or text content must be the last field in the form.');
  assert.equal(await exists(bucket, 'shape'), false);
  const sse = await post(url, { ...fields, 'x-amz-server-side-encryption': 'AES256' });
  assert.equal(sse.status, 501, sse.body);
  assert.equal(code(sse.body), 'NotImplemented');
  const tagging = await post(url, { ...fields, tagging: '<Tagging/>' });
  assert.equal(code(tagging.body), 'NotImplemented');
});

test('fields before the file over 20 KB are MaxPostPreDataLengthExceeded, before any policy work', async () => {
  const { url, fields } = await presignedPost(f.s3, bucket, 'big-fields');
  const res = await post(url, { ...fields, 'x-ignore-pad': 'p'.repeat(21 * 1024) });
  assert.equal(res.status, 400, res.body);
  assert.equal(code(res.body), 'MaxPostPreDataLengthExceeded');
  assert.equal(await exists(bucket, 'big-fields'), false);
});

test('a file of several MB streams through the form intact (the delimiter split across reads)', async () => {
  const { url, fields } = await presignedPost(f.s3, bucket, 'large.bin');
  const body = Buffer.alloc(3 * 1024 * 1024 + 7);
  for (let i = 0; i < body.length; i++) body[i] = (i * 31 + 7) & 0xff;
  // A run of dashes and CR LF right before the end, to tempt a delimiter match.
  body.write('\r\n--\r\n-', body.length - 8, 'latin1');
  const res = await post(url, fields, { name: 'large.bin', body });
  assert.equal(res.status, 204, res.body);
  const got = await bodyOf(await f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'large.bin' })));
  assert.ok(got.equals(body));
});

test("boto3's generate_presigned_post makes a form this server takes, and refuses a key outside it", async () => {
  // boto3 signs forms with SigV2 by default here, and with SigV4 when configured: both are taken.
  const script = `
import boto3, requests, sys
from botocore.config import Config
for version, folder in ((None, 'py2'), ('s3v4', 'py4')):
    s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1',
                      aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3],
                      config=Config(signature_version=version) if version else None)
    post = s3.generate_presigned_post(sys.argv[4], folder + '/\${filename}',
        Fields={'Content-Type': 'text/csv', 'success_action_status': '201'},
        Conditions=[{'Content-Type': 'text/csv'}, {'success_action_status': '201'}, ['content-length-range', 1, 100]],
        ExpiresIn=300)
    ok = requests.post(post['url'], data=post['fields'], files={'file': ('data.csv', b'a,b\\n1,2\\n')})
    print(ok.status_code, 'x-amz-signature' in post['fields'], ok.text if ok.status_code != 201 else '')
    bad = dict(post['fields'], key='elsewhere/data.csv')
    no = requests.post(post['url'], data=bad, files={'file': ('data.csv', b'a,b\\n')})
    print(no.status_code)
    print(repr(s3.get_object(Bucket=sys.argv[4], Key=folder + '/data.csv')['Body'].read().decode()))
`;
  const out = await runPython(script, [
    f.t.endpoint,
    f.t.credentials.accessKeyId,
    f.t.credentials.secretAccessKey,
    bucket,
  ]);
  assert.equal(out.status, 0, `${out.stdout}\n${out.stderr}`);
  assert.deepEqual(out.stdout.trim().split('\n'), [
    '201 False ',
    '403',
    "'a,b\\n1,2\\n'",
    '201 True ',
    '403',
    "'a,b\\n1,2\\n'",
  ]);
  await rejects(f.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'elsewhere/data.csv' })), 'NotFound');
});

test('a form posts to a virtual-hosted bucket (POST / on bucket.localhost), and a foreign bucket host is AccessDenied', async () => {
  const port = new URL(f.t.endpoint).port;
  const vclient = new S3Client({
    ...sdkConfig({ endpoint: `http://localhost:${port}`, credentials: f.t.credentials }),
    forcePathStyle: false,
  });
  try {
    const { url, fields } = await presignedPost(vclient, bucket, 'virtual/form.txt');
    assert.equal(new URL(url).host, `${bucket}.localhost:${port}`);
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append('file', new Blob(['by host']), 'form.txt');
    // The form's bytes as a browser sends them, to loopback with the bucket's Host.
    const encoded = new Response(form);
    const body = Buffer.from(await encoded.arrayBuffer());
    const headers = { host: new URL(url).host, 'content-type': encoded.headers.get('content-type')! };
    const res = await rawRequest(`http://127.0.0.1:${port}/`, { method: 'POST', headers, body });
    assert.equal(res.status, 204, res.body);
    const got = await f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'virtual/form.txt' }));
    assert.equal((await bodyOf(got)).toString(), 'by host');
    // The same form (our policy, our bucket condition) sent to another tenant's bucket by its Host.
    const theirs = bucketName('post-theirs');
    await other.send(new CreateBucketCommand({ Bucket: theirs }));
    const foreign = await rawRequest(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: { ...headers, host: `${theirs}.localhost:${port}` },
      body,
    });
    assert.equal(foreign.status, 403, foreign.body);
    assert.equal(code(foreign.body), 'AccessDenied');
  } finally {
    vclient.destroy();
  }
});
