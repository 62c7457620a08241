import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  bodyOf,
  bucketName,
  client,
  objectPath,
  otherTenant,
  presign,
  rawRequest,
  rejectsWith,
  type S3Fixture,
  startS3,
} from './fixtures.js';

let f: S3Fixture;
let bucket: string;
let other: S3Client;
before(async () => {
  f = await startS3();
  bucket = bucketName('names');
  await f.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  ({ s3: other } = await otherTenant(f, 'other-tenant'));
});
after(async () => {
  f.s3.destroy();
  other.destroy();
  await f.t.close();
});

async function roundTrip(key: string): Promise<void> {
  await f.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `data of ${key}` }));
  const got = await f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  assert.equal((await bodyOf(got)).toString(), `data of ${key}`);
  const listed = await f.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key }));
  assert.ok(
    listed.Contents?.some((c) => c.Key === key),
    `listed: ${JSON.stringify(listed.Contents?.map((c) => c.Key))}`,
  );
}

/** Every file under the objects dir, so a test can show no user key became a path. */
function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

test('a key of ../../etc/passwd is stored as data and read back, and no file is named after it', async () => {
  await roundTrip('../../etc/passwd');
  const objects = f.t.platform.paths.objects;
  for (const file of filesUnder(objects))
    assert.match(path.relative(objects, file), /^(data\/[0-9a-f]{2}\/[0-9a-f]{32})$/);
  assert.ok(!fs.existsSync(path.join(objects, '..', 'etc')));
});

test('a key of .. round-trips', async () => {
  await roundTrip('..');
});

test('a key with unicode round-trips', async () => {
  await roundTrip('фото/日本語 ✓ 🎉.png');
});

test('a key with spaces, plus signs and percent signs round-trips', async () => {
  await roundTrip('a b+c%20d&e=f?g#h');
});

test('a key of exactly 1024 bytes is accepted', async () => {
  await roundTrip('k'.repeat(1024));
});

test('a key of 1025 bytes is refused with KeyTooLongError', async () => {
  await rejectsWith(
    f.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k'.repeat(1025), Body: 'x' })),
    'KeyTooLongError',
    400,
  );
});

test('a multibyte key over 1024 bytes of UTF-8 is refused with KeyTooLongError', async () => {
  await rejectsWith(
    f.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'é'.repeat(513), Body: 'x' })),
    'KeyTooLongError',
    400,
  );
});

for (const name of [
  'ab',
  'UPPER-case',
  'has_underscore',
  'a..b',
  '-leading-dash',
  '192.168.1.1',
  'x'.repeat(64),
  'xn--punycode',
]) {
  test(`bucket name ${JSON.stringify(name)} is refused with InvalidBucketName`, async () => {
    const res = await rawRequest(
      `${f.t.endpoint}${presign(f.t.endpoint, f.t.credentials, 'PUT', `/${name}`).slice(f.t.endpoint.length)}`,
      {
        method: 'PUT',
      },
    );
    assert.equal(res.status, 400);
    assert.match(res.body, /<Code>InvalidBucketName<\/Code>/);
  });
}

test('a presigned GET URL fetches the object without other credentials', async () => {
  await f.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'presigned/get me', Body: 'presigned body' }));
  const res = await rawRequest(
    presign(f.t.endpoint, f.t.credentials, 'GET', objectPath(bucket, 'presigned/get me')),
    { method: 'GET' },
  );
  assert.equal(res.status, 200);
  assert.equal(res.body, 'presigned body');
});

test('a presigned PUT URL uploads an object', async () => {
  const res = await rawRequest(
    presign(f.t.endpoint, f.t.credentials, 'PUT', objectPath(bucket, 'presigned/put')),
    {
      method: 'PUT',
      body: 'uploaded via url',
    },
  );
  assert.equal(res.status, 200, res.body);
  const got = await f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'presigned/put' }));
  assert.equal((await bodyOf(got)).toString(), 'uploaded via url');
});

