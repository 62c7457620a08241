// The web console end to end in a real browser (Debian's Chromium, headless, through playwright-core)
// against a real platform: sign-in, every page, invoke, live logs, screenshots, and the attacks: another
// tenant's resources by name and ARN, a page of another origin, stale and stolen sessions.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { CreateFunctionCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  browserSkip,
  type Credentials,
  consolePages,
  type DemoTenant,
  launchBrowser,
  openConsole,
  screenshotConsole,
  seedDemo,
  signIn,
  VIEWPORT,
} from '../../helpers/console-browser.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { decodePng, imageStats } from '../../helpers/png.js';
import { handlerZip } from '../lambda/zips.js';

const skip = browserSkip();
let p: TestPlatform;
let browser: Browser;
let acme: DemoTenant;
let rival: DemoTenant;
/** Content-Security-Policy violations any page reported. */
const violations: string[] = [];

before(async () => {
  if (skip) return;
  p = await startPlatform();
  acme = await seedDemo(p, 'acme');
  // The other tenant: one of each thing, with names the attack tests ask for.
  const t = await p.platform.tenants.create('rival');
  const key = await p.platform.tenants.createKey(t.id);
  const credentials = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
  const cfg = sdkConfig({ endpoint: p.endpoint, region: p.region, credentials });
  const lambda = new LambdaClient(cfg);
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'rival-secret',
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::123456789012:role/any',
      Code: {
        ZipFile: await handlerZip(
          "export const handler = async () => { console.log('rival ran'); return 1; };",
        ),
      },
    }),
  );
  await lambda.send(new InvokeCommand({ FunctionName: 'rival-secret' }));
  lambda.destroy();
  const sqs = new SQSClient(cfg);
  await sqs.send(new CreateQueueCommand({ QueueName: 'rival-queue' }));
  sqs.destroy();
  const s3 = new S3Client({ ...cfg, forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: 'rival-bucket' }));
  s3.destroy();
  rival = { name: 'rival', accountId: t.accountId, credentials };
  browser = await launchBrowser();
});

after(async () => {
  await shared?.context.close();
  await browser?.close();
  await p?.close();
});

async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  return { context, page };
}

let shared: { context: BrowserContext; page: Page } | undefined;

/** One signed-in page of acme's, shared by the tests that only look (signing in costs a page load). */
async function acmeSession(): Promise<{ context: BrowserContext; page: Page }> {
  shared ??= await signedIn();
  return shared;
}

/** A signed-in page of `c`'s tenant. */
async function signedIn(c: Credentials = acme.credentials) {
  const s = await newPage();
  await signIn(s.page, p.endpoint, c);
  return s;
}

/** The console's JSON API called from inside the page (its cookie, its origin), with an optional body. */
function fromPage(page: Page, path: string, body?: string, headers: Record<string, string> = {}) {
  return page.evaluate(
    async ([path, body, headers]) => {
      const init: RequestInit = { method: body === undefined ? 'GET' : 'POST', headers };
      if (body !== undefined) init.body = body;
      const r = await fetch(`/console/api/${path}`, init);
      return { status: r.status, body: (await r.json()) as { error?: { type: string; message: string } } };
    },
    [path, body, headers] as const,
  );
}

/** The page's CSRF token, as the console's own script gets it. */
async function csrfOf(page: Page): Promise<string> {
  const r = await page.evaluate(
    async () => (await (await fetch('/console/api/session')).json()) as { csrf: string },
  );
  return r.csrf;
}

