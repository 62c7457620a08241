// Which bucket a Host header names (virtual-hosted–style S3), and the KINDLING_S3_DOMAINS setting.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { virtualHostBucket } from '../../../src/api/s3/virtual-host.js';
import { s3Domains } from '../../../src/config.js';

test('a bucket label before a base domain or s3.<domain> names the bucket, port and case aside', () => {
  const d = ['localhost', 's3.example.test'];
  assert.equal(virtualHostBucket('photos.localhost:9000', d), 'photos');
  assert.equal(virtualHostBucket('Photos.S3.Localhost:9000', d), 'photos');
  assert.equal(virtualHostBucket('my.dotted.bucket.localhost', d), 'my.dotted.bucket');
  assert.equal(virtualHostBucket('photos.localhost.:9000', d), 'photos');
  assert.equal(virtualHostBucket('logs.s3.example.test', d), 'logs');
  assert.equal(virtualHostBucket('logs.s3.s3.example.test', d), 'logs');
});

test('an IP address, a base domain itself, s3.<domain> and foreign or function URL hosts are path style', () => {
  const d = ['localhost'];
  for (const host of [
    undefined,
    '127.0.0.1:9000',
    '[::1]:9000',
    'localhost:9000',
    's3.localhost',
    'example.com',
    'localhost.example.com',
    '0123456789abcdef0123456789abcdef.lambda-url.localhost',
  ])
    assert.equal(virtualHostBucket(host, d), undefined, String(host));
  assert.equal(virtualHostBucket('photos.localhost', []), undefined);
});

test('a label that is no bucket name is InvalidBucketName', () => {
  for (const host of ['a_b.localhost', 'a..b.localhost', 'xn--x.localhost', 'ab.localhost', '-a-.localhost'])
    assert.throws(() => virtualHostBucket(host, ['localhost']), { code: 'InvalidBucketName' }, host);
});

test('KINDLING_S3_DOMAINS: default localhost, a list, empty for none; an IP or junk is refused', () => {
  assert.deepEqual(s3Domains(undefined), ['localhost']);
  assert.deepEqual(s3Domains(' S3.Example.Test , localhost.'), ['s3.example.test', 'localhost']);
  assert.deepEqual(s3Domains(''), []);
  assert.throws(() => s3Domains('10.0.0.1'), /not a domain name/);
  assert.throws(() => s3Domains('bad_domain'), /not a domain name/);
});