test('an expired presigned URL is refused with AccessDenied', async () => {
  const url = presign(
    f.t.endpoint,
    f.t.credentials,
    'GET',
    objectPath(bucket, 'x'),
    60,
    'us-east-1',
    new Date(Date.now() - 3_600_000),
  );
  const res = await rawRequest(url, { method: 'GET' });
  assert.equal(res.status, 403);
  assert.match(res.body, /<Code>AccessDenied<\/Code>/);
});

test('a presigned URL with a tampered signature is refused with SignatureDoesNotMatch', async () => {
  const url = new URL(presign(f.t.endpoint, f.t.credentials, 'GET', objectPath(bucket, 'x')));
  url.searchParams.set('X-Amz-Signature', '0'.repeat(64));
  const res = await rawRequest(url.toString(), { method: 'GET' });
  assert.equal(res.status, 403);
  assert.match(res.body, /<Code>SignatureDoesNotMatch<\/Code>/);
});

test('a wrong secret key is refused with SignatureDoesNotMatch', async () => {
  const bad = client({
    endpoint: f.t.endpoint,
    credentials: { accessKeyId: f.t.credentials.accessKeyId, secretAccessKey: 'wrong' },
  });
  await rejectsWith(bad.send(new ListBucketsCommand({})), 'SignatureDoesNotMatch', 403);
  bad.destroy();
});

test('an unknown access key is refused with InvalidAccessKeyId', async () => {
  const bad = client({
    endpoint: f.t.endpoint,
    credentials: { accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'x' },
  });
  await rejectsWith(bad.send(new ListBucketsCommand({})), 'InvalidAccessKeyId', 403);
  bad.destroy();
});

test('an unsigned request is refused with AccessDenied in S3 XML', async () => {
  const res = await rawRequest(`${f.t.endpoint}/${bucket}/k`, { method: 'GET' });
  assert.equal(res.status, 403);
  assert.match(res.body, /<Error><Code>AccessDenied<\/Code>/);
});

test('another tenant does not see the bucket in ListBuckets', async () => {
  const list = await other.send(new ListBucketsCommand({}));
  assert.ok(!list.Buckets?.some((b) => b.Name === bucket));
});

test('another tenant reading an object of the bucket gets AccessDenied', async () => {
  await f.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'private', Body: 'secret' }));
  await rejectsWith(
    other.send(new GetObjectCommand({ Bucket: bucket, Key: 'private' })),
    'AccessDenied',
    403,
  );
});

test('another tenant writing into the bucket gets AccessDenied and changes nothing', async () => {
  await f.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'owned', Body: 'original' }));
  await rejectsWith(
    other.send(new PutObjectCommand({ Bucket: bucket, Key: 'owned', Body: 'overwritten' })),
    'AccessDenied',
    403,
  );
  const got = await f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'owned' }));
  assert.equal((await bodyOf(got)).toString(), 'original');
});

test('another tenant listing the bucket gets AccessDenied', async () => {
  await rejectsWith(other.send(new ListObjectsV2Command({ Bucket: bucket })), 'AccessDenied', 403);
});

test('another tenant creating a bucket of the same name gets BucketAlreadyExists', async () => {
  await rejectsWith(other.send(new CreateBucketCommand({ Bucket: bucket })), 'BucketAlreadyExists', 409);
});

test('a missing key answers S3 XML naming the code, the key and a request id', async () => {
  const res = await rawRequest(
    presign(f.t.endpoint, f.t.credentials, 'GET', objectPath(bucket, 'no such/key')),
    { method: 'GET' },
  );
  assert.equal(res.status, 404);
  assert.equal(res.headers['content-type'], 'application/xml');
  assert.match(
    res.body,
    /^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>NoSuchKey<\/Code><Message>[^<]+<\/Message><Key>no such\/key<\/Key>/,
  );
  assert.match(res.body, /<RequestId>[0-9A-F]+<\/RequestId>/);
  assert.equal(typeof res.headers['x-amz-request-id'], 'string');
});

test('a bucket name with a broken percent-encoding answers InvalidURI, not a server error', async () => {
  const res = await rawRequest(presign(f.t.endpoint, f.t.credentials, 'GET', '/bad%zzname'), {
    method: 'GET',
  });
  assert.equal(res.status, 400);
  assert.match(res.body, /<Code>InvalidURI<\/Code>/);
});
