// S3 bucket versioning as users meet it, through the unmodified SDK and the AWS CLI: version ids on
// writes, delete markers, reads and deletes of one version, `null` versions, ListObjectVersions, copies
// and multipart uploads, notifications; and the attacks: other tenants, forged ids, ids of other keys.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  DeleteObjectTaggingCommand,
  GetBucketVersioningCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  PutBucketAclCommand,
  PutBucketNotificationConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { KindlingClient } from '../../../src/cli/client.js';
import { cliEnv, runCli } from '../../cli/helpers.js';
import { sdkConfig } from '../../helpers/platform.js';
import { runProcess } from '../../helpers/process.js';
import { rejects } from '../../helpers/sdk-errors.js';
import {
  bodyOf,
  bucketName,
  objectPath,
  otherTenant,
  putPolicy,
  rawRequest,
  type S3Fixture,
  signHeaders,
  startS3,
} from './fixtures.js';

let f: S3Fixture;
let other: S3Client;
let otherAccount: string;
let sqs: SQSClient;

before(async () => {
  f = await startS3();
  ({ s3: other, accountId: otherAccount } = await otherTenant(f, 'versioning-other'));
  sqs = new SQSClient(sdkConfig(f.t));
});
after(async () => {
  f.s3.destroy();
  other.destroy();
  sqs.destroy();
  await f.t.close();
});

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** A signed raw request of the root tenant: for headers the SDK does not surface on errors. */
function signed(
  method: string,
  path: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const h = signHeaders(f.t.endpoint, f.t.credentials, method, path, {}, EMPTY_SHA256);
  return rawRequest(`${f.t.endpoint}${path}`, { method, headers: h.headers });
}

async function versionedBucket(label = 'v'): Promise<string> {
  const b = bucketName(label);
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  await f.s3.send(
    new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }),
  );
  return b;
}

const put = (Bucket: string, Key: string, Body: string) =>
  f.s3.send(new PutObjectCommand({ Bucket, Key, Body }));
const text = async (Bucket: string, Key: string, VersionId?: string) =>
  (await bodyOf(await f.s3.send(new GetObjectCommand({ Bucket, Key, VersionId })))).toString();
const versionsOf = async (Bucket: string, Prefix?: string) => {
  const out = await f.s3.send(new ListObjectVersionsCommand({ Bucket, Prefix }));
  return {
    versions: (out.Versions ?? []).map((v) => [v.Key, v.VersionId, v.IsLatest]),
    markers: (out.DeleteMarkers ?? []).map((m) => [m.Key, m.VersionId, m.IsLatest]),
  };
};

test('GetBucketVersioning starts empty; PutBucketVersioning sets Enabled and Suspended, refuses the rest', async () => {
  const b = bucketName('cfg');
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  assert.equal((await f.s3.send(new GetBucketVersioningCommand({ Bucket: b }))).Status, undefined);
  for (const Status of ['Enabled', 'Suspended'] as const) {
    await f.s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status } }));
    assert.equal((await f.s3.send(new GetBucketVersioningCommand({ Bucket: b }))).Status, Status);
  }
  await rejects(
    f.s3.send(
      new PutBucketVersioningCommand({
        Bucket: b,
        VersioningConfiguration: { Status: 'Sometimes' as 'Enabled' },
      }),
    ),
    'MalformedXML',
  );
  await rejects(
    f.s3.send(
      new PutBucketVersioningCommand({
        Bucket: b,
        VersioningConfiguration: { Status: 'Enabled', MFADelete: 'Enabled' },
      }),
    ),
    'NotImplemented',
    /MfaDelete/,
  );
  // MFADelete Disabled is the state the bucket is in: accepted.
  await f.s3.send(
    new PutBucketVersioningCommand({
      Bucket: b,
      VersioningConfiguration: { Status: 'Enabled', MFADelete: 'Disabled' },
    }),
  );
  assert.equal((await f.s3.send(new GetBucketVersioningCommand({ Bucket: b }))).Status, 'Enabled');
  // Another tenant neither reads nor changes it.
  await rejects(other.send(new GetBucketVersioningCommand({ Bucket: b })), 'AccessDenied');
  await rejects(
    other.send(
      new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended' } }),
    ),
    'AccessDenied',
  );
  assert.equal((await f.s3.send(new GetBucketVersioningCommand({ Bucket: b }))).Status, 'Enabled');
  await rejects(f.s3.send(new GetBucketVersioningCommand({ Bucket: bucketName('missing') })), 'NoSuchBucket');
});

