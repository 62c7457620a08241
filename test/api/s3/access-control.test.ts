// S3 access control as users meet it: canned and granted ACLs, bucket policies, PublicAccessBlock and
// anonymous requests, through the unmodified SDK, boto3 and plain fetch; and the attacks on them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteBucketPolicyCommand,
  DeleteObjectCommand,
  DeletePublicAccessBlockCommand,
  GetBucketAclCommand,
  GetBucketPolicyCommand,
  GetBucketPolicyStatusCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  GetPublicAccessBlockCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutBucketAclCommand,
  PutBucketPolicyCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  PutPublicAccessBlockCommand,
  type S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { runPython } from '../../helpers/process.js';
import {
  bodyOf,
  bucketName,
  client,
  objectPath,
  otherTenant,
  policyText,
  presign,
  putPolicy,
  rawRequest,
  rejectsWith,
  type S3Fixture,
  startS3,
} from './fixtures.js';

let f: S3Fixture;
let other: S3Client;
let otherCreds: { accessKeyId: string; secretAccessKey: string };
let otherAccount: string;
let ownerId: string;
let otherId: string;

before(async () => {
  f = await startS3();
  ({ s3: other, accountId: otherAccount, credentials: otherCreds } = await otherTenant(f, 'acl-other'));
  ownerId = (await f.s3.send(new ListBucketsCommand({}))).Owner!.ID!;
  otherId = (await other.send(new ListBucketsCommand({}))).Owner!.ID!;
});
after(async () => {
  f.s3.destroy();
  other.destroy();
  await f.t.close();
});

/** An unsigned request, as a browser or curl sends it. */
const anon = (method: string, path: string, body?: string) =>
  fetch(`${f.t.endpoint}${path}`, { method, body }).then(async (r) => ({
    status: r.status,
    body: await r.text(),
  }));

async function newBucket(label: string): Promise<string> {
  const b = bucketName(label);
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  return b;
}

test('a tenant has a stable 64-hex canonical id in ListBuckets and in the ACL it owns', async () => {
  assert.match(ownerId, /^[0-9a-f]{64}$/);
  assert.notEqual(ownerId, otherId);
  assert.equal((await f.s3.send(new ListBucketsCommand({}))).Owner?.ID, ownerId);
  const b = await newBucket('acl-owner');
  const acl = await f.s3.send(new GetBucketAclCommand({ Bucket: b }));
  assert.equal(acl.Owner?.ID, ownerId);
  assert.deepEqual(
    acl.Grants?.map((g) => [g.Grantee?.Type, g.Grantee?.ID, g.Permission]),
    [['CanonicalUser', ownerId, 'FULL_CONTROL']],
  );
});

test('a public-read object is readable anonymously, a private one beside it is not', async () => {
  const b = await newBucket('acl-pubobj');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'pub', Body: 'public bytes', ACL: 'public-read' }));
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'priv', Body: 'private bytes' }));
  assert.deepEqual(await anon('GET', `/${b}/pub`), { status: 200, body: 'public bytes' });
  const denied = await anon('GET', `/${b}/priv`);
  assert.equal(denied.status, 403);
  assert.match(denied.body, /<Code>AccessDenied<\/Code>/);
  // An object overwritten without an ACL is private again.
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'pub', Body: 'now private' }));
  assert.equal((await anon('GET', `/${b}/pub`)).status, 403);
  const acl = await f.s3.send(new GetObjectAclCommand({ Bucket: b, Key: 'pub' }));
  assert.equal(acl.Grants?.length, 1);
});

test('anonymous listing needs a public-read bucket; a missing key then answers NoSuchKey', async () => {
  const b = await newBucket('acl-publist');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'listed', Body: 'x' }));
  assert.equal((await anon('GET', `/${b}?list-type=2`)).status, 403);
  assert.equal((await anon('GET', `/${b}/missing`)).status, 403);
  await f.s3.send(new PutBucketAclCommand({ Bucket: b, ACL: 'public-read' }));
  const list = await anon('GET', `/${b}?list-type=2`);
  assert.equal(list.status, 200);
  assert.match(list.body, /<Key>listed<\/Key>/);
  const missing = await anon('GET', `/${b}/missing`);
  assert.equal(missing.status, 404);
  assert.match(missing.body, /<Code>NoSuchKey<\/Code>/);
  assert.equal((await anon('GET', `/${b}/listed`)).status, 403, 'bucket READ does not grant object reads');
  const grants = (await f.s3.send(new GetBucketAclCommand({ Bucket: b }))).Grants ?? [];
  assert.ok(grants.some((g) => g.Grantee?.URI === 'http://acs.amazonaws.com/groups/global/AllUsers'));
});

test('attack: an anonymous write to a private bucket is refused and writes nothing', async () => {
  const b = await newBucket('acl-anonwrite');
  const res = await anon('PUT', `/${b}/planted`, 'evil');
  assert.equal(res.status, 403);
  assert.match(res.body, /<Code>AccessDenied<\/Code>/);
  const del = await anon('DELETE', `/${b}`);
  assert.equal(del.status, 403);
  const listed = await f.s3.send(new ListObjectsV2Command({ Bucket: b }));
  assert.equal(listed.KeyCount, 0);
});

test('a public-read-write bucket takes anonymous uploads, which belong to the bucket owner', async () => {
  const b = bucketName('acl-pubrw');
  await f.s3.send(new CreateBucketCommand({ Bucket: b, ACL: 'public-read-write' }));
  assert.equal((await anon('PUT', `/${b}/dropped`, 'dropped in')).status, 200);
  const got = await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'dropped' }));
  assert.equal((await bodyOf(got)).toString(), 'dropped in');
  assert.equal((await anon('DELETE', `/${b}/dropped`)).status, 204);
});

