// S3's object edge cases as clients meet them: conditional copies, reads and writes (with S3's precedence
// and its treatment of garbage dates), repeated CompleteMultipartUpload, InvalidRange on copies and reads,
// GetObjectAttributes; through the unmodified SDK, raw signed requests and boto3; and the attacks on them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListPartsCommand,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { runPython } from '../../helpers/process.js';
import {
  bodyOf,
  bucketName,
  objectPath,
  otherTenant,
  putPolicy,
  rawRequest,
  rejectsWith,
  type S3Fixture,
  signHeaders,
  startS3,
} from './fixtures.js';

let f: S3Fixture;
let other: S3Client;
let otherAccount: string;

before(async () => {
  f = await startS3();
  ({ s3: other, accountId: otherAccount } = await otherTenant(f, 'edges-other'));
  // Both tenants exist before the first request of either.
  await other.send(new ListBucketsCommand({}));
});
after(async () => {
  f.s3.destroy();
  other.destroy();
  await f.t.close();
});

/** A 304 (or a HEAD's bodiless error) carries no code: only its status is S3's answer. */
async function rejectsWithStatus(p: Promise<unknown>, status: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof S3ServiceException, String(e));
    assert.equal(e.$metadata.httpStatusCode, status);
    return true;
  });
}

async function newBucket(label: string): Promise<string> {
  const b = bucketName(label);
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  return b;
}

/** A request signed by the first tenant with headers the SDK would not send (garbage dates, raw ranges). */
function signed(method: string, path: string, headers: Record<string, string>) {
  const s = signHeaders(f.t.endpoint, f.t.credentials, method, path, headers, 'UNSIGNED-PAYLOAD');
  return rawRequest(`${f.t.endpoint}${path}`, { method, headers: s.headers });
}

const PAST = new Date('1994-11-06T08:49:37Z');
const FUTURE = () => new Date(Date.now() + 3_600_000);

test('CopyObject honours each x-amz-copy-source-if-* condition with 412 PreconditionFailed', async () => {
  const b = await newBucket('ccopy');
  const src = await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'src', Body: 'source' }));
  const copy = (n: string, c: Record<string, unknown>) =>
    f.s3.send(new CopyObjectCommand({ Bucket: b, Key: n, CopySource: `${b}/src`, ...c }));
  await copy('ok1', { CopySourceIfMatch: src.ETag });
  await copy('ok2', { CopySourceIfMatch: src.ETag!.replace(/"/g, '') });
  await copy('ok3', { CopySourceIfMatch: '*' });
  await copy('ok4', { CopySourceIfNoneMatch: '"00000000000000000000000000000000"' });
  await copy('ok5', { CopySourceIfModifiedSince: PAST });
  await copy('ok6', { CopySourceIfUnmodifiedSince: FUTURE() });
  const refused: Record<string, unknown>[] = [
    { CopySourceIfMatch: '"00000000000000000000000000000000"' },
    { CopySourceIfNoneMatch: src.ETag },
    { CopySourceIfNoneMatch: '*' },
    { CopySourceIfModifiedSince: FUTURE() },
    { CopySourceIfUnmodifiedSince: PAST },
  ];
  for (const c of refused) await rejectsWith(copy('no', c), 'PreconditionFailed', 412);
  // S3's combinations: a matching ETag wins over a failed date; a matching If-None-Match fails even
  // with the date condition true.
  await copy('ok7', { CopySourceIfMatch: src.ETag, CopySourceIfUnmodifiedSince: PAST });
  await rejectsWith(
    copy('no', { CopySourceIfNoneMatch: src.ETag, CopySourceIfModifiedSince: PAST }),
    'PreconditionFailed',
    412,
  );
  // Nothing was written by a refused copy.
  await rejectsWith(f.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'no' })), 'NotFound', 404);
  const got = await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'ok7' }));
  assert.equal((await bodyOf(got)).toString(), 'source');
});

