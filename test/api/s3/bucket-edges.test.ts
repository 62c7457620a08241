// S3's bucket and listing edge cases (CreateBucket of an owned name, max-keys=0, encoding-type=url,
// ListBuckets pagination) and virtual-hosted–style addressing, with the unmodified SDK.
import assert from 'node:assert/strict';
import type dns from 'node:dns';
import http from 'node:http';
import { after, before, test } from 'node:test';
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetBucketAclCommand,
  GetObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { sdkConfig } from '../../helpers/platform.js';
import { runPython } from '../../helpers/process.js';
import { rejects } from '../../helpers/sdk-errors.js';
import {
  bodyOf,
  bucketName,
  client,
  presign,
  rawRequest,
  type S3Fixture,
  signHeaders,
  startS3,
} from './fixtures.js';

let f: S3Fixture;
let other: S3Client;
let otherCreds: { accessKeyId: string; secretAccessKey: string };
let bucket: string;
let port: string;
const KEYS = ['a b/1', 'a+b/2', 'plain', 'x%y', 'sp ace', 'ünï', 'tab\tkey', 'dir/sub/k'];

before(async () => {
  f = await startS3();
  port = new URL(f.t.endpoint).port;
  const tenant = await f.t.platform.tenants.create('edges-other');
  const key = await f.t.platform.tenants.createKey(tenant.id);
  otherCreds = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
  other = client({ endpoint: f.t.endpoint, credentials: otherCreds });
  bucket = bucketName('edges');
  await f.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const k of KEYS) await f.s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k }));
});
after(async () => {
  f.s3.destroy();
  other.destroy();
  await f.t.close();
});

test('CreateBucket of a bucket you own answers 200 in us-east-1 and resets its ACL; another tenant gets BucketAlreadyExists', async () => {
  const b = bucketName('again');
  await f.s3.send(new CreateBucketCommand({ Bucket: b, ACL: 'public-read' }));
  const before = await f.s3.send(new GetBucketAclCommand({ Bucket: b }));
  assert.equal(before.Grants?.length, 2);
  const again = await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  assert.equal(again.$metadata.httpStatusCode, 200);
  const reset = await f.s3.send(new GetBucketAclCommand({ Bucket: b }));
  assert.deepEqual(
    reset.Grants?.map((g) => g.Permission),
    ['FULL_CONTROL'],
  );
  await rejects(other.send(new CreateBucketCommand({ Bucket: b })), 'BucketAlreadyExists');
  // Another tenant's re-create changes nothing of the owner's bucket.
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'v' }));
  await rejects(
    other.send(new CreateBucketCommand({ Bucket: b, ACL: 'public-read-write' })),
    'BucketAlreadyExists',
  );
  assert.equal((await f.s3.send(new GetBucketAclCommand({ Bucket: b }))).Grants?.length, 1);
  // A public ACL by re-creation is refused where BlockPublicAcls is set, as by PutBucketAcl.
  await f.s3.send(
    new PutPublicAccessBlockCommand({
      Bucket: b,
      PublicAccessBlockConfiguration: { BlockPublicAcls: true },
    }),
  );
  await rejects(f.s3.send(new CreateBucketCommand({ Bucket: b, ACL: 'public-read' })), 'AccessDenied');
  assert.equal((await f.s3.send(new GetBucketAclCommand({ Bucket: b }))).Grants?.length, 1);
});

test('boto3 decodes the url-encoded listings it asks for by default into the keys as stored', async () => {
  const script = `
import boto3, json, sys
s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1',
                  aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
v2 = s3.list_objects_v2(Bucket=sys.argv[4], Delimiter='/')
v1 = s3.list_objects(Bucket=sys.argv[4], Delimiter='/', Marker='a b/1')
print(json.dumps({
  'v2': [c['Key'] for c in v2.get('Contents', [])], 'v2p': [p['Prefix'] for p in v2.get('CommonPrefixes', [])],
  'v1p': [p['Prefix'] for p in v1.get('CommonPrefixes', [])], 'v1m': v1['Marker'],
}))
`;
  const out = await runPython(script, [
    f.t.endpoint,
    f.t.credentials.accessKeyId,
    f.t.credentials.secretAccessKey,
    bucket,
  ]);
  assert.equal(out.status, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), {
    v2: ['plain', 'sp ace', 'tab\tkey', 'x%y', 'ünï'],
    v2p: ['a b/', 'a+b/', 'dir/'],
    v1p: ['a+b/', 'dir/'],
    v1m: 'a b/1',
  });
});

