// S3 object and bucket tagging, CORS (configuration, preflight, actual responses, a real browser upload)
// and lifecycle (configuration and the sweep), through the unmodified SDK, the AWS CLI and Chromium;
// and the attacks on them: other tenants, anonymous callers, oversized and malformed configurations.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteBucketCorsCommand,
  DeleteBucketLifecycleCommand,
  DeleteBucketTaggingCommand,
  DeleteObjectCommand,
  DeleteObjectTaggingCommand,
  GetBucketCorsCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketTaggingCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutBucketAclCommand,
  PutBucketCorsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketTaggingCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { LifecycleSweeper } from '../../../src/events/objects/lifecycle.js';
import { browserSkip, launchBrowser } from '../../helpers/console-browser.js';
import { tempDir } from '../../helpers/platform.js';
import { rejects } from '../../helpers/sdk-errors.js';
import {
  bucketName,
  otherTenant,
  presign,
  putPolicy,
  rawRequest,
  type S3Fixture,
  signHeaders,
  startS3,
} from './fixtures.js';

const DAY = 86_400_000;
let f: S3Fixture;
let other: S3Client;
let otherAccount: string;

before(async () => {
  f = await startS3();
  ({ s3: other, accountId: otherAccount } = await otherTenant(f, 'tagging-other'));
});
after(async () => {
  f.s3.destroy();
  other.destroy();
  await f.t.close();
});

async function newBucket(label: string): Promise<string> {
  const b = bucketName(label);
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  return b;
}

const tagsOf = async (Bucket: string, Key: string) =>
  (await f.s3.send(new GetObjectTaggingCommand({ Bucket, Key }))).TagSet!.map((t) => [t.Key, t.Value]);
const tagSet = (n: number, prefix = 'k') =>
  Array.from({ length: n }, (_, i) => ({ Key: `${prefix}${i}`, Value: `v${i}` }));
const lifecycle = () => f.t.platform.components.objects.lifecycle;

// ---- object tagging ----

test('object tags: set by header and by PutObjectTagging, counted on GET and HEAD, removed by delete', async () => {
  const b = await newBucket('tags');
  await f.s3.send(
    new PutObjectCommand({ Bucket: b, Key: 'a', Body: 'x', Tagging: 'project=kindling&team=s%20three' }),
  );
  assert.deepEqual(await tagsOf(b, 'a'), [
    ['project', 'kindling'],
    ['team', 's three'],
  ]);
  assert.equal((await f.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'a' }))).TagCount, 2);
  const got = await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'a' }));
  assert.equal(got.TagCount, 2);
  await got.Body!.transformToString();
  await f.s3.send(
    new PutObjectTaggingCommand({
      Bucket: b,
      Key: 'a',
      Tagging: { TagSet: [{ Key: 'ünïcödé', Value: 'ok: +-=._/@' }] },
    }),
  );
  assert.deepEqual(await tagsOf(b, 'a'), [['ünïcödé', 'ok: +-=._/@']]);
  await f.s3.send(new DeleteObjectTaggingCommand({ Bucket: b, Key: 'a' }));
  assert.deepEqual(await tagsOf(b, 'a'), []);
  assert.equal((await f.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'a' }))).TagCount, undefined);
  await rejects(f.s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'missing' })), 'NoSuchKey');
  await rejects(
    f.s3.send(new PutObjectTaggingCommand({ Bucket: b, Key: 'missing', Tagging: { TagSet: [] } })),
    'NoSuchKey',
  );
});

test('an overwrite without x-amz-tagging has no tags: the old object tags do not leak onto the new one', async () => {
  const b = await newBucket('tags');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: '1', Tagging: 'secret=yes' }));
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: '2' }));
  assert.deepEqual(await tagsOf(b, 'k'), []);
  // Deleted and written again: still none.
  await f.s3.send(new PutObjectTaggingCommand({ Bucket: b, Key: 'k', Tagging: { TagSet: tagSet(1) } }));
  await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: '3' }));
  assert.deepEqual(await tagsOf(b, 'k'), []);
  // And the replaced versions' tags are gone from the store, not merely hidden.
  const rows = await f.t.platform.components.sql.all('SELECT * FROM s3_object_tags WHERE bucket = ?', [b]);
  assert.equal(rows.length, 0);
});