test('a refused conditional copy answers S3 XML naming the condition; an unparsable date is ignored', async () => {
  const b = await newBucket('ccopyraw');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'src', Body: 'source' }));
  const r = await signed('PUT', objectPath(b, 'dst'), {
    'x-amz-copy-source': `/${b}/src`,
    'x-amz-copy-source-if-match': '"nope"',
  });
  assert.equal(r.status, 412);
  assert.match(r.body, /<Code>PreconditionFailed<\/Code>/);
  assert.match(r.body, /<Message>At least one of the pre-conditions you specified did not hold<\/Message>/);
  assert.match(r.body, /<Condition>x-amz-copy-source-If-Match<\/Condition>/);
  for (const garbage of ['yesterday', '1', 'Mon, 32 Jan 2024 00:00:00 GMT', '']) {
    const g = await signed('PUT', objectPath(b, 'dst'), {
      'x-amz-copy-source': `/${b}/src`,
      'x-amz-copy-source-if-unmodified-since': garbage,
      'x-amz-copy-source-if-modified-since': garbage,
    });
    assert.equal(g.status, 200, `${garbage}: ${g.body}`);
  }
  // The forms HTTP allows all parse: RFC 850 and asctime dates in the past refuse an unmodified-since.
  for (const past of ['Sunday, 06-Nov-94 08:49:37 GMT', 'Sun Nov  6 08:49:37 1994', '1994-11-06T08:49:37Z']) {
    const g = await signed('PUT', objectPath(b, 'dst'), {
      'x-amz-copy-source': `/${b}/src`,
      'x-amz-copy-source-if-unmodified-since': past,
    });
    assert.equal(g.status, 412, past);
  }
});

test('GET and HEAD follow S3 precedence: If-Match over If-Unmodified-Since, If-None-Match over If-Modified-Since', async () => {
  const b = await newBucket('cget');
  const put = await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'data' }));
  const get = (c: Record<string, unknown>) => f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', ...c }));
  // If-Match true + If-Unmodified-Since false: 200.
  assert.equal((await bodyOf(await get({ IfMatch: put.ETag, IfUnmodifiedSince: PAST }))).toString(), 'data');
  // If-None-Match false + If-Modified-Since true... and false: the ETag decides alone (200).
  await get({ IfNoneMatch: '"other"', IfModifiedSince: FUTURE() });
  // If-None-Match true: 304 whatever the date says.
  await rejectsWithStatus(get({ IfNoneMatch: put.ETag, IfModifiedSince: PAST }), 304);
  await rejectsWithStatus(get({ IfNoneMatch: '*' }), 304);
  await rejectsWithStatus(get({ IfModifiedSince: FUTURE() }), 304);
  await rejectsWith(get({ IfUnmodifiedSince: PAST }), 'PreconditionFailed', 412);
  await rejectsWith(get({ IfMatch: '"other", "another"' }), 'PreconditionFailed', 412);
  await get({ IfMatch: `"other", ${put.ETag}` });
  await get({ IfMatch: put.ETag!.replace(/"/g, '') });
  await rejectsWithStatus(
    f.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'k', IfNoneMatch: put.ETag })),
    304,
  );
  await rejectsWithStatus(f.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'k', IfMatch: '"x"' })), 412);
  // A 304 has no body but the validators.
  const nm = await signed('GET', objectPath(b, 'k'), { 'if-none-match': put.ETag! });
  assert.equal(nm.status, 304);
  assert.equal(nm.body, '');
  assert.equal(nm.headers.etag, put.ETag);
  // Garbage dates are no condition at all.
  for (const h of ['if-modified-since', 'if-unmodified-since']) {
    const g = await signed('GET', objectPath(b, 'k'), { [h]: 'not a date' });
    assert.equal(g.status, 200, h);
    assert.equal(g.body, 'data');
  }
});

