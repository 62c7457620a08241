import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { EMPTY_SHA256, sha256Hex } from '../../../src/api/sigv4.js';
import { crc32, crc32c, hasherFor } from '../../../src/events/objects/checksums.js';
import {
  bodyOf,
  bucketName,
  objectPath,
  rawRequest,
  type S3Fixture,
  signHeaders,
  startS3,
} from './fixtures.js';

let f: S3Fixture;
let bucket: string;
before(async () => {
  f = await startS3();
  bucket = bucketName('sums');
  await f.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => {
  f.s3.destroy();
  await f.t.close();
});

const b64 = (algo: 'CRC32' | 'CRC32C' | 'SHA1' | 'SHA256', data: Buffer) => {
  const h = hasherFor(algo);
  h.update(data);
  return h.digest().toString('base64');
};

test('CRC32 of "123456789" is the standard check value', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
});

test('CRC32C of "123456789" is the standard check value', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
});

test('the SDK default upload (CRC32 flexible checksum) is stored and answered with x-amz-checksum-crc32', async () => {
  const body = Buffer.from('default flexible checksum');
  const put = await f.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'default', Body: body }));
  assert.equal(put.ChecksumCRC32, b64('CRC32', body));
  const got = await f.s3.send(
    new GetObjectCommand({ Bucket: bucket, Key: 'default', ChecksumMode: 'ENABLED' }),
  );
  assert.equal(got.ChecksumCRC32, b64('CRC32', body));
  assert.deepEqual(await bodyOf(got), body);
});

test('a streamed SDK upload (aws-chunked with a trailing CRC32) stores the decoded bytes', async () => {
  const body = Buffer.alloc(300_000, 7);
  body.write('stream start');
  const put = await f.s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: 'streamed',
      Body: Readable.from([body.subarray(0, 100_000), body.subarray(100_000)]),
      ContentLength: body.length,
    }),
  );
  assert.equal(put.ChecksumCRC32, b64('CRC32', body));
  const got = await f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'streamed' }));
  assert.deepEqual(await bodyOf(got), body);
  assert.equal(got.ContentEncoding, undefined);
});

for (const algo of ['CRC32C', 'SHA1', 'SHA256'] as const) {
  test(`an SDK upload with ChecksumAlgorithm ${algo} is verified and answered`, async () => {
    const body = Buffer.from(`checksum ${algo}`);
    const put = await f.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: `algo-${algo}`, Body: body, ChecksumAlgorithm: algo }),
    );
    assert.equal(put[`Checksum${algo}`], b64(algo, body));
    const head = await f.s3.send(
      new HeadObjectCommand({ Bucket: bucket, Key: `algo-${algo}`, ChecksumMode: 'ENABLED' }),
    );
    assert.equal(head[`Checksum${algo}`], b64(algo, body));
  });
}

/** A raw PUT with the given headers, signed with the given x-amz-content-sha256. */
function put(key: string, body: Buffer | string, payloadHash: string, headers: Record<string, string> = {}) {
  const path = objectPath(bucket, key);
  const signed = signHeaders(f.t.endpoint, f.t.credentials, 'PUT', path, headers, payloadHash);
  return {
    send: (b = body) =>
      rawRequest(`${f.t.endpoint}${path}`, { method: 'PUT', headers: signed.headers, body: b }),
    signed,
  };
}

async function absent(key: string): Promise<void> {
  await assert.rejects(f.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })), { name: 'NotFound' });
}

test('a wrong x-amz-checksum-crc32 header is refused with BadDigest and stores nothing', async () => {
  const res = await put('bad-crc', 'payload', 'UNSIGNED-PAYLOAD', {
    'x-amz-checksum-crc32': 'AAAAAA==',
  }).send();
  assert.equal(res.status, 400);
  assert.match(res.body, /<Code>BadDigest<\/Code>/);
  await absent('bad-crc');
});

test('a malformed x-amz-checksum-crc32 header is refused with InvalidRequest', async () => {
  const res = await put('bad-crc-format', 'payload', 'UNSIGNED-PAYLOAD', {
    'x-amz-checksum-crc32': 'not-base64!',
  }).send();
  assert.equal(res.status, 400);
  assert.match(res.body, /<Code>InvalidRequest<\/Code>/);
});

test('a body that does not match its signed x-amz-content-sha256 is refused with XAmzContentSHA256Mismatch', async () => {
  const res = await put('bad-sha', 'the real body', sha256Hex('another body')).send();
  assert.equal(res.status, 400);
  assert.match(res.body, /<Code>XAmzContentSHA256Mismatch<\/Code>/);
  await absent('bad-sha');
});

test('a body that matches its signed x-amz-content-sha256 is stored', async () => {
  const res = await put('good-sha', 'the real body', sha256Hex('the real body')).send();
  assert.equal(res.status, 200);
  assert.equal(res.headers.etag, `"${createHash('md5').update('the real body').digest('hex')}"`);
});