test('in a versioned bucket each version keeps its own tags: deleting the newest brings the older one back with its tags', async () => {
  const b = await newBucket('tags-versions');
  await f.s3.send(
    new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }),
  );
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: '1', Tagging: 'gen=one' }));
  const v2 = await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: '2' }));
  assert.deepEqual(await tagsOf(b, 'k'), []);
  await f.s3.send(
    new PutObjectTaggingCommand({ Bucket: b, Key: 'k', Tagging: { TagSet: tagSet(1, 'two') } }),
  );
  const byVersion = await f.s3.send(
    new GetObjectTaggingCommand({ Bucket: b, Key: 'k', VersionId: v2.VersionId }),
  );
  assert.deepEqual(byVersion.TagSet, tagSet(1, 'two'));
  await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: v2.VersionId }));
  assert.deepEqual(await tagsOf(b, 'k'), [['gen', 'one']]);
  // The deleted version's tags went with it.
  const rows = await f.t.platform.components.sql.all('SELECT version FROM s3_object_tags WHERE bucket = ?', [
    b,
  ]);
  assert.equal(rows.length, 1);
  // A lifecycle expiration in a versioned bucket adds a delete marker; the tagged version stays.
  await f.s3.send(
    new PutBucketLifecycleConfigurationCommand({
      Bucket: b,
      LifecycleConfiguration: {
        Rules: [{ ID: 'all', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 1 } }],
      },
    }),
  );
  assert.equal((await lifecycle().sweep(Date.now() + 3 * DAY)).expired, 1);
  const versions = await f.s3.send(new ListObjectVersionsCommand({ Bucket: b }));
  assert.equal(versions.DeleteMarkers?.length, 1);
  assert.equal(versions.Versions?.length, 1);
  await f.s3.send(new DeleteBucketLifecycleCommand({ Bucket: b }));
});

test('multipart uploads and copies carry tags: x-amz-tagging on create, tagging directive COPY and REPLACE', async () => {
  const b = await newBucket('tags');
  const up = await f.s3.send(
    new CreateMultipartUploadCommand({ Bucket: b, Key: 'mp', Tagging: 'from=upload' }),
  );
  const part = await f.s3.send(
    new UploadPartCommand({ Bucket: b, Key: 'mp', UploadId: up.UploadId, PartNumber: 1, Body: 'part' }),
  );
  await f.s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: b,
      Key: 'mp',
      UploadId: up.UploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
    }),
  );
  assert.deepEqual(await tagsOf(b, 'mp'), [['from', 'upload']]);
  await f.s3.send(new CopyObjectCommand({ Bucket: b, Key: 'copied', CopySource: `${b}/mp` }));
  assert.deepEqual(await tagsOf(b, 'copied'), [['from', 'upload']]);
  await f.s3.send(
    new CopyObjectCommand({
      Bucket: b,
      Key: 'replaced',
      CopySource: `${b}/mp`,
      TaggingDirective: 'REPLACE',
      Tagging: 'new=tag',
    }),
  );
  assert.deepEqual(await tagsOf(b, 'replaced'), [['new', 'tag']]);
  await f.s3.send(
    new CopyObjectCommand({ Bucket: b, Key: 'none', CopySource: `${b}/mp`, TaggingDirective: 'REPLACE' }),
  );
  assert.deepEqual(await tagsOf(b, 'none'), []);
  await rejects(
    f.s3.send(
      new CopyObjectCommand({
        Bucket: b,
        Key: 'bad',
        CopySource: `${b}/mp`,
        TaggingDirective: 'MERGE' as 'COPY',
      }),
    ),
    'InvalidArgument',
    'Unknown tagging directive.',
  );
});

test("object tags are refused beyond S3's limits, in S3's words, and nothing is stored", async () => {
  const b = await newBucket('tags');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'x', Tagging: 'keep=me' }));
  const put = (TagSet: { Key: string; Value: string }[]) =>
    f.s3.send(new PutObjectTaggingCommand({ Bucket: b, Key: 'o', Tagging: { TagSet } }));
  await rejects(put(tagSet(11)), 'BadRequest', 'Object tags cannot be greater than 10');
  await rejects(
    put([{ Key: 'k'.repeat(129), Value: '' }]),
    'InvalidTag',
    'The TagKey you have provided is too long, max 128',
  );
  await rejects(
    put([{ Key: 'k', Value: 'v'.repeat(257) }]),
    'InvalidTag',
    'The TagValue you have provided is too long, max 256',
  );
  await rejects(
    put([
      { Key: 'same', Value: '1' },
      { Key: 'same', Value: '2' },
    ]),
    'InvalidTag',
    'Cannot provide multiple Tags with the same key',
  );
  await rejects(put([{ Key: 'aws:cloudformation', Value: 'x' }]), 'InvalidTag');
  await rejects(put([{ Key: 'semi;colon', Value: 'x' }]), 'InvalidTag');
  // The limits count characters, not bytes: 128 four-byte characters are a valid key.
  await put([{ Key: '𠀀'.repeat(128), Value: 'é'.repeat(256) }]);
  assert.equal((await tagsOf(b, 'o'))[0]![0], '𠀀'.repeat(128));
  await put([{ Key: 'keep', Value: 'me' }]);
  await rejects(
    f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'y', Tagging: 'a=1&a=2' })),
    'InvalidArgument',
  );
  await rejects(
    f.s3.send(
      new PutObjectCommand({
        Bucket: b,
        Key: 'o',
        Body: 'y',
        Tagging: tagSet(11)
          .map((t) => `${t.Key}=${t.Value}`)
          .join('&'),
      }),
    ),
    'BadRequest',
  );
  // The refused writes left the object and its tags as they were.
  assert.deepEqual(await tagsOf(b, 'o'), [['keep', 'me']]);
  const malformed = await rawRequest(`${f.t.endpoint}/${b}/o?tagging`, {
    method: 'PUT',
    body: '<Tagging><TagSet><Tag><Key>a</Key>',
  });
  // Unsigned: refused before the body is read (the bucket is private).
  assert.equal(malformed.status, 403);
});