test('a bad Range answers 416 InvalidRange with ActualObjectSize; an unparsable one is ignored', async () => {
  const b = await newBucket('range');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: '0123456789' }));
  const r = await signed('GET', objectPath(b, 'k'), { range: 'bytes=10-20' });
  assert.equal(r.status, 416);
  assert.match(r.body, /<Code>InvalidRange<\/Code>/);
  assert.match(r.body, /<RangeRequested>bytes=10-20<\/RangeRequested>/);
  assert.match(r.body, /<ActualObjectSize>10<\/ActualObjectSize>/);
  for (const ignored of ['bytes=5-2', 'lines=1-2', 'bytes=1-2,4-5', 'bytes=x-']) {
    const g = await signed('GET', objectPath(b, 'k'), { range: ignored });
    assert.equal(g.status, 200, ignored);
    assert.equal(g.body, '0123456789');
  }
});

test('two concurrent If-None-Match: * PUTs of one key: exactly one succeeds, the others get 412', async () => {
  const b = await newBucket('race');
  const bodies = Array.from({ length: 6 }, (_, i) => `writer-${i}`);
  const results = await Promise.allSettled(
    bodies.map((Body) => f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'once', Body, IfNoneMatch: '*' }))),
  );
  const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
  assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
  for (const r of results)
    if (r.status === 'rejected') {
      assert.ok(r.reason instanceof S3ServiceException);
      assert.equal(r.reason.name, 'PreconditionFailed');
    }
  const got = await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'once' }));
  assert.equal((await bodyOf(got)).toString(), bodies[won[0]!]);
  // If-Match on a key with no object: 404 NoSuchKey, as S3.
  await rejectsWith(
    f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'none', Body: 'x', IfMatch: '"abc"' })),
    'NoSuchKey',
    404,
  );
});

async function onePartUpload(b: string, key: string, body: string) {
  const up = await f.s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: key }));
  const part = await f.s3.send(
    new UploadPartCommand({ Bucket: b, Key: key, UploadId: up.UploadId, PartNumber: 1, Body: body }),
  );
  return { uploadId: up.UploadId!, etag: part.ETag! };
}

test('CompleteMultipartUpload honours If-None-Match and If-Match, and the upload survives a 412', async () => {
  const b = await newBucket('mpcond');
  const existing = await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'old' }));
  const u = await onePartUpload(b, 'k', 'new');
  const complete = (c: Record<string, unknown>) =>
    f.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: b,
        Key: 'k',
        UploadId: u.uploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: u.etag }] },
        ...c,
      }),
    );
  await rejectsWith(complete({ IfNoneMatch: '*' }), 'PreconditionFailed', 412);
  await rejectsWith(complete({ IfMatch: '"00000000000000000000000000000000"' }), 'PreconditionFailed', 412);
  const parts = await f.s3.send(new ListPartsCommand({ Bucket: b, Key: 'k', UploadId: u.uploadId }));
  assert.equal(parts.Parts?.length, 1);
  assert.equal(
    (await bodyOf(await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' })))).toString(),
    'old',
  );
  const done = await complete({ IfMatch: existing.ETag });
  assert.match(done.ETag!, /^"[0-9a-f]{32}-1"$/);
  // If-Match where the key holds no object: NoSuchKey, as PutObject.
  const none = await onePartUpload(b, 'absent', 'x');
  await rejectsWith(
    f.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: b,
        Key: 'absent',
        UploadId: none.uploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: none.etag }] },
        IfMatch: existing.ETag,
      }),
    ),
    'NoSuchKey',
    404,
  );
  const fresh = await onePartUpload(b, 'fresh', 'x');
  await f.s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: b,
      Key: 'fresh',
      UploadId: fresh.uploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: fresh.etag }] },
      IfNoneMatch: '*',
    }),
  );
});

