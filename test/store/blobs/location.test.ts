import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { defaultConfig } from '../../../src/config.js';
import { parseBlobsLocation } from '../../../src/store/blobs/location.js';
import { repoRoot, tempDir } from '../../helpers/platform.js';

const dataDir = tempDir('kindling-blobs-data-');
const shared = tempDir('kindling-blobs-shared-');

test('a directory is taken as an absolute path', () => {
  const rel = path.relative(process.cwd(), shared);
  assert.deepEqual(parseBlobsLocation(rel, {}, dataDir), { kind: 'dir', dir: shared });
});

test('s3://bucket/prefix takes its endpoint, region and credentials from KINDLING_BLOBS_*', () => {
  const loc = parseBlobsLocation(
    's3://kindling-blobs/cluster/a/',
    {
      KINDLING_BLOBS_ENDPOINT: 'http://127.0.0.1:9000',
      KINDLING_BLOBS_ACCESS_KEY_ID: 'AK',
      KINDLING_BLOBS_SECRET_ACCESS_KEY: 'SK',
      AWS_ACCESS_KEY_ID: 'ignored',
      AWS_REGION: 'eu-west-1',
    },
    dataDir,
  );
  assert.deepEqual(loc, {
    kind: 's3',
    bucket: 'kindling-blobs',
    prefix: 'cluster/a/',
    endpoint: 'http://127.0.0.1:9000',
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
  });
});

test('s3:// without KINDLING_BLOBS credentials leaves them to the AWS SDK chain (AWS_* variables)', () => {
  const loc = parseBlobsLocation('s3://kindling-blobs', {}, dataDir);
  assert.equal(loc.kind, 's3');
  assert.equal(loc.kind === 's3' && loc.credentials, undefined);
  assert.equal(loc.kind === 's3' && loc.region, 'us-east-1');
});

const refused: [string, string, NodeJS.ProcessEnv, RegExp][] = [
  ['empty', '', {}, /--blobs is empty/],
  ['a control character', `${shared}\n`, {}, /control character/],
  ['another scheme', 'ftp://host/dir', {}, /unsupported --blobs "ftp"/],
  [
    'an http URL (the endpoint belongs in KINDLING_BLOBS_ENDPOINT)',
    'http://127.0.0.1:9000/b',
    {},
    /unsupported/,
  ],
  ['credentials in the URL', 's3://AKIA:secret@bucket', {}, /credentials go in KINDLING_BLOBS_ACCESS_KEY_ID/],
  ['a query string', 's3://bucket?versionId=1', {}, /bucket and an optional prefix only/],
  ['an upper-case bucket', 's3://Bucket', {}, /not a valid S3 bucket name/],
  ['a bucket shaped like an IP address', 's3://10.0.0.1', {}, /not a valid S3 bucket name/],
  ['a prefix climbing out with ..', 's3://bucket/a/../b', {}, /prefix segment "\.\."/],
  ['an empty prefix segment', 's3://bucket/a//b', {}, /prefix segment ""/],
  [
    'an endpoint that is not a URL',
    's3://bucket',
    { KINDLING_BLOBS_ENDPOINT: 'minio:9000' },
    /http:\/\/ or https:\/\//,
  ],
  [
    'a file:// endpoint',
    's3://bucket',
    { KINDLING_BLOBS_ENDPOINT: 'file:///etc' },
    /http:\/\/ or https:\/\//,
  ],
  [
    'an endpoint carrying credentials',
    's3://bucket',
    { KINDLING_BLOBS_ENDPOINT: 'http://ak:sk@127.0.0.1:9000' },
    /must not carry credentials/,
  ],
  ['half of a key pair', 's3://bucket', { KINDLING_BLOBS_ACCESS_KEY_ID: 'AK' }, /set both/],
];
for (const [what, value, env, message] of refused) {
  test(`--blobs with ${what} is refused with a clear message`, () => {
    assert.throws(() => parseBlobsLocation(value, env, dataDir), message);
  });
}

test('--blobs naming a directory that does not exist is refused rather than created', () => {
  const missing = path.join(shared, 'typo');
  assert.throws(() => parseBlobsLocation(missing, {}, dataDir), /does not exist/);
  assert.ok(!fs.existsSync(missing));
});

test('--blobs naming a file is refused', () => {
  const file = path.join(shared, 'file');
  fs.writeFileSync(file, 'x');
  assert.throws(() => parseBlobsLocation(file, {}, dataDir), /is not a directory/);
});

test('--blobs naming the data dir or a folder inside it is refused', () => {
  assert.throws(() => parseBlobsLocation(dataDir, {}, dataDir), /must not be the data dir/);
  fs.mkdirSync(path.join(dataDir, 'blobs'), { recursive: true });
  assert.throws(
    () => parseBlobsLocation(path.join(dataDir, 'blobs'), {}, dataDir),
    /must not be the data dir/,
  );
});

test('KINDLING_BLOBS is read like --blobs and checked the same way', () => {
  const saved = process.env.KINDLING_BLOBS;
  process.env.KINDLING_BLOBS = 's3://Not_A_Bucket';
  try {
    assert.throws(() => defaultConfig({ dataDir }), /not a valid S3 bucket name/);
  } finally {
    if (saved === undefined) delete process.env.KINDLING_BLOBS;
    else process.env.KINDLING_BLOBS = saved;
  }
});

test('kindling serve with a hostile --blobs exits non-zero with one line naming the problem', () => {
  const r = spawnSync(
    process.execPath,
    [
      path.join(repoRoot, 'bin/kindling.js'),
      'serve',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--blobs',
      's3://k:s@b',
    ],
    { encoding: 'utf8', timeout: 30_000, env: { ...process.env, KINDLING_STORE: '' } },
  );
  assert.notEqual(r.status, 0);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^kindling serve: --blobs s3:\/\/ takes a bucket and an optional prefix only/);
  assert.doesNotMatch(r.stdout, /listening on/);
});

test.after(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(shared, { recursive: true, force: true });
});