/** Plain HTTP to the server, headers as given (Origin included), for what a browser would not send. */
function raw(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${p.endpoint}${path}`, { method, headers }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Signs in over plain HTTP; the session cookie and CSRF token. */
async function session(c: Credentials): Promise<{ cookie: string; csrf: string }> {
  const r = await raw(
    'POST',
    '/console/api/signin',
    { 'content-type': 'application/json' },
    JSON.stringify({ accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey }),
  );
  assert.equal(r.status, 200, r.body);
  const cookie = String(r.headers['set-cookie']?.[0]).split(';')[0]!;
  return { cookie, csrf: (JSON.parse(r.body) as { csrf: string }).csrf };
}

async function logCount(tenant: string, fn: string, text: string): Promise<number> {
  const t = await p.platform.tenants.get(tenant);
  await p.platform.components.telemetry.flush();
  const logs = await p.platform.components.telemetry.logs.list(t!.id, fn, { limit: 500 });
  return logs.filter((l) => l.log.includes(text)).length;
}

test('a wrong secret is refused on the page with one message, and no cookie is set', { skip }, async () => {
  const { context, page } = await newPage();
  await openConsole(page, p.endpoint, '', 'signin');
  await page.fill('#accessKeyId', acme.credentials.accessKeyId);
  await page.fill('#secretAccessKey', 'not-the-secret');
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('body[data-ready="signin-failed"]');
  assert.match(
    (await page.textContent('#signin-error')) ?? '',
    /access key ID or secret access key is not valid/,
  );
  assert.equal(await page.inputValue('#secretAccessKey'), '', 'the secret is cleared from the form');
  // An unknown key id answers exactly the same.
  await page.fill('#accessKeyId', 'AKIANOSUCHKEY0000000');
  await page.fill('#secretAccessKey', 'whatever');
  await page.evaluate(() => {
    document.body.dataset.ready = '';
  });
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('body[data-ready="signin-failed"]');
  assert.match(
    (await page.textContent('#signin-error')) ?? '',
    /access key ID or secret access key is not valid/,
  );
  assert.deepEqual(await context.cookies(), []);
  await context.close();
});

test('signing in keeps only an HttpOnly, SameSite=Strict cookie on /console: no secret in storage or page', {
  skip,
}, async () => {
  const { context, page } = await acmeSession();
  const cookies = await context.cookies();
  assert.equal(cookies.length, 1);
  assert.equal(cookies[0]!.name, 'kindling_console');
  assert.equal(cookies[0]!.httpOnly, true);
  assert.equal(cookies[0]!.sameSite, 'Strict');
  assert.equal(cookies[0]!.path, '/console');
  assert.equal(cookies[0]!.expires, -1, 'a browser-session cookie: the server decides when the session ends');
  assert.ok(!cookies[0]!.value.includes(acme.credentials.secretAccessKey));
  const stored = await page.evaluate(() => ({
    local: localStorage.length,
    session: sessionStorage.length,
    cookie: document.cookie,
    html: document.documentElement.outerHTML,
  }));
  assert.equal(stored.local, 0);
  assert.equal(stored.session, 0);
  assert.equal(stored.cookie, '', 'the session cookie is out of the page’s reach');
  assert.ok(!stored.html.includes(acme.credentials.secretAccessKey), 'the secret is nowhere in the page');
  assert.match((await page.textContent('#who')) ?? '', /acme/);
});

test('the functions page lists the tenant’s own functions and none of another tenant’s', {
  skip,
}, async () => {
  const { page } = await acmeSession();
  await openConsole(page, p.endpoint, '#/functions', 'functions');
  const text = (await page.textContent('#page')) ?? '';
  assert.match(text, /acme-hello/);
  assert.match(text, /acme-orders/);
  assert.doesNotMatch(text, /rival/);
  const { page: rivalPage, context: rc } = await signedIn(rival.credentials);
  const rivalText = (await rivalPage.textContent('#page')) ?? '';
  assert.match(rivalText, /rival-secret/);
  assert.doesNotMatch(rivalText, /acme/);
  await rc.close();
});

test('a function’s page shows its configuration, URL and versions; invoking shows the result and log tail', {
  skip,
}, async () => {
  const { page } = await acmeSession();
  await openConsole(page, p.endpoint, '#/functions/acme-hello', 'functions');
  const text = (await page.textContent('#page')) ?? '';
  for (const want of [
    'nodejs20.x',
    'index.handler',
    '256 MB',
    'Greets whoever calls',
    'GREETING',
    'Hello',
    'team',
  ])
    assert.ok(text.includes(want), `shows ${want}`);
  assert.match(text, /\/lambda_url\/[a-z0-9]{32}\//, 'its function URL');
  assert.match(text, /\$LATEST/);
  // Its published version and the alias that points to it.
  assert.match(text, /first release/);
  assert.equal(await page.locator('td', { hasText: /^live$/ }).count(), 1, 'the alias live is listed');
  assert.equal(await page.locator('#aliases-empty').count(), 0);
  await page.fill('#payload', '{ "name": "Browser" }');
  await page.click('#invoke');
  await page.waitForSelector('#invoke-status');
  assert.match((await page.textContent('#invoke-status')) ?? '', /^Succeeded/);
  assert.equal(
    await page.textContent('#invoke-result pre.response'),
    JSON.stringify({ message: 'Hello, Browser' }),
  );
  const tail = (await page.textContent('#invoke-result pre.log')) ?? '';
  assert.match(tail, /START RequestId/);
  assert.match(tail, /greeting\tHello|greeting Hello/);
  assert.match(tail, /REPORT RequestId/);
  // A payload that is not JSON is refused, as Invoke refuses it.
  await page.fill('#payload', '{ not json');
  await page.click('#invoke');
  await page.waitForSelector('#invoke-result .error');
  assert.match(
    (await page.textContent('#invoke-result .error')) ?? '',
    /Could not parse request body into json/,
  );
});

test('live logs show an invocation made while the page is open', { skip }, async () => {
  const { page } = await acmeSession();
  await openConsole(page, p.endpoint, '#/logs/acme-orders', 'logs');
  assert.match((await page.textContent('#log-lines')) ?? '', /order accepted/);
  assert.match((await page.textContent('#log-lines')) ?? '', /has no items/, 'the failed invocation too');
  const lambda = new LambdaClient(
    sdkConfig({ endpoint: p.endpoint, region: p.region, credentials: acme.credentials }),
  );
  await lambda.send(
    new InvokeCommand({ FunctionName: 'acme-orders', Payload: Buffer.from('{"id":"live-4711"}') }),
  );
  lambda.destroy();
  await page.waitForFunction(
    () => document.getElementById('log-lines')?.textContent?.includes('live-4711'),
    undefined,
    {
      timeout: 15_000,
    },
  );
});

test('the queues and buckets pages show the tenant’s own, with counts and objects', { skip }, async () => {
  const { page } = await acmeSession();
  await openConsole(page, p.endpoint, '#/queues', 'queues');
  const q = (await page.textContent('#page')) ?? '';
  assert.match(q, /acme-orders-dlq/);
  assert.doesNotMatch(q, /rival/);
  const row = await page.locator('tr', { hasText: /^acme-ordersStandard/ }).textContent();
  assert.match(row ?? '', /^acme-ordersStandard3/, 'three visible messages');
  await openConsole(page, p.endpoint, '#/buckets', 'buckets');
  const b = (await page.textContent('#page')) ?? '';
  assert.match(b, /acme-uploads/);
  assert.doesNotMatch(b, /rival/);
  await openConsole(page, p.endpoint, '#/buckets/acme-uploads', 'buckets');
  const o = (await page.textContent('#page')) ?? '';
  assert.match(o, /photos\/cat\.jpg/);
  assert.match(o, /reports\/2026-12\.csv/);
});

test('the environments page shows the tenant’s starts; the billing page draws its GB-seconds per hour', {
  skip,
}, async () => {
  const { page } = await acmeSession();
  await openConsole(page, p.endpoint, '#/environments', 'environments');
  const row = (await page.locator('tr', { hasText: 'acme-hello' }).textContent()) ?? '';
  assert.match(row, /acme-hello/);
  const e = await fromPage(page, 'environments');
  const fns = (
    e.body as unknown as {
      functions: {
        name: string;
        invocations: number;
        warmStarts: number;
        poolStarts: number;
        coldStarts: number;
      }[];
      pools: unknown;
    }
  ).functions;
  const hello = fns.find((f) => f.name === 'acme-hello')!;
  assert.ok(hello.invocations >= 3);
  assert.equal(hello.warmStarts + hello.poolStarts + hello.coldStarts, hello.invocations);
  assert.ok(hello.poolStarts + hello.coldStarts >= 1, 'the first invocation started an environment');
  assert.ok(!fns.some((f) => f.name.startsWith('rival')));
  assert.equal((e.body as { pools: unknown }).pools, null, 'platform-wide pool figures are the admin’s only');
  await openConsole(page, p.endpoint, '#/billing', 'billing');
  assert.ok((await page.locator('#billing-chart rect').count()) >= 2, 'a bar for each billed function');
  const b = (await page.textContent('#page')) ?? '';
  assert.match(b, /acme-hello/);
  assert.doesNotMatch(b, /rival/);
});

test('a screenshot of every page is a real, non-blank image of the viewport’s size', { skip }, async () => {
  const shots = await screenshotConsole(browser, p.endpoint, acme);
  assert.deepEqual(
    shots.map((s) => s.file),
    ['signin', ...consolePages(acme).map((x) => x.file)],
  );
  for (const s of shots) {
    const png = decodePng(s.png);
    assert.equal(png.width, VIEWPORT.width, s.file);
    assert.equal(png.height, VIEWPORT.height, s.file);
    const stats = imageStats(png);
    assert.ok(stats.colors > 20, `${s.file}: ${stats.colors} colours`);
    assert.ok(stats.foreground > 0.05, `${s.file}: ${(stats.foreground * 100).toFixed(1)}% not background`);
  }
});

test('another tenant’s function, logs, queue and bucket answer exactly as missing ones, by name and ARN', {
  skip,
}, async () => {
  const { page } = await acmeSession();
  const region = p.region;
  const rivalArn = `arn:aws:lambda:${region}:${rival.accountId}:function:rival-secret`;
  const missingArn = `arn:aws:lambda:${region}:${rival.accountId}:function:rival-nothing`;
  const pairs: [string, string][] = [
    ['functions/rival-secret', 'functions/rival-nothing'],
    [`functions/${encodeURIComponent(rivalArn)}`, `functions/${encodeURIComponent(missingArn)}`],
    ['functions/rival-secret/logs', 'functions/rival-nothing/logs'],
    [`functions/${encodeURIComponent(rivalArn)}/logs`, `functions/${encodeURIComponent(missingArn)}/logs`],
    ['buckets/rival-bucket/objects', 'buckets/rival-nothing/objects'],
  ];
  const norm = (s: string) => s.replace(/rival-(secret|nothing|bucket)/g, 'X');
  for (const [theirs, missing] of pairs) {
    const a = await fromPage(page, theirs);
    const b = await fromPage(page, missing);
    assert.equal(a.status, 404, theirs);
    assert.equal(b.status, 404, missing);
    assert.equal(a.body.error?.type, b.body.error?.type, theirs);
    assert.equal(norm(a.body.error!.message), norm(b.body.error!.message), theirs);
  }
  // Invoking by name or ARN runs nothing of theirs.
  const csrf = await csrfOf(page);
  const before = await logCount('rival', 'rival-secret', 'rival ran');
  for (const ref of ['rival-secret', encodeURIComponent(rivalArn)]) {
    const r = await fromPage(page, `functions/${ref}/invoke`, '{}', {
      'content-type': 'application/json',
      'x-csrf-token': csrf,
    });
    assert.equal(r.status, 404);
    assert.equal(r.body.error?.type, 'ResourceNotFoundException');
  }
  assert.equal(await logCount('rival', 'rival-secret', 'rival ran'), before);
  // Lists hold nothing of theirs.
  for (const list of ['functions', 'queues', 'buckets', 'environments', 'billing']) {
    const r = await fromPage(page, list);
    assert.equal(r.status, 200);
    assert.doesNotMatch(JSON.stringify(r.body), /rival/, list);
  }
});

test('a page of another origin cannot invoke or sign out; a same-origin call without the CSRF token is refused', {
  skip,
}, async (t) => {
  const { context, page } = await acmeSession();
  const { cookie, csrf } = await session(acme.credentials);
  // A page on another port of the same host: same site (so SameSite sends the cookie), another origin.
  const evil = http.createServer((_req, res) => {
    res.setHeader('content-type', 'text/html');
    res.end(`<!doctype html><body><form id="f" method="POST" action="${p.endpoint}/console/api/signout"></form><script>
      fetch(${JSON.stringify(`${p.endpoint}/console/api/functions/acme-orders/invoke`)}, {
        method: 'POST', mode: 'no-cors', credentials: 'include',
        headers: { 'content-type': 'text/plain' }, body: '{"id":"evil-1"}' })
        .finally(() => { document.title = 'sent'; document.getElementById('f').submit(); });
    </script></body>`);
  });
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
  try {
    const evilPage = await context.newPage();
    t.after(() => evilPage.close());
    await evilPage.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
    await evilPage.waitForURL(/\/console\/api\/signout/);
    assert.match(
      (await evilPage.textContent('body')) ?? '',
      /CrossOriginRequestRefused|must come from the console/,
    );
    assert.equal(await logCount('acme', 'acme-orders', 'evil-1'), 0, 'the cross-origin invoke ran nothing');
    // The browser session is still open: the cross-origin sign-out was refused.
    const s = await fromPage(page, 'session');
    assert.equal(s.status, 200);
  } finally {
    evil.close();
  }
  // What a browser would send from that page, sent by hand: refused by Origin even with a valid token.
  const invoke = '/console/api/functions/acme-orders/invoke';
  const json = { 'content-type': 'application/json', cookie };
  let r = await raw(
    'POST',
    invoke,
    { ...json, 'x-csrf-token': csrf, origin: 'http://127.0.0.1:1' },
    '{"id":"evil-2"}',
  );
  assert.equal(r.status, 403);
  assert.match(r.body, /CrossOriginRequestRefused/);
  r = await raw(
    'POST',
    invoke,
    { ...json, 'x-csrf-token': csrf, 'sec-fetch-site': 'same-site' },
    '{"id":"evil-3"}',
  );
  assert.equal(r.status, 403);
  // From the console's own page, but without (or with another session's) token.
  const own = await fromPage(page, 'functions/acme-orders/invoke', '{"id":"evil-4"}', {
    'content-type': 'application/json',
  });
  assert.equal(own.status, 403);
  assert.equal(own.body.error?.type, 'InvalidCsrfToken');
  const other = await fromPage(page, 'functions/acme-orders/invoke', '{"id":"evil-5"}', {
    'content-type': 'application/json',
    'x-csrf-token': csrf,
  });
  assert.equal(other.status, 403);
  // A form-encoded body (what a cross-site form can send without a preflight) is refused too.
  r = await raw(
    'POST',
    invoke,
    { cookie, 'content-type': 'application/x-www-form-urlencoded', 'x-csrf-token': csrf },
    'a=b',
  );
  assert.equal(r.status, 415);
  assert.equal(await logCount('acme', 'acme-orders', 'evil-'), 0);
});

test('signing out ends the session on the server: the old cookie is refused afterwards', {
  skip,
}, async () => {
  const { context, page } = await signedIn();
  const [cookie] = await context.cookies();
  await page.click('#signout');
  await page.waitForSelector('body[data-ready="signin"]');
  assert.deepEqual(await context.cookies(), [], 'the cookie is cleared');
  const r = await raw('GET', '/console/api/functions', { cookie: `kindling_console=${cookie!.value}` });
  assert.equal(r.status, 401);
  assert.match(r.body, /NotSignedIn/);
  await context.close();
});

test('a session ends when its key is deleted or its tenant is deleted', { skip }, async () => {
  const tenants = p.platform.tenants;
  const t = await tenants.create('shortlived');
  const k1 = await tenants.createKey(t.id);
  const k2 = await tenants.createKey(t.id);
  const s1 = await session(k1);
  const s2 = await session(k2);
  assert.equal((await raw('GET', '/console/api/functions', { cookie: s1.cookie })).status, 200);
  await tenants.deleteKey(k1.accessKeyId);
  assert.equal(
    (await raw('GET', '/console/api/functions', { cookie: s1.cookie })).status,
    401,
    'rotated key',
  );
  assert.equal((await raw('GET', '/console/api/functions', { cookie: s2.cookie })).status, 200);
  await tenants.delete(t.id);
  assert.equal(
    (await raw('GET', '/console/api/functions', { cookie: s2.cookie })).status,
    401,
    'deleted tenant',
  );
  // A function's short-lived session key cannot sign in.
  const fnKey = await tenants.createSessionKey((await tenants.get('acme'))!.id, 60_000);
  const r = await raw(
    'POST',
    '/console/api/signin',
    { 'content-type': 'application/json' },
    JSON.stringify(fnKey),
  );
  assert.equal(r.status, 400, 'unknown fields (sessionToken, ...) are refused by name');
  const r2 = await raw(
    'POST',
    '/console/api/signin',
    { 'content-type': 'application/json' },
    JSON.stringify({ accessKeyId: fnKey.accessKeyId, secretAccessKey: fnKey.secretAccessKey }),
  );
  assert.equal(r2.status, 401);
});

test('every answer carries a strict CSP, nosniff and no framing; no page broke the CSP', {
  skip,
}, async () => {
  for (const path of [
    '/console',
    '/console/app.js',
    '/console/api/session',
    '/console/nope',
    '/console/../console/app.js',
  ]) {
    const r = await raw('GET', path);
    const csp = String(r.headers['content-security-policy']);
    assert.match(csp, /script-src 'self'/, path);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
    assert.match(csp, /frame-ancestors 'none'/, path);
    assert.equal(r.headers['x-content-type-options'], 'nosniff', path);
  }
  assert.equal((await raw('GET', '/console/api/session')).status, 401);
  assert.equal((await raw('GET', '/console/nope')).status, 404);
  assert.equal((await raw('DELETE', '/console/api/functions', {})).status, 401);
  assert.deepEqual(violations, []);
});

test('a SigV4-signed request to /console/... is S3’s: a bucket named console still works', {
  skip,
}, async () => {
  const s3 = new S3Client({ ...sdkConfig(p), forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: 'console' }));
  await s3.send(new PutObjectCommand({ Bucket: 'console', Key: 'app.js', Body: 'mine' }));
  const got = await s3.send(new GetObjectCommand({ Bucket: 'console', Key: 'app.js' }));
  assert.equal(await got.Body!.transformToString(), 'mine');
  s3.destroy();
});

test('oversized and hostile input is refused with a 4xx, never a server error', { skip }, async () => {
  const big = JSON.stringify({ accessKeyId: 'A', secretAccessKey: 'x'.repeat(10_000) });
  const r = await raw('POST', '/console/api/signin', { 'content-type': 'application/json' }, big);
  assert.equal(r.status, 413);
  const { cookie } = await session(acme.credentials);
  for (const path of [
    `/console/api/functions/${'a'.repeat(300)}`,
    '/console/api/functions/%2e%2e',
    '/console/api/functions/..%2f..%2fetc%2fpasswd/logs',
    '/console/api/functions/acme-hello/logs?after=-1',
    '/console/api/functions/acme-hello/logs?limit=100000',
    '/console/api/billing?hours=1e9',
    '/console/api/buckets/..%2facme-uploads/objects',
    '/console/api/functions/%zz',
  ]) {
    const a = await raw('GET', path, { cookie });
    assert.ok(a.status >= 400 && a.status < 500, `${path}: ${a.status} ${a.body}`);
    assert.match(a.body, /"error"/, path);
  }
});
