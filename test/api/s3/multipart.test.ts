import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { bodyOf, bucketName, type S3Fixture, startS3 } from './fixtures.js';

let f: S3Fixture;
let bucket: string;
before(async () => {
  f = await startS3();
  bucket = bucketName('mpu');
  await f.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => {
  f.s3.destroy();
  await f.t.close();
});

const MB5 = 5 * 1024 * 1024;
const md5 = (b: Buffer) => createHash('md5').update(b).digest();

async function start(key: string, contentType?: string) {
  const out = await f.s3.send(
    new CreateMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      ContentType: contentType,
      Metadata: { m: 'v' },
    }),
  );
  return out.UploadId!;
}

async function part(key: string, uploadId: string, n: number, body: Buffer) {
  const out = await f.s3.send(
    new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: n, Body: body }),
  );
  return { PartNumber: n, ETag: out.ETag! };
}

test('two 5 MB parts complete into one object whose bytes, ETag (md5 of part md5s -2) and metadata are S3s', async () => {
  const p1 = Buffer.alloc(MB5, 'a');
  const p2 = Buffer.alloc(MB5, 'b');
  const id = await start('big', 'application/x-test');
  const parts = [await part('big', id, 1, p1), await part('big', id, 2, p2)];
  assert.equal(parts[0]!.ETag, `"${md5(p1).toString('hex')}"`);
  const done = await f.s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: 'big',
      UploadId: id,
      MultipartUpload: { Parts: parts },
    }),
  );
  const expected = `"${createHash('md5')
    .update(Buffer.concat([md5(p1), md5(p2)]))
    .digest('hex')}-2"`;
  assert.equal(done.ETag, expected);
  const got = await f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'big' }));
  assert.equal(got.ETag, expected);
  assert.equal(got.ContentType, 'application/x-test');
  assert.deepEqual(got.Metadata, { m: 'v' });
  const bytes = await bodyOf(got);
  assert.equal(bytes.length, 2 * MB5);
  assert.ok(bytes.equals(Buffer.concat([p1, p2])));
});

test('GetObject and HeadObject by partNumber answer that part’s bytes, as a ranged GET, with the parts count', async () => {
  const p1 = Buffer.alloc(MB5, 'p');
  const p2 = Buffer.from('tail of it');
  const id = await start('by-part');
  const parts = [await part('by-part', id, 1, p1), await part('by-part', id, 2, p2)];
  const failsWith = async (p: Promise<unknown>, code: string, status: number) =>
    assert.rejects(p, (e: { name?: string; $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(e.name, code);
      assert.equal(e.$metadata?.httpStatusCode, status);
      return true;
    });
  // Not completed yet: there is no object.
  await failsWith(
    f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'by-part', PartNumber: 1 })),
    'NoSuchKey',
    404,
  );
  const done = await f.s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: 'by-part',
      UploadId: id,
      MultipartUpload: { Parts: parts },
    }),
  );
  const head = await f.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'by-part', PartNumber: 2 }));
  assert.equal(head.PartsCount, 2);
  assert.equal(head.ContentLength, p2.length);
  assert.equal(head.ETag, done.ETag);
  assert.equal(head.ContentRange, `bytes ${MB5}-${MB5 + p2.length - 1}/${MB5 + p2.length}`);
  const second = await f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'by-part', PartNumber: 2 }));
  assert.equal(second.$metadata.httpStatusCode, 206);
  assert.equal(second.PartsCount, 2);
  assert.equal((await bodyOf(second)).toString(), 'tail of it');
  const first = await f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'by-part', PartNumber: 1 }));
  assert.equal(first.ContentLength, MB5);
  assert.ok((await bodyOf(first)).equals(p1));
  await failsWith(
    f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'by-part', PartNumber: 3 })),
    'InvalidPart',
    400,
  );
  for (const n of [0, 10_001])
    await failsWith(
      f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'by-part', PartNumber: n })),
      'InvalidArgument',
      400,
    );
  await failsWith(
    f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'by-part', PartNumber: 1, Range: 'bytes=0-1' })),
    'InvalidRequest',
    400,
  );
  // An object written in one piece is one part: the whole object; no parts count.
  await f.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'by-part', Body: 'now whole' }));
  const whole = await f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'by-part', PartNumber: 1 }));
  assert.equal((await bodyOf(whole)).toString(), 'now whole');
  assert.equal(whole.PartsCount, undefined);
  await failsWith(
    f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'by-part', PartNumber: 2 })),
    'InvalidPart',
    400,
  );
});

test('ListParts lists uploaded parts with their sizes and ETags', async () => {
  const id = await start('listed');
  const body = Buffer.from('a small part');
  const p = await part('listed', id, 3, body);
  const out = await f.s3.send(new ListPartsCommand({ Bucket: bucket, Key: 'listed', UploadId: id }));
  assert.deepEqual(
    out.Parts?.map((x) => [x.PartNumber, x.Size, x.ETag]),
    [[3, body.length, p.ETag]],
  );
});

test('an in-progress upload is listed by ListMultipartUploads', async () => {
  const id = await start('in-progress');
  const out = await f.s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  assert.ok(out.Uploads?.some((u) => u.UploadId === id && u.Key === 'in-progress'));
});