test('malformed tagging XML is MalformedXML, and a bucket tag set takes 50 tags, not 51', async () => {
  const b = await newBucket('btags');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'x' }));
  await rejects(
    f.s3.send(
      new PutObjectTaggingCommand({
        Bucket: b,
        Key: 'o',
        Tagging: { TagSet: [{ Key: undefined as unknown as string, Value: 'v' }] },
      }),
    ),
    'MalformedXML',
  );
  await rejects(f.s3.send(new GetBucketTaggingCommand({ Bucket: b })), 'NoSuchTagSet');
  await f.s3.send(new PutBucketTaggingCommand({ Bucket: b, Tagging: { TagSet: tagSet(50) } }));
  assert.equal((await f.s3.send(new GetBucketTaggingCommand({ Bucket: b }))).TagSet!.length, 50);
  await rejects(
    f.s3.send(new PutBucketTaggingCommand({ Bucket: b, Tagging: { TagSet: tagSet(51) } })),
    'InvalidTag',
  );
  assert.equal((await f.s3.send(new GetBucketTaggingCommand({ Bucket: b }))).TagSet!.length, 50);
  await f.s3.send(new DeleteBucketTaggingCommand({ Bucket: b }));
  await rejects(f.s3.send(new GetBucketTaggingCommand({ Bucket: b })), 'NoSuchTagSet');
});

test("another tenant can neither read nor write a bucket's tags, CORS or lifecycle, nor its objects' tags", async () => {
  const b = await newBucket('tags-theirs');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'x', Tagging: 'mine=1' }));
  await f.s3.send(new PutBucketTaggingCommand({ Bucket: b, Tagging: { TagSet: tagSet(1) } }));
  const calls = [
    () => other.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'o' })),
    () => other.send(new PutObjectTaggingCommand({ Bucket: b, Key: 'o', Tagging: { TagSet: [] } })),
    () => other.send(new DeleteObjectTaggingCommand({ Bucket: b, Key: 'o' })),
    () => other.send(new GetBucketTaggingCommand({ Bucket: b })),
    () => other.send(new PutBucketTaggingCommand({ Bucket: b, Tagging: { TagSet: [] } })),
    () => other.send(new DeleteBucketTaggingCommand({ Bucket: b })),
    () =>
      other.send(
        new PutBucketCorsCommand({
          Bucket: b,
          CORSConfiguration: { CORSRules: [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'] }] },
        }),
      ),
    () => other.send(new GetBucketCorsCommand({ Bucket: b })),
    () => other.send(new DeleteBucketCorsCommand({ Bucket: b })),
    () => other.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b })),
    () =>
      other.send(
        new PutBucketLifecycleConfigurationCommand({
          Bucket: b,
          LifecycleConfiguration: {
            Rules: [{ ID: 'wipe', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 1 } }],
          },
        }),
      ),
    () => other.send(new DeleteBucketLifecycleCommand({ Bucket: b })),
  ];
  for (const call of calls) await rejects(call(), 'AccessDenied');
  // Even where the bucket's ACL lets everyone read and write, tagging stays the owner's (no ACL grants it).
  await f.s3.send(new PutBucketAclCommand({ Bucket: b, ACL: 'public-read-write' }));
  await rejects(other.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'o' })), 'AccessDenied');
  await rejects(
    other.send(new PutObjectCommand({ Bucket: b, Key: 'n', Body: 'x', Tagging: 'sneak=1' })),
    'AccessDenied',
  );
  const anon = await rawRequest(`${f.t.endpoint}/${b}/o?tagging`, { method: 'GET' });
  assert.equal(anon.status, 403);
  assert.deepEqual(await tagsOf(b, 'o'), [['mine', '1']]);
  assert.equal((await f.s3.send(new GetBucketTaggingCommand({ Bucket: b }))).TagSet!.length, 1);
});

test("a deleted bucket's tags, CORS and lifecycle do not pass to the tenant who takes its name next", async () => {
  const b = await corsBucket([{ AllowedOrigins: ['*'], AllowedMethods: ['GET'] }]);
  await f.s3.send(new PutBucketTaggingCommand({ Bucket: b, Tagging: { TagSet: tagSet(2) } }));
  await f.s3.send(
    new PutBucketLifecycleConfigurationCommand({
      Bucket: b,
      LifecycleConfiguration: {
        Rules: [{ ID: 'all', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 1 } }],
      },
    }),
  );
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'x', Tagging: 'old=1' }));
  await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'o' }));
  await f.s3.send(new DeleteBucketCommand({ Bucket: b }));
  await other.send(new CreateBucketCommand({ Bucket: b }));
  await other.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'theirs' }));
  await rejects(other.send(new GetBucketCorsCommand({ Bucket: b })), 'NoSuchCORSConfiguration');
  await rejects(other.send(new GetBucketTaggingCommand({ Bucket: b })), 'NoSuchTagSet');
  await rejects(
    other.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b })),
    'NoSuchLifecycleConfiguration',
  );
  assert.deepEqual((await other.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'o' }))).TagSet, []);
  const pre = await preflightOf(`/${b}/o`, { origin: ORIGIN, 'access-control-request-method': 'GET' });
  assert.equal(pre.status, 403);
});