test('a bucket never versioned answers no version ids; its objects are the null version', async () => {
  const b = bucketName('plain');
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  const p = await put(b, 'k', 'one');
  assert.equal(p.VersionId, undefined);
  assert.equal((await f.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'k' }))).VersionId, undefined);
  assert.equal(
    (await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'nothing' }))).VersionId,
    undefined,
  );
  assert.equal(await text(b, 'k', 'null'), 'one');
  assert.deepEqual(await versionsOf(b), { versions: [['k', 'null', true]], markers: [] });
  // Deleting the null version deletes the object.
  await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: 'null' }));
  await rejects(f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' })), 'NoSuchKey');
  await f.s3.send(new DeleteBucketCommand({ Bucket: b }));
});

test('each PUT to a versioned bucket makes a new version; each stays readable by its id', async () => {
  const b = bucketName('puts');
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  await put(b, 'doc', 'before');
  await f.s3.send(
    new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }),
  );
  const v1 = (await put(b, 'doc', 'first')).VersionId!;
  const v2 = (await put(b, 'doc', 'second')).VersionId!;
  assert.ok(v1 && v2 && v1 !== v2 && v1 !== 'null');
  assert.equal(await text(b, 'doc'), 'second');
  assert.equal(await text(b, 'doc', v1), 'first');
  assert.equal(await text(b, 'doc', 'null'), 'before');
  const got = await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'doc', VersionId: v1 }));
  assert.equal(got.VersionId, v1);
  await bodyOf(got);
  const head = await f.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'doc' }));
  assert.equal(head.VersionId, v2);
  assert.equal(
    (await f.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'doc', VersionId: 'null' }))).ContentLength,
    6,
  );
  assert.deepEqual(await versionsOf(b), {
    versions: [
      ['doc', v2, true],
      ['doc', v1, false],
      ['doc', 'null', false],
    ],
    markers: [],
  });
  // ListObjects shows the current object only.
  const listed = await f.s3.send(new ListObjectsV2Command({ Bucket: b }));
  assert.deepEqual(
    listed.Contents?.map((c) => [c.Key, c.Size]),
    [['doc', 6]],
  );
});

test('DELETE adds a delete marker: GET answers 404 with the marker, the versions stay, deleting the marker restores', async () => {
  const b = await versionedBucket();
  const v1 = (await put(b, 'k', 'kept')).VersionId!;
  const del = await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  assert.equal(del.DeleteMarker, true);
  const marker = del.VersionId!;
  assert.ok(marker && marker !== v1);
  await rejects(f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' })), 'NoSuchKey');
  const raw = await signed('GET', objectPath(b, 'k'));
  assert.equal(raw.status, 404);
  assert.equal(raw.headers['x-amz-delete-marker'], 'true');
  assert.equal(raw.headers['x-amz-version-id'], marker);
  assert.match(raw.body, /<Code>NoSuchKey<\/Code>/);
  const rawHead = await signed('HEAD', objectPath(b, 'k'));
  assert.equal(rawHead.status, 404);
  assert.equal(rawHead.headers['x-amz-delete-marker'], 'true');
  assert.equal(rawHead.headers['x-amz-version-id'], marker);
  // The marker by its id: 405 MethodNotAllowed, with the marker header.
  const byId = await signed('GET', `${objectPath(b, 'k')}?versionId=${marker}`);
  assert.equal(byId.status, 405);
  assert.equal(byId.headers['x-amz-delete-marker'], 'true');
  assert.match(byId.body, /<Code>MethodNotAllowed<\/Code>/);
  const headById = await signed('HEAD', `${objectPath(b, 'k')}?versionId=${marker}`);
  assert.equal(headById.status, 405);
  assert.equal(headById.headers['x-amz-delete-marker'], 'true');
  assert.equal((await f.s3.send(new ListObjectsV2Command({ Bucket: b }))).KeyCount, 0);
  assert.equal(await text(b, 'k', v1), 'kept');
  assert.deepEqual(await versionsOf(b), { versions: [['k', v1, false]], markers: [['k', marker, true]] });
  // A second DELETE stacks another marker (S3 does the same).
  const marker2 = (await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }))).VersionId!;
  const gone = await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: marker2 }));
  assert.equal(gone.DeleteMarker, true);
  assert.equal(gone.VersionId, marker2);
  await rejects(f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' })), 'NoSuchKey');
  await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: marker }));
  assert.equal(await text(b, 'k'), 'kept');
  assert.deepEqual(await versionsOf(b), { versions: [['k', v1, true]], markers: [] });
});

