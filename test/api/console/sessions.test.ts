// The console's sessions and sign-in limit on their own (a clock the test moves), and the limit as the
// surface answers it: 429 with Retry-After, the right secret refused too while an address is over it.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { SessionStore, SignInLimiter, sameSecret } from '../../../src/api/console/sessions.js';
import { ConsoleSurface, type ConsoleSurfaceDeps } from '../../../src/api/console/surface.js';
import type { ApiRequest, ApiResponse } from '../../../src/api/surface.js';
import type { AccessKey, Tenant } from '../../../src/control/tenant-types.js';

const tenant = (id: string): Tenant => ({
  id,
  name: id,
  accountId: '111122223333',
  isAdmin: false,
  concurrencyLimit: null,
  networkOutbound: false,
  egressAllow: [],
  createdAt: new Date(0).toISOString(),
});

function keyring() {
  const keys = new Map<string, { key: AccessKey; tenant: Tenant }>();
  const add = (id: string, tenantId: string, sessionToken: string | null = null) => {
    const key = { accessKeyId: id, secretAccessKey: `secret-${id}`, tenantId, sessionToken, expiresAt: null };
    keys.set(id, { key, tenant: tenant(tenantId) });
    return key;
  };
  return { keys, add, resolve: async (id: string) => keys.get(id) };
}

test('a secret matches only itself; an unknown key never matches', () => {
  assert.equal(sameSecret('abc', 'abc'), true);
  assert.equal(sameSecret('abc', 'abd'), false);
  assert.equal(sameSecret('abc', undefined), false);
});

test('a session ends after the idle limit, and after the maximum age however busy', async () => {
  let now = 1_000_000;
  const ring = keyring();
  const key = ring.add('AKIA1', 't1');
  const store = new SessionStore(ring.resolve, { idleMs: 1000, maxAgeMs: 5000, now: () => now });
  const { id } = store.open(key);
  now += 900;
  assert.ok(await store.current(id));
  now += 900; // 900 ms since the last use: still alive
  assert.ok(await store.current(id));
  now += 1001;
  assert.equal(await store.current(id), undefined, 'idle too long');
  assert.equal(await store.current(id), undefined, 'and gone for good');
  const busy = store.open(key).id;
  for (let i = 0; i < 6; i++) {
    now += 900;
    if (i < 5) assert.ok(await store.current(busy), `use ${i}`);
  }
  assert.equal(await store.current(busy), undefined, 'past the maximum age');
});

test('a session ends when its key no longer resolves or now belongs elsewhere; ids are not guessable', async () => {
  const ring = keyring();
  const key = ring.add('AKIA1', 't1');
  const store = new SessionStore(ring.resolve);
  const { id, session } = store.open(key);
  assert.equal(id.length, 43, '256 random bits');
  assert.equal(session.csrf.length, 43);
  assert.notEqual(session.csrf, id);
  assert.equal(await store.current(`${id}x`), undefined);
  assert.equal(await store.current(undefined), undefined);
  assert.equal(await store.current('x'.repeat(10_000)), undefined);
  assert.ok(await store.current(id));
  ring.keys.delete('AKIA1');
  assert.equal(await store.current(id), undefined);
  ring.add('AKIA1', 't2');
  assert.equal(await store.current(id), undefined, 'the id came back for another tenant: still ended');
});

test('verify takes a long-term key with its own secret only', async () => {
  const ring = keyring();
  ring.add('AKIA1', 't1');
  ring.add('ASIA1', 't1', 'token');
  const store = new SessionStore(ring.resolve);
  assert.ok(await store.verify('AKIA1', 'secret-AKIA1'));
  assert.equal(await store.verify('AKIA1', 'secret-AKIA2'), undefined);
  assert.equal(await store.verify('AKIA9', 'secret-AKIA9'), undefined);
  assert.equal(await store.verify('ASIA1', 'secret-ASIA1'), undefined, 'a function’s session key');
});

test('one tenant’s sessions are capped (its oldest end first), and so are all sessions', async () => {
  const ring = keyring();
  const a = ring.add('AKIA1', 't1');
  const b = ring.add('AKIA2', 't2');
  const store = new SessionStore(ring.resolve, { perTenant: 3, total: 5 });
  const ids = [1, 2, 3, 4].map(() => store.open(a).id);
  assert.equal(await store.current(ids[0]), undefined, 'the oldest went');
  for (const id of ids.slice(1)) assert.ok(await store.current(id));
  const other = [1, 2, 3].map(() => store.open(b).id);
  assert.equal(store.size, 5);
  for (const id of other) assert.ok(await store.current(id));
});