test('a bucket policy can grant s3:GetObjectTagging to another account, and only that', async () => {
  const b = await newBucket('tags-policy');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'x', Tagging: 'shared=1' }));
  await putPolicy(f.s3, b, [
    {
      Effect: 'Allow',
      Principal: { AWS: otherAccount },
      Action: 's3:GetObjectTagging',
      Resource: `arn:aws:s3:::${b}/*`,
    },
  ]);
  const got = await other.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'o' }));
  assert.deepEqual(got.TagSet, [{ Key: 'shared', Value: '1' }]);
  await rejects(
    other.send(new PutObjectTaggingCommand({ Bucket: b, Key: 'o', Tagging: { TagSet: [] } })),
    'AccessDenied',
  );
});

// ---- CORS ----

const ORIGIN = 'http://app.example.test:8080';

async function corsBucket(
  rules: NonNullable<PutBucketCorsCommand['input']['CORSConfiguration']>['CORSRules'],
) {
  const b = await newBucket('cors');
  await f.s3.send(new PutBucketCorsCommand({ Bucket: b, CORSConfiguration: { CORSRules: rules } }));
  return b;
}

const preflightOf = (pathname: string, headers: Record<string, string>) =>
  rawRequest(`${f.t.endpoint}${pathname}`, { method: 'OPTIONS', headers });

test('CORS configuration: put, get back, delete; NoSuchCORSConfiguration when none', async () => {
  const b = await corsBucket([
    {
      ID: 'uploads',
      AllowedOrigins: [ORIGIN, 'https://*.example.test'],
      AllowedMethods: ['PUT', 'GET'],
      AllowedHeaders: ['Content-Type', 'x-amz-*'],
      ExposeHeaders: ['ETag'],
      MaxAgeSeconds: 600,
    },
    { AllowedOrigins: ['*'], AllowedMethods: ['HEAD'] },
  ]);
  const got = await f.s3.send(new GetBucketCorsCommand({ Bucket: b }));
  assert.deepEqual(got.CORSRules, [
    {
      ID: 'uploads',
      AllowedOrigins: [ORIGIN, 'https://*.example.test'],
      AllowedMethods: ['PUT', 'GET'],
      AllowedHeaders: ['content-type', 'x-amz-*'],
      ExposeHeaders: ['ETag'],
      MaxAgeSeconds: 600,
    },
    { AllowedOrigins: ['*'], AllowedMethods: ['HEAD'] },
  ]);
  await f.s3.send(new DeleteBucketCorsCommand({ Bucket: b }));
  await rejects(f.s3.send(new GetBucketCorsCommand({ Bucket: b })), 'NoSuchCORSConfiguration');
});

test('CORS configurations S3 refuses are refused in its words, and the old one stays', async () => {
  const b = await corsBucket([{ AllowedOrigins: [ORIGIN], AllowedMethods: ['GET'] }]);
  const put = (CORSRules: NonNullable<PutBucketCorsCommand['input']['CORSConfiguration']>['CORSRules']) =>
    f.s3.send(new PutBucketCorsCommand({ Bucket: b, CORSConfiguration: { CORSRules } }));
  await rejects(
    put([{ AllowedOrigins: ['*'], AllowedMethods: ['PATCH'] }]),
    'InvalidRequest',
    'Found unsupported HTTP method in CORS config. Unsupported method is PATCH',
  );
  await rejects(
    put([{ AllowedOrigins: ['http://*.*.example'], AllowedMethods: ['GET'] }]),
    'InvalidRequest',
    'AllowedOrigin "http://*.*.example" can not have more than one wildcard.',
  );
  await rejects(
    put([{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], AllowedHeaders: ['x-*-*'] }]),
    'InvalidRequest',
  );
  await rejects(
    put(Array.from({ length: 101 }, () => ({ AllowedOrigins: ['*'], AllowedMethods: ['GET' as const] }))),
    'InvalidRequest',
  );
  await rejects(put([{ AllowedOrigins: [], AllowedMethods: ['GET'] }]), 'MalformedXML');
  assert.deepEqual((await f.s3.send(new GetBucketCorsCommand({ Bucket: b }))).CORSRules, [
    { AllowedOrigins: [ORIGIN], AllowedMethods: ['GET'] },
  ]);
});