test('x-amz-acl on CopyObject and CreateMultipartUpload gives the new object its ACL', async () => {
  const b = await newBucket('acl-copymp');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'src', Body: 'copied bytes' }));
  await f.s3.send(
    new CopyObjectCommand({ Bucket: b, Key: 'copy', CopySource: `${b}/src`, ACL: 'public-read' }),
  );
  assert.deepEqual(await anon('GET', `/${b}/copy`), { status: 200, body: 'copied bytes' });
  assert.equal((await anon('GET', `/${b}/src`)).status, 403);
  const up = await f.s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'mp', ACL: 'public-read' }));
  const part = await f.s3.send(
    new UploadPartCommand({ Bucket: b, Key: 'mp', UploadId: up.UploadId, PartNumber: 1, Body: 'one part' }),
  );
  await f.s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: b,
      Key: 'mp',
      UploadId: up.UploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
    }),
  );
  assert.deepEqual(await anon('GET', `/${b}/mp`), { status: 200, body: 'one part' });
});

test('anonymous requests never reach Lambda, SQS or the admin API', async () => {
  for (const [method, path] of [
    ['POST', '/2015-03-31/functions/f/invocations'],
    ['GET', '/2015-03-31/functions/'],
    ['GET', '/?Action=ListQueues'],
    ['GET', '/kindling/v1/tenants'],
    ['GET', '/'],
  ] as const) {
    const res = await anon(method, path);
    assert.ok([400, 401, 403].includes(res.status), `${method} ${path}: ${res.status}`);
    assert.doesNotMatch(res.body, /Functions|QueueUrl|ListAllMyBucketsResult|"tenants"/);
  }
});

test('attack: another tenant reads a private object only after the owner grants it by canonical id', async () => {
  const b = await newBucket('acl-grant');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'shared', Body: 'for other' }));
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'secret', Body: 'mine' }));
  await rejectsWith(other.send(new GetObjectCommand({ Bucket: b, Key: 'shared' })), 'AccessDenied', 403);
  await f.s3.send(
    new PutObjectAclCommand({
      Bucket: b,
      Key: 'shared',
      AccessControlPolicy: {
        Owner: { ID: ownerId },
        Grants: [
          { Grantee: { Type: 'CanonicalUser', ID: ownerId }, Permission: 'FULL_CONTROL' },
          { Grantee: { Type: 'CanonicalUser', ID: otherId }, Permission: 'READ' },
        ],
      },
    }),
  );
  const got = await other.send(new GetObjectCommand({ Bucket: b, Key: 'shared' }));
  assert.equal((await bodyOf(got)).toString(), 'for other');
  await rejectsWith(other.send(new GetObjectCommand({ Bucket: b, Key: 'secret' })), 'AccessDenied', 403);
  await rejectsWith(
    other.send(new PutObjectCommand({ Bucket: b, Key: 'x', Body: 'x' })),
    'AccessDenied',
    403,
  );
  await rejectsWith(other.send(new GetObjectAclCommand({ Bucket: b, Key: 'shared' })), 'AccessDenied', 403);
  // Anonymous callers are not that tenant.
  assert.equal((await anon('GET', `/${b}/shared`)).status, 403);
});

test('a grant header to another tenant lets it write into the bucket (x-amz-grant-write)', async () => {
  const b = bucketName('acl-grantwrite');
  await f.s3.send(
    new CreateBucketCommand({
      Bucket: b,
      GrantWrite: `id="${otherId}"`,
      GrantFullControl: `id="${ownerId}"`,
    }),
  );
  await other.send(new PutObjectCommand({ Bucket: b, Key: 'from-other', Body: 'hi' }));
  const got = await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'from-other' }));
  assert.equal((await bodyOf(got)).toString(), 'hi');
  await rejectsWith(other.send(new ListObjectsV2Command({ Bucket: b })), 'AccessDenied', 403);
});

test('attack: a forged ACL grant to a canonical id no tenant has is refused with InvalidArgument', async () => {
  const b = await newBucket('acl-forged');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }));
  const forged = 'f'.repeat(64);
  await rejectsWith(
    f.s3.send(
      new PutObjectAclCommand({
        Bucket: b,
        Key: 'k',
        AccessControlPolicy: {
          Owner: { ID: ownerId },
          Grants: [{ Grantee: { Type: 'CanonicalUser', ID: forged }, Permission: 'READ' }],
        },
      }),
    ),
    'InvalidArgument',
    400,
  );
  await rejectsWith(
    f.s3.send(new PutBucketAclCommand({ Bucket: b, GrantRead: `id="${forged}"` })),
    'InvalidArgument',
    400,
  );
  await rejectsWith(
    f.s3.send(
      new PutBucketAclCommand({
        Bucket: b,
        GrantRead: 'uri="http://acs.amazonaws.com/groups/s3/LogDelivery"',
      }),
    ),
    'InvalidArgument',
    400,
  );
  // An ACL naming another owner is not the owner's to set.
  await rejectsWith(
    f.s3.send(
      new PutBucketAclCommand({
        Bucket: b,
        AccessControlPolicy: { Owner: { ID: otherId }, Grants: [] },
      }),
    ),
    'AccessDenied',
    403,
  );
  assert.equal((await f.s3.send(new GetObjectAclCommand({ Bucket: b, Key: 'k' }))).Grants?.length, 1);
});

