import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  canonicalQuery,
  parseSignature,
  SignatureError,
  sha256Hex,
  signRequest,
  uriEncode,
  verifySignature,
} from '../../src/api/sigv4.js';

const creds = { accessKeyId: 'AKIATESTTESTTESTTEST', secretAccessKey: 'secret-secret-secret-secret' };

function signed(opts: { body?: string; now?: Date; path?: string; service?: string } = {}) {
  const url = new URL(
    opts.path ?? '/2015-03-31/functions/my-fn/invocations?Qualifier=%24LATEST',
    'http://127.0.0.1:9000',
  );
  const body = opts.body ?? '{"a":1}';
  const headers = signRequest({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json' },
    body,
    ...creds,
    region: 'us-east-1',
    service: opts.service ?? 'lambda',
    now: opts.now,
  });
  return { url, body, headers };
}

function verify(
  r: ReturnType<typeof signed>,
  overrides: { secret?: string; body?: string; now?: number } = {},
) {
  const query = new URLSearchParams(r.url.search);
  const sig = parseSignature(r.headers, query);
  assert.ok(sig);
  return verifySignature(sig, {
    method: 'POST',
    rawPath: r.url.pathname,
    rawQuery: r.url.search.slice(1),
    headers: r.headers,
    payloadHash: sha256Hex(overrides.body ?? r.body),
    secret: overrides.secret ?? creds.secretAccessKey,
    now: overrides.now,
  });
}

describe('SigV4', () => {
  it('a request signed with the right secret verifies', () => {
    assert.ok(Buffer.isBuffer(verify(signed())));
  });

  it('a wrong secret is a signature mismatch', () => {
    assert.throws(
      () => verify(signed(), { secret: 'nope' }),
      (e: unknown) => e instanceof SignatureError && e.kind === 'mismatch',
    );
  });

  it('a body changed after signing is a signature mismatch', () => {
    assert.throws(
      () => verify(signed(), { body: '{"a":2}' }),
      (e: unknown) => e instanceof SignatureError && e.kind === 'mismatch',
    );
  });

  it('a signature older than 15 minutes is expired', () => {
    const r = signed({ now: new Date(Date.now() - 20 * 60_000) });
    assert.throws(
      () => verify(r),
      (e: unknown) =>
        e instanceof SignatureError && e.kind === 'expired' && /Signature expired/.test(e.message),
    );
  });

  it('an Authorization header without a Signature is incomplete', () => {
    const r = signed();
    r.headers.authorization = r.headers.authorization!.replace(/, Signature=.*/, '');
    assert.throws(
      () => parseSignature(r.headers, new URLSearchParams()),
      (e: unknown) => e instanceof SignatureError && e.kind === 'incomplete',
    );
  });

  it('an unsigned request parses as no signature', () => {
    assert.equal(parseSignature({}, new URLSearchParams()), undefined);
  });

  it('the canonical query sorts and strictly encodes keys and values', () => {
    assert.equal(canonicalQuery('b=2&a=x y&a=%2F'), 'a=%2F&a=x%20y&b=2');
    assert.equal(uriEncode('a:b/c~'), 'a%3Ab%2Fc~');
  });

  it('uriEncode escapes exactly what RFC 3986 reserves, byte by byte in UTF-8', () => {
    const reference = (x: string) =>
      [...Buffer.from(x, 'utf8')]
        .map((b) =>
          /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b))
            ? String.fromCharCode(b)
            : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
        )
        .join('');
    for (const x of ["a b!'()*", 'ünï/cödé', '日本語', '~-_.', 'a+b=c&d', '\ud83d\ude00']) {
      assert.equal(uriEncode(x), reference(x), x);
    }
    assert.equal(uriEncode('a/b c', true), 'a/b%20c');
  });

  it('ARN paths (colons escaped on the wire) verify for non-S3 services', () => {
    const r = signed({
      path: '/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Afn/invocations',
    });
    assert.ok(Buffer.isBuffer(verify(r)));
  });
});
