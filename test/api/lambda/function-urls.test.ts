// Function URLs end to end: the configuration operations through the unmodified AWS SDK, and plain HTTP
// requests to the URLs (fetch) delivered as payload 2.0 events, answered as Lambda shapes responses,
// with AWS_IAM auth, CORS, and the bad input around them.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  CreateFunctionUrlConfigCommand,
  DeleteFunctionCommand,
  DeleteFunctionUrlConfigCommand,
  GetFunctionUrlConfigCommand,
  LambdaClient,
  ListFunctionUrlConfigsCommand,
  UpdateFunctionUrlConfigCommand,
} from '@aws-sdk/client-lambda';
import { KindlingClient } from '../../../src/cli/client.js';
import { zipDirectory } from '../../../src/cli/deploy.js';
import { functionDir } from '../../cli/helpers.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';

/** The payload 2.0 event, as far as these tests read it. */
interface UrlEvent {
  version: string;
  routeKey: string;
  rawPath: string;
  rawQueryString: string;
  cookies?: string[];
  headers: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  requestContext: {
    apiId: string;
    domainName: string;
    domainPrefix: string;
    http: { method: string; path: string };
    authorizer?: { iam: { accessKey: string; accountId: string } };
  };
  body?: string;
  isBase64Encoded: boolean;
}

let p: TestPlatform;
let lambda: LambdaClient;
let owner: KindlingClient;

const ECHO_EVENT = `
exports.handler = async (event) => {
  const b = event.body ? JSON.parse(event.isBase64Encoded ? '{}' : event.body) : {};
  if (b.answer !== undefined) return b.answer;
  if (b.fail) throw new Error('boom');
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) };
};`;

async function createFn(name: string, code = ECHO_EVENT): Promise<void> {
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::000000000000:role/test',
      Code: { ZipFile: await zipDirectory(functionDir({ 'index.js': code })) },
    }),
  );
}

async function urlOf(name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const out = await lambda.send(
    new CreateFunctionUrlConfigCommand({ FunctionName: name, AuthType: 'NONE', ...extra }),
  );
  return out.FunctionUrl!;
}

const errName = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    return (e as { name: string }).name;
  }
  return 'no error';
};

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
  owner = new KindlingClient({
    endpoint: p.endpoint,
    region: p.region,
    credentials: p.credentials,
    dataDir: p.platform.config.dataDir,
  });
});

after(async () => {
  lambda.destroy();
  await p.close();
});

test('function URL configs are created, read, updated, listed and deleted through the SDK', async () => {
  await createFn('cfg');
  const made = await lambda.send(
    new CreateFunctionUrlConfigCommand({
      FunctionName: 'cfg',
      AuthType: 'NONE',
      Cors: { AllowOrigins: ['https://app.example'], AllowMethods: ['GET'] },
    }),
  );
  assert.match(made.FunctionUrl!, /\/lambda_url\/[a-z0-9]{32}\/$/);
  assert.equal(made.AuthType, 'NONE');
  assert.equal(
    await errName(lambda.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'cfg', AuthType: 'NONE' }))),
    'ResourceConflictException',
  );
  const got = await lambda.send(new GetFunctionUrlConfigCommand({ FunctionName: 'cfg' }));
  assert.equal(got.FunctionUrl, made.FunctionUrl);
  assert.deepEqual(got.Cors?.AllowOrigins, ['https://app.example']);
  assert.equal(got.InvokeMode, 'BUFFERED');
  const upd = await lambda.send(
    new UpdateFunctionUrlConfigCommand({ FunctionName: 'cfg', AuthType: 'AWS_IAM' }),
  );
  assert.equal(upd.AuthType, 'AWS_IAM');
  assert.equal(upd.FunctionUrl, made.FunctionUrl);
  const list = await lambda.send(new ListFunctionUrlConfigsCommand({ FunctionName: 'cfg' }));
  assert.equal(list.FunctionUrlConfigs?.length, 1);
  await lambda.send(new DeleteFunctionUrlConfigCommand({ FunctionName: 'cfg' }));
  assert.equal(
    await errName(lambda.send(new GetFunctionUrlConfigCommand({ FunctionName: 'cfg' }))),
    'ResourceNotFoundException',
  );
  // An InvokeMode Lambda does not know is refused, never stored and ignored (RESPONSE_STREAM: response-streaming.test.ts).
  assert.equal(
    await errName(
      lambda.send(
        new CreateFunctionUrlConfigCommand({
          FunctionName: 'cfg',
          AuthType: 'NONE',
          InvokeMode: 'STREAMING' as 'RESPONSE_STREAM',
        }),
      ),
    ),
    'ValidationException',
  );
  assert.equal(
    await errName(
      lambda.send(
        new CreateFunctionUrlConfigCommand({ FunctionName: 'cfg', AuthType: 'NONE', Qualifier: 'live' }),
      ),
    ),
    'ResourceNotFoundException',
  );
  assert.equal(
    await errName(
      lambda.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'nope', AuthType: 'NONE' })),
    ),
    'ResourceNotFoundException',
  );
  const res = await owner.signedFetch(
    'POST',
    '/2021-10-31/functions/cfg/url',
    { AuthType: 'NONE', Shiny: true },
    { service: 'lambda' },
  );
  assert.equal(res.status, 400);
  assert.match(await res.text(), /Shiny/);
});