test('a grant by e-mail address answers UnresolvableGrantByEmailAddress and changes nothing', async () => {
  const b = await newBucket('acl-email');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }));
  await rejectsWith(
    f.s3.send(new PutBucketAclCommand({ Bucket: b, GrantRead: 'emailAddress="nobody@example.com"' })),
    'UnresolvableGrantByEmailAddress',
    400,
  );
  await rejectsWith(
    f.s3.send(
      new PutObjectAclCommand({
        Bucket: b,
        Key: 'k',
        AccessControlPolicy: {
          Owner: { ID: ownerId },
          Grants: [
            {
              Grantee: { Type: 'AmazonCustomerByEmail', EmailAddress: 'nobody@example.com' },
              Permission: 'READ',
            },
          ],
        },
      }),
    ),
    'UnresolvableGrantByEmailAddress',
    400,
  );
  assert.equal((await f.s3.send(new GetBucketAclCommand({ Bucket: b }))).Grants?.length, 1);
  assert.equal((await f.s3.send(new GetObjectAclCommand({ Bucket: b, Key: 'k' }))).Grants?.length, 1);
});

test('x-amz-expected-bucket-owner: the owner’s account id passes, any other is AccessDenied for everyone', async () => {
  const b = await newBucket('expected-owner');
  await f.s3.send(new PutBucketAclCommand({ Bucket: b, ACL: 'public-read-write' }));
  const own = (await f.t.platform.tenants.resolveKey(f.t.credentials.accessKeyId))!.tenant.accountId;
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x', ExpectedBucketOwner: own }));
  await f.s3.send(new ListObjectsV2Command({ Bucket: b, ExpectedBucketOwner: own }));
  // Another tenant may write to the public bucket, but not when it names the wrong owner.
  await other.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'x', ExpectedBucketOwner: own }));
  await rejectsWith(
    other.send(new PutObjectCommand({ Bucket: b, Key: 'o2', Body: 'x', ExpectedBucketOwner: otherAccount })),
    'AccessDenied',
    403,
  );
  await rejectsWith(
    f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', ExpectedBucketOwner: otherAccount })),
    'AccessDenied',
    403,
  );
  await rejectsWith(
    f.s3.send(new ListObjectsV2Command({ Bucket: b, ExpectedBucketOwner: `${ownerId}foo` })),
    'AccessDenied',
    403,
  );
  // Anonymous callers are held to it too; nothing was written under the refused names.
  const anonymous = await fetch(`${f.t.endpoint}/${b}/a`, {
    method: 'PUT',
    body: 'x',
    headers: { 'x-amz-expected-bucket-owner': otherAccount },
  });
  assert.equal(anonymous.status, 403);
  const keys = (await f.s3.send(new ListObjectsV2Command({ Bucket: b }))).Contents?.map((c) => c.Key);
  assert.deepEqual(keys, ['k', 'o']);
});

test('another tenant may not change a bucket ACL, policy or PublicAccessBlock', async () => {
  const b = await newBucket('acl-notyours');
  await rejectsWith(
    other.send(new PutBucketAclCommand({ Bucket: b, ACL: 'public-read' })),
    'AccessDenied',
    403,
  );
  await rejectsWith(
    putPolicy(other, b, [
      {
        Effect: 'Allow',
        Principal: '*',
        Action: 's3:GetObject',
        Resource: `arn:aws:s3:::${b}/*`,
      },
    ]),
    'AccessDenied',
    403,
  );
  await rejectsWith(other.send(new DeletePublicAccessBlockCommand({ Bucket: b })), 'AccessDenied', 403);
  await rejectsWith(other.send(new DeleteBucketCommand({ Bucket: b })), 'AccessDenied', 403);
});

test('another tenant sees AccessDenied for an existing bucket and NoSuchBucket for a missing one, as on S3', async () => {
  const b = await newBucket('acl-exists');
  await rejectsWith(other.send(new ListObjectsV2Command({ Bucket: b })), 'AccessDenied', 403);
  await rejectsWith(
    other.send(new ListObjectsV2Command({ Bucket: bucketName('acl-never') })),
    'NoSuchBucket',
    404,
  );
});

