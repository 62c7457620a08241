import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  type S3ServiceException,
} from '@aws-sdk/client-s3';
import {
  bodyOf,
  bucketName,
  objectPath,
  rawRequest,
  rejectsWith,
  type S3Fixture,
  signHeaders,
  startS3,
} from './fixtures.js';

let f: S3Fixture;
before(async () => {
  f = await startS3();
});
after(async () => {
  f.s3.destroy();
  await f.t.close();
});

const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

test('a bucket is created, listed, headed, emptied and deleted', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  const list = await f.s3.send(new ListBucketsCommand({}));
  assert.ok(list.Buckets?.some((x) => x.Name === b));
  await f.s3.send(new HeadBucketCommand({ Bucket: b }));
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }));
  await rejectsWith(f.s3.send(new DeleteBucketCommand({ Bucket: b })), 'BucketNotEmpty', 409);
  await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  await f.s3.send(new DeleteBucketCommand({ Bucket: b }));
  await rejectsWith(f.s3.send(new HeadBucketCommand({ Bucket: b })), 'NotFound', 404);
});

test('creating a bucket twice in us-east-1 answers 200, as S3 does there (bucket-edges.test.ts has the rest)', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  const again = await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  assert.equal(again.$metadata.httpStatusCode, 200);
});

test('an object put with metadata and content type reads back with the same bytes, ETag and headers', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  const body = Buffer.from('hello, object store');
  const put = await f.s3.send(
    new PutObjectCommand({
      Bucket: b,
      Key: 'dir/hello.txt',
      Body: body,
      ContentType: 'text/plain',
      Metadata: { color: 'blue' },
    }),
  );
  assert.equal(put.ETag, `"${md5(body)}"`);
  const got = await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'dir/hello.txt' }));
  assert.equal(got.ContentType, 'text/plain');
  assert.equal(got.ETag, `"${md5(body)}"`);
  assert.deepEqual(got.Metadata, { color: 'blue' });
  assert.equal(got.ContentLength, body.length);
  assert.deepEqual(await bodyOf(got), body);
  const head = await f.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'dir/hello.txt' }));
  assert.equal(head.ContentLength, body.length);
  assert.ok(head.LastModified instanceof Date);
});

test('an overwritten object reads back with the new bytes', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'first' }));
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'second' }));
  assert.equal(
    (await bodyOf(await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' })))).toString(),
    'second',
  );
});

test('an empty object round-trips', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'empty', Body: '' }));
  const got = await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'empty' }));
  assert.equal((await bodyOf(got)).length, 0);
});

test('a missing key answers NoSuchKey', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  await rejectsWith(f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'nope' })), 'NoSuchKey', 404);
});

test('a missing bucket answers NoSuchBucket', async () => {
  await rejectsWith(
    f.s3.send(new GetObjectCommand({ Bucket: bucketName('missing'), Key: 'k' })),
    'NoSuchBucket',
    404,
  );
});

test('a Range GET answers 206 with Content-Range and the requested bytes', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'r', Body: '0123456789' }));
  const got = await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'r', Range: 'bytes=2-5' }));
  assert.equal(got.$metadata.httpStatusCode, 206);
  assert.equal(got.ContentRange, 'bytes 2-5/10');
  assert.equal((await bodyOf(got)).toString(), '2345');
});

test('a suffix Range GET answers the last bytes', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'r', Body: '0123456789' }));
  const got = await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'r', Range: 'bytes=-3' }));
  assert.equal(got.ContentRange, 'bytes 7-9/10');
  assert.equal((await bodyOf(got)).toString(), '789');
});

test('a Range starting past the end answers 416 InvalidRange', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'r', Body: '0123456789' }));
  await rejectsWith(
    f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'r', Range: 'bytes=10-20' })),
    'InvalidRange',
    416,
  );
});

test('If-None-Match with the current ETag answers 304', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  const put = await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'c', Body: 'cond' }));
  await assert.rejects(
    f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'c', IfNoneMatch: put.ETag })),
    (e: unknown) => {
      assert.equal((e as S3ServiceException).$metadata.httpStatusCode, 304);
      return true;
    },
  );
});

test('If-Match with another ETag answers 412 PreconditionFailed', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'c', Body: 'cond' }));
  await rejectsWith(
    f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'c', IfMatch: '"00000000000000000000000000000000"' })),
    'PreconditionFailed',
    412,
  );
});

async function fill(b: string, keys: string[]): Promise<void> {
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  for (const k of keys) await f.s3.send(new PutObjectCommand({ Bucket: b, Key: k, Body: k }));
}

test('ListObjectsV2 with a prefix and delimiter groups keys into CommonPrefixes', async () => {
  const b = bucketName();
  await fill(b, ['a/1', 'a/2', 'photos/2024/x.png', 'photos/2025/y.png', 'photos/top.png', 'z']);
  const out = await f.s3.send(new ListObjectsV2Command({ Bucket: b, Prefix: 'photos/', Delimiter: '/' }));
  assert.deepEqual(
    out.Contents?.map((c) => c.Key),
    ['photos/top.png'],
  );
  assert.deepEqual(
    out.CommonPrefixes?.map((c) => c.Prefix),
    ['photos/2024/', 'photos/2025/'],
  );
  assert.equal(out.KeyCount, 3);
  assert.equal(out.IsTruncated, false);
});

