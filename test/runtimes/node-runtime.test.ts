// The Node.js runtime inside real bubblewrap sandboxes: handler styles, Lambda's context, env vars, logs,
// init errors and handler failures, as a Lambda user sees them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fn, type Harness, harness, invoke, json, spec, writeCode } from '../worker/helpers.js';

let h: Harness;
before(async () => {
  h = await harness();
});
after(async () => {
  await h.close();
});

test('a CommonJS handler (index.js without type:module) answers its JSON result', async () => {
  const s = spec(writeCode(h, { 'index.js': 'exports.handler = async (event) => ({ got: event.x * 2 });' }));
  const r = await invoke(h, s, { x: 21 });
  assert.equal(r.functionError, undefined, r.payload.toString());
  assert.deepEqual(json(r), { got: 42 });
});

test('an ES module handler in a .mjs file answers', async () => {
  const r = await invoke(h, fn(h, 'export const handler = async (e) => ({ esm: true, e });'), { a: 1 });
  assert.deepEqual(json(r), { esm: true, e: { a: 1 } });
});

test('a .js handler under package.json type:module loads as ESM, from a nested dir', async () => {
  const s = spec(
    writeCode(h, {
      'package.json': '{"type":"module"}',
      'src/app.js': 'export const handler = async () => typeof require;',
    }),
    { handler: 'src/app.handler' },
  );
  const r = await invoke(h, s);
  assert.equal(r.functionError, undefined, r.payload.toString());
  assert.equal(json(r), 'undefined');
});

test('a callback-style handler (3 arguments) answers through the callback', async () => {
  const s = spec(
    writeCode(h, {
      'index.js':
        'exports.handler = (event, context, cb) => { setTimeout(() => cb(null, { cb: event.n }), 5); };',
    }),
  );
  assert.deepEqual(json(await invoke(h, s, { n: 7 })), { cb: 7 });
});

test('a handler returning a plain value (not a promise) answers it; undefined answers null', async () => {
  const s = spec(writeCode(h, { 'index.js': 'exports.handler = (e) => e.v;' }));
  assert.deepEqual(json(await invoke(h, s, { v: [1, 'two'] })), [1, 'two']);
  assert.equal((await invoke(h, s, {})).payload.toString(), 'null');
});

test("the context carries Lambda's fields", async () => {
  const s = fn(
    h,
    `export const handler = async (e, c) => ({ id: c.awsRequestId, name: c.functionName, ver: c.functionVersion,
      mem: c.memoryLimitInMB, arn: c.invokedFunctionArn, group: c.logGroupName, stream: c.logStreamName,
      remaining: c.getRemainingTimeInMillis(), waits: c.callbackWaitsForEmptyEventLoop, cc: c.clientContext });`,
  );
  const cc = Buffer.from(JSON.stringify({ custom: { k: 'v' } })).toString('base64');
  const r = await invoke(h, s, {}, { requestId: 'req-ctx-1', clientContext: cc });
  const v = json(r) as Record<string, unknown>;
  assert.equal(v.id, 'req-ctx-1');
  assert.equal(v.name, s.functionName);
  assert.equal(v.ver, '$LATEST');
  assert.equal(v.mem, '128');
  assert.equal(v.arn, s.functionArn);
  assert.equal(v.group, `/aws/lambda/${s.functionName}`);
  assert.match(String(v.stream), /^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]+$/);
  assert.ok(Number(v.remaining) > 0 && Number(v.remaining) <= 2000);
  assert.equal(v.waits, true);
  assert.deepEqual(v.cc, { custom: { k: 'v' } });
});