test('a request to a URL arrives as a payload 2.0 event', async () => {
  await createFn('echo');
  const url = await urlOf('echo');
  const res = await fetch(`${url}hello/world?x=1&x=2&y=a%20b`, {
    headers: { cookie: 'a=1; b=2', 'x-custom': 'yes', authorization: 'Bearer app-token' },
  });
  assert.equal(res.status, 200);
  assert.ok(res.headers.get('x-amzn-requestid'));
  const e = (await res.json()) as UrlEvent;
  assert.equal(e.version, '2.0');
  assert.equal(e.routeKey, '$default');
  assert.equal(e.rawPath, '/hello/world');
  assert.equal(e.rawQueryString, 'x=1&x=2&y=a%20b');
  assert.deepEqual(e.queryStringParameters, { x: '1,2', y: 'a b' });
  assert.deepEqual(e.cookies, ['a=1', 'b=2']);
  assert.equal(e.headers['x-custom'], 'yes');
  // AuthType NONE: the Authorization header is the function's own.
  assert.equal(e.headers.authorization, 'Bearer app-token');
  assert.equal(e.headers.cookie, undefined);
  assert.equal(e.requestContext.http.method, 'GET');
  assert.equal(e.requestContext.http.path, '/hello/world');
  assert.equal(e.requestContext.apiId, /lambda_url\/([a-z0-9]{32})\//.exec(url)![1]);
  assert.equal(e.isBase64Encoded, false);
  assert.equal(e.headers['x-forwarded-proto'], 'http');
  assert.match(e.headers['x-forwarded-for'] ?? '', /127\.0\.0\.1/);
  // A JSON body is text; a binary one is base64.
  const post = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"k":1}',
  });
  const pe = (await post.json()) as UrlEvent;
  assert.equal(pe.body, '{"k":1}');
  assert.equal(pe.isBase64Encoded, false);
  const bin = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: Buffer.from([0, 1, 2, 255]),
  });
  const be = (await bin.json()) as UrlEvent;
  assert.equal(be.isBase64Encoded, true);
  assert.deepEqual([...Buffer.from(be.body ?? '', 'base64')], [0, 1, 2, 255]);
});

test('a URL is reached by host too (<url-id>.lambda-url.<domain>), the function seeing the whole path', async () => {
  await createFn('byhost');
  const url = await urlOf('byhost');
  const id = /lambda_url\/([a-z0-9]{32})\//.exec(url)![1]!;
  const port = Number(new URL(p.endpoint).port);
  const body = await new Promise<string>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/app/page?n=1',
        headers: { host: `${id}.lambda-url.localhost:${port}` },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    req.end();
  });
  const e = JSON.parse(body) as UrlEvent;
  assert.equal(e.rawPath, '/app/page');
  assert.equal(e.rawQueryString, 'n=1');
  assert.equal(e.requestContext.domainPrefix, id);
  assert.equal(e.requestContext.domainName, `${id}.lambda-url.localhost:${port}`);
});

test("the function's answer becomes the HTTP response as Lambda shapes it", async () => {
  await createFn('shapes');
  const url = await urlOf('shapes');
  const ask = (answer: unknown) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ answer }),
    });
  let res = await ask({
    statusCode: 201,
    headers: { 'X-Made': 'yes', 'content-type': 'text/plain' },
    cookies: ['s=1; Path=/', 't=2'],
    body: 'made',
  });
  assert.equal(res.status, 201);
  assert.equal(res.headers.get('x-made'), 'yes');
  assert.deepEqual(res.headers.getSetCookie(), ['s=1; Path=/', 't=2']);
  assert.equal(await res.text(), 'made');
  res = await ask('Hello, world!');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  assert.equal(await res.text(), '"Hello, world!"');
  res = await ask({ message: 'hi' });
  assert.deepEqual(await res.json(), { message: 'hi' });
  res = await ask({
    statusCode: 200,
    body: Buffer.from('binary!').toString('base64'),
    isBase64Encoded: true,
  });
  assert.equal(await res.text(), 'binary!');
  // A header named __proto__ is a header like any other (raw JSON: a literal would set a prototype).
  res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"answer":{"statusCode":200,"headers":{"__proto__":"proto","X-After":"yes"},"body":"ok"}}',
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('__proto__'), 'proto');
  assert.equal(res.headers.get('x-after'), 'yes');
  assert.equal(await res.text(), 'ok');
  // Not a valid response, or a function error: 502, as Lambda answers.
  for (const bad of [
    { statusCode: 'x' },
    { statusCode: 99 },
    { statusCode: 200, headers: { 'bad\nname': 'x' } },
    { statusCode: 200, headers: { a: 'x\r\ny: z' } },
  ]) {
    res = await ask(bad);
    assert.equal(res.status, 502, JSON.stringify(bad));
  }
  res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"fail":true}',
  });
  assert.equal(res.status, 502);
  assert.deepEqual(await res.json(), { Message: 'Internal Server Error' });
});