test('a CompleteMultipartUpload retried after success answers the same ETag; another part list NoSuchUpload', async () => {
  const b = await newBucket('mprepeat');
  const u = await onePartUpload(b, 'dir/k', 'payload');
  const input = {
    Bucket: b,
    Key: 'dir/k',
    UploadId: u.uploadId,
    MultipartUpload: { Parts: [{ PartNumber: 1, ETag: u.etag }] },
  };
  const first = await f.s3.send(new CompleteMultipartUploadCommand(input));
  const again = await f.s3.send(new CompleteMultipartUploadCommand(input));
  assert.equal(again.ETag, first.ETag);
  assert.equal(again.Location, first.Location);
  assert.equal(again.Key, 'dir/k');
  // The ETag unquoted in the retry's part list is the same list.
  const unquoted = await f.s3.send(
    new CompleteMultipartUploadCommand({
      ...input,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: u.etag.replace(/"/g, '') }] },
    }),
  );
  assert.equal(unquoted.ETag, first.ETag);
  await rejectsWith(
    f.s3.send(
      new CompleteMultipartUploadCommand({
        ...input,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"00000000000000000000000000000000"' }] },
      }),
    ),
    'NoSuchUpload',
    404,
  );
  await rejectsWith(
    f.s3.send(
      new CompleteMultipartUploadCommand({
        ...input,
        MultipartUpload: { Parts: [{ PartNumber: 2, ETag: u.etag }] },
      }),
    ),
    'NoSuchUpload',
    404,
  );
  // Not for another key of the bucket, nor for another tenant (who may not write here at all).
  await rejectsWith(
    f.s3.send(new CompleteMultipartUploadCommand({ ...input, Key: 'other' })),
    'NoSuchUpload',
    404,
  );
  await rejectsWith(other.send(new CompleteMultipartUploadCommand(input)), 'AccessDenied', 403);
  // Nor once the upload id is reused with a new upload gone: an unknown id stays NoSuchUpload.
  await rejectsWith(
    f.s3.send(new CompleteMultipartUploadCommand({ ...input, UploadId: 'no-such-upload' })),
    'NoSuchUpload',
    404,
  );
});

test('UploadPartCopy: a range past the source is 416 InvalidRange, a malformed one InvalidArgument, conditions 412', async () => {
  const b = await newBucket('partcopy');
  const src = await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'src', Body: '0123456789' }));
  const up = await f.s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'dst' }));
  const copy = (c: Record<string, unknown>) =>
    f.s3.send(
      new UploadPartCopyCommand({
        Bucket: b,
        Key: 'dst',
        UploadId: up.UploadId,
        PartNumber: 1,
        CopySource: `${b}/src`,
        ...c,
      }),
    );
  await rejectsWith(copy({ CopySourceRange: 'bytes=0-10' }), 'InvalidRange', 416);
  await rejectsWith(copy({ CopySourceRange: 'bytes=20-30' }), 'InvalidRange', 416);
  for (const bad of ['bytes=-1', 'bytes=2-', 'bytes=2--3', 'bytes=3-2', 'bytes 0-1'])
    await rejectsWith(copy({ CopySourceRange: bad }), 'InvalidArgument', 400);
  await rejectsWith(copy({ CopySourceIfMatch: '"nope"' }), 'PreconditionFailed', 412);
  await rejectsWith(copy({ CopySourceIfNoneMatch: src.ETag }), 'PreconditionFailed', 412);
  await rejectsWith(copy({ CopySourceIfUnmodifiedSince: PAST }), 'PreconditionFailed', 412);
  const part = await copy({ CopySourceRange: 'bytes=2-5', CopySourceIfMatch: src.ETag });
  await f.s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: b,
      Key: 'dst',
      UploadId: up.UploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.CopyPartResult!.ETag }] },
    }),
  );
  const got = await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'dst' }));
  assert.equal((await bodyOf(got)).toString(), '2345');
});