test('CreateBucket with a LocationConstraint other than this server region is refused as S3 refuses it', async () => {
  // us-east-1 spelled out is InvalidLocationConstraint on S3; another region is incompatible with the endpoint.
  await rejects(
    f.s3.send(
      new CreateBucketCommand({
        Bucket: bucketName('loc'),
        CreateBucketConfiguration: { LocationConstraint: 'us-east-1' as 'EU' },
      }),
    ),
    'InvalidLocationConstraint',
    'The specified location-constraint is not valid',
  );
  const eu = bucketName('loc');
  await rejects(
    f.s3.send(
      new CreateBucketCommand({ Bucket: eu, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }),
    ),
    'IllegalLocationConstraintException',
    'The eu-west-1 location constraint is incompatible for the region specific endpoint this request was sent to.',
  );
  await rejects(f.s3.send(new ListObjectsV2Command({ Bucket: eu })), 'NoSuchBucket');
});

test('max-keys=0 lists nothing and is not truncated, in ListObjects v1 and v2', async () => {
  const v2 = await f.s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 0 }));
  assert.equal(v2.KeyCount, 0);
  assert.equal(v2.Contents, undefined);
  assert.equal(v2.IsTruncated, false);
  assert.equal(v2.NextContinuationToken, undefined);
  assert.equal(v2.MaxKeys, 0);
  const v1 = await f.s3.send(new ListObjectsCommand({ Bucket: bucket, MaxKeys: 0, Delimiter: '/' }));
  assert.equal(v1.Contents, undefined);
  assert.equal(v1.CommonPrefixes, undefined);
  assert.equal(v1.IsTruncated, false);
  assert.equal(v1.NextMarker, undefined);
  await rejects(
    f.s3.send(new ListObjectsV2Command({ Bucket: bucketName('none'), MaxKeys: 0 })),
    'NoSuchBucket',
  );
});

test('max-uploads=0 and max-parts=0 list nothing and are not truncated', async () => {
  const { UploadId } = await f.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp/one' }));
  await f.s3.send(
    new UploadPartCommand({ Bucket: bucket, Key: 'mp/one', UploadId, PartNumber: 1, Body: 'p1' }),
  );
  const uploads = await f.s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, MaxUploads: 0 }));
  assert.equal(uploads.Uploads, undefined);
  assert.equal(uploads.IsTruncated, false);
  assert.equal(uploads.MaxUploads, 0);
  const parts = await f.s3.send(
    new ListPartsCommand({ Bucket: bucket, Key: 'mp/one', UploadId, MaxParts: 0 }),
  );
  assert.equal(parts.Parts, undefined);
  assert.equal(parts.IsTruncated, false);
  const all = await f.s3.send(new ListPartsCommand({ Bucket: bucket, Key: 'mp/one', UploadId }));
  assert.equal(all.Parts?.length, 1);
});

test('ListMultipartUploads pages with max-uploads, key and upload-id markers, and rolls up by delimiter', async () => {
  const b = bucketName('uploads');
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  const ids: string[] = [];
  for (const k of ['a', 'a', 'b', 'd/1', 'd/2', 'e'])
    ids.push((await f.s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: k }))).UploadId!);
  const seen: string[] = [];
  let keyMarker: string | undefined;
  let idMarker: string | undefined;
  for (let i = 0; i < 10; i++) {
    const page = await f.s3.send(
      new ListMultipartUploadsCommand({
        Bucket: b,
        MaxUploads: 2,
        Delimiter: '/',
        KeyMarker: keyMarker,
        UploadIdMarker: idMarker,
      }),
    );
    for (const u of page.Uploads ?? []) seen.push(`${u.Key}:${ids.indexOf(u.UploadId!)}`);
    for (const p of page.CommonPrefixes ?? []) seen.push(p.Prefix!);
    if (!page.IsTruncated) break;
    keyMarker = page.NextKeyMarker;
    idMarker = page.NextUploadIdMarker;
  }
  // Two uploads of one key may share an initiation instant: their order is the store's, each listed once.
  assert.deepEqual(seen.slice(0, 2).sort(), ['a:0', 'a:1']);
  assert.deepEqual(seen.slice(2), ['b:2', 'd/', 'e:5']);
  await rejects(f.s3.send(new ListMultipartUploadsCommand({ Bucket: b, MaxUploads: -1 })), 'InvalidArgument');
});