test('a policy granting a tenant one prefix lets it read there and nowhere else', async () => {
  const b = await newBucket('pol-prefix');
  for (const k of ['public/a', 'private/b'])
    await f.s3.send(new PutObjectCommand({ Bucket: b, Key: k, Body: k }));
  await putPolicy(f.s3, b, [
    {
      Sid: 'prefix',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${otherAccount}:root` },
      Action: 's3:GetObject',
      Resource: `arn:aws:s3:::${b}/public/*`,
    },
  ]);
  const got = await other.send(new GetObjectCommand({ Bucket: b, Key: 'public/a' }));
  assert.equal((await bodyOf(got)).toString(), 'public/a');
  // Attack: the prefix grant used on another prefix, or with a key that walks out of it.
  await rejectsWith(other.send(new GetObjectCommand({ Bucket: b, Key: 'private/b' })), 'AccessDenied', 403);
  await rejectsWith(
    other.send(new GetObjectCommand({ Bucket: b, Key: 'public/../private/b' })),
    'AccessDenied',
    403,
  );
  // A missing key under the prefix: no ListBucket, so AccessDenied rather than NoSuchKey.
  await rejectsWith(other.send(new GetObjectCommand({ Bucket: b, Key: 'public/none' })), 'AccessDenied', 403);
  await rejectsWith(other.send(new ListObjectsV2Command({ Bucket: b })), 'AccessDenied', 403);
  assert.equal(
    (await anon('GET', `/${b}/public/a`)).status,
    403,
    'the grant is to one account, not everyone',
  );
  const status = await f.s3.send(new GetBucketPolicyStatusCommand({ Bucket: b }));
  assert.equal(status.PolicyStatus?.IsPublic, false);
});

test('a policy Resource with wildcards covering the bucket (arn:aws:s3:::*) applies to this bucket only', async () => {
  const b = await newBucket('pol-wild');
  const b2 = await newBucket('pol-wild-other');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'wild' }));
  await f.s3.send(new PutObjectCommand({ Bucket: b2, Key: 'k', Body: 'not shared' }));
  await putPolicy(f.s3, b, [
    {
      Effect: 'Allow',
      Principal: { AWS: otherAccount },
      Action: ['s3:ListBucket', 's3:GetObject'],
      Resource: ['arn:aws:s3:::*', 'arn:aws:s3:::*/*'],
    },
  ]);
  assert.deepEqual(
    (await other.send(new ListObjectsV2Command({ Bucket: b }))).Contents?.map((c) => c.Key),
    ['k'],
  );
  assert.equal(
    (await bodyOf(await other.send(new GetObjectCommand({ Bucket: b, Key: 'k' })))).toString(),
    'wild',
  );
  // Attack: the wildcard does not reach a bucket whose own policy does not say so.
  await rejectsWith(other.send(new GetObjectCommand({ Bucket: b2, Key: 'k' })), 'AccessDenied', 403);
  await rejectsWith(other.send(new ListObjectsV2Command({ Bucket: b2 })), 'AccessDenied', 403);
  // A pattern that cannot name this bucket stays refused; s3:GetObject on the bucket ARN alone too.
  for (const [Resource, message] of [
    ['arn:aws:s3:::pol-x*', /invalid resource/],
    [`arn:aws:s3:::${b}`, /does not apply/],
  ] as const)
    await assert.rejects(
      putPolicy(f.s3, b, [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource }]),
      (e: Error) => e.name === 'MalformedPolicy' && message.test(e.message),
    );
});