test('GetObjectAttributes answers ETag, Checksum, StorageClass and ObjectSize of a single-part object', async () => {
  const b = await newBucket('attrs');
  const put = await f.s3.send(
    new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'hello attributes', ChecksumAlgorithm: 'SHA256' }),
  );
  const a = await f.s3.send(
    new GetObjectAttributesCommand({
      Bucket: b,
      Key: 'k',
      ObjectAttributes: ['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize'],
    }),
  );
  assert.equal(a.ETag, put.ETag!.replace(/"/g, ''));
  assert.equal(a.Checksum?.ChecksumSHA256, put.ChecksumSHA256);
  assert.equal(a.Checksum?.ChecksumType, 'FULL_OBJECT');
  assert.equal(a.StorageClass, 'STANDARD');
  assert.equal(a.ObjectSize, 16);
  assert.equal(a.ObjectParts, undefined);
  assert.ok(a.LastModified instanceof Date);
  const some = await f.s3.send(
    new GetObjectAttributesCommand({ Bucket: b, Key: 'k', ObjectAttributes: ['ObjectSize'] }),
  );
  assert.equal(some.ObjectSize, 16);
  assert.equal(some.ETag, undefined);
  assert.equal(some.StorageClass, undefined);
  await rejectsWith(
    f.s3.send(new GetObjectAttributesCommand({ Bucket: b, Key: 'missing', ObjectAttributes: ['ETag'] })),
    'NoSuchKey',
    404,
  );
  const bad = await signed('GET', `${objectPath(b, 'k')}?attributes`, { 'x-amz-object-attributes': 'Owner' });
  assert.equal(bad.status, 400);
  assert.match(bad.body, /<Code>InvalidArgument<\/Code>/);
  assert.match(bad.body, /<ArgumentValue>Owner<\/ArgumentValue>/);
  const none = await signed('GET', `${objectPath(b, 'k')}?attributes`, {});
  assert.equal(none.status, 400);
  assert.match(none.body, /<Code>InvalidArgument<\/Code>/);
  const onBucket = await signed('GET', `/${b}?attributes`, { 'x-amz-object-attributes': 'ETag' });
  assert.equal(onBucket.status, 501);
});

test('GetObjectAttributes pages the parts of a multipart object with their checksums', async () => {
  const b = await newBucket('attrsmp');
  const up = await f.s3.send(
    new CreateMultipartUploadCommand({ Bucket: b, Key: 'mp', ChecksumAlgorithm: 'CRC32' }),
  );
  const sizes = [5 * 1024 * 1024, 1000, 10];
  const parts = [];
  for (const [i, size] of sizes.entries()) {
    const p = await f.s3.send(
      new UploadPartCommand({
        Bucket: b,
        Key: 'mp',
        UploadId: up.UploadId,
        PartNumber: i + 1,
        Body: Buffer.alloc(size, i + 1),
        ChecksumAlgorithm: 'CRC32',
      }),
    );
    parts.push({ PartNumber: i + 1, ETag: p.ETag, ChecksumCRC32: p.ChecksumCRC32 });
  }
  // Part 2 stays out of the object: sizes [5 MiB, 10].
  const chosen = [parts[0]!, parts[2]!];
  const done = await f.s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: b,
      Key: 'mp',
      UploadId: up.UploadId,
      MultipartUpload: { Parts: chosen },
    }),
  );
  const a = await f.s3.send(
    new GetObjectAttributesCommand({
      Bucket: b,
      Key: 'mp',
      ObjectAttributes: ['ObjectParts', 'Checksum', 'ETag', 'ObjectSize'],
      MaxParts: 1,
    }),
  );
  assert.equal(a.ETag, done.ETag!.replace(/"/g, ''));
  assert.equal(a.ObjectSize, 5 * 1024 * 1024 + 10);
  assert.equal(a.Checksum?.ChecksumType, 'COMPOSITE');
  assert.equal(a.Checksum?.ChecksumCRC32, done.ChecksumCRC32);
  assert.equal(a.ObjectParts?.TotalPartsCount, 2);
  assert.equal(a.ObjectParts?.IsTruncated, true);
  assert.equal(a.ObjectParts?.MaxParts, 1);
  assert.deepEqual(
    a.ObjectParts?.Parts?.map((p) => [p.PartNumber, p.Size, p.ChecksumCRC32]),
    [[1, 5 * 1024 * 1024, parts[0]!.ChecksumCRC32]],
  );
  const next = await f.s3.send(
    new GetObjectAttributesCommand({
      Bucket: b,
      Key: 'mp',
      ObjectAttributes: ['ObjectParts'],
      PartNumberMarker: a.ObjectParts!.NextPartNumberMarker,
    }),
  );
  assert.equal(next.ObjectParts?.IsTruncated, false);
  assert.deepEqual(
    next.ObjectParts?.Parts?.map((p) => [p.PartNumber, p.Size]),
    [[3, 10]],
  );
  // Overwritten by a plain PUT, the key has no parts any more.
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'mp', Body: 'plain' }));
  const plain = await f.s3.send(
    new GetObjectAttributesCommand({ Bucket: b, Key: 'mp', ObjectAttributes: ['ObjectParts', 'ObjectSize'] }),
  );
  assert.equal(plain.ObjectParts, undefined);
  assert.equal(plain.ObjectSize, 5);
});