test("the function sees its own variables and Lambda's reserved ones", async () => {
  const s = fn(h, 'export const handler = async () => process.env;', { environment: { MY_VAR: 'hello' } });
  const r = await invoke(
    h,
    s,
    {},
    { credentials: { accessKeyId: 'AKIDX', secretAccessKey: 'sek', sessionToken: 'tok' } },
  );
  const env = json(r) as Record<string, string>;
  assert.equal(env.MY_VAR, 'hello');
  assert.equal(env.AWS_LAMBDA_FUNCTION_NAME, s.functionName);
  assert.equal(env.AWS_LAMBDA_FUNCTION_VERSION, '$LATEST');
  assert.equal(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, '128');
  assert.equal(env.AWS_LAMBDA_LOG_GROUP_NAME, `/aws/lambda/${s.functionName}`);
  assert.ok(env.AWS_LAMBDA_LOG_STREAM_NAME);
  assert.equal(env.LAMBDA_TASK_ROOT, '/var/task');
  assert.equal(env.LAMBDA_RUNTIME_DIR, '/var/runtime');
  assert.equal(env.AWS_REGION, 'us-east-1');
  assert.equal(env.AWS_DEFAULT_REGION, 'us-east-1');
  assert.equal(env.AWS_EXECUTION_ENV, 'AWS_Lambda_nodejs20.x');
  assert.equal(env.TZ, ':UTC');
  assert.equal(env._HANDLER, 'index.handler');
  assert.equal(env.AWS_ACCESS_KEY_ID, 'AKIDX');
  assert.equal(env.AWS_SECRET_ACCESS_KEY, 'sek');
  assert.equal(env.AWS_SESSION_TOKEN, 'tok');
  assert.equal(env.AWS_ENDPOINT_URL, 'http://127.0.0.1:9001');
  assert.ok(env.NODE_PATH?.includes('/var/runtime/node_modules'));
  assert.equal(env.KINDLING_API_SOCKET, undefined, 'no platform internals leak into the function env');
});

test('console output lands in the invocation log tagged with the request id, between START and END', async () => {
  const s = fn(
    h,
    "export const handler = async () => { console.log('hello', { a: 1 }); console.error('bad'); process.stdout.write('raw\\n'); return 1; };",
  );
  const r = await invoke(h, s, {}, { requestId: 'req-log-1' });
  const lines = r.log.split('\n');
  const start = lines.findIndex((l) => l.startsWith('START RequestId: req-log-1 Version: $LATEST'));
  const info = lines.findIndex((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z\treq-log-1\tINFO\thello { a: 1 }$/.test(l));
  const err = lines.findIndex((l) => /\treq-log-1\tERROR\tbad$/.test(l));
  const raw = lines.indexOf('raw');
  const end = lines.indexOf('END RequestId: req-log-1');
  const report = lines.findIndex((l) => l.startsWith('REPORT RequestId: req-log-1\tDuration: '));
  assert.ok(start >= 0 && start < info && info < err && err < raw && raw < end && end < report, r.log);
  assert.match(lines[report]!, /Billed Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB/);
});

test('REPORT has Init Duration on a cold start and not on a warm one; module state survives warm invokes', async () => {
  const s = fn(
    h,
    'let n = 0; const loadedAt = Date.now(); export const handler = async () => ({ n: ++n, loadedAt });',
  );
  const a = await invoke(h, s);
  const b = await invoke(h, s);
  const c = await invoke(h, s);
  assert.notEqual(a.start, 'warm');
  assert.equal(b.start, 'warm');
  assert.match(a.log, /Init Duration: [\d.]+ ms/);
  assert.doesNotMatch(b.log, /Init Duration/);
  const [va, vb, vc] = [a, b, c].map(json) as Array<{ n: number; loadedAt: number }>;
  assert.deepEqual([va!.n, vb!.n, vc!.n], [1, 2, 3]);
  assert.equal(va!.loadedAt, vc!.loadedAt);
});

test('a syntax error in the handler module answers Runtime.UserCodeSyntaxError', async () => {
  const r = await invoke(h, fn(h, 'export const handler = async () => { return 1 +; };'));
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'Runtime.UserCodeSyntaxError');
  assert.equal((json(r) as { errorType: string }).errorType, 'Runtime.UserCodeSyntaxError');
  const initReport = r.log.indexOf('INIT_REPORT Init Duration: ');
  assert.ok(initReport >= 0 && initReport < r.log.indexOf('START RequestId:'), r.log);
  assert.match(r.log, /Phase: init\tStatus: error\tError Type: Runtime.UserCodeSyntaxError/);
});