test('ListMultipartUploads and ListParts name the Initiator and Owner: the bucket owner', async () => {
  const id = await start('initiator');
  const owner = (await f.s3.send(new ListBucketsCommand({}))).Owner!;
  const uploads = await f.s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'initiator' }));
  const u = uploads.Uploads?.find((x) => x.UploadId === id);
  assert.deepEqual([u?.Initiator?.ID, u?.Initiator?.DisplayName], [owner.ID, owner.DisplayName]);
  assert.deepEqual([u?.Owner?.ID, u?.Owner?.DisplayName], [owner.ID, owner.DisplayName]);
  const parts = await f.s3.send(new ListPartsCommand({ Bucket: bucket, Key: 'initiator', UploadId: id }));
  assert.equal(parts.Initiator?.ID, owner.ID);
  assert.equal(parts.Owner?.ID, owner.ID);
  assert.equal(parts.StorageClass, 'STANDARD');
});

test('an object is not visible until its upload completes', async () => {
  const id = await start('invisible');
  await part('invisible', id, 1, Buffer.from('x'));
  await assert.rejects(f.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'invisible' })), {
    name: 'NotFound',
  });
});

test('completing with a part smaller than 5 MB before the last answers EntityTooSmall', async () => {
  const id = await start('small');
  const parts = [
    await part('small', id, 1, Buffer.from('tiny')),
    await part('small', id, 2, Buffer.from('last')),
  ];
  await assert.rejects(
    f.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'small',
        UploadId: id,
        MultipartUpload: { Parts: parts },
      }),
    ),
    { name: 'EntityTooSmall' },
  );
});

test('completing with an ETag that does not match the part answers InvalidPart', async () => {
  const id = await start('wrong-etag');
  await part('wrong-etag', id, 1, Buffer.from('x'));
  await assert.rejects(
    f.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'wrong-etag',
        UploadId: id,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"00000000000000000000000000000000"' }] },
      }),
    ),
    { name: 'InvalidPart' },
  );
});

test('completing with parts out of order answers InvalidPartOrder', async () => {
  const id = await start('order');
  const a = await part('order', id, 1, Buffer.alloc(MB5));
  const b = await part('order', id, 2, Buffer.from('x'));
  await assert.rejects(
    f.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'order',
        UploadId: id,
        MultipartUpload: { Parts: [b, a] },
      }),
    ),
    { name: 'InvalidPartOrder' },
  );
});

test('an aborted upload is gone: ListParts answers NoSuchUpload', async () => {
  const id = await start('aborted');
  await part('aborted', id, 1, Buffer.from('x'));
  await f.s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'aborted', UploadId: id }));
  await assert.rejects(f.s3.send(new ListPartsCommand({ Bucket: bucket, Key: 'aborted', UploadId: id })), {
    name: 'NoSuchUpload',
  });
});

test('uploading to an unknown upload id answers NoSuchUpload', async () => {
  await assert.rejects(
    f.s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: 'k', UploadId: 'nope', PartNumber: 1, Body: 'x' }),
    ),
    { name: 'NoSuchUpload' },
  );
});

test('a part number above 10000 answers InvalidArgument', async () => {
  const id = await start('partnum');
  await assert.rejects(
    f.s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: 'partnum', UploadId: id, PartNumber: 10001, Body: 'x' }),
    ),
    { name: 'InvalidArgument' },
  );
});

test('UploadPartCopy takes parts from byte ranges of an existing object', async () => {
  const source = Buffer.concat([Buffer.alloc(MB5, 'p'), Buffer.from('rest of the source')]);
  await f.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'copy-source', Body: source }));
  const id = await start('copied-by-parts');
  const one = await f.s3.send(
    new UploadPartCopyCommand({
      Bucket: bucket,
      Key: 'copied-by-parts',
      UploadId: id,
      PartNumber: 1,
      CopySource: `${bucket}/copy-source`,
      CopySourceRange: `bytes=0-${MB5 - 1}`,
    }),
  );
  const two = await f.s3.send(
    new UploadPartCopyCommand({
      Bucket: bucket,
      Key: 'copied-by-parts',
      UploadId: id,
      PartNumber: 2,
      CopySource: `${bucket}/copy-source`,
      CopySourceRange: `bytes=${MB5}-${source.length - 1}`,
    }),
  );
  await f.s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: 'copied-by-parts',
      UploadId: id,
      MultipartUpload: {
        Parts: [
          { PartNumber: 1, ETag: one.CopyPartResult?.ETag },
          { PartNumber: 2, ETag: two.CopyPartResult?.ETag },
        ],
      },
    }),
  );
  const got = await bodyOf(await f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'copied-by-parts' })));
  assert.ok(got.equals(source));
});

test('UploadPartCopy with a range past the source answers 416 InvalidRange, as S3', async () => {
  await f.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'short-source', Body: 'tiny' }));
  const id = await start('bad-range');
  await assert.rejects(
    f.s3.send(
      new UploadPartCopyCommand({
        Bucket: bucket,
        Key: 'bad-range',
        UploadId: id,
        PartNumber: 1,
        CopySource: `${bucket}/short-source`,
        CopySourceRange: 'bytes=0-100',
      }),
    ),
    (e: { name: string; $metadata: { httpStatusCode?: number } }) =>
      e.name === 'InvalidRange' && e.$metadata.httpStatusCode === 416,
  );
});