test('deleting the current version for good makes the previous one current; the bucket empties only with its versions', async () => {
  const b = await versionedBucket();
  const v1 = (await put(b, 'k', 'one')).VersionId!;
  const v2 = (await put(b, 'k', 'two')).VersionId!;
  const d = await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: v2 }));
  assert.equal(d.VersionId, v2);
  assert.equal(d.DeleteMarker, undefined);
  assert.equal(await text(b, 'k'), 'one');
  await rejects(f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: v2 })), 'NoSuchVersion');
  // Deleting a version that is no more answers 204, as S3 does.
  await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: v2 }));
  const marker = (await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }))).VersionId!;
  await rejects(f.s3.send(new DeleteBucketCommand({ Bucket: b })), 'BucketNotEmpty');
  await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: v1 }));
  await rejects(f.s3.send(new DeleteBucketCommand({ Bucket: b })), 'BucketNotEmpty');
  await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: marker }));
  await f.s3.send(new DeleteBucketCommand({ Bucket: b }));
});

test('noncurrent versions keep their bytes and count in the storage report until deleted for good', async () => {
  const b = await versionedBucket('bytes');
  const admin = new KindlingClient({
    endpoint: f.t.endpoint,
    region: f.t.region,
    credentials: f.t.credentials,
    dataDir: f.t.platform.config.dataDir,
  });
  const logical = async () => {
    const res = await admin.signedFetch('GET', '/kindling/v1/storage');
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { total: { logicalBytes: number } };
    return doc.total.logicalBytes;
  };
  const start = await logical();
  const v1 = (await put(b, 'k', 'a'.repeat(1000))).VersionId!;
  await put(b, 'k', 'b'.repeat(500));
  assert.equal((await logical()) - start, 1500);
  // A sweep of unreferenced blobs keeps a noncurrent version's.
  await f.t.platform.components.objects.store.recover();
  assert.equal(await text(b, 'k', v1), 'a'.repeat(1000));
  await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: v1 }));
  assert.equal((await logical()) - start, 500);
});

test('kindling bucket rm --force empties a versioned bucket of every version and marker', async () => {
  const b = await versionedBucket('rm');
  await put(b, 'a', '1');
  await put(b, 'a', '2');
  await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'a' }));
  await put(b, 'b', '1');
  const r = await runCli(['bucket', 'rm', b, '--force'], cliEnv(f.t));
  assert.equal(r.code, 0, r.stderr);
  await rejects(f.s3.send(new GetBucketVersioningCommand({ Bucket: b })), 'NoSuchBucket');
});

test('Suspended: writes and deletes replace the null version and keep the versioned ones', async () => {
  const b = await versionedBucket('susp');
  const v1 = (await put(b, 'k', 'versioned')).VersionId!;
  await f.s3.send(
    new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended' } }),
  );
  const p1 = await put(b, 'k', 'null one');
  assert.equal(p1.VersionId, 'null');
  assert.equal((await put(b, 'k', 'null two')).VersionId, 'null');
  assert.equal(await text(b, 'k'), 'null two');
  assert.deepEqual(await versionsOf(b), {
    versions: [
      ['k', 'null', true],
      ['k', v1, false],
    ],
    markers: [],
  });
  // DELETE makes a null delete marker, replacing the null version.
  const d = await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  assert.equal(d.VersionId, 'null');
  assert.equal(d.DeleteMarker, true);
  assert.deepEqual(await versionsOf(b), { versions: [['k', v1, false]], markers: [['k', 'null', true]] });
  // Enabled again: a new version on top; the null marker stays as a noncurrent version.
  await f.s3.send(
    new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }),
  );
  const v3 = (await put(b, 'k', 'three')).VersionId!;
  assert.notEqual(v3, 'null');
  assert.deepEqual(await versionsOf(b), {
    versions: [
      ['k', v3, true],
      ['k', v1, false],
    ],
    markers: [['k', 'null', false]],
  });
});