test('failed sign-ins are limited per address; a success does not reset the count; the window ends', () => {
  let now = 0;
  const limiter = new SignInLimiter({ failures: 3, windowMs: 60_000, now: () => now });
  for (let i = 0; i < 3; i++) {
    assert.equal(limiter.retryAfter('10.0.0.1'), 0);
    limiter.failed('10.0.0.1');
  }
  assert.equal(limiter.retryAfter('10.0.0.1'), 60);
  assert.equal(limiter.retryAfter('10.0.0.2'), 0, 'other addresses are not affected');
  now += 30_000;
  assert.equal(limiter.retryAfter('10.0.0.1'), 30);
  now += 30_000;
  assert.equal(limiter.retryAfter('10.0.0.1'), 0);
});

function fakeRequest(body: unknown, address = '192.0.2.7'): ApiRequest {
  const buf = Buffer.from(JSON.stringify(body));
  return {
    method: 'POST',
    rawPath: '/console/api/signin',
    path: '/console/api/signin',
    query: new URLSearchParams(),
    headers: { 'content-type': 'application/json', host: 'localhost' },
    service: '',
    tenant: undefined as unknown as Tenant,
    accessKeyId: '',
    body: Buffer.alloc(0),
    raw: { socket: { remoteAddress: address } } as unknown as IncomingMessage,
    readBody: async () => buf,
  };
}

async function answer(s: ConsoleSurface, req: ApiRequest): Promise<ApiResponse> {
  try {
    return await s.handle(req);
  } catch (e) {
    return s.errorResponse(e, req);
  }
}

test('over the limit the surface answers 429 with Retry-After, to the right secret as well', async () => {
  const ring = keyring();
  ring.add('AKIA1', 't1');
  const surface = new ConsoleSurface({
    resolveKey: ring.resolve,
    signInLimit: { failures: 2 },
  } as unknown as ConsoleSurfaceDeps);
  const good = { accessKeyId: 'AKIA1', secretAccessKey: 'secret-AKIA1' };
  const bad = { accessKeyId: 'AKIA1', secretAccessKey: 'guess' };
  assert.equal((await answer(surface, fakeRequest(good))).status, 200);
  assert.equal((await answer(surface, fakeRequest(bad))).status, 401);
  assert.equal((await answer(surface, fakeRequest(good))).status, 200, 'one failure: still allowed');
  assert.equal((await answer(surface, fakeRequest(bad))).status, 401);
  const limited = await answer(surface, fakeRequest(good));
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers?.['retry-after']) > 0);
  assert.match(String(limited.body), /TooManySignInAttempts/);
  assert.equal((await answer(surface, fakeRequest(good, '192.0.2.8'))).status, 200, 'another address');
  // IPv6 clients are counted per /64.
  for (const a of ['2001:db8:1:2::1', '2001:db8:1:2::2']) await answer(surface, fakeRequest(bad, a));
  assert.equal((await answer(surface, fakeRequest(good, '2001:db8:1:2::3'))).status, 429);
  // However the address is written.
  for (const a of ['2001:db8::1', '2001:DB8:0:0::2']) await answer(surface, fakeRequest(bad, a));
  assert.equal((await answer(surface, fakeRequest(good, '2001:0db8:0000:0000:ffff::3'))).status, 429);
});

test('sign-in refuses unknown fields by name, non-JSON bodies and other content types', async () => {
  const ring = keyring();
  ring.add('AKIA1', 't1');
  const surface = new ConsoleSurface({ resolveKey: ring.resolve } as unknown as ConsoleSurfaceDeps);
  const extra = await answer(
    surface,
    fakeRequest({ accessKeyId: 'AKIA1', secretAccessKey: 'x', remember: true }),
  );
  assert.equal(extra.status, 400);
  assert.match(String(extra.body), /Unknown field: remember/);
  const req = fakeRequest({});
  req.readBody = async () => Buffer.from('accessKeyId=AKIA1');
  assert.equal((await answer(surface, req)).status, 400);
  const form = fakeRequest({ accessKeyId: 'AKIA1', secretAccessKey: 'secret-AKIA1' });
  form.headers['content-type'] = 'text/plain';
  assert.equal((await answer(surface, form)).status, 415);
  const cross = fakeRequest({ accessKeyId: 'AKIA1', secretAccessKey: 'secret-AKIA1' });
  cross.headers.origin = 'http://evil.example';
  assert.equal((await answer(surface, cross)).status, 403);
  const long = await answer(surface, fakeRequest({ accessKeyId: 'A'.repeat(129), secretAccessKey: 'x' }));
  assert.equal(long.status, 400);
});
