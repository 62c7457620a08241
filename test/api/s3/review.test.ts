// Hostile review of the S3 additions (versioning, tagging, CORS, lifecycle, conditions, attributes, virtual
// hosts, POST object): each test is an attack found to work before its fix, or one that must keep failing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { rejects } from '../../helpers/sdk-errors.js';
import { bucketName, client, rawRequest, type S3Fixture, startS3 } from './fixtures.js';

let f: S3Fixture;
let other: S3Client;
let bucket: string;
let ownAccount: string;
let otherAccount: string;

before(async () => {
  f = await startS3();
  const tenant = await f.t.platform.tenants.create('review-other');
  otherAccount = tenant.accountId;
  const key = await f.t.platform.tenants.createKey(tenant.id);
  other = client({ endpoint: f.t.endpoint, credentials: key });
  ownAccount = (await f.t.platform.tenants.resolveKey(f.t.credentials.accessKeyId))!.tenant.accountId;
  bucket = bucketName('review');
  await f.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await f.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'src', Body: 'source bytes' }));
});
after(async () => {
  f.s3.destroy();
  other.destroy();
  await f.t.close();
});

test('an unsigned request to an access point alias is refused in S3 shape, not a server error', async () => {
  for (const method of ['GET', 'HEAD', 'PUT', 'DELETE']) {
    const res = await rawRequest(`${f.t.endpoint}/some-ap-abcdefghij-s3alias/k`, { method });
    assert.ok(res.status === 403 || res.status === 404, `${method}: ${res.status} ${res.body}`);
  }
});

test('x-amz-source-expected-bucket-owner is honoured on CopyObject and UploadPartCopy', async () => {
  assert.match(ownAccount, /^\d{12}$/);
  await rejects(
    f.s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'copy-wrong',
        CopySource: `${bucket}/src`,
        ExpectedSourceBucketOwner: otherAccount,
      }),
    ),
    'AccessDenied',
  );
  await f.s3.send(
    new CopyObjectCommand({
      Bucket: bucket,
      Key: 'copy-right',
      CopySource: `${bucket}/src`,
      ExpectedSourceBucketOwner: ownAccount,
    }),
  );
  const { UploadId } = await f.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp' }));
  await rejects(
    f.s3.send(
      new UploadPartCopyCommand({
        Bucket: bucket,
        Key: 'mp',
        UploadId,
        PartNumber: 1,
        CopySource: `${bucket}/src`,
        ExpectedSourceBucketOwner: otherAccount,
      }),
    ),
    'AccessDenied',
  );
});