test('encoding-type=url encodes Key, Prefix, Delimiter, StartAfter and CommonPrefixes in ListObjectsV2, not the token', async () => {
  const out = await f.s3.send(
    new ListObjectsV2Command({ Bucket: bucket, EncodingType: 'url', Delimiter: '/', StartAfter: 'a b' }),
  );
  assert.equal(out.EncodingType, 'url');
  assert.equal(out.StartAfter, 'a%20b');
  assert.deepEqual(
    out.CommonPrefixes?.map((p) => p.Prefix),
    ['a%20b/', 'a%2Bb/', 'dir/'],
  );
  assert.deepEqual(
    out.Contents?.map((c) => c.Key),
    ['plain', 'sp%20ace', 'tab%09key', 'x%25y', '%C3%BCn%C3%AF'],
  );
  const page = await f.s3.send(
    new ListObjectsV2Command({
      Bucket: bucket,
      EncodingType: 'url',
      Prefix: 'a b/',
      MaxKeys: 1,
      Delimiter: ' ',
    }),
  );
  assert.equal(page.Prefix, 'a%20b/');
  assert.equal(page.Delimiter, '%20');
  // The continuation token is opaque and answered as sent.
  const raw = await rawList(
    `list-type=2&encoding-type=url&max-keys=1&continuation-token=${encodeURIComponent(Buffer.from('a b/1').toString('base64url'))}`,
  );
  assert.match(raw, /<ContinuationToken>YSBiLzE<\/ContinuationToken>/);
  assert.match(raw, /<Key>a%2Bb\/2<\/Key>/);
});

test('encoding-type=url encodes Marker, NextMarker, Prefix, Delimiter, Key and CommonPrefixes in ListObjects v1', async () => {
  const out = await f.s3.send(
    new ListObjectsCommand({
      Bucket: bucket,
      EncodingType: 'url',
      Delimiter: '/',
      Marker: 'a b/1',
      MaxKeys: 2,
    }),
  );
  assert.equal(out.Marker, 'a%20b/1');
  assert.deepEqual(
    out.CommonPrefixes?.map((p) => p.Prefix),
    ['a%2Bb/', 'dir/'],
  );
  assert.equal(out.IsTruncated, true);
  assert.equal(out.NextMarker, 'dir/');
  const one = await f.s3.send(
    new ListObjectsCommand({ Bucket: bucket, EncodingType: 'url', Prefix: 'sp ace' }),
  );
  assert.equal(one.Prefix, 'sp%20ace');
  assert.deepEqual(
    one.Contents?.map((c) => c.Key),
    ['sp%20ace'],
  );
  // Without encoding-type the same elements are raw (the XML escapes what it must).
  const plain = await f.s3.send(new ListObjectsCommand({ Bucket: bucket, Prefix: 'tab' }));
  assert.deepEqual(
    plain.Contents?.map((c) => c.Key),
    ['tab\tkey'],
  );
});

test('encoding-type=url encodes ListMultipartUploads keys, markers and prefixes', async () => {
  const b = bucketName('enc-up');
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  await f.s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'q r/1' }));
  await f.s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'q+r' }));
  const out = await f.s3.send(
    new ListMultipartUploadsCommand({ Bucket: b, EncodingType: 'url', KeyMarker: 'a b', Delimiter: '/' }),
  );
  assert.equal(out.EncodingType, 'url');
  assert.equal(out.KeyMarker, 'a%20b');
  assert.deepEqual(
    out.Uploads?.map((u) => u.Key),
    ['q+r'.replace('+', '%2B')],
  );
  assert.deepEqual(
    out.CommonPrefixes?.map((p) => p.Prefix),
    ['q%20r/'],
  );
});

