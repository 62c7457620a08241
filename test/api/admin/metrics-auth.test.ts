// /metrics trusts no peer address: it answers a request signed with the admin tenant's key, or one
// carrying the bearer token set in the server's configuration (issue 7, finding 3).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import { KindlingClient } from '../../../src/cli/client.js';
import { cleanEnv, runCli } from '../../cli/helpers.js';
import { spawnServer, startPlatform, type TestPlatform, tempDir } from '../../helpers/platform.js';

const TOKEN = 'test-metrics-token-0123456789abcdef';
let p: TestPlatform;
let admin: KindlingClient;

before(async () => {
  p = await startPlatform({ metricsToken: TOKEN });
  admin = new KindlingClient({
    endpoint: p.endpoint,
    region: p.region,
    credentials: p.credentials,
    dataDir: p.platform.config.dataDir,
  });
});

after(() => p.close());

test('an unsigned GET /metrics from the loopback address is refused with 403', async () => {
  const res = await fetch(`${p.endpoint}/metrics`);
  assert.equal(res.status, 403);
  assert.equal(res.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
  assert.doesNotMatch(await res.text(), /kindling_/);
});

test('GET /metrics with the configured bearer token answers the Prometheus text', async () => {
  const res = await fetch(`${p.endpoint}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  assert.match(await res.text(), /^# TYPE kindling_invocations_total counter$/m);
});

test('GET /metrics with a wrong bearer token is AccessDeniedException 403', async () => {
  const res = await fetch(`${p.endpoint}/metrics`, { headers: { authorization: `Bearer ${TOKEN}x` } });
  assert.equal(res.status, 403);
  assert.equal(res.headers.get('x-amzn-errortype'), 'AccessDeniedException');
});

test('GET /metrics with an empty bearer is refused', async () => {
  const res = await fetch(`${p.endpoint}/metrics`, { headers: { authorization: 'Bearer ' } });
  assert.equal(res.status, 403);
});

test('GET /metrics signed with the admin key answers the Prometheus text', async () => {
  const res = await admin.signedFetch('GET', '/metrics');
  assert.equal(res.status, 200);
  assert.match(await res.text(), /^# TYPE kindling_invocations_total counter$/m);
});

test('the metrics bearer token does not open any other admin route', async () => {
  for (const path of ['/kindling/v1/tenants', '/kindling/v1/metrics', '/kindling/v1/billing']) {
    const res = await fetch(`${p.endpoint}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 403, path);
  }
});

test('a server started with KINDLING_METRICS_TOKEN answers /metrics to that bearer token only', async () => {
  const dir = tempDir();
  const server = await spawnServer(dir, { ...cleanEnv(), KINDLING_METRICS_TOKEN: TOKEN });
  try {
    const ok = await fetch(`${server.endpoint}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    const anon = await fetch(`${server.endpoint}/metrics`);
    assert.equal(anon.status, 403);
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('kindling serve refuses a --metrics-token shorter than 16 characters', async () => {
  const r = await runCli(
    ['serve', '--port', '0', '--data-dir', tempDir(), '--metrics-token', 'short'],
    cleanEnv(),
  );
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /metrics token must be at least 16 characters/);
});