test('a preflight is answered unsigned from the first matching rule, and refused for any origin, method or header the rules do not allow', async () => {
  const b = await corsBucket([
    {
      AllowedOrigins: [ORIGIN],
      AllowedMethods: ['PUT'],
      AllowedHeaders: ['content-type', 'x-amz-meta-*'],
      ExposeHeaders: ['ETag', 'x-amz-request-id'],
      MaxAgeSeconds: 300,
    },
    { AllowedOrigins: ['https://*.example.test'], AllowedMethods: ['GET'] },
    { AllowedOrigins: ['*'], AllowedMethods: ['HEAD'] },
  ]);
  const ok = await preflightOf(`/${b}/some/key`, {
    origin: ORIGIN,
    'access-control-request-method': 'PUT',
    'access-control-request-headers': 'Content-Type, X-Amz-Meta-Owner',
  });
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.headers['access-control-allow-origin'], ORIGIN);
  assert.equal(ok.headers['access-control-allow-methods'], 'PUT');
  assert.equal(ok.headers['access-control-allow-headers'], 'content-type, x-amz-meta-owner');
  assert.equal(ok.headers['access-control-expose-headers'], 'ETag, x-amz-request-id');
  assert.equal(ok.headers['access-control-max-age'], '300');
  assert.equal(ok.headers['access-control-allow-credentials'], 'true');
  assert.match(String(ok.headers.vary), /Origin/);
  const wild = await preflightOf(`/${b}/k`, {
    origin: 'https://shop.example.test',
    'access-control-request-method': 'GET',
  });
  assert.equal(wild.status, 200);
  assert.equal(wild.headers['access-control-allow-origin'], 'https://shop.example.test');
  const any = await preflightOf(`/${b}/k`, {
    origin: 'http://anyone',
    'access-control-request-method': 'HEAD',
  });
  assert.equal(any.headers['access-control-allow-origin'], '*');
  assert.equal(any.headers['access-control-allow-credentials'], undefined);
  // Origins that only look like the allowed one, a method and a header the rule does not list.
  for (const [origin, method, headers] of [
    ['http://app.example.test:80801', 'PUT', ''],
    ['http://app.example.test:8080.evil.test', 'PUT', ''],
    ['https://app.example.test:8080', 'PUT', ''],
    ['http://evil.test', 'PUT', ''],
    ['https://example.test', 'GET', ''],
    [ORIGIN, 'DELETE', ''],
    [ORIGIN, 'PUT', 'authorization'],
  ] as const) {
    const r = await preflightOf(`/${b}/k`, {
      origin,
      'access-control-request-method': method,
      ...(headers && { 'access-control-request-headers': headers }),
    });
    assert.equal(r.status, 403, `${origin} ${method} ${headers}`);
    assert.match(r.body, /<Code>AccessForbidden<\/Code>/);
    assert.match(r.body, /CORSResponse: This CORS request is not allowed/);
    assert.equal(r.headers['access-control-allow-origin'], undefined);
  }
  const none = await newBucket('cors-none');
  const off = await preflightOf(`/${none}/k`, { origin: ORIGIN, 'access-control-request-method': 'GET' });
  assert.equal(off.status, 403);
  assert.match(off.body, /CORSResponse: CORS is not enabled for this bucket/);
  // A preflight to a presigned URL (its query signs the actual request) and to an access point alias.
  const presigned = new URL(presign(f.t.endpoint, f.t.credentials, 'PUT', `/${b}/k`));
  const pre = await preflightOf(`${presigned.pathname}${presigned.search}`, {
    origin: ORIGIN,
    'access-control-request-method': 'PUT',
  });
  assert.equal(pre.status, 200, pre.body);
  const aliasUrl = new URL(presign(f.t.endpoint, f.t.credentials, 'GET', '/some-ap-abcdefghij-s3alias/k'));
  const alias = await preflightOf(`${aliasUrl.pathname}${aliasUrl.search}`, {
    origin: ORIGIN,
    'access-control-request-method': 'GET',
  });
  assert.equal(alias.status, 403, alias.body);
  const noOrigin = await preflightOf(`/${b}/k`, { 'access-control-request-method': 'PUT' });
  assert.equal(noOrigin.status, 400);
  assert.match(noOrigin.body, /Insufficient information. Origin request header needed./);
  const noMethod = await preflightOf(`/${b}/k`, { origin: ORIGIN });
  assert.equal(noMethod.status, 400);
  assert.match(noMethod.body, /Invalid Access-Control-Request-Method: null/);
});