test('ListObjectVersions pages with key and version-id markers, prefix, delimiter and encoding-type', async () => {
  const b = await versionedBucket('list');
  const ids: Record<string, string[]> = {};
  for (const key of ['a', 'b', 'dir/x', 'dir/y', 'c d']) {
    ids[key] = [];
    for (let i = 0; i < 2; i++) ids[key].unshift((await put(b, key, `${key}${i}`)).VersionId!);
  }
  const marker = (await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'b' }))).VersionId!;
  // Everything, in key order, newest first, in pages of 3.
  const seen: string[] = [];
  let KeyMarker: string | undefined;
  let VersionIdMarker: string | undefined;
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 10);
    const page: ListObjectVersionsCommandOutput = await f.s3.send(
      new ListObjectVersionsCommand({ Bucket: b, MaxKeys: 3, KeyMarker, VersionIdMarker }),
    );
    const entries = [
      ...(page.Versions ?? []).map((v) => ({ k: v.Key!, id: v.VersionId!, latest: v.IsLatest! })),
      ...(page.DeleteMarkers ?? []).map((m) => ({ k: m.Key!, id: m.VersionId!, latest: m.IsLatest! })),
    ];
    assert.ok(entries.length <= 3);
    for (const e of entries) seen.push(`${e.k}@${e.id}${e.latest ? '*' : ''}`);
    if (!page.IsTruncated) break;
    KeyMarker = page.NextKeyMarker;
    VersionIdMarker = page.NextVersionIdMarker;
    assert.ok(KeyMarker && VersionIdMarker);
  }
  const expected = [
    `a@${ids.a![0]}*`,
    `a@${ids.a![1]}`,
    `b@${marker}*`,
    `b@${ids.b![0]}`,
    `b@${ids.b![1]}`,
    `c d@${ids['c d']![0]}*`,
    `c d@${ids['c d']![1]}`,
    `dir/x@${ids['dir/x']![0]}*`,
    `dir/x@${ids['dir/x']![1]}`,
    `dir/y@${ids['dir/y']![0]}*`,
    `dir/y@${ids['dir/y']![1]}`,
  ];
  // Pages group Versions before DeleteMarkers; compare as sets per key order.
  assert.deepEqual([...seen].sort(), [...expected].sort());
  // Prefix, and a delimiter rolling keys up into a common prefix that counts once.
  assert.deepEqual(
    (await versionsOf(b, 'dir/')).versions.map((v) => v[0]),
    ['dir/x', 'dir/x', 'dir/y', 'dir/y'],
  );
  const rolled = await f.s3.send(new ListObjectVersionsCommand({ Bucket: b, Delimiter: '/' }));
  assert.deepEqual(rolled.CommonPrefixes, [{ Prefix: 'dir/' }]);
  assert.equal(
    rolled.Versions?.some((v) => v.Key?.startsWith('dir/')),
    false,
  );
  // A key marker alone starts after every version of that key.
  const after = await f.s3.send(new ListObjectVersionsCommand({ Bucket: b, KeyMarker: 'b' }));
  assert.deepEqual(
    after.Versions?.map((v) => v.Key),
    ['c d', 'c d', 'dir/x', 'dir/x', 'dir/y', 'dir/y'],
  );
  // Resuming in the middle of a key: the rest of its versions are not latest.
  const mid = await f.s3.send(
    new ListObjectVersionsCommand({ Bucket: b, KeyMarker: 'a', VersionIdMarker: ids.a![0], MaxKeys: 1 }),
  );
  assert.deepEqual(
    mid.Versions?.map((v) => [v.Key, v.VersionId, v.IsLatest]),
    [['a', ids.a![1], false]],
  );
  assert.equal(mid.IsTruncated, true);
  // encoding-type=url encodes keys as the other listings do: all but RFC 3986's unreserved characters
  // and `/` (so `(`, `!` and `*` too, which encodeURIComponent would leave).
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'c(e)!*', Body: 'x' }));
  const raw = await signed('GET', `/${b}?versions&encoding-type=url&prefix=c`);
  assert.equal(raw.status, 200);
  assert.match(raw.body, /<Key>c%20d<\/Key>/);
  assert.match(raw.body, /<Key>c%28e%29%21%2A<\/Key>/);
  assert.match(raw.body, /<EncodingType>url<\/EncodingType>/);
  const sdk = await f.s3.send(new ListObjectVersionsCommand({ Bucket: b, Prefix: 'c', EncodingType: 'url' }));
  assert.equal(sdk.Versions?.[0]?.Key, 'c%20d');
  // Bad markers and limits, in S3's words.
  await rejects(
    f.s3.send(new ListObjectVersionsCommand({ Bucket: b, VersionIdMarker: ids.a![0] })),
    'InvalidArgument',
    'A version-id marker cannot be specified without a key marker.',
  );
  await rejects(
    f.s3.send(new ListObjectVersionsCommand({ Bucket: b, KeyMarker: 'a', VersionIdMarker: 'garbage' })),
    'InvalidArgument',
    'Invalid version id specified',
  );
  const bad = await signed('GET', `/${b}?versions&max-keys=-1`);
  assert.equal(bad.status, 400);
  assert.match(bad.body, /<Code>InvalidArgument<\/Code>/);
});