test('ListObjectsV2 pages with max-keys and continuation tokens through every key once', async () => {
  const b = bucketName();
  const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6'];
  await fill(b, keys);
  const seen: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const out = await f.s3.send(
      new ListObjectsV2Command({ Bucket: b, MaxKeys: 3, ContinuationToken: token }),
    );
    pages++;
    assert.ok((out.KeyCount ?? 0) <= 3);
    seen.push(...(out.Contents ?? []).map((c) => c.Key!));
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  assert.deepEqual(seen, keys);
  assert.equal(pages, 3);
});

test('ListObjectsV2 pages of one key each list every common prefix once', async () => {
  const b = bucketName();
  await fill(b, ['a/1', 'a/2', 'a/3', 'b/1', 'b/2', 'c']);
  const prefixes: string[] = [];
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await f.s3.send(
      new ListObjectsV2Command({ Bucket: b, Delimiter: '/', MaxKeys: 1, ContinuationToken: token }),
    );
    prefixes.push(...(out.CommonPrefixes ?? []).map((p) => p.Prefix!));
    keys.push(...(out.Contents ?? []).map((c) => c.Key!));
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token && prefixes.length + keys.length < 20);
  assert.deepEqual(prefixes, ['a/', 'b/']);
  assert.deepEqual(keys, ['c']);
});

test('ListObjectsV2 with start-after lists only later keys', async () => {
  const b = bucketName();
  await fill(b, ['a', 'b', 'c']);
  const out = await f.s3.send(new ListObjectsV2Command({ Bucket: b, StartAfter: 'a' }));
  assert.deepEqual(
    out.Contents?.map((c) => c.Key),
    ['b', 'c'],
  );
});

test('ListObjects (v1) pages with markers', async () => {
  const b = bucketName();
  await fill(b, ['a', 'b', 'c']);
  const one = await f.s3.send(new ListObjectsCommand({ Bucket: b, MaxKeys: 2 }));
  assert.deepEqual(
    one.Contents?.map((c) => c.Key),
    ['a', 'b'],
  );
  assert.equal(one.IsTruncated, true);
  const two = await f.s3.send(new ListObjectsCommand({ Bucket: b, Marker: 'b' }));
  assert.deepEqual(
    two.Contents?.map((c) => c.Key),
    ['c'],
  );
});

test('CopyObject copies bytes and metadata, and REPLACE takes the new metadata', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  await f.s3.send(
    new PutObjectCommand({
      Bucket: b,
      Key: 'src key',
      Body: 'copied',
      ContentType: 'text/plain',
      Metadata: { a: '1' },
    }),
  );
  const copy = await f.s3.send(
    new CopyObjectCommand({ Bucket: b, Key: 'dst', CopySource: `${b}/${encodeURIComponent('src key')}` }),
  );
  assert.equal(copy.CopyObjectResult?.ETag, `"${md5('copied')}"`);
  const got = await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'dst' }));
  assert.deepEqual(got.Metadata, { a: '1' });
  assert.equal((await bodyOf(got)).toString(), 'copied');
  await f.s3.send(
    new CopyObjectCommand({
      Bucket: b,
      Key: 'dst2',
      CopySource: `${b}/src%20key`,
      MetadataDirective: 'REPLACE',
      Metadata: { b: '2' },
      ContentType: 'x/y',
    }),
  );
  const head = await f.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'dst2' }));
  assert.deepEqual(head.Metadata, { b: '2' });
  assert.equal(head.ContentType, 'x/y');
});

test('CopyObject from a missing source answers NoSuchKey', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  await rejectsWith(
    f.s3.send(new CopyObjectCommand({ Bucket: b, Key: 'dst', CopySource: `${b}/nothing` })),
    'NoSuchKey',
    404,
  );
});

test('DeleteObjects removes the listed keys and reports them', async () => {
  const b = bucketName();
  await fill(b, ['x', 'y', 'z']);
  const out = await f.s3.send(
    new DeleteObjectsCommand({
      Bucket: b,
      Delete: { Objects: [{ Key: 'x' }, { Key: 'y' }, { Key: 'never' }] },
    }),
  );
  assert.deepEqual(out.Deleted?.map((d) => d.Key).sort(), ['never', 'x', 'y']);
  const left = await f.s3.send(new ListObjectsV2Command({ Bucket: b }));
  assert.deepEqual(
    left.Contents?.map((c) => c.Key),
    ['z'],
  );
});