test('actual responses carry Access-Control-* only when a rule allows their origin and method; CORS opens nothing by itself', async () => {
  const b = await corsBucket([
    { AllowedOrigins: [ORIGIN], AllowedMethods: ['GET'], ExposeHeaders: ['ETag'] },
  ]);
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'hello' }));
  const url = presign(f.t.endpoint, f.t.credentials, 'GET', `/${b}/k`);
  const allowed = await rawRequest(url, { method: 'GET', headers: { origin: ORIGIN } });
  assert.equal(allowed.status, 200);
  assert.equal(allowed.body, 'hello');
  assert.equal(allowed.headers['access-control-allow-origin'], ORIGIN);
  assert.equal(allowed.headers['access-control-expose-headers'], 'ETag');
  const foreign = await rawRequest(url, { method: 'GET', headers: { origin: 'http://evil.test' } });
  assert.equal(foreign.status, 200);
  assert.equal(foreign.headers['access-control-allow-origin'], undefined);
  // An error is readable by the allowed origin too (a browser tells NoSuchKey from a network failure).
  const missing = await rawRequest(presign(f.t.endpoint, f.t.credentials, 'GET', `/${b}/missing`), {
    method: 'GET',
    headers: { origin: ORIGIN },
  });
  assert.equal(missing.status, 404);
  assert.equal(missing.headers['access-control-allow-origin'], ORIGIN);
  // A CORS rule for everyone does not make the private object readable without a signature.
  const anon = await rawRequest(`${f.t.endpoint}/${b}/k`, { method: 'GET', headers: { origin: ORIGIN } });
  assert.equal(anon.status, 403);
});

test('AWS CLI: put-bucket-cors from a JSON file, get-bucket-cors, delete-bucket-cors', async (t) => {
  const dir = tempDir('kindling-cors-cli-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const b = await newBucket('cors-cli');
  const file = path.join(dir, 'cors.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      CORSRules: [{ AllowedOrigins: [ORIGIN], AllowedMethods: ['GET', 'PUT'], MaxAgeSeconds: 60 }],
    }),
  );
  const aws = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        'aws',
        ['--endpoint-url', f.t.endpoint, '--region', 'us-east-1', 's3api', ...args],
        {
          env: {
            ...process.env,
            AWS_ACCESS_KEY_ID: f.t.credentials.accessKeyId,
            AWS_SECRET_ACCESS_KEY: f.t.credentials.secretAccessKey,
            AWS_CONFIG_FILE: '/dev/null',
            AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
          },
        },
        (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
      );
    });
  const put = await aws('put-bucket-cors', '--bucket', b, '--cors-configuration', `file://${file}`);
  assert.equal(put.code, 0, put.stderr);
  const get = await aws('get-bucket-cors', '--bucket', b);
  assert.equal(get.code, 0, get.stderr);
  assert.deepEqual(JSON.parse(get.stdout).CORSRules, [
    { AllowedMethods: ['GET', 'PUT'], AllowedOrigins: [ORIGIN], MaxAgeSeconds: 60 },
  ]);
  assert.equal((await aws('delete-bucket-cors', '--bucket', b)).code, 0);
  const gone = await aws('get-bucket-cors', '--bucket', b);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /NoSuchCORSConfiguration/);
});

test('Chromium: a page from another origin uploads with a presigned PUT and reads it back; another origin is refused', {
  skip: browserSkip(),
}, async (t) => {
  const page = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>uploader</title>');
  });
  await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
  t.after(() => page.close());
  const origin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
  const open = await corsBucket([
    {
      AllowedOrigins: [origin],
      AllowedMethods: ['PUT', 'GET'],
      AllowedHeaders: ['*'],
      ExposeHeaders: ['ETag'],
    },
  ]);
  const closed = await corsBucket([
    { AllowedOrigins: ['http://127.0.0.1:1'], AllowedMethods: ['PUT', 'GET'], AllowedHeaders: ['*'] },
  ]);
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const tab = await browser.newPage();
  await tab.goto(`${origin}/`);
  const upload = (bucket: string) =>
    tab.evaluate(
      async ({ put, get }) => {
        try {
          const res = await fetch(put, {
            method: 'PUT',
            headers: { 'content-type': 'text/plain' },
            body: 'uploaded from a browser',
          });
          const etag = res.headers.get('etag');
          const back = await (await fetch(get)).text();
          return { status: res.status, etag, back };
        } catch (e) {
          return { error: String(e) };
        }
      },
      {
        put: presign(f.t.endpoint, f.t.credentials, 'PUT', `/${bucket}/from-browser.txt`),
        get: presign(f.t.endpoint, f.t.credentials, 'GET', `/${bucket}/from-browser.txt`),
      },
    );
  const ok = await upload(open);
  assert.equal(ok.status, 200, JSON.stringify(ok));
  assert.match(String(ok.etag), /^"[0-9a-f]{32}"$/);
  assert.equal(ok.back, 'uploaded from a browser');
  const refused = await upload(closed);
  assert.match(String(refused.error), /TypeError/);
  // The preflight stopped the upload before it was sent: nothing was stored.
  const listed = await f.s3.send(new ListObjectsV2Command({ Bucket: closed }));
  assert.equal(listed.KeyCount, 0);
});

/** A signed raw PUT of a configuration body, as no SDK would send it. */
async function putRaw(pathname: string, body: string) {
  const hash = createHash('sha256').update(body).digest('hex');
  const signed = signHeaders(f.t.endpoint, f.t.credentials, 'PUT', pathname, {}, hash);
  return rawRequest(`${f.t.endpoint}${pathname}`, { method: 'PUT', headers: signed.headers, body });
}

