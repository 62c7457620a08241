// Limits before authentication (issue 7, finding 4): a bad signature is refused from the headers
// before the body is read, unauthenticated bodies are capped per address and in all, headers and
// bodies that trickle in are cut. Each test drives a real server over raw sockets.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { connect, signedHead, statusOf, within } from './helpers.js';

const MiB = 1024 * 1024;
let p: TestPlatform;

before(async () => {
  p = await startPlatform({
    edge: {
      headersTimeoutMs: 1_000,
      bodyGraceMs: 1_000,
      bodyMinBytesPerSec: 1024,
      unauthenticatedBytes: 40 * MiB,
      unauthenticatedBytesPerAddress: 12 * MiB,
    },
  });
});

after(() => p.close());

const INVOKE = '/2015-03-31/functions/nobody/invocations';
async function untilNoPreAuthBytes(): Promise<void> {
  while (p.platform.preAuth.bytes !== 0) await new Promise((r) => setTimeout(r, 20));
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('a bogus signature over a declared payload hash is refused before the body and the connection closed', async () => {
  const body = Buffer.alloc(5_000_000, 'a');
  const conns = await Promise.all(
    Array.from({ length: 20 }, async () => {
      const c = await connect(p.endpoint);
      c.socket.write(
        signedHead(p.endpoint, p.credentials, {
          method: 'POST',
          path: INVOKE,
          service: 'lambda',
          body,
          headers: { 'x-amz-content-sha256': sha256(body) },
          bogusSignature: true,
        }),
      );
      c.trickle(body, 100);
      return c;
    }),
  );
  const answers = await within(Promise.all(conns.map((c) => c.closed)), 10_000, 'closing');
  for (const raw of answers) {
    assert.equal(statusOf(raw), 403, raw);
    assert.match(raw, /InvalidSignatureException/);
  }
  await within(untilNoPreAuthBytes(), 5_000, 'releasing the held bytes');
});

test('an unknown access key over a declared payload hash is refused before the body', async () => {
  const body = Buffer.alloc(1_000_000, 'b');
  const c = await connect(p.endpoint);
  c.socket.write(
    signedHead(
      p.endpoint,
      { accessKeyId: 'AKIDNOTAKEY000000000', secretAccessKey: 'x' },
      {
        method: 'POST',
        path: INVOKE,
        service: 'lambda',
        body,
        headers: { 'x-amz-content-sha256': sha256(body) },
      },
    ),
  );
  c.trickle(body, 100);
  const raw = await within(c.closed, 10_000, 'closing');
  assert.equal(statusOf(raw), 403, raw);
  assert.match(raw, /UnrecognizedClientException/);
});

test('trickled unauthenticated bodies beyond the per-address cap get 503 at once and never raise the buffered bytes past it', async () => {
  const body = Buffer.alloc(5_000_000, 'c');
  let peak = 0;
  const sample = setInterval(() => (peak = Math.max(peak, p.platform.preAuth.bytes)), 20);
  try {
    const conns = [];
    for (let i = 0; i < 10; i++) {
      const c = await connect(p.endpoint);
      // No x-amz-content-sha256: the body must be read before the signature can be checked.
      c.socket.write(
        signedHead(p.endpoint, p.credentials, {
          method: 'POST',
          path: INVOKE,
          service: 'lambda',
          body,
          bogusSignature: true,
        }),
      );
      c.trickle(body, 200);
      conns.push(c);
    }
    const answers = await within(Promise.all(conns.map((c) => c.closed)), 20_000, 'closing');
    const statuses = answers.map(statusOf);
    // Two 5 MB bodies fit under 12 MiB; the other eight are refused as soon as they are declared.
    assert.equal(statuses.filter((s) => s === 503).length, 8, statuses.join(','));
    // The two admitted ones trickle under the minimum rate and are cut.
    assert.equal(statuses.filter((s) => s === 408).length, 2, statuses.join(','));
    const busy = answers.find((r) => statusOf(r) === 503)!;
    assert.match(busy, /ServiceUnavailableException/);
    assert.match(busy, /retry-after: 1/i);
    assert.ok(peak <= 12 * MiB, `peak ${peak}`);
    await within(untilNoPreAuthBytes(), 5_000, 'releasing the held bytes');
  } finally {
    clearInterval(sample);
  }
});

test('headers trickled slower than the header timeout are cut with 408 and the connection closed', async () => {
  const c = await connect(p.endpoint);
  c.socket.write('GET /kindling/health HTTP/1.1\r\nHost: x\r\n');
  c.trickle(
    Buffer.from('X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'),
    100,
  );
  const raw = await within(c.closed, 10_000, 'closing');
  assert.equal(statusOf(raw), 408, raw);
});

test('a connection that never sends a request is closed by the header timeout', async () => {
  const c = await connect(p.endpoint);
  const raw = await within(c.closed, 10_000, 'closing');
  assert.ok(raw === '' || statusOf(raw) === 408, raw);
});

test('a signed body trickled under the minimum rate is cut with RequestTimeoutException 408', async () => {
  const body = Buffer.from(JSON.stringify({ pad: 'x'.repeat(100_000) }));
  const c = await connect(p.endpoint);
  c.socket.write(
    signedHead(p.endpoint, p.credentials, {
      method: 'POST',
      path: INVOKE,
      service: 'lambda',
      body,
      headers: { 'x-amz-content-sha256': sha256(body) },
    }),
  );
  c.trickle(body, 50);
  const raw = await within(c.closed, 15_000, 'closing');
  assert.equal(statusOf(raw), 408, raw);
  assert.match(raw, /RequestTimeoutException/);
});

test('a declared payload hash that does not match the body is XAmzContentSHA256Mismatch', async () => {
  const body = Buffer.from('{"a":1}');
  const c = await connect(p.endpoint);
  c.socket.write(
    signedHead(p.endpoint, p.credentials, {
      method: 'POST',
      path: INVOKE,
      service: 'lambda',
      // Signed over the hash it declares, which is not the hash of what is sent.
      body: 'something else',
      contentLength: body.length,
      headers: { 'x-amz-content-sha256': sha256(Buffer.from('something else')) },
    }),
  );
  c.socket.write(body);
  const raw = await within(
    new Promise<string>((resolve) => {
      const t = setInterval(() => {
        if (/\r\n\r\n[\s\S]*\}/.test(c.received())) {
          clearInterval(t);
          resolve(c.received());
        }
      }, 20);
    }),
    10_000,
    'answer',
  );
  c.socket.destroy();
  assert.equal(statusOf(raw), 400, raw);
  assert.match(raw, /XAmzContentSHA256Mismatch/);
});