test('the AWS CLI lists object versions and delete markers', async () => {
  const b = await versionedBucket('cli');
  const v1 = (await put(b, 'x.txt', 'one')).VersionId!;
  const v2 = (await put(b, 'x.txt', 'two')).VersionId!;
  const m = (await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'x.txt' }))).VersionId!;
  const out = await runProcess(
    'aws',
    ['s3api', 'list-object-versions', '--bucket', b, '--endpoint-url', f.t.endpoint],
    {
      AWS_ACCESS_KEY_ID: f.t.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: f.t.credentials.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    },
  );
  assert.equal(out.status, 0, out.stderr);
  const doc = JSON.parse(out.stdout) as {
    Versions: { Key: string; VersionId: string; IsLatest: boolean; Size: number }[];
    DeleteMarkers: { Key: string; VersionId: string; IsLatest: boolean }[];
  };
  assert.deepEqual(
    doc.Versions.map((v) => [v.Key, v.VersionId, v.IsLatest, v.Size]),
    [
      ['x.txt', v2, false, 3],
      ['x.txt', v1, false, 3],
    ],
  );
  assert.deepEqual(
    doc.DeleteMarkers.map((d) => [d.Key, d.VersionId, d.IsLatest]),
    [['x.txt', m, true]],
  );
});

test('CopyObject copies a named version (restoring it onto its own key) and reports both version ids', async () => {
  const b = await versionedBucket('copy');
  const v1 = (await put(b, 'k', 'old')).VersionId!;
  const v2 = (await put(b, 'k', 'new')).VersionId!;
  const c = await f.s3.send(
    new CopyObjectCommand({ Bucket: b, Key: 'other', CopySource: `${b}/k?versionId=${v1}` }),
  );
  assert.equal(c.CopySourceVersionId, v1);
  assert.ok(c.VersionId && c.VersionId !== v1 && c.VersionId !== v2);
  assert.equal(await text(b, 'other'), 'old');
  // Without a version id the copy reads the current version.
  const c2 = await f.s3.send(new CopyObjectCommand({ Bucket: b, Key: 'other2', CopySource: `${b}/k` }));
  assert.equal(c2.CopySourceVersionId, v2);
  const restored = await f.s3.send(
    new CopyObjectCommand({ Bucket: b, Key: 'k', CopySource: `${b}/k?versionId=${v1}` }),
  );
  assert.equal(await text(b, 'k'), 'old');
  assert.equal((await versionsOf(b, 'k')).versions.length, 3);
  assert.equal((await versionsOf(b, 'k')).versions[0]![1], restored.VersionId);
  await rejects(
    f.s3.send(new CopyObjectCommand({ Bucket: b, Key: 'x', CopySource: `${b}/k?versionId=nonsense` })),
    'InvalidArgument',
    'Invalid version id specified',
  );
  await rejects(
    f.s3.send(new CopyObjectCommand({ Bucket: b, Key: 'x', CopySource: `${b}/other?versionId=${v1}` })),
    'NoSuchVersion',
  );
});

test('CompleteMultipartUpload answers the new version id', async () => {
  const b = await versionedBucket('mpu');
  const first = (await put(b, 'big', 'small')).VersionId!;
  const { UploadId } = await f.s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'big' }));
  const part = await f.s3.send(
    new UploadPartCommand({ Bucket: b, Key: 'big', UploadId, PartNumber: 1, Body: 'multipart body' }),
  );
  const done = await f.s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: b,
      Key: 'big',
      UploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
    }),
  );
  assert.ok(done.VersionId && done.VersionId !== first);
  assert.equal(await text(b, 'big'), 'multipart body');
  assert.equal(await text(b, 'big', first), 'small');
  // UploadPartCopy reads the version its source names.
  const up = await f.s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'copied' }));
  const copied = await f.s3.send(
    new UploadPartCopyCommand({
      Bucket: b,
      Key: 'copied',
      UploadId: up.UploadId,
      PartNumber: 1,
      CopySource: `${b}/big?versionId=${first}`,
    }),
  );
  assert.equal(copied.CopySourceVersionId, first);
  await f.s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: b,
      Key: 'copied',
      UploadId: up.UploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: copied.CopyPartResult?.ETag }] },
    }),
  );
  assert.equal(await text(b, 'copied'), 'small');
});