test('an encoding-type other than url is InvalidArgument in every listing', async () => {
  for (const cmd of [
    new ListObjectsV2Command({ Bucket: bucket, EncodingType: 'base64' as 'url' }),
    new ListObjectsCommand({ Bucket: bucket, EncodingType: 'URL ' as 'url' }),
    new ListMultipartUploadsCommand({ Bucket: bucket, EncodingType: 'xml' as 'url' }),
  ])
    await rejects(f.s3.send(cmd as never), 'InvalidArgument', 'Invalid Encoding Method specified in Request');
});

async function rawList(query: string): Promise<string> {
  const path = `/${bucket}?${query}`;
  const signed = signHeaders(f.t.endpoint, f.t.credentials, 'GET', path, {}, 'UNSIGNED-PAYLOAD');
  const res = await rawRequest(new URL(path, f.t.endpoint).toString(), {
    method: 'GET',
    headers: signed.headers,
  });
  assert.equal(res.status, 200, res.body);
  return res.body;
}

test('ListBuckets pages with max-buckets and continuation-token, filters by prefix and bucket-region', async () => {
  const t = await f.t.platform.tenants.create('edges-lister');
  const k = await f.t.platform.tenants.createKey(t.id);
  const s3 = client({
    endpoint: f.t.endpoint,
    credentials: { accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey },
  });
  try {
    const names = ['lb-a-1', 'lb-a-2', 'lb-a-3', 'lb-b-1', 'lb-b-2'].map((n) => `${n}-${process.pid}`);
    for (const n of names) await s3.send(new CreateBucketCommand({ Bucket: n }));
    const got: string[] = [];
    let token: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await s3.send(new ListBucketsCommand({ MaxBuckets: 2, ContinuationToken: token }));
      assert.ok((page.Buckets?.length ?? 0) <= 2);
      for (const b of page.Buckets ?? []) {
        got.push(b.Name!);
        assert.equal(b.BucketRegion, 'us-east-1');
      }
      token = page.ContinuationToken;
      if (!token) break;
    }
    assert.deepEqual(got, names);
    const a = await s3.send(new ListBucketsCommand({ Prefix: 'lb-a-', MaxBuckets: 10 }));
    assert.deepEqual(
      a.Buckets?.map((b) => b.Name),
      names.slice(0, 3),
    );
    assert.equal(a.Prefix, 'lb-a-');
    assert.equal(a.ContinuationToken, undefined);
    const elsewhere = await s3.send(new ListBucketsCommand({ BucketRegion: 'eu-west-1' }));
    assert.equal(elsewhere.Buckets?.length ?? 0, 0);
    const here = await s3.send(new ListBucketsCommand({ BucketRegion: 'us-east-1' }));
    assert.equal(here.Buckets?.length, 5);
    // Never another tenant's buckets, whatever the token says.
    const forged = await s3.send(
      new ListBucketsCommand({ ContinuationToken: Buffer.from('a').toString('base64url') }),
    );
    assert.ok(forged.Buckets?.every((b) => names.includes(b.Name!)));
    await rejects(s3.send(new ListBucketsCommand({ MaxBuckets: 0 })), 'InvalidArgument');
    await rejects(s3.send(new ListBucketsCommand({ MaxBuckets: 10001 })), 'InvalidArgument');
    await rejects(
      s3.send(new ListBucketsCommand({ ContinuationToken: '!!not a token' })),
      'InvalidArgument',
      'The continuation token provided is incorrect',
    );
  } finally {
    s3.destroy();
  }
});

// ---- virtual-hosted–style addressing ----