test('a wrong Content-MD5 is refused with BadDigest', async () => {
  const res = await put('bad-md5', 'payload', 'UNSIGNED-PAYLOAD', {
    'content-md5': createHash('md5').update('other').digest('base64'),
  }).send();
  assert.equal(res.status, 400);
  assert.match(res.body, /<Code>BadDigest<\/Code>/);
  await absent('bad-md5');
});

test('a malformed Content-MD5 is refused with InvalidDigest', async () => {
  const res = await put('bad-md5-format', 'payload', 'UNSIGNED-PAYLOAD', { 'content-md5': 'abc' }).send();
  assert.equal(res.status, 400);
  assert.match(res.body, /<Code>InvalidDigest<\/Code>/);
});

/** aws-chunked framing with chunk signatures chained from the seed, as STREAMING-AWS4-HMAC-SHA256-PAYLOAD. */
function signedChunks(
  data: Buffer[],
  s: { seed: string; key: Buffer; amzDate: string; scope: string },
  tamper = false,
): Buffer {
  let prev = s.seed;
  const out: Buffer[] = [];
  for (const chunk of [...data, Buffer.alloc(0)]) {
    const toSign = `AWS4-HMAC-SHA256-PAYLOAD\n${s.amzDate}\n${s.scope}\n${prev}\n${EMPTY_SHA256}\n${sha256Hex(chunk)}`;
    prev = createHmac('sha256', s.key).update(toSign).digest('hex');
    const sig = tamper && chunk.length > 0 ? prev.replace(/^./, (c) => (c === '0' ? '1' : '0')) : prev;
    out.push(
      Buffer.from(`${chunk.length.toString(16)};chunk-signature=${sig}\r\n`),
      chunk,
      Buffer.from('\r\n'),
    );
  }
  return Buffer.concat(out);
}

function chunkedHeaders(decoded: number, encoded: number): Record<string, string> {
  return {
    'content-encoding': 'aws-chunked',
    'x-amz-decoded-content-length': String(decoded),
    'content-length': String(encoded),
  };
}

test('a signed aws-chunked upload (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) is verified chunk by chunk and stored decoded', async () => {
  const data = [Buffer.alloc(70_000, 1), Buffer.from('tail')];
  const decoded = data.reduce((n, c) => n + c.length, 0);
  // Framing length is known before signing: compute once with a dummy signature of the same size.
  const encodedLength = signedChunks(data, {
    seed: '0'.repeat(64),
    key: Buffer.alloc(32),
    amzDate: '',
    scope: '',
  }).length;
  const p = put(
    'signed-chunks',
    '',
    'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
    chunkedHeaders(decoded, encodedLength),
  );
  const res = await p.send(signedChunks(data, p.signed));
  assert.equal(res.status, 200, res.body);
  const got = await f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'signed-chunks' }));
  assert.deepEqual(await bodyOf(got), Buffer.concat(data));
});

test('a signed aws-chunked upload with a bad chunk signature is refused with SignatureDoesNotMatch and stores nothing', async () => {
  const data = [Buffer.from('chunk one'), Buffer.from('chunk two')];
  const decoded = data.reduce((n, c) => n + c.length, 0);
  const encodedLength = signedChunks(data, {
    seed: '0'.repeat(64),
    key: Buffer.alloc(32),
    amzDate: '',
    scope: '',
  }).length;
  const p = put(
    'signed-bad',
    '',
    'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
    chunkedHeaders(decoded, encodedLength),
  );
  const res = await p.send(signedChunks(data, p.signed, true));
  assert.equal(res.status, 403);
  assert.match(res.body, /<Code>SignatureDoesNotMatch<\/Code>/);
  await absent('signed-bad');
});

function unsignedTrailer(data: Buffer, trailer: string): Buffer {
  return Buffer.concat([
    Buffer.from(`${data.length.toString(16)}\r\n`),
    data,
    Buffer.from(`\r\n0\r\n${trailer}\r\n\r\n`),
  ]);
}

test('an unsigned aws-chunked upload whose trailing CRC32C does not match is refused with BadDigest', async () => {
  const data = Buffer.from('trailer data');
  const body = unsignedTrailer(data, `x-amz-checksum-crc32c:${b64('CRC32C', Buffer.from('other'))}`);
  const p = put('trailer-bad', '', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', {
    ...chunkedHeaders(data.length, body.length),
    'x-amz-trailer': 'x-amz-checksum-crc32c',
  });
  const res = await p.send(body);
  assert.equal(res.status, 400);
  assert.match(res.body, /<Code>BadDigest<\/Code>/);
  await absent('trailer-bad');
});