test('DeleteObjects deletes named versions and adds markers for the rest', async () => {
  const b = await versionedBucket('multi');
  const a1 = (await put(b, 'a', '1')).VersionId!;
  const a2 = (await put(b, 'a', '2')).VersionId!;
  await put(b, 'b', '1');
  const out = await f.s3.send(
    new DeleteObjectsCommand({
      Bucket: b,
      Delete: { Objects: [{ Key: 'a', VersionId: a2 }, { Key: 'b' }, { Key: 'a', VersionId: 'bogus' }] },
    }),
  );
  const byKey = Object.fromEntries((out.Deleted ?? []).map((d) => [d.Key, d]));
  assert.equal(byKey.a?.VersionId, a2);
  assert.equal(byKey.b?.DeleteMarker, true);
  assert.ok(byKey.b?.DeleteMarkerVersionId);
  assert.deepEqual(
    out.Errors?.map((e) => [e.Key, e.VersionId, e.Code]),
    [['a', 'bogus', 'InvalidArgument']],
  );
  assert.equal(await text(b, 'a'), '1');
  assert.equal((await versionsOf(b, 'a')).versions[0]![1], a1);
  await rejects(f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'b' })), 'NoSuchKey');
  // Deleting the marker by its id restores b.
  const marker = byKey.b!.DeleteMarkerVersionId!;
  const undo = await f.s3.send(
    new DeleteObjectsCommand({ Bucket: b, Delete: { Objects: [{ Key: 'b', VersionId: marker }] } }),
  );
  assert.deepEqual(
    undo.Deleted?.map((d) => [d.Key, d.VersionId, d.DeleteMarker, d.DeleteMarkerVersionId]),
    [['b', marker, true, marker]],
  );
  assert.equal(await text(b, 'b'), '1');
});

test('concurrent PUTs to one key each become a version; none is lost', async () => {
  const b = await versionedBucket('race');
  const n = 8;
  const ids = await Promise.all(
    Array.from({ length: n }, (_, i) => put(b, 'hot', `body ${i}`).then((p) => p.VersionId!)),
  );
  assert.equal(new Set(ids).size, n);
  const listed = await f.s3.send(new ListObjectVersionsCommand({ Bucket: b }));
  assert.deepEqual(new Set(listed.Versions?.map((v) => v.VersionId)), new Set(ids));
  assert.equal(listed.Versions?.filter((v) => v.IsLatest).length, 1);
  // The latest listed is what a GET reads.
  const latest = listed.Versions![0]!;
  assert.equal(latest.IsLatest, true);
  const got = await f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'hot' }));
  assert.equal(got.VersionId, latest.VersionId);
  await bodyOf(got);
  // Every version's own bytes are still there.
  const bodies = new Set<string>();
  for (const id of ids) bodies.add(await text(b, 'hot', id));
  assert.equal(bodies.size, n);
});

test('notifications carry versionId; a DELETE sends ObjectRemoved:DeleteMarkerCreated', async () => {
  const b = await versionedBucket('events');
  const url = (await sqs.send(new CreateQueueCommand({ QueueName: `versions-${process.pid}` }))).QueueUrl!;
  const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] })))
    .Attributes!.QueueArn!;
  await f.s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: b,
      NotificationConfiguration: {
        QueueConfigurations: [{ QueueArn: arn, Events: ['s3:ObjectCreated:*', 's3:ObjectRemoved:*'] }],
      },
    }),
  );
  const next = async (): Promise<Record<string, unknown>> => {
    for (let i = 0; i < 30; i++) {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1 }));
      const m = r.Messages?.[0];
      if (m) {
        await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
        return JSON.parse(m.Body!) as Record<string, unknown>;
      }
    }
    assert.fail('no message arrived');
  };
  assert.equal((await next()).Event, 's3:TestEvent');
  const v = (await put(b, 'e', 'x')).VersionId!;
  type Rec = { eventName: string; s3: { object: { key: string; versionId?: string } } };
  const created = ((await next()) as { Records: Rec[] }).Records[0]!;
  assert.equal(created.eventName, 'ObjectCreated:Put');
  assert.equal(created.s3.object.versionId, v);
  const m = (await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'e' }))).VersionId!;
  const marked = ((await next()) as { Records: Rec[] }).Records[0]!;
  assert.equal(marked.eventName, 'ObjectRemoved:DeleteMarkerCreated');
  assert.equal(marked.s3.object.versionId, m);
  await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'e', VersionId: v }));
  const removed = ((await next()) as { Records: Rec[] }).Records[0]!;
  assert.equal(removed.eventName, 'ObjectRemoved:Delete');
  assert.equal(removed.s3.object.versionId, v);
});