test("conditions on another tenant's object answer AccessDenied, never 304 or 412", async () => {
  const b = await newBucket('victim');
  const put = await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'secret', Body: 's' }));
  const attempts: (() => Promise<unknown>)[] = [
    () => other.send(new GetObjectCommand({ Bucket: b, Key: 'secret', IfNoneMatch: put.ETag })),
    () => other.send(new GetObjectCommand({ Bucket: b, Key: 'secret', IfMatch: '"wrong"' })),
    () => other.send(new GetObjectCommand({ Bucket: b, Key: 'nothing', IfNoneMatch: '*' })),
    () => other.send(new PutObjectCommand({ Bucket: b, Key: 'secret', Body: 'x', IfNoneMatch: '*' })),
    () => other.send(new PutObjectCommand({ Bucket: b, Key: 'secret', Body: 'x', IfMatch: '"wrong"' })),
    () =>
      other.send(new GetObjectAttributesCommand({ Bucket: b, Key: 'secret', ObjectAttributes: ['ETag'] })),
    () =>
      other.send(new GetObjectAttributesCommand({ Bucket: b, Key: 'nothing', ObjectAttributes: ['ETag'] })),
  ];
  for (const a of attempts) await rejectsWith(a(), 'AccessDenied', 403);
  // HEAD answers its 403 without a body.
  for (const c of [{ IfModifiedSince: FUTURE() }, { IfNoneMatch: put.ETag }, { IfMatch: '"wrong"' }])
    await rejectsWithStatus(other.send(new HeadObjectCommand({ Bucket: b, Key: 'secret', ...c })), 403);
  // Copying it into the attacker's own bucket, with a condition that would tell whether the ETag matched.
  const mine = bucketName('attacker');
  await other.send(new CreateBucketCommand({ Bucket: mine }));
  for (const c of [{ CopySourceIfMatch: put.ETag }, { CopySourceIfMatch: '"wrong"' }, {}])
    await rejectsWith(
      other.send(new CopyObjectCommand({ Bucket: mine, Key: 'k', CopySource: `${b}/secret`, ...c })),
      'AccessDenied',
      403,
    );
  const up = await other.send(new CreateMultipartUploadCommand({ Bucket: mine, Key: 'k' }));
  await rejectsWith(
    other.send(
      new UploadPartCopyCommand({
        Bucket: mine,
        Key: 'k',
        UploadId: up.UploadId,
        PartNumber: 1,
        CopySource: `${b}/secret`,
        CopySourceRange: 'bytes=0-100',
      }),
    ),
    'AccessDenied',
    403,
  );
});