test('a missing handler file answers Runtime.ImportModuleError', async () => {
  const r = await invoke(h, spec(writeCode(h, { 'other.js': '' })));
  assert.equal(r.errorType, 'Runtime.ImportModuleError');
  assert.match((json(r) as { errorMessage: string }).errorMessage, /Cannot find module/);
});

test('a handler importing a missing package answers Runtime.ImportModuleError', async () => {
  const r = await invoke(h, fn(h, "import 'no-such-package-xyz'; export const handler = async () => 1;"));
  assert.equal(r.errorType, 'Runtime.ImportModuleError');
});

test('a module without the named export answers Runtime.HandlerNotFound', async () => {
  const r = await invoke(h, fn(h, 'export const other = async () => 1;'));
  assert.equal(r.errorType, 'Runtime.HandlerNotFound');
  assert.equal(
    (json(r) as { errorMessage: string }).errorMessage,
    'index.handler is undefined or not exported',
  );
});

test('an exception thrown during init answers that exception', async () => {
  const r = await invoke(h, fn(h, "throw new TypeError('init failed'); export const handler = 1;"));
  assert.equal(r.errorType, 'TypeError');
  assert.equal((json(r) as { errorMessage: string }).errorMessage, 'init failed');
});

test("a handler that throws answers Lambda's error shape with functionError Unhandled", async () => {
  const s = fn(
    h,
    "export const handler = async () => { class MyError extends Error { name = 'MyError' }; throw new MyError('boom'); };",
  );
  const r = await invoke(h, s);
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'MyError');
  const body = json(r) as { errorType: string; errorMessage: string; stackTrace: string[] };
  assert.equal(body.errorType, 'MyError');
  assert.equal(body.errorMessage, 'boom');
  assert.ok(Array.isArray(body.stackTrace) && body.stackTrace.length > 0);
  assert.match(r.log, /ERROR\tInvoke Error/);
  // A handled exception does not cost the warm environment.
  assert.equal((await invoke(h, s)).start, 'warm');
});

test('a handler whose promise rejects with a non-Error answers its value', async () => {
  const r = await invoke(h, fn(h, "export const handler = () => Promise.reject('nope');"));
  assert.equal(r.functionError, 'Unhandled');
  assert.deepEqual(json(r), { errorType: 'string', errorMessage: 'nope', stackTrace: [] });
});

test('a callback handler passing an error answers it', async () => {
  const s = spec(writeCode(h, { 'index.js': "exports.handler = (e, c, cb) => cb(new Error('cb failed'));" }));
  const r = await invoke(h, s);
  assert.equal(r.errorType, 'Error');
  assert.equal((json(r) as { errorMessage: string }).errorMessage, 'cb failed');
});

test('an unhandled rejection during an invoke fails it; the next invoke gets a healthy environment', async () => {
  const s = fn(
    h,
    "export const handler = async (e) => { if (e.bad) { Promise.reject(new Error('lost')); await new Promise((r) => setTimeout(r, 200)); } return 'fine'; };",
  );
  const r = await invoke(h, s, { bad: true });
  assert.equal(r.errorType, 'Runtime.UnhandledPromiseRejection');
  const next = await invoke(h, s, {});
  assert.equal(next.functionError, undefined);
  assert.equal(json(next), 'fine');
  assert.notEqual(next.start, 'warm', 'the failed environment was retired');
});

test('process.exit inside a handler answers Runtime.ExitError; the next invoke is healthy', async () => {
  const s = fn(h, 'export const handler = async (e) => { if (e.exit) process.exit(3); return "ok"; };');
  const r = await invoke(h, s, { exit: true }, { requestId: 'req-exit' });
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'Runtime.ExitError');
  assert.equal(
    (json(r) as { errorMessage: string }).errorMessage,
    'RequestId: req-exit Error: Runtime exited with error: exit status 3',
  );
  assert.equal(json(await invoke(h, s, {})), 'ok');
});