test('malformed, hostile and oversized configuration bodies are refused and change nothing', async () => {
  const b = await corsBucket([{ AllowedOrigins: [ORIGIN], AllowedMethods: ['GET'] }]);
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'x', Tagging: 'keep=1' }));
  const entity =
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><CORSConfiguration><CORSRule><AllowedOrigin>&e;</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>';
  const cases: [string, string, string][] = [
    [`/${b}?cors`, '<CORSConfiguration><CORSRule>', 'MalformedXML'],
    [`/${b}?cors`, entity, 'MalformedXML'],
    [
      `/${b}?cors`,
      '<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><Bogus/></CORSRule></CORSConfiguration>',
      'MalformedXML',
    ],
    [
      `/${b}?cors`,
      `<CORSConfiguration><CORSRule><AllowedOrigin>${'a'.repeat(70_000)}</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`,
      'InvalidRequest',
    ],
    [
      `/${b}?tagging`,
      '<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet><Extra/></Tagging>',
      'MalformedXML',
    ],
    [
      `/${b}/o?tagging`,
      '<Tagging><TagSet><Tag><Key>a</Key><Key>b</Key></Tag></TagSet></Tagging>',
      'MalformedXML',
    ],
    [`/${b}/o?tagging`, '<NotTagging/>', 'MalformedXML'],
    [`/${b}?lifecycle`, '<LifecycleConfiguration/>', 'MalformedXML'],
    [
      `/${b}?lifecycle`,
      '<LifecycleConfiguration><Rule><Status>Enabled</Status><Prefix>a</Prefix><Filter><Prefix>b</Prefix></Filter><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>',
      'MalformedXML',
    ],
    [
      `/${b}?lifecycle`,
      '<LifecycleConfiguration><Rule><Status>Maybe</Status><Filter/><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>',
      'MalformedXML',
    ],
    [
      `/${b}?lifecycle`,
      `<LifecycleConfiguration>${'<Rule><Status>Enabled</Status><Filter/><Expiration><Days>1</Days></Expiration></Rule>'.repeat(1001)}</LifecycleConfiguration>`,
      'InvalidRequest',
    ],
  ];
  for (const [pathname, body, code] of cases) {
    const r = await putRaw(pathname, body);
    assert.equal(r.status, 400, `${pathname} ${body.slice(0, 80)}: ${r.body}`);
    assert.match(r.body, new RegExp(`<Code>${code}</Code>`), pathname);
  }
  assert.deepEqual((await f.s3.send(new GetBucketCorsCommand({ Bucket: b }))).CORSRules, [
    { AllowedOrigins: [ORIGIN], AllowedMethods: ['GET'] },
  ]);
  assert.deepEqual(await tagsOf(b, 'o'), [['keep', '1']]);
  await rejects(f.s3.send(new GetBucketTaggingCommand({ Bucket: b })), 'NoSuchTagSet');
  await rejects(
    f.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b })),
    'NoSuchLifecycleConfiguration',
  );
});

// ---- lifecycle ----

test('lifecycle configuration: put, get back, delete; NoSuchLifecycleConfiguration when none', async () => {
  const b = await newBucket('lc');
  await rejects(
    f.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b })),
    'NoSuchLifecycleConfiguration',
  );
  const Rules = [
    { ID: 'logs', Status: 'Enabled' as const, Filter: { Prefix: 'logs/' }, Expiration: { Days: 7 } },
    {
      ID: 'tmp-big',
      Status: 'Disabled' as const,
      Filter: {
        And: {
          Prefix: 'tmp/',
          Tags: [{ Key: 'class', Value: 'scratch' }],
          ObjectSizeGreaterThan: 10,
          ObjectSizeLessThan: 1000,
        },
      },
      Expiration: { Date: new Date('2030-01-01T00:00:00Z') },
    },
    {
      ID: 'uploads',
      Status: 'Enabled' as const,
      Filter: { Prefix: '' },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 },
    },
  ];
  await f.s3.send(
    new PutBucketLifecycleConfigurationCommand({ Bucket: b, LifecycleConfiguration: { Rules } }),
  );
  const got = await f.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b }));
  assert.deepEqual(got.Rules, Rules);
  await f.s3.send(new DeleteBucketLifecycleCommand({ Bucket: b }));
  await rejects(
    f.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b })),
    'NoSuchLifecycleConfiguration',
  );
});