test('GetObjectTagging of one version answers that version’s tags; setting them by version is refused', async () => {
  const b = await versionedBucket('v-tags');
  const v1 = await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'one', Tagging: 'gen=1' }));
  const v2 = await f.s3.send(
    new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'two', Tagging: 'gen=2&x=y' }),
  );
  const tagsOf = async (VersionId?: string) => {
    const out = await f.s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'k', VersionId }));
    if (VersionId) assert.equal(out.VersionId, VersionId);
    return out.TagSet?.map((t) => `${t.Key}=${t.Value}`);
  };
  assert.deepEqual(await tagsOf(v1.VersionId), ['gen=1']);
  assert.deepEqual(await tagsOf(v2.VersionId), ['gen=2', 'x=y']);
  assert.deepEqual(await tagsOf(), ['gen=2', 'x=y']);
  await rejects(
    f.s3.send(
      new PutObjectTaggingCommand({ Bucket: b, Key: 'k', VersionId: v1.VersionId, Tagging: { TagSet: [] } }),
    ),
    'NotImplemented',
  );
  await rejects(
    f.s3.send(new DeleteObjectTaggingCommand({ Bucket: b, Key: 'k', VersionId: v1.VersionId })),
    'NotImplemented',
  );
  assert.deepEqual(await tagsOf(v1.VersionId), ['gen=1'], 'nothing changed');
  // A delete marker has no tags (405); another key's version id names nothing here.
  const marker = await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  await rejects(tagsOf(marker.VersionId), 'MethodNotAllowed');
  const otherKey = await put(b, 'other', 'x');
  await rejects(tagsOf(otherKey.VersionId), 'NoSuchVersion');
  await rejects(tagsOf('garbage'), 'InvalidArgument');
  // Another tenant reads no version's tags (owner only, as GetObjectTagging).
  await rejects(
    other.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'k', VersionId: v1.VersionId })),
    'AccessDenied',
  );
});

test('GetObjectAttributes answers the version id, and with versionId one version’s attributes', async () => {
  const b = await versionedBucket('v-attrs');
  const v1 = await put(b, 'k', 'first');
  const v2 = await put(b, 'k', 'second!');
  const attrs = (VersionId?: string) =>
    f.s3.send(
      new GetObjectAttributesCommand({
        Bucket: b,
        Key: 'k',
        VersionId,
        ObjectAttributes: ['ETag', 'ObjectSize'],
      }),
    );
  const current = await attrs();
  assert.equal(current.VersionId, v2.VersionId);
  assert.equal(current.ObjectSize, 7);
  const old = await attrs(v1.VersionId);
  assert.equal(old.VersionId, v1.VersionId);
  assert.equal(old.ObjectSize, 5);
  assert.equal(`"${old.ETag}"`, v1.ETag);
  await rejects(attrs('garbage'), 'InvalidArgument');
  // Another tenant gets nothing of a version, as for GET.
  await rejects(
    other.send(
      new GetObjectAttributesCommand({
        Bucket: b,
        Key: 'k',
        VersionId: v1.VersionId,
        ObjectAttributes: ['ETag'],
      }),
    ),
    'AccessDenied',
  );
});