test('AWS_IAM URLs answer only requests signed by the owning tenant', async () => {
  await createFn('private');
  const url = await urlOf('private', { AuthType: 'AWS_IAM' });
  const path = new URL(url).pathname;
  assert.equal((await fetch(url)).status, 403);
  assert.equal((await fetch(url, { headers: { authorization: 'Bearer x' } })).status, 403);
  const signed = await owner.signedFetch('GET', `${path}x?q=1`, undefined, { service: 'lambda' });
  assert.equal(signed.status, 200, await signed.clone().text());
  const e = (await signed.json()) as UrlEvent;
  assert.equal(e.requestContext.authorizer?.iam.accessKey, p.credentials.accessKeyId);
  // Signed for another service, or by another tenant: refused.
  assert.equal((await owner.signedFetch('GET', path, undefined, { service: 's3' })).status, 403);
  const made = await owner.signedFetch('POST', '/kindling/v1/tenants', { name: 'stranger' });
  const key = ((await made.json()) as { accessKey: { accessKeyId: string; secretAccessKey: string } })
    .accessKey;
  // Switched from NONE to AWS_IAM, the URL refuses unsigned requests at once (its config was cached).
  await createFn('switch');
  const open = await urlOf('switch');
  assert.equal((await fetch(open)).status, 200);
  await lambda.send(new UpdateFunctionUrlConfigCommand({ FunctionName: 'switch', AuthType: 'AWS_IAM' }));
  assert.equal((await fetch(open)).status, 403);
  const stranger = new KindlingClient({
    endpoint: p.endpoint,
    region: p.region,
    credentials: key,
    dataDir: p.platform.config.dataDir,
  });
  assert.equal((await stranger.signedFetch('GET', path, undefined, { service: 'lambda' })).status, 403);
});

test('CORS is answered by the URL: allowed origins get permission, others none', async () => {
  await createFn('cors');
  const url = await urlOf('cors', {
    Cors: {
      AllowOrigins: ['https://good.example'],
      AllowMethods: ['POST'],
      AllowHeaders: ['x-app'],
      MaxAge: 60,
      ExposeHeaders: ['x-made'],
    },
  });
  let res = await fetch(url, {
    method: 'OPTIONS',
    headers: { origin: 'https://good.example', 'access-control-request-method': 'POST' },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), 'https://good.example');
  assert.equal(res.headers.get('access-control-allow-methods'), 'POST');
  assert.equal(res.headers.get('access-control-max-age'), '60');
  res = await fetch(url, {
    method: 'OPTIONS',
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
  });
  assert.equal(res.headers.get('access-control-allow-origin'), null);
  res = await fetch(url, {
    method: 'OPTIONS',
    headers: { origin: 'https://good.example', 'access-control-request-method': 'DELETE' },
  });
  assert.equal(res.headers.get('access-control-allow-origin'), null);
  res = await fetch(url, { headers: { origin: 'https://good.example' } });
  assert.equal(res.headers.get('access-control-allow-origin'), 'https://good.example');
  assert.equal(res.headers.get('access-control-expose-headers'), 'x-made');
  res = await fetch(url, { headers: { origin: 'https://evil.example' } });
  assert.equal(res.headers.get('access-control-allow-origin'), null);
});

test('bad URL requests: unknown ids, deleted functions, oversized bodies', async () => {
  assert.equal((await fetch(`${p.endpoint}/lambda_url/${'a'.repeat(32)}/`)).status, 403);
  assert.equal((await fetch(`${p.endpoint}/lambda_url/short/`)).status, 404);
  await createFn('gone');
  const url = await urlOf('gone');
  // Methods a URL does not take, and headers past the server's limit.
  assert.equal((await fetch(url, { method: 'PROPFIND' })).status, 405);
  assert.equal((await fetch(url, { headers: { 'x-big': 'x'.repeat(20_000) } })).status, 431);
  assert.equal((await fetch(url, { method: 'POST', body: Buffer.alloc(6 * 1024 * 1024 + 1) })).status, 413);
  await lambda.send(new DeleteFunctionCommand({ FunctionName: 'gone' }));
  await createFn('gone');
  // The URL belonged to the deleted function, not to the name.
  assert.equal((await fetch(url)).status, 403);
});