test('attack: a Deny overrides an Allow, for everyone including the owner', async () => {
  const b = await newBucket('pol-deny');
  for (const k of ['open/x', 'secret/y'])
    await f.s3.send(new PutObjectCommand({ Bucket: b, Key: k, Body: k }));
  await putPolicy(f.s3, b, [
    {
      Effect: 'Allow',
      Principal: '*',
      Action: ['s3:GetObject', 's3:ListBucket'],
      Resource: [`arn:aws:s3:::${b}`, `arn:aws:s3:::${b}/*`],
    },
    { Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/secret/*` },
  ]);
  assert.deepEqual(await anon('GET', `/${b}/open/x`), { status: 200, body: 'open/x' });
  assert.equal((await anon('GET', `/${b}/secret/y`)).status, 403);
  await rejectsWith(other.send(new GetObjectCommand({ Bucket: b, Key: 'secret/y' })), 'AccessDenied', 403);
  await rejectsWith(f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'secret/y' })), 'AccessDenied', 403);
  // With ListBucket allowed, a missing key answers NoSuchKey.
  const missing = await anon('GET', `/${b}/open/none`);
  assert.equal(missing.status, 404);
  assert.match(missing.body, /<Code>NoSuchKey<\/Code>/);
  assert.equal(
    (await f.s3.send(new GetBucketPolicyStatusCommand({ Bucket: b }))).PolicyStatus?.IsPublic,
    true,
  );
  await f.s3.send(new DeleteBucketPolicyCommand({ Bucket: b }));
  const mine = await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'secret/y' }));
  assert.equal((await bodyOf(mine)).toString(), 'secret/y');
  assert.equal((await anon('GET', `/${b}/open/x`)).status, 403);
  await rejectsWith(f.s3.send(new GetBucketPolicyCommand({ Bucket: b })), 'NoSuchBucketPolicy', 404);
});

test('a policy Deny on DeleteObject holds per key in DeleteObjects too', async () => {
  const b = await newBucket('pol-delete');
  for (const k of ['keep/a', 'tmp/b']) await f.s3.send(new PutObjectCommand({ Bucket: b, Key: k, Body: k }));
  await putPolicy(f.s3, b, [
    {
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:DeleteObject',
      Resource: `arn:aws:s3:::${b}/keep/*`,
    },
  ]);
  await rejectsWith(f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'keep/a' })), 'AccessDenied', 403);
  await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'tmp/b' }));
  const left = await f.s3.send(new ListObjectsV2Command({ Bucket: b }));
  assert.deepEqual(
    left.Contents?.map((c) => c.Key),
    ['keep/a'],
  );
});

test('aws:SourceIp conditions: IpAddress outside the caller’s range denies, NotIpAddress allows', async () => {
  const b = await newBucket('pol-ip');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'by address' }));
  const put = (op: string, range: string) =>
    putPolicy(f.s3, b, [
      {
        Effect: 'Allow',
        Principal: '*',
        Action: 's3:GetObject',
        Resource: `arn:aws:s3:::${b}/*`,
        Condition: { [op]: { 'aws:SourceIp': range } },
      },
    ]);
  await put('IpAddress', '10.0.0.0/8');
  assert.equal((await anon('GET', `/${b}/k`)).status, 403);
  assert.equal(
    (await f.s3.send(new GetBucketPolicyStatusCommand({ Bucket: b }))).PolicyStatus?.IsPublic,
    false,
  );
  await put('IpAddress', '127.0.0.0/8');
  assert.equal((await anon('GET', `/${b}/k`)).status, 200);
  await put('NotIpAddress', '10.0.0.0/8');
  assert.equal((await anon('GET', `/${b}/k`)).status, 200);
  await put('NotIpAddress', '127.0.0.1/32');
  assert.equal((await anon('GET', `/${b}/k`)).status, 403);
});

test('string conditions: aws:Referer with StringLike and ...IfExists, absent keys as IAM treats them', async () => {
  const b = await newBucket('pol-ref');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'by referer' }));
  const put = (op: string) =>
    putPolicy(f.s3, b, [
      {
        Effect: 'Allow',
        Principal: '*',
        Action: 's3:GetObject',
        Resource: `arn:aws:s3:::${b}/*`,
        Condition: { [op]: { 'aws:Referer': ['http://www.example.com/*', 'https://example.org/'] } },
      },
    ]);
  const get = (referer?: string) =>
    rawRequest(`${f.t.endpoint}/${b}/k`, { method: 'GET', headers: referer ? { referer } : {} }).then(
      (r) => r.status,
    );
  await put('StringLike');
  assert.equal(await get('http://www.example.com/index.html'), 200);
  assert.equal(await get('https://example.org/'), 200);
  assert.equal(await get('https://example.org/x'), 403);
  assert.equal(await get('http://evil.example/?http://www.example.com/'), 403);
  assert.equal(await get(), 403, 'an absent key fails a positive test');
  // A Referer condition says nothing about who calls: the policy is still public.
  assert.equal(
    (await f.s3.send(new GetBucketPolicyStatusCommand({ Bucket: b }))).PolicyStatus?.IsPublic,
    true,
  );
  await put('StringLikeIfExists');
  assert.equal(await get(), 200, '...IfExists holds when the key is absent');
  assert.equal(await get('http://www.example.com/'), 200);
  assert.equal(await get('http://other.example/'), 403);
  await put('StringNotLike');
  assert.equal(await get(), 200, 'an absent key passes a negated test');
  assert.equal(await get('http://www.example.com/a'), 403);
  assert.equal(await get('http://other.example/'), 200);
  await put('StringEqualsIgnoreCase');
  assert.equal(await get('HTTPS://EXAMPLE.ORG/'), 200);
  assert.equal(await get('http://www.example.com/a'), 403, 'no wildcards in StringEquals*');
});

test('string conditions on request headers: a Deny on s3:x-amz-acl; headers count only for the actions that use them', async () => {
  const b = await newBucket('pol-acl');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }));
  await putPolicy(f.s3, b, [
    {
      Effect: 'Allow',
      Principal: { AWS: otherAccount },
      Action: 's3:PutObject',
      Resource: `arn:aws:s3:::${b}/*`,
    },
    {
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:PutObject',
      Resource: `arn:aws:s3:::${b}/*`,
      Condition: { StringLike: { 's3:x-amz-acl': 'public*' } },
    },
    {
      Effect: 'Allow',
      Principal: { AWS: otherAccount },
      Action: 's3:GetObject',
      Resource: `arn:aws:s3:::${b}/*`,
      Condition: { StringEquals: { 'S3:X-AMZ-ACL': 'private' } },
    },
  ]);
  await other.send(new PutObjectCommand({ Bucket: b, Key: 'private', Body: 'p' }));
  await rejectsWith(
    other.send(new PutObjectCommand({ Bucket: b, Key: 'public', Body: 'p', ACL: 'public-read' })),
    'AccessDenied',
    403,
  );
  // The Deny binds the owner too.
  await rejectsWith(
    f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'public', Body: 'p', ACL: 'public-read-write' })),
    'AccessDenied',
    403,
  );
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'private2', Body: 'p', ACL: 'private' }));
  // The attack: an x-amz-acl header on a GET is not GetObject's condition key, so it opens nothing.
  const withAcl = client({ endpoint: f.t.endpoint, credentials: otherCreds });
  withAcl.middlewareStack.add(
    (next) => async (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-amz-acl'] = 'private';
      return next(args);
    },
    { step: 'build' },
  );
  try {
    await rejectsWith(withAcl.send(new GetObjectCommand({ Bucket: b, Key: 'k' })), 'AccessDenied', 403);
  } finally {
    withAcl.destroy();
  }
});

test('attack: a Deny on s3:PutObjectAcl binds the owner on PutObject with an ACL header too', async () => {
  const b = await newBucket('pol-putacl');
  await putPolicy(f.s3, b, [
    {
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:PutObjectAcl',
      Resource: `arn:aws:s3:::${b}/*`,
    },
  ]);
  // The header sets an ACL as PutObjectAcl would: refused, and nothing is stored.
  await rejectsWith(
    f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x', ACL: 'public-read' })),
    'AccessDenied',
    403,
  );
  await rejectsWith(f.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'k' })), 'NotFound', 404);
  // Without an ACL header the owner writes as before.
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }));
});

test('s3:prefix and s3:max-keys conditions on ListBucket; a missing key is 404 only under the allowed prefix', async () => {
  const b = await newBucket('pol-prefix');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'public/a', Body: 'a' }));
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'private/a', Body: 'a' }));
  await putPolicy(f.s3, b, [
    {
      Effect: 'Allow',
      Principal: { AWS: otherAccount },
      Action: 's3:ListBucket',
      Resource: `arn:aws:s3:::${b}`,
      Condition: {
        StringLike: { 's3:prefix': 'public/*' },
        NumericLessThanEqualsIfExists: { 's3:max-keys': '10' },
      },
    },
  ]);
  const list = (Prefix: string | undefined, MaxKeys: number | undefined) =>
    other.send(new ListObjectsV2Command({ Bucket: b, Prefix, MaxKeys }));
  assert.deepEqual(
    (await list('public/', 10)).Contents?.map((c) => c.Key),
    ['public/a'],
  );
  await rejectsWith(list('private/', 10), 'AccessDenied', 403);
  await rejectsWith(list(undefined, 10), 'AccessDenied', 403);
  await rejectsWith(list('public/', 11), 'AccessDenied', 403);
  assert.equal((await list('public/', undefined)).KeyCount, 1, 'no max-keys: ...IfExists holds');
  const read = (key: string) =>
    other.send(new GetObjectCommand({ Bucket: b, Key: key })).then(
      () => 200,
      (e: S3ServiceException) => e.$metadata.httpStatusCode,
    );
  assert.equal(await read('public/missing'), 404);
  assert.equal(await read('private/missing'), 403);
  assert.equal(await read('public/a'), 403, 'listing grants no read');
});

test('s3:ExistingObjectTag conditions read the object’s tags; a tenant cannot retag its way in', async () => {
  const b = await newBucket('pol-tag');
  const put = async (Key: string, Tagging?: string) =>
    f.s3.send(new PutObjectCommand({ Bucket: b, Key, Body: Key, Tagging }));
  await put('public', 'security=public&foo=bar');
  await put('private', 'security=private');
  await put('untagged');
  await put('cased', 'Security=public');
  await putPolicy(f.s3, b, [
    {
      Effect: 'Allow',
      Principal: { AWS: otherAccount },
      Action: ['s3:GetObject', 's3:GetObjectTagging', 's3:PutObjectTagging'],
      Resource: `arn:aws:s3:::${b}/*`,
      Condition: { StringEquals: { 's3:ExistingObjectTag/security': 'public' } },
    },
    {
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:GetObject',
      Resource: `arn:aws:s3:::${b}/*`,
      Condition: { StringEquals: { 's3:ExistingObjectTag/embargo': 'yes' } },
    },
  ]);
  const read = (key: string) =>
    other.send(new GetObjectCommand({ Bucket: b, Key: key })).then(
      async (o) => (await bodyOf(o)).toString(),
      (e: S3ServiceException) => e.$metadata.httpStatusCode,
    );
  assert.equal(await read('public'), 'public');
  assert.equal(await read('private'), 403);
  assert.equal(await read('untagged'), 403, 'no tag: the key is absent');
  assert.equal(await read('cased'), 403, 'tag keys are case-sensitive');
  assert.equal(await read('missing'), 403);
  assert.deepEqual((await other.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'public' }))).TagSet, [
    { Key: 'security', Value: 'public' },
    { Key: 'foo', Value: 'bar' },
  ]);
  // The attack: retagging a private object public needs the object to be public already.
  await rejectsWith(
    other.send(
      new PutObjectTaggingCommand({
        Bucket: b,
        Key: 'private',
        Tagging: { TagSet: [{ Key: 'security', Value: 'public' }] },
      }),
    ),
    'AccessDenied',
    403,
  );
  assert.equal(await read('private'), 403);
  // Allowed on a public object, it can take the object out of reach, which then holds.
  await other.send(
    new PutObjectTaggingCommand({
      Bucket: b,
      Key: 'public',
      Tagging: { TagSet: [{ Key: 'security', Value: 'gone' }] },
    }),
  );
  assert.equal(await read('public'), 403);
  // The Deny on another tag binds the owner too, and is read from the current tags.
  await put('embargoed', 'security=public&embargo=yes');
  await rejectsWith(f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'embargoed' })), 'AccessDenied', 403);
  assert.equal(await read('embargoed'), 403);
  await f.s3.send(
    new PutObjectTaggingCommand({
      Bucket: b,
      Key: 'embargoed',
      Tagging: { TagSet: [{ Key: 'security', Value: 'public' }] },
    }),
  );
  assert.equal(await read('embargoed'), 'embargoed');
});

test('condition operators and keys not implemented are refused by name with MalformedPolicy', async () => {
  const b = await newBucket('pol-refuse');
  const put = (Condition: object) =>
    putPolicy(f.s3, b, [
      {
        Effect: 'Allow',
        Principal: '*',
        Action: 's3:GetObject',
        Resource: `arn:aws:s3:::${b}/*`,
        Condition,
      },
    ]);
  const refused = async (Condition: object, words: RegExp) =>
    assert.rejects(put(Condition), (e: unknown) => {
      assert.ok(e instanceof S3ServiceException);
      assert.equal(e.name, 'MalformedPolicy');
      assert.match(e.message, words);
      return true;
    });
  await refused({ StringEquals: { 's3:ExistingObjectTag/': 'public' } }, /names no tag/);
  await refused({ NumericEquals: { 's3:ExistingObjectTag/n': '1' } }, /String operators only/);
  await refused({ StringEquals: { 's3:RequestObjectTag/security': 'public' } }, /s3:RequestObjectTag/);
  await refused({ DateLessThan: { 'aws:CurrentTime': '2030-01-01T00:00:00Z' } }, /DateLessThan/);
  await refused({ 'ForAnyValue:StringEquals': { 'aws:Referer': 'x' } }, /ForAnyValue:StringEquals/);
  await refused({ StringNotLessThan: { 'aws:Referer': 'x' } }, /StringNotLessThan/);
  await refused({ StringEquals: { 'aws:SourceIp': '10.0.0.1' } }, /aws:SourceIp/);
  await refused({ IpAddress: { 'aws:Referer': '10.0.0.0/8' } }, /aws:Referer/);
  await refused({ NumericLessThan: { 's3:max-keys': 'ten' } }, /not a number/);
  await refused({ StringEquals: { 'aws:Referer': [] } }, /Invalid Condition value/);
  await rejectsWith(f.s3.send(new GetBucketPolicyCommand({ Bucket: b })), 'NoSuchBucketPolicy', 404);
});

test('PublicAccessBlock: IgnorePublicAcls turns a public-read ACL off, BlockPublicAcls and BlockPublicPolicy refuse public settings', async () => {
  const b = await newBucket('pab');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'pub', Body: 'pub', ACL: 'public-read' }));
  assert.equal((await anon('GET', `/${b}/pub`)).status, 200);
  await rejectsWith(
    f.s3.send(new GetPublicAccessBlockCommand({ Bucket: b })),
    'NoSuchPublicAccessBlockConfiguration',
    404,
  );
  await f.s3.send(
    new PutPublicAccessBlockCommand({
      Bucket: b,
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        IgnorePublicAcls: true,
        BlockPublicPolicy: true,
        RestrictPublicBuckets: false,
      },
    }),
  );
  assert.equal((await anon('GET', `/${b}/pub`)).status, 403);
  const got = await f.s3.send(new GetPublicAccessBlockCommand({ Bucket: b }));
  assert.deepEqual(got.PublicAccessBlockConfiguration, {
    BlockPublicAcls: true,
    IgnorePublicAcls: true,
    BlockPublicPolicy: true,
    RestrictPublicBuckets: false,
  });
  await rejectsWith(
    f.s3.send(new PutObjectAclCommand({ Bucket: b, Key: 'pub', ACL: 'public-read' })),
    'AccessDenied',
    403,
  );
  await rejectsWith(
    f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'p2', Body: 'x', ACL: 'public-read-write' })),
    'AccessDenied',
    403,
  );
  await rejectsWith(
    putPolicy(f.s3, b, [
      {
        Effect: 'Allow',
        Principal: '*',
        Action: 's3:GetObject',
        Resource: `arn:aws:s3:::${b}/*`,
      },
    ]),
    'AccessDenied',
    403,
  );
  // A policy for one account is not public: allowed.
  await putPolicy(f.s3, b, [
    {
      Effect: 'Allow',
      Principal: { AWS: otherAccount },
      Action: 's3:GetObject',
      Resource: `arn:aws:s3:::${b}/*`,
    },
  ]);
  await f.s3.send(new DeletePublicAccessBlockCommand({ Bucket: b }));
  assert.equal((await anon('GET', `/${b}/pub`)).status, 200);
});

test('PublicAccessBlock: RestrictPublicBuckets makes a public policy grant nothing to others', async () => {
  const b = await newBucket('pab-restrict');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'k' }));
  await putPolicy(f.s3, b, [
    {
      Effect: 'Allow',
      Principal: '*',
      Action: 's3:GetObject',
      Resource: `arn:aws:s3:::${b}/*`,
    },
  ]);
  assert.equal((await anon('GET', `/${b}/k`)).status, 200);
  await f.s3.send(
    new PutPublicAccessBlockCommand({
      Bucket: b,
      PublicAccessBlockConfiguration: { RestrictPublicBuckets: true },
    }),
  );
  assert.equal((await anon('GET', `/${b}/k`)).status, 403);
  await rejectsWith(other.send(new GetObjectCommand({ Bucket: b, Key: 'k' })), 'AccessDenied', 403);
  assert.equal(
    (await bodyOf(await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' })))).toString(),
    'k',
  );
});

test('attack: a resource pattern of thousands of wildcards is accepted and requests against it are still answered', async () => {
  const b = await newBucket('pol-stars');
  const key = 'a'.repeat(1000);
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: key, Body: 'x' }));
  // As a regular expression this would backtrack for ages on a key of 1000 a's with no b.
  const pattern = `arn:aws:s3:::${b}/${'a*'.repeat(3000)}b`;
  await putPolicy(f.s3, b, [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: pattern }]);
  assert.equal((await anon('GET', `/${b}/${key}`)).status, 403);
  assert.equal((await anon('GET', `/${b}/${key}b`)).status, 403, 'matches, but the object is missing');
});

test('bad policies: oversized, malformed JSON, unsupported actions, foreign resources, unknown accounts', async () => {
  const b = await newBucket('pol-bad');
  const stmt = { Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` };
  const big = policyText(...Array.from({ length: 200 }, (_, i) => ({ ...stmt, Sid: `s${i}` })));
  assert.ok(Buffer.byteLength(big) > 20 * 1024);
  await rejectsWith(f.s3.send(new PutBucketPolicyCommand({ Bucket: b, Policy: big })), 'PolicyTooLarge', 400);
  for (const [policy, why] of [
    ['{"Statement": [', 'truncated JSON'],
    ['[]', 'not an object'],
    [policyText({ ...stmt, Action: 's3:GetObjectRetention' }), 'unsupported action'],
    [policyText({ ...stmt, Action: 'sqs:SendMessage' }), 'another service'],
    [policyText({ ...stmt, Resource: 'arn:aws:s3:::someone-elses-bucket/*' }), 'foreign resource'],
    [policyText({ ...stmt, Principal: { AWS: '999999999999' } }), 'unknown account'],
    [policyText({ ...stmt, Effect: 'Maybe' }), 'bad effect'],
    [
      policyText({ ...stmt, Condition: { StringEquals: { 'aws:PrincipalOrgID': 'x' } } }),
      'unsupported condition',
    ],
    [policyText({ ...stmt, NotAction: 's3:PutObject' }), 'NotAction'],
    [policyText({ ...stmt, Action: 's3:ListBucket' }), 'bucket action on object resource'],
    [JSON.stringify({ Version: '2012-10-17' }), 'no Statement'],
  ] as const) {
    await assert.rejects(
      f.s3.send(new PutBucketPolicyCommand({ Bucket: b, Policy: policy })),
      (e: unknown) => {
        assert.ok(e instanceof S3ServiceException, `${why}: ${String(e)}`);
        assert.equal(e.name, 'MalformedPolicy', why);
        return true;
      },
    );
  }
  await rejectsWith(f.s3.send(new GetBucketPolicyCommand({ Bucket: b })), 'NoSuchBucketPolicy', 404);
});

test('presigned URLs: X-Amz-Expires out of 1..604800 is refused, expired is AccessDenied, deleted answers 404', async () => {
  const b = await newBucket('presign');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'signed' }));
  for (const expires of [0, 604_801]) {
    const res = await rawRequest(presign(f.t.endpoint, f.t.credentials, 'GET', objectPath(b, 'k'), expires), {
      method: 'GET',
    });
    assert.equal(res.status, 400, String(expires));
    assert.match(res.body, /<Code>AuthorizationQueryParametersError<\/Code>/);
  }
  const week = await rawRequest(presign(f.t.endpoint, f.t.credentials, 'GET', objectPath(b, 'k'), 604_800), {
    method: 'GET',
  });
  assert.equal(week.status, 200);
  const expired = await rawRequest(
    presign(
      f.t.endpoint,
      f.t.credentials,
      'GET',
      objectPath(b, 'k'),
      1,
      'us-east-1',
      new Date(Date.now() - 5_000),
    ),
    { method: 'GET' },
  );
  assert.equal(expired.status, 403);
  assert.match(expired.body, /<Code>AccessDenied<\/Code><Message>Request has expired<\/Message>/);
  const url = presign(f.t.endpoint, f.t.credentials, 'GET', objectPath(b, 'k'));
  const bucketUrl = presign(f.t.endpoint, f.t.credentials, 'GET', `/${b}`);
  await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  const gone = await rawRequest(url, { method: 'GET' });
  assert.equal(gone.status, 404);
  assert.match(gone.body, /<Code>NoSuchKey<\/Code>/);
  await f.s3.send(new DeleteBucketCommand({ Bucket: b }));
  for (const u of [url, bucketUrl]) {
    const noBucket = await rawRequest(u, { method: 'GET' });
    assert.equal(noBucket.status, 404);
    assert.match(noBucket.body, /<Code>NoSuchBucket<\/Code>/);
  }
  // Another tenant's presigned URL for the owner's object is that tenant's request: AccessDenied.
  const b2 = await newBucket('presign2');
  await f.s3.send(new PutObjectCommand({ Bucket: b2, Key: 'k', Body: 'x' }));
  const theirs = await rawRequest(presign(f.t.endpoint, otherCreds, 'GET', objectPath(b2, 'k')), {
    method: 'GET',
  });
  assert.equal(theirs.status, 403);
});

test('boto3: a public-read object and a bucket policy, as a Python user sets them', async () => {
  const b = bucketName('boto3-acl');
  const script = `
import boto3, json, os, sys, urllib.request, urllib.error
from botocore.config import Config
ep, b = os.environ["EP"], os.environ["BUCKET"]
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1",
    aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"],
    config=Config(s3={"addressing_style": "path"}))
def anon(path):
    try:
        return urllib.request.urlopen(ep + path).read().decode()
    except urllib.error.HTTPError as e:
        return e.code
s3.create_bucket(Bucket=b)
s3.put_object(Bucket=b, Key="pub.txt", Body=b"hello", ACL="public-read")
s3.put_object(Bucket=b, Key="open/x", Body=b"open")
out = {"grants": sorted([g["Grantee"]["Type"], g["Permission"]] for g in s3.get_object_acl(Bucket=b, Key="pub.txt")["Grants"])}
out["anonPub"] = anon("/" + b + "/pub.txt")
out["anonOpenBefore"] = anon("/" + b + "/open/x")
policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::" + b + "/open/*"}]}
s3.put_bucket_policy(Bucket=b, Policy=json.dumps(policy))
out["policy"] = json.loads(s3.get_bucket_policy(Bucket=b)["Policy"]) == policy
out["isPublic"] = s3.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"]
out["anonOpen"] = anon("/" + b + "/open/x")
try:
    s3.put_bucket_policy(Bucket=b, Policy="{not json")
except s3.exceptions.ClientError as e:
    out["malformed"] = e.response["Error"]["Code"]
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
    grants: [
      ['CanonicalUser', 'FULL_CONTROL'],
      ['Group', 'READ'],
    ],
    anonPub: 'hello',
    anonOpenBefore: 403,
    policy: true,
    isPublic: true,
    anonOpen: 'open',
    malformed: 'MalformedPolicy',
  });
});