/** Every `*.localhost` name resolves to loopback, as curl and browsers resolve them. */
const loopbackLookup = ((
  _host: string,
  opts: dns.LookupOptions,
  cb: (err: Error | null, address: string | dns.LookupAddress[], family?: number) => void,
) => {
  if (opts.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
}) as unknown as typeof dns.lookup;

function virtualClient(
  creds: { accessKeyId: string; secretAccessKey: string },
  host = 'localhost',
): S3Client {
  return new S3Client({
    ...sdkConfig({ endpoint: `http://${host}:${port}`, credentials: creds }),
    forcePathStyle: false,
    requestHandler: new NodeHttpHandler({ httpAgent: new http.Agent({ lookup: loopbackLookup }) }),
  });
}

test('the SDK with forcePathStyle false puts, gets, lists and deletes on bucket.localhost:PORT', async () => {
  const s3 = virtualClient(f.t.credentials);
  const b = bucketName('vhost');
  const seenHosts: string[] = [];
  s3.middlewareStack.add(
    (next) => async (args) => {
      seenHosts.push((args.request as { hostname: string }).hostname);
      return next(args);
    },
    { step: 'finalizeRequest' },
  );
  try {
    await s3.send(new CreateBucketCommand({ Bucket: b }));
    await s3.send(new PutObjectCommand({ Bucket: b, Key: 'dir/a b+c.txt', Body: 'virtual bytes' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'dir/a b+c.txt' }));
    assert.equal((await bodyOf(got)).toString(), 'virtual bytes');
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: b }));
    assert.deepEqual(
      listed.Contents?.map((c) => c.Key),
      ['dir/a b+c.txt'],
    );
    await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'dir/a b+c.txt' }));
    assert.equal((await s3.send(new ListObjectsV2Command({ Bucket: b }))).KeyCount, 0);
    // The path-style client sees the same bucket.
    assert.ok((await f.s3.send(new ListBucketsCommand({}))).Buckets?.some((x) => x.Name === b));
    assert.ok(seenHosts.length >= 5 && seenHosts.every((h) => h === `${b}.localhost`), seenHosts.join());
  } finally {
    s3.destroy();
  }
});

test('bucket.s3.localhost and presigned virtual-hosted URLs address the bucket too', async () => {
  const s3 = virtualClient(f.t.credentials, 's3.localhost');
  try {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'plain' }));
    assert.equal((await bodyOf(got)).toString(), 'plain');
  } finally {
    s3.destroy();
  }
  // A presigned URL signs the path as sent (no bucket in it) and the virtual host.
  const url = presign(`http://${bucket}.localhost:${port}`, f.t.credentials, 'GET', '/sp%20ace');
  const res = await rawGet(url);
  assert.equal(res.status, 200, res.body);
  assert.equal(res.body, 'sp ace');
});

/** A raw request to a virtual host, connecting to loopback whatever the name. */
function rawGet(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: u.port,
        path: u.pathname + u.search,
        method: 'GET',
        headers: { host: u.host, ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('a virtual host naming another tenant bucket is AccessDenied, signed or not', async () => {
  const s3 = virtualClient(otherCreds);
  try {
    await rejects(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'plain' })), 'AccessDenied');
    await rejects(s3.send(new ListObjectsV2Command({ Bucket: bucket })), 'AccessDenied');
    await rejects(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'evil', Body: 'x' })), 'AccessDenied');
  } finally {
    s3.destroy();
  }
  const anonymous = await rawGet(`http://${bucket}.localhost:${port}/plain`);
  assert.equal(anonymous.status, 403);
  assert.match(anonymous.body, /<Code>AccessDenied<\/Code>/);
  // A path naming the owner's bucket under another bucket's host is a key of the host's bucket.
  const crossed = presign(
    `http://${bucketName('nobody')}.localhost:${port}`,
    otherCreds,
    'GET',
    `/${bucket}/plain`,
  );
  const res = await rawGet(crossed);
  assert.equal(res.status, 404);
  assert.match(res.body, /<Code>NoSuchBucket<\/Code>/);
});

test('a Host with an invalid bucket label is InvalidBucketName; an IP address or bare domain is path style', async () => {
  // Unsigned, so the request reaches S3's addressing (a signed one with a changed Host fails its signature first).
  for (const label of ['UP_per', 'a..b', 'xn--abc', '-dash']) {
    const res = await rawGet(`http://127.0.0.1:${port}/plain`, { host: `${label}.localhost:${port}` });
    assert.equal(res.status, 400, `${label}: ${res.body}`);
    assert.match(res.body, /<Code>InvalidBucketName<\/Code>/);
  }
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `s3.localhost:${port}`, `[::1]:${port}`]) {
    const url = presign(`http://${host}`, f.t.credentials, 'GET', `/${bucket}/plain`);
    const res = await rawGet(url);
    assert.equal(res.status, 200, `${host}: ${res.body}`);
    assert.equal(res.body, 'plain');
  }
});