test('GetObjectAttributes needs s3:GetObjectAttributes beside s3:GetObject in a bucket policy', async () => {
  const b = await newBucket('attrpolicy');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'a/k', Body: 'x' }));
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'b/k', Body: 'y' }));
  const principal = { AWS: `arn:aws:iam::${otherAccount}:root` };
  await putPolicy(f.s3, b, [
    { Effect: 'Allow', Principal: principal, Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` },
    {
      Effect: 'Allow',
      Principal: principal,
      Action: 's3:GetObjectAttributes',
      Resource: `arn:aws:s3:::${b}/b/*`,
    },
  ]);
  await other.send(new GetObjectCommand({ Bucket: b, Key: 'a/k' }));
  await rejectsWith(
    other.send(new GetObjectAttributesCommand({ Bucket: b, Key: 'a/k', ObjectAttributes: ['ETag'] })),
    'AccessDenied',
    403,
  );
  const ok = await other.send(
    new GetObjectAttributesCommand({ Bucket: b, Key: 'b/k', ObjectAttributes: ['ObjectSize'] }),
  );
  assert.equal(ok.ObjectSize, 1);
  // An ACL's READ grants both: anonymous callers read a public-read object's attributes, not a private one's.
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'pub', Body: 'pub', ACL: 'public-read' }));
  const anon = (key: string) =>
    fetch(`${f.t.endpoint}${objectPath(b, key)}?attributes`, {
      headers: { 'x-amz-object-attributes': 'ObjectSize' },
    }).then(async (r) => ({ status: r.status, body: await r.text() }));
  const pub = await anon('pub');
  assert.equal(pub.status, 200, pub.body);
  assert.match(pub.body, /<ObjectSize>3<\/ObjectSize>/);
  assert.equal((await anon('b/k')).status, 403);
});

test('boto3: a conditional copy and GetObjectAttributes, as a Python user calls them', async () => {
  const b = bucketName('boto3-edges');
  const script = `
import boto3, datetime, json, os
from botocore.config import Config
ep, b = os.environ["EP"], os.environ["BUCKET"]
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1",
    aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"],
    config=Config(s3={"addressing_style": "path"}))
s3.create_bucket(Bucket=b)
etag = s3.put_object(Bucket=b, Key="src", Body=b"boto", ChecksumAlgorithm="CRC32")["ETag"]
out = {}
def code(f):
    try:
        f()
        return 200
    except s3.exceptions.ClientError as e:
        return [e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]]
src = {"Bucket": b, "Key": "src"}
out["match"] = code(lambda: s3.copy_object(Bucket=b, Key="c1", CopySource=src, CopySourceIfMatch=etag))
out["mismatch"] = code(lambda: s3.copy_object(Bucket=b, Key="c2", CopySource=src, CopySourceIfMatch='"x"'))
out["noneMatch"] = code(lambda: s3.copy_object(Bucket=b, Key="c3", CopySource=src, CopySourceIfNoneMatch=etag))
past = datetime.datetime(1994, 11, 6, tzinfo=datetime.timezone.utc)
out["unmodified"] = code(lambda: s3.copy_object(Bucket=b, Key="c4", CopySource=src, CopySourceIfUnmodifiedSince=past))
out["modified"] = code(lambda: s3.copy_object(Bucket=b, Key="c5", CopySource=src, CopySourceIfModifiedSince=past))
a = s3.get_object_attributes(Bucket=b, Key="c1", ObjectAttributes=["ETag", "ObjectSize", "StorageClass", "Checksum"])
out["attrs"] = [a["ETag"] == etag.strip('"'), a["ObjectSize"], a["StorageClass"], "ChecksumCRC32" in a["Checksum"]]
print(json.dumps(out))
`;
  // Asynchronous: the platform serving the script runs in this process.
  const run = await runPython(script, [], {
    EP: f.t.endpoint,
    BUCKET: b,
    AK: f.t.credentials.accessKeyId,
    SK: f.t.credentials.secretAccessKey,
  });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), {
    match: 200,
    mismatch: [412, 'PreconditionFailed'],
    noneMatch: [412, 'PreconditionFailed'],
    unmodified: [412, 'PreconditionFailed'],
    modified: 200,
    attrs: [true, 4, 'STANDARD', true],
  });
});