test("a handler that never resolves answers 'Task timed out after N.NN seconds' and the next call gets a healthy environment", async () => {
  const s = fn(h, 'export const handler = (e) => e.hang ? new Promise(() => {}) : "alive";', {
    timeoutSec: 1,
  });
  const r = await invoke(h, s, { hang: true }, { requestId: 'req-to' });
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'Sandbox.Timedout');
  const body = json(r) as { errorMessage: string; errorType: string };
  assert.match(body.errorMessage, /^\d{4}-\d\d-\d\dT[\d:.]+Z req-to Task timed out after 1\.00 seconds$/);
  assert.equal(body.errorType, 'Sandbox.Timedout');
  assert.match(r.log, /Status: timeout/);
  assert.equal(json(await invoke(h, s, {})), 'alive');
});

test('handlers can import the AWS SDK v3 as on nodejs20.x (ESM and CommonJS)', async () => {
  const esm = fn(
    h,
    "import { S3Client } from '@aws-sdk/client-s3'; export const handler = async () => typeof S3Client;",
  );
  const cjs = spec(
    writeCode(h, {
      'index.js':
        "const { SQSClient } = require('@aws-sdk/client-sqs'); exports.handler = async () => typeof SQSClient;",
    }),
  );
  assert.equal(json(await invoke(h, esm)), 'function');
  assert.equal(json(await invoke(h, cjs)), 'function');
});

test('AWS_ENDPOINT_URL reaches the platform API on its unix socket through the relay', async () => {
  const s = fn(
    h,
    'export const handler = async () => (await fetch(process.env.AWS_ENDPOINT_URL + "/probe?x=1")).json();',
  );
  const r = await invoke(h, s);
  assert.equal(r.functionError, undefined, r.payload.toString());
  assert.deepEqual(json(r), { via: 'unix-socket', url: '/probe?x=1' });
  assert.ok(h.apiHits.includes('GET /probe?x=1'));
});

test('a response over 6 MB answers Function.ResponseSizeTooLarge', async () => {
  const r = await invoke(h, fn(h, "export const handler = async () => 'x'.repeat(7 * 1024 * 1024);"));
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'Function.ResponseSizeTooLarge');
});

test('a function logging without end has its log capped, not the host memory', async () => {
  const r = await invoke(
    h,
    fn(
      h,
      "export const handler = async () => { const l = 'y'.repeat(1024); for (let i = 0; i < 4096; i++) console.log(l); return 'done'; };",
    ),
  );
  assert.equal(json(r), 'done');
  assert.ok(r.log.length < 1.2 * 1024 * 1024, `log length ${r.log.length}`);
  assert.match(r.log, /\[log truncated\]/);
  assert.match(r.log, /^REPORT RequestId: /m);
});

test('a callback answer waits for the event loop to empty, unless callbackWaitsForEmptyEventLoop is false', async () => {
  const waits = spec(
    writeCode(h, {
      'index.js': `exports.handler = (e, c, cb) => { c.callbackWaitsForEmptyEventLoop = e.wait;
        setTimeout(() => console.log('late timer ran'), 150); cb(null, 'answered'); };`,
    }),
  );
  const r = await invoke(h, waits, { wait: true });
  assert.equal(json(r), 'answered');
  assert.match(r.log, /late timer ran/);
  const quick = await invoke(h, waits, { wait: false });
  assert.equal(json(quick), 'answered');
  assert.doesNotMatch(quick.log.split('END RequestId')[0] ?? '', /late timer ran/);
});

test("the function runs as Lambda's sandbox user, known to os.userInfo()", async () => {
  const s = fn(
    h,
    "import os from 'node:os'; export const handler = async () => ({ u: os.userInfo().username, uid: process.getuid(), home: os.homedir() });",
  );
  assert.deepEqual(json(await invoke(h, s)), { u: 'sbx_user1051', uid: 993, home: '/tmp' });
});

test('a module calling process.exit during init answers Runtime.ExitError', async () => {
  const r = await invoke(
    h,
    fn(h, 'process.exit(2); export const handler = async () => 1;'),
    {},
    { requestId: 'req-init-exit' },
  );
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'Runtime.ExitError');
  assert.equal(
    (json(r) as { errorMessage: string }).errorMessage,
    'RequestId: req-init-exit Error: Runtime exited with error: exit status 2',
  );
});