test('lifecycle rules this store does not apply are refused by name, and invalid ones in S3 words', async () => {
  const b = await newBucket('lc');
  const put = (rule: object) =>
    f.s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: b,
        LifecycleConfiguration: { Rules: [{ ID: 'r', Status: 'Enabled', Filter: { Prefix: '' }, ...rule }] },
      }),
    );
  await rejects(
    put({ Transitions: [{ Days: 30, StorageClass: 'GLACIER' }] }),
    'NotImplemented',
    /Transition/,
  );
  await rejects(
    put({ NoncurrentVersionExpiration: { NoncurrentDays: 3 } }),
    'NotImplemented',
    /NoncurrentVersionExpiration/,
  );
  await rejects(
    put({ Expiration: { ExpiredObjectDeleteMarker: true } }),
    'NotImplemented',
    /ExpiredObjectDeleteMarker/,
  );
  await rejects(
    put({ Expiration: { Days: 0 } }),
    'InvalidArgument',
    "'Days' for Expiration action must be a positive integer",
  );
  await rejects(
    put({ Expiration: { Date: new Date('2030-01-01T12:00:00Z') } }),
    'InvalidArgument',
    "'Date' must be at midnight GMT",
  );
  await rejects(put({}), 'InvalidRequest', 'At least one action needs to be specified in a rule');
  await rejects(
    f.s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: b,
        LifecycleConfiguration: {
          Rules: [
            {
              ID: 'r',
              Status: 'Enabled',
              Filter: { Tag: { Key: 'a', Value: 'b' } },
              AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            },
          ],
        },
      }),
    ),
    'InvalidRequest',
    'AbortIncompleteMultipartUpload cannot be specified with Tags.',
  );
  await rejects(
    f.s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: b,
        LifecycleConfiguration: {
          Rules: [
            { ID: 'same', Status: 'Enabled', Filter: { Prefix: 'a' }, Expiration: { Days: 1 } },
            { ID: 'same', Status: 'Enabled', Filter: { Prefix: 'b' }, Expiration: { Days: 1 } },
          ],
        },
      }),
    ),
    'InvalidArgument',
  );
  await rejects(
    f.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b })),
    'NoSuchLifecycleConfiguration',
  );
});

test('the lifecycle sweep expires what the rules name once due (prefix, tags, size) and aborts old uploads, nothing else', async () => {
  const b = await newBucket('lc-sweep');
  const put = (Key: string, Body: string, Tagging?: string) =>
    f.s3.send(new PutObjectCommand({ Bucket: b, Key, Body, Tagging }));
  await put('logs/old.txt', 'log');
  await put('keep/me.txt', 'keep');
  await put('tmp/scratch', 'x'.repeat(50), 'class=scratch');
  await put('tmp/tiny', 'x', 'class=scratch');
  await put('tmp/untagged', 'x'.repeat(50));
  const upload = await f.s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'big/upload' }));
  await f.s3.send(
    new PutBucketLifecycleConfigurationCommand({
      Bucket: b,
      LifecycleConfiguration: {
        Rules: [
          { ID: 'logs', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 1 } },
          {
            ID: 'scratch',
            Status: 'Enabled',
            Filter: {
              And: { Prefix: 'tmp/', Tags: [{ Key: 'class', Value: 'scratch' }], ObjectSizeGreaterThan: 10 },
            },
            Expiration: { Days: 3 },
          },
          { ID: 'off', Status: 'Disabled', Filter: { Prefix: 'keep/' }, Expiration: { Days: 1 } },
          {
            ID: 'mpu',
            Status: 'Enabled',
            Filter: { Prefix: 'big/' },
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 },
          },
        ],
      },
    }),
  );
  const keys = async () =>
    ((await f.s3.send(new ListObjectsV2Command({ Bucket: b }))).Contents ?? []).map((o) => o.Key);
  const all = ['keep/me.txt', 'logs/old.txt', 'tmp/scratch', 'tmp/tiny', 'tmp/untagged'];
  // S3's instant: written + days, rounded up to the next UTC midnight (everything above was written by now).
  const due = (days: number) => Math.ceil((Date.now() + days * DAY) / DAY) * DAY;
  // Today nothing is due.
  assert.deepEqual(await lifecycle().sweep(Date.now()), { expired: 0, aborted: 0 });
  assert.deepEqual(await keys(), all);
  // Another node does not sweep while this one holds the lease.
  const otherNode = new LifecycleSweeper({
    store: f.t.platform.components.objects.store,
    nodeId: 'other-node',
  });
  assert.deepEqual(await otherNode.sweep(due(5)), { expired: 0, aborted: 0 });
  assert.deepEqual(await keys(), all);
  // At the two-day mark: the one-day log rule and the two-day upload rule.
  const two = await lifecycle().sweep(due(2));
  assert.deepEqual(two, { expired: 1, aborted: 1 });
  assert.deepEqual(await keys(), ['keep/me.txt', 'tmp/scratch', 'tmp/tiny', 'tmp/untagged']);
  assert.equal((await f.s3.send(new ListMultipartUploadsCommand({ Bucket: b }))).Uploads, undefined);
  void upload;
  // At three days: the tagged scratch object over 10 bytes, not the tiny one or the untagged one.
  await lifecycle().sweep(due(3));
  assert.deepEqual(await keys(), ['keep/me.txt', 'tmp/tiny', 'tmp/untagged']);
  // An object written again after it was due is a new object: its own age counts.
  await put('logs/old.txt', 'fresh');
  assert.deepEqual(await lifecycle().sweep(Date.now()), { expired: 0, aborted: 0 });
  assert.ok((await keys()).includes('logs/old.txt'));
});
