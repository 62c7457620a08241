// Building blocks of the fuzzed requests, shared by every surface: path segments with bad escapes, dot
// segments, unicode and very long names; query strings; header values; JSON shaped like an API's input
// but with wrong types; arbitrary bytes; the ways a request authenticates (or fails to).
import fc from 'fast-check';
import type { Auth, FuzzRequest } from './wire.js';

type Arb<T> = fc.Arbitrary<T>;

const hex = (b: number) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`;

/** Percent-encodes (as UTF-8) whatever a request line cannot carry raw, and the characters in `reserved`. */
export function wire(s: string, reserved = /[?#]/): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    out += c < 0x21 || c > 0x7e || reserved.test(ch) ? [...Buffer.from(ch, 'utf8')].map(hex).join('') : ch;
  }
  return out;
}

/** Escapes that decode to nothing valid, or to something a naive decoder would split or climb on. */
export const badEscape: Arb<string> = fc.constantFrom(
  '%ZZ',
  '%',
  '%4',
  '%G0',
  '%C3%28',
  '%00',
  '%2F',
  '%2f',
  '%2e%2e',
  '%2E',
  '%FF',
  '%E2%82',
  '%F0%9F%98',
  '%ED%A0%80',
  '%u0041',
  '%%',
  '%25',
  '+',
  '%20',
  '%0A',
  '%0D%0A',
);

const unicode: Arb<string> = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 });
const anyText: Arb<string> = fc.string({ unit: 'binary', maxLength: 40 });
const latin1Raw: Arb<string> = fc.string({
  unit: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)),
  minLength: 1,
  maxLength: 6,
});
const longName: Arb<string> = fc
  .tuple(fc.constantFrom('a', 'Z', '%41', '.', '-', 'é'), fc.integer({ min: 64, max: 2500 }))
  .map(([c, n]) => c.repeat(n));
const token: Arb<string> = fc.stringMatching(/^[A-Za-z0-9_.-]{1,40}$/);

/** One path segment as sent on the wire; `names` are ones the server knows, to reach past lookups. */
export function segment(names: readonly string[]): Arb<string> {
  const piece = fc.oneof(
    { weight: 12, arbitrary: names.length > 0 ? fc.constantFrom(...names) : token },
    { weight: 3, arbitrary: token },
    { weight: 1, arbitrary: unicode.map((s) => wire(s, /[/?#%]/)) },
    { weight: 2, arbitrary: badEscape },
    { weight: 1, arbitrary: fc.constantFrom('.', '..', '%2e', '%2E%2E', '.%2e', '') },
    { weight: 1, arbitrary: longName.map((s) => wire(s, /[/?#]/)) },
    { weight: 1, arbitrary: latin1Raw },
    { weight: 1, arbitrary: anyText.map((s) => wire(s, /[/?#]/)) },
  );
  return fc.oneof(
    { weight: 8, arbitrary: piece },
    { weight: 1, arbitrary: fc.array(piece, { minLength: 2, maxLength: 3 }).map((p) => p.join('')) },
  );
}

/** A path from a template: strings stay, `null` is a segment from `names`; sometimes mangled further. */
export function templatePath(templates: readonly (string | null)[][], names: readonly string[]): Arb<string> {
  const seg = segment(names);
  const fromTemplate = fc
    .constantFrom(...templates)
    .chain((t) => fc.tuple(...t.map((s) => (s === null ? seg : fc.constant(s)))))
    .map((segs) => `/${segs.join('/')}`);
  const mangle = fc.constantFrom(
    (p: string) => p,
    (p: string) => `${p}/`,
    (p: string) => `/${p}`,
    (p: string) => p.replace(/\/([^/]*)$/, '/./$1'),
    (p: string) => p.replace(/\/([^/]*)$/, '/x/../$1'),
    (p: string) => p.replace(/\/([^/]*)$/, '/%2e%2e/$1'),
    (p: string) => p.replace(/\//g, '//'),
  );
  const mangled = fc.tuple(fromTemplate, mangle).map(([p, f]) => f(p));
  const arbitrary = fc.array(seg, { maxLength: 5 }).map((s) => `/${s.join('/')}`);
  return fc.oneof(
    { weight: 8, arbitrary: fromTemplate },
    { weight: 1, arbitrary: mangled },
    { weight: 1, arbitrary },
  );
}

/** Values for query parameters and form fields, encoded for the wire (or left with bad escapes). */
export function queryValue(good: readonly string[] = []): Arb<string> {
  return fc.oneof(
    {
      weight: good.length > 0 ? 5 : 0,
      arbitrary: good.length > 0 ? fc.constantFrom(...good) : fc.constant(''),
    },
    { weight: 2, arbitrary: fc.constantFrom('', '0', '1', '-1', '10', '1000', '1001', '1.5', 'abc', 'true') },
    { weight: 2, arbitrary: anyText },
    { weight: 1, arbitrary: unicode },
    { weight: 1, arbitrary: fc.integer().map(String) },
    { weight: 1, arbitrary: longName },
  );
}

const reservedInQuery = /[&=+?#%]/;

/** A raw query string: known keys with plausible values, unknown keys, bad escapes, bare keys, `&&`. */
export function queryString(keys: readonly string[], values: Arb<string> = queryValue()): Arb<string> {
  const key = fc.oneof(
    { weight: 4, arbitrary: keys.length > 0 ? fc.constantFrom(...keys) : token },
    { weight: 1, arbitrary: token },
    { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'hasOwnProperty', 'X-Amz-Date') },
  );
  const pair = fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(key, values)
        .map(([k, v]) => `${wire(k, reservedInQuery)}=${wire(v, reservedInQuery)}`),
    },
    { weight: 1, arbitrary: key.map((k) => wire(k, reservedInQuery)) },
    { weight: 1, arbitrary: fc.tuple(key, badEscape).map(([k, e]) => `${wire(k, reservedInQuery)}=${e}`) },
    { weight: 1, arbitrary: fc.tuple(badEscape, values).map(([e, v]) => `${e}=${wire(v, reservedInQuery)}`) },
    { weight: 1, arbitrary: fc.constantFrom('', '=', '==', '&', '=x') },
  );
  return fc.array(pair, { maxLength: 6 }).map((p) => p.join('&'));
}

/** A header value Node will send: printable ASCII mostly, latin-1 sometimes, bad escapes, long. */
export const headerValue: Arb<string> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .string({ unit: 'binary-ascii', maxLength: 40 })
      .map((s) => s.replace(/[^\t\x20-\x7e]/g, '')),
  },
  { weight: 1, arbitrary: latin1Raw },
  { weight: 1, arbitrary: badEscape },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 6000 }).map((n) => 'v'.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '0', '-1', '99999999999999999999', 'null', '{}') },
);

/** Headers a surface reads (each sometimes present), plus a few unknown ones. */
export function headers(known: Record<string, Arb<string>>): Arb<Record<string, string>> {
  const some = fc.record(
    Object.fromEntries(
      Object.entries(known).map(([k, a]) => [
        k,
        fc.oneof({ weight: 4, arbitrary: a }, { weight: 1, arbitrary: headerValue }),
      ]),
    ),
    { requiredKeys: [] },
  );
  const unknown = fc.dictionary(fc.stringMatching(/^x-[a-z0-9-]{1,16}$/), headerValue, { maxKeys: 2 });
  return fc.tuple(some, unknown).map(([a, b]) => ({ ...b, ...a }) as Record<string, string>);
}

export const contentType: Arb<string> = fc.constantFrom(
  'application/json',
  'application/x-amz-json-1.0',
  'application/x-amz-json-1.1',
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=utf-8',
  'text/xml',
  'application/xml',
  'application/octet-stream',
  'multipart/form-data; boundary=x',
  'text/plain',
  '',
);

/** Any JSON value, with the edge cases a validator must survive. */
export const anyJson: Arb<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<unknown>(
      null,
      true,
      false,
      -1,
      0,
      1.5,
      1e308,
      -1e308,
      2 ** 53 + 1,
      '',
      [],
      {},
      [null],
      { '': '' },
      '\u0000',
      '\ud800',
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 70_000 }).map((n) => 'x'.repeat(n)) },
);

/** An object with most of `shape`'s keys, each value usually plausible and now and then of any type. */
export function jsonShaped(shape: Record<string, Arb<unknown>>): Arb<Record<string, unknown>> {
  const fields = fc
    .record(
      Object.fromEntries(
        Object.entries(shape).map(([k, a]) => [
          k,
          fc.option(fc.oneof({ weight: 9, arbitrary: a }, { weight: 1, arbitrary: anyJson }), {
            freq: 5,
            nil: undefined,
          }),
        ]),
      ),
    )
    .map((o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)));
  const extra = fc.dictionary(fc.string({ maxLength: 12 }), anyJson, { maxKeys: 2 });
  return fc.oneof(
    { weight: 8, arbitrary: fields },
    { weight: 1, arbitrary: fc.tuple(fields, extra).map(([f, e]) => ({ ...e, ...f })) },
  );
}

const text = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

/** A request body: `json` serialised mostly; broken JSON, non-objects and arbitrary bytes otherwise. */
export function body(json: Arb<unknown>): Arb<Uint8Array> {
  return fc.oneof(
    { weight: 8, arbitrary: json.map((v) => text(JSON.stringify(v) ?? '')) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(
          '',
          '{',
          '[]',
          'null',
          '"s"',
          '{"a":',
          '\ufeff{}',
          'not json',
          '{"__proto__":{"x":1}}',
          '{"constructor":{"prototype":{"x":1}}}',
          '1e999999',
          '{"a":1,"a":2}',
        )
        .map(text),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }) },
  );
}

/** How a request authenticates: signed as the admin or a plain tenant mostly, broken otherwise. */
export const auth: Arb<Auth> = fc.oneof(
  { weight: 30, arbitrary: fc.constantFrom<Auth>({ kind: 'signed', as: 'admin' }) },
  { weight: 6, arbitrary: fc.constantFrom<Auth>({ kind: 'signed', as: 'tenant' }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('presigned' as const),
      as: fc.constantFrom('admin' as const, 'tenant' as const),
      expires: fc.constantFrom('60', '0', '-1', '604800', '604801', 'abc', '', '1e3', '315360000'),
    }),
  },
  { weight: 2, arbitrary: fc.constant<Auth>({ kind: 'unsigned' }) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        fc.constantFrom(
          'AWS4-HMAC-SHA256',
          'AWS4-HMAC-SHA256 ',
          'AWS4-HMAC-SHA256 Credential=',
          'AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=zz',
          'AWS4-HMAC-SHA256 Credential=AKID/20200101/us-east-1/lambda/aws4_request,SignedHeaders=,Signature=',
          'AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;;;, Signature=%ZZ',
          'Bearer x',
          'AWS AKID:c2ln',
        ),
        headerValue,
      )
      .map((value): Auth => ({ kind: 'authorization', value })),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(fc.stringMatching(/^[0-9a-f]{64}$/), fc.constantFrom('', 'zz', '0'.repeat(63), 'g'.repeat(64)))
      .chain((signature) =>
        fc
          .constantFrom('admin' as const, 'tenant' as const)
          .map((as): Auth => ({ kind: 'bad-signature', as, signature })),
      ),
  },
  { weight: 1, arbitrary: fc.constant<Auth>({ kind: 'unknown-key' }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('20200101T000000Z', 'garbage', '99999999T999999Z', '20261301T250000Z', '')
      .map((date): Auth => ({ kind: 'bad-date', date })),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(
        fc.tuple(
          fc.constantFrom(
            'X-Amz-Algorithm',
            'X-Amz-Credential',
            'X-Amz-Date',
            'X-Amz-Expires',
            'X-Amz-SignedHeaders',
            'X-Amz-Signature',
            'X-Amz-Security-Token',
          ),
          fc
            .oneof(
              queryValue([
                'AWS4-HMAC-SHA256',
                'AKID/20200101/us-east-1/s3/aws4_request',
                'host',
                '20200101T000000Z',
              ]),
              badEscape,
            )
            .map((v) => wire(v, reservedInQuery)),
        ),
        { minLength: 1, maxLength: 6 },
      )
      .map((params): Auth => ({ kind: 'presigned-garbage', params })),
  },
);

export const method = (usual: readonly string[]): Arb<string> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...usual) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS', 'PROPFIND'),
    },
  );

/** The parts every surface shares, around its own method, path, query, headers and body. */
export function request(
  service: string,
  parts: {
    method: Arb<string>;
    path: Arb<string>;
    query: Arb<string>;
    headers: Arb<Record<string, string>>;
    body: Arb<Uint8Array>;
  },
): Arb<FuzzRequest> {
  return fc.record({
    ...parts,
    chunked: fc.boolean(),
    auth,
    service: fc.oneof(
      { weight: 12, arbitrary: fc.constant(service) },
      { weight: 1, arbitrary: fc.constantFrom('lambda', 'sqs', 's3', 'events', 'kindling', 'iam', '') },
    ),
    region: fc.oneof(
      { weight: 12, arbitrary: fc.constant('us-east-1') },
      { weight: 1, arbitrary: fc.constantFrom('eu-west-1', '', 'us-east-1 ', '%ZZ') },
    ),
  });
}