test('a correctly signed body with a declared hash is served after the head was verified', async () => {
  const body = Buffer.from('{}');
  const c = await connect(p.endpoint);
  c.socket.write(
    `${signedHead(p.endpoint, p.credentials, {
      method: 'POST',
      path: INVOKE,
      service: 'lambda',
      body,
      headers: { 'x-amz-content-sha256': sha256(body), connection: 'close' },
    })}{}`,
  );
  const raw = await within(c.closed, 10_000, 'answer');
  // Authenticated: the function does not exist.
  assert.equal(statusOf(raw), 404, raw);
  assert.match(raw, /ResourceNotFoundException/);
});

test('a client expecting 100-continue with a declared hash and a bogus signature is refused without being asked for its body', async () => {
  const body = Buffer.from('{"a":1}');
  const c = await connect(p.endpoint);
  c.socket.write(
    signedHead(p.endpoint, p.credentials, {
      method: 'POST',
      path: INVOKE,
      service: 'lambda',
      body,
      headers: { expect: '100-continue', 'x-amz-content-sha256': sha256(body) },
      bogusSignature: true,
    }),
  );
  const raw = await within(c.closed, 10_000, 'closing');
  assert.doesNotMatch(raw, /100 Continue/);
  assert.equal(statusOf(raw), 403, raw);
});

test('a client expecting 100-continue with a good signature is asked for its body and served', async () => {
  const body = Buffer.from('{"a":1}');
  const c = await connect(p.endpoint);
  c.socket.write(
    signedHead(p.endpoint, p.credentials, {
      method: 'POST',
      path: INVOKE,
      service: 'lambda',
      body,
      headers: { expect: '100-continue', connection: 'close' },
    }),
  );
  await within(
    new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (c.received().includes('100 Continue')) {
          clearInterval(t);
          resolve();
        }
      }, 10);
    }),
    10_000,
    '100 Continue',
  );
  c.socket.write(body);
  const raw = await within(c.closed, 10_000, 'closing');
  assert.match(raw, /^HTTP\/1\.1 100 Continue/);
  assert.match(raw, /HTTP\/1\.1 404 [\s\S]*ResourceNotFoundException/);
});