test('an unsigned aws-chunked upload with a matching trailing CRC32C is stored and answers the checksum', async () => {
  const data = Buffer.from('trailer data');
  const body = unsignedTrailer(data, `x-amz-checksum-crc32c:${b64('CRC32C', data)}`);
  const p = put('trailer-good', '', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', {
    ...chunkedHeaders(data.length, body.length),
    'x-amz-trailer': 'x-amz-checksum-crc32c',
  });
  const res = await p.send(body);
  assert.equal(res.status, 200, res.body);
  assert.equal(res.headers['x-amz-checksum-crc32c'], b64('CRC32C', data));
});

test('an aws-chunked body shorter than x-amz-decoded-content-length is refused with IncompleteBody', async () => {
  const data = Buffer.from('short');
  const body = unsignedTrailer(data, `x-amz-checksum-crc32:${b64('CRC32', data)}`);
  const p = put('short', '', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', {
    ...chunkedHeaders(data.length + 10, body.length),
    'x-amz-trailer': 'x-amz-checksum-crc32',
  });
  const res = await p.send(body);
  assert.equal(res.status, 400);
  assert.match(res.body, /<Code>IncompleteBody<\/Code>/);
});

test('a malformed aws-chunked size line is refused with InvalidRequest', async () => {
  const body = Buffer.from('zz\r\nabc\r\n0\r\n\r\n');
  const p = put('malformed', '', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', chunkedHeaders(3, body.length));
  const res = await p.send(body);
  assert.equal(res.status, 400);
  assert.match(res.body, /<Code>InvalidRequest<\/Code>/);
});

test('a PUT announcing more than 5 GiB is refused with EntityTooLarge before any byte is stored', async () => {
  const p = objectPath(bucket, 'huge');
  const signed = signHeaders(
    f.t.endpoint,
    f.t.credentials,
    'PUT',
    p,
    { 'content-length': String(5 * 1024 ** 3 + 1) },
    'UNSIGNED-PAYLOAD',
  );
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(`${f.t.endpoint}${p}`, { method: 'PUT', headers: signed.headers }, (r) => {
      let text = '';
      r.on('data', (c) => (text += c));
      r.on('end', () => {
        req.destroy();
        resolve({ status: r.statusCode ?? 0, body: text });
      });
    });
    req.on('error', reject);
    req.write(Buffer.alloc(1024));
  });
  assert.equal(res.status, 400);
  assert.match(res.body, /<Code>EntityTooLarge<\/Code>/);
  await absent('huge');
});

/** STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER framing: signed chunks, then a signed checksum trailer. */
function signedWithTrailer(
  data: Buffer,
  trailer: string,
  s: { seed: string; key: Buffer; amzDate: string; scope: string },
  tamper = false,
): Buffer {
  const sign = (toSign: string) => createHmac('sha256', s.key).update(toSign).digest('hex');
  const dataSig = sign(
    `AWS4-HMAC-SHA256-PAYLOAD\n${s.amzDate}\n${s.scope}\n${s.seed}\n${EMPTY_SHA256}\n${sha256Hex(data)}`,
  );
  const lastSig = sign(
    `AWS4-HMAC-SHA256-PAYLOAD\n${s.amzDate}\n${s.scope}\n${dataSig}\n${EMPTY_SHA256}\n${EMPTY_SHA256}`,
  );
  let trailerSig = sign(
    `AWS4-HMAC-SHA256-TRAILER\n${s.amzDate}\n${s.scope}\n${lastSig}\n${sha256Hex(`${trailer}\n`)}`,
  );
  if (tamper) trailerSig = '0'.repeat(64);
  return Buffer.concat([
    Buffer.from(`${data.length.toString(16)};chunk-signature=${dataSig}\r\n`),
    data,
    Buffer.from(
      `\r\n0;chunk-signature=${lastSig}\r\n${trailer}\r\nx-amz-trailer-signature:${trailerSig}\r\n\r\n`,
    ),
  ]);
}

for (const tamper of [false, true]) {
  test(
    tamper
      ? 'a signed aws-chunked upload with a bad trailer signature is refused with SignatureDoesNotMatch'
      : 'a signed aws-chunked upload with a signed trailing SHA-256 checksum is verified and stored',
    async () => {
      const data = Buffer.from('signed trailer body');
      const trailer = `x-amz-checksum-sha256:${b64('SHA256', data)}`;
      const dummy = { seed: '0'.repeat(64), key: Buffer.alloc(32), amzDate: '', scope: '' };
      const length = signedWithTrailer(data, trailer, dummy).length;
      const key = `signed-trailer-${tamper}`;
      const p = put(key, '', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', {
        ...chunkedHeaders(data.length, length),
        'x-amz-trailer': 'x-amz-checksum-sha256',
      });
      const res = await p.send(signedWithTrailer(data, trailer, p.signed, tamper));
      if (tamper) {
        assert.equal(res.status, 403);
        assert.match(res.body, /<Code>SignatureDoesNotMatch<\/Code>/);
        await absent(key);
      } else {
        assert.equal(res.status, 200, res.body);
        assert.equal(res.headers['x-amz-checksum-sha256'], b64('SHA256', data));
      }
    },
  );
}