test('DeleteObjects with Quiet reports no deleted keys', async () => {
  const b = bucketName();
  await fill(b, ['x']);
  const out = await f.s3.send(
    new DeleteObjectsCommand({ Bucket: b, Delete: { Objects: [{ Key: 'x' }], Quiet: true } }),
  );
  assert.equal(out.Deleted?.length ?? 0, 0);
});

test('GetBucketLocation answers the us-east-1 default as an empty constraint', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  const out = await f.s3.send(new GetBucketLocationCommand({ Bucket: b }));
  assert.equal(out.LocationConstraint ?? '', '');
  assert.equal(out.$metadata.httpStatusCode, 200);
});

test('PutObject with If-None-Match * creates a new object and refuses to replace one with 412', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'once', Body: 'first', IfNoneMatch: '*' }));
  await rejectsWith(
    f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'once', Body: 'second', IfNoneMatch: '*' })),
    'PreconditionFailed',
    412,
  );
  assert.equal(
    (await bodyOf(await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'once' })))).toString(),
    'first',
  );
});

test('PutObject with If-Match replaces only the version with that ETag', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  const v1 = await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'cas', Body: 'v1' }));
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'cas', Body: 'v2', IfMatch: v1.ETag }));
  await rejectsWith(
    f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'cas', Body: 'v3', IfMatch: v1.ETag })),
    'PreconditionFailed',
    412,
  );
  assert.equal(
    (await bodyOf(await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'cas' })))).toString(),
    'v2',
  );
});

test('ListObjectsV2 reports owners only with FetchOwner', async () => {
  const b = bucketName();
  await fill(b, ['k']);
  const plain = await f.s3.send(new ListObjectsV2Command({ Bucket: b }));
  assert.equal(plain.Contents?.[0]?.Owner, undefined);
  const owned = await f.s3.send(new ListObjectsV2Command({ Bucket: b, FetchOwner: true }));
  assert.match(owned.Contents?.[0]?.Owner?.ID ?? '', /^[0-9a-f]{64}$/);
});

test('PutObjectLegalHold (a subresource this store does not implement) is refused with NotImplemented and leaves the object untouched', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'tagged', Body: 'content' }));
  await rejectsWith(
    f.s3.send(
      new PutObjectLegalHoldCommand({
        Bucket: b,
        Key: 'tagged',
        LegalHold: { Status: 'ON' },
      }),
    ),
    'NotImplemented',
    501,
  );
  assert.equal(
    (await bodyOf(await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'tagged' })))).toString(),
    'content',
  );
});

test('an empty Expect header is ignored as S3 ignores it; an unknown expectation still answers 417', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  const put = (expect: string) => {
    const body = 'expected';
    const hash = createHash('sha256').update(body).digest('hex');
    const signed = signHeaders(f.t.endpoint, f.t.credentials, 'PUT', objectPath(b, `k-${expect}`), {}, hash);
    return rawRequest(`${f.t.endpoint}${objectPath(b, `k-${expect}`)}`, {
      method: 'PUT',
      headers: { ...signed.headers, expect },
      body,
    });
  };
  assert.equal((await put('')).status, 200);
  assert.equal(
    (await bodyOf(await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k-' })))).toString(),
    'expected',
  );
  assert.equal((await put('200')).status, 417);
  await rejectsWith(f.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'k-200' })), 'NotFound', 404);
});

test('a UTF-8 metadata value is signed over its bytes as boto3 signs it, stored and returned byte for byte', async () => {
  const b = bucketName();
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  const value = 'Grüße, World é';
  // Node's http client writes header values as UTF-8, as boto3 does; the server reads them back as latin1.
  const doubled = Buffer.from(value, 'utf8').toString('latin1');
  const put = (sent: string) => {
    const hash = createHash('sha256').update('x').digest('hex');
    const signed = signHeaders(
      f.t.endpoint,
      f.t.credentials,
      'PUT',
      objectPath(b, 'u'),
      { 'x-amz-meta-greeting': value },
      hash,
    );
    return rawRequest(`${f.t.endpoint}${objectPath(b, 'u')}`, {
      method: 'PUT',
      headers: { ...signed.headers, 'x-amz-meta-greeting': sent },
      body: 'x',
    });
  };
  // Other bytes than the signed ones (the value encoded twice) still fail the signature.
  const forged = await put(doubled);
  assert.equal(forged.status, 403);
  assert.match(forged.body, /<Code>SignatureDoesNotMatch<\/Code>/);
  await rejectsWith(f.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'u' })), 'NotFound', 404);
  const ok = await put(value);
  assert.equal(ok.status, 200, ok.body);
  const signed = signHeaders(
    f.t.endpoint,
    f.t.credentials,
    'GET',
    objectPath(b, 'u'),
    {},
    createHash('sha256').update('').digest('hex'),
  );
  const got = await rawRequest(`${f.t.endpoint}${objectPath(b, 'u')}`, {
    method: 'GET',
    headers: signed.headers,
  });
  assert.equal(got.status, 200);
  assert.equal(Buffer.from(String(got.headers['x-amz-meta-greeting']), 'latin1').toString('utf8'), value);
});