test('attack: a forged, garbage or other-key version id is refused, never served', async () => {
  const b = await versionedBucket('forge');
  const mine = (await put(b, 'mine', 'secret')).VersionId!;
  const theirs = (await put(b, 'other', 'other')).VersionId!;
  const flipped = mine.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
  for (const id of ['garbage', 'AAAAAAAAAAAAAAAAAAAAAA', `${mine}x`, flipped, '../x']) {
    await rejects(
      f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'mine', VersionId: id })),
      'InvalidArgument',
      'Invalid version id specified',
    );
  }
  const empty = await signed('GET', `${objectPath(b, 'mine')}?versionId=`);
  assert.equal(empty.status, 400);
  assert.match(empty.body, /<Message>Version id cannot be the empty string<\/Message>/);
  const raw = await signed('GET', `${objectPath(b, 'mine')}?versionId=zzz`);
  assert.equal(raw.status, 400);
  assert.match(raw.body, /<Message>Invalid version id specified<\/Message>/);
  // A real id of another key names no version of this one.
  await rejects(
    f.s3.send(new GetObjectCommand({ Bucket: b, Key: 'mine', VersionId: theirs })),
    'NoSuchVersion',
  );
  await rejects(f.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'mine', VersionId: theirs })), 'NotFound');
  // Deleting another key's version id through this key removes nothing.
  await f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'mine', VersionId: theirs }));
  assert.equal(await text(b, 'other', theirs), 'other');
  await rejects(
    f.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'mine', VersionId: 'garbage' })),
    'InvalidArgument',
  );
  // A versionId on an operation that does not take one here is refused, not ignored.
  const acl = await signed('GET', `${objectPath(b, 'mine')}?acl&versionId=${mine}`);
  assert.equal(acl.status, 501);
});

test("attack: another tenant cannot read, list or delete a version, even of a public object's older versions", async () => {
  const b = await versionedBucket('tenants');
  const secret = (await put(b, 'k', 'private draft')).VersionId!;
  const pub = (
    await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'public', ACL: 'public-read' }))
  ).VersionId!;
  // The current version is public; its older version is not.
  assert.equal(
    (await bodyOf(await other.send(new GetObjectCommand({ Bucket: b, Key: 'k' })))).toString(),
    'public',
  );
  assert.equal(
    (
      await bodyOf(await other.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: pub })))
    ).toString(),
    'public',
  );
  await rejects(other.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: secret })), 'AccessDenied');
  const anon = await fetch(`${f.t.endpoint}${objectPath(b, 'k')}?versionId=${secret}`);
  assert.equal(anon.status, 403);
  await anon.text();
  await rejects(other.send(new ListObjectVersionsCommand({ Bucket: b })), 'AccessDenied');
  await rejects(
    other.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: secret })),
    'AccessDenied',
  );
  await rejects(
    other.send(
      new DeleteObjectsCommand({ Bucket: b, Delete: { Objects: [{ Key: 'k', VersionId: secret }] } }),
    ),
    'AccessDenied',
  );
  await rejects(
    other.send(new CopyObjectCommand({ Bucket: b, Key: 'stolen', CopySource: `${b}/k?versionId=${secret}` })),
    'AccessDenied',
  );
  assert.equal(await text(b, 'k', secret), 'private draft');
  // A policy granting s3:GetObject opens current objects only; old versions need s3:GetObjectVersion.
  await putPolicy(f.s3, b, [
    {
      Effect: 'Allow',
      Principal: { AWS: otherAccount },
      Action: ['s3:GetObject', 's3:ListBucket'],
      Resource: [`arn:aws:s3:::${b}/*`, `arn:aws:s3:::${b}`],
    },
  ]);
  await f.s3.send(new PutObjectAclCommand({ Bucket: b, Key: 'k', ACL: 'private' }));
  assert.equal(
    (await bodyOf(await other.send(new GetObjectCommand({ Bucket: b, Key: 'k' })))).toString(),
    'public',
  );
  await rejects(other.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: secret })), 'AccessDenied');
  await rejects(other.send(new ListObjectVersionsCommand({ Bucket: b })), 'AccessDenied');
  await putPolicy(f.s3, b, [
    {
      Effect: 'Allow',
      Principal: { AWS: otherAccount },
      Action: ['s3:GetObjectVersion', 's3:ListBucketVersions'],
      Resource: [`arn:aws:s3:::${b}/*`, `arn:aws:s3:::${b}`],
    },
  ]);
  assert.equal(
    (
      await bodyOf(await other.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: secret })))
    ).toString(),
    'private draft',
  );
  assert.equal((await other.send(new ListObjectVersionsCommand({ Bucket: b }))).Versions?.length, 2);
  // A bucket ACL granting READ lets list objects, not versions' bytes of private objects.
  await f.s3.send(new PutBucketAclCommand({ Bucket: b, ACL: 'public-read' }));
  const anonList = await fetch(`${f.t.endpoint}/${b}?versions`);
  assert.equal(anonList.status, 200);
  await anonList.text();
  const anonOld = await fetch(`${f.t.endpoint}${objectPath(b, 'k')}?versionId=${secret}`);
  assert.equal(anonOld.status, 403);
  await anonOld.text();
});
