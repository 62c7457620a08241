// The custom runtimes (provided.al2023, provided.al2) inside real bubblewrap sandboxes: bootstraps written
// as Lambda's tutorial writes them (bash and curl), a compiled C binary, and the Runtime API's answers to
// every misbehaviour the issue lists, as a Lambda user sees them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FunctionVersionSpec } from '../../src/worker/types.js';
import { type Harness, harness, invoke, json, spec, writeCode } from '../worker/helpers.js';

let h: Harness;
before(async () => {
  h = await harness();
});
after(async () => {
  await h.close();
});

/** A provided.al2023 function whose package holds these files; `bootstrap` is made executable. */
function provided(
  files: Record<string, string>,
  over: Partial<FunctionVersionSpec> = {},
  executable = true,
): FunctionVersionSpec {
  const dir = writeCode(h, files);
  const boot = path.join(dir, 'bootstrap');
  if (executable && fs.existsSync(boot)) fs.chmodSync(boot, 0o755);
  return spec(dir, { runtime: 'provided.al2023', handler: 'function.handler', ...over });
}

const API = 'http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime';

/** A bash bootstrap: `$ID` and `$EV` are the invocation's; `body` answers it (curl is the HTTP client). */
function bashLoop(body: string, init = ''): string {
  return `#!/bin/bash
set -euo pipefail
${init}
while true; do
  HEADERS="$(mktemp)"
  EV=$(curl -sS -D "$HEADERS" "${API}/invocation/next")
  ID=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
${body}
done
`;
}

// ---- clients nobody here wrote ----

test("a bash bootstrap using curl, as in Lambda's tutorial, serves invocations; its output is their log", async () => {
  // The tutorial's shape: the handler is a shell function in <file>.sh named by _HANDLER.
  const s = provided({
    'function.sh':
      'handler () { EVENT_DATA=$1; echo "handling $EVENT_DATA" 1>&2; echo "{\\"got\\":$EVENT_DATA}"; }\n',
    bootstrap: bashLoop(
      `  RESPONSE=$($(echo "$_HANDLER" | cut -d. -f2) "$EV")
  curl -sS -o /dev/null "${API}/invocation/$ID/response" -d "$RESPONSE"`,
      'source "$LAMBDA_TASK_ROOT/$(echo "$_HANDLER" | cut -d. -f1).sh"\necho "initialised"',
    ),
  });
  const first = await invoke(h, s, { n: 1 });
  assert.equal(first.functionError, undefined, first.payload.toString());
  assert.deepEqual(json(first), { got: { n: 1 } });
  assert.match(first.log, /initialised\n[\s\S]*START RequestId/);
  assert.match(first.log, /handling \{"n":1\}/);
  const second = await invoke(h, s, { n: 2 });
  assert.deepEqual(json(second), { got: { n: 2 } });
  assert.equal(second.start, 'warm');
});

/** A Lambda runtime in C over plain sockets (one connection per request), compiled by the test. */
const C_BOOTSTRAP = String.raw`
#define _GNU_SOURCE
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static char *exchange(const char *req, size_t reqlen, size_t *outlen) {
  char host[64]; int port;
  if (sscanf(getenv("AWS_LAMBDA_RUNTIME_API"), "%63[^:]:%d", host, &port) != 2) exit(2);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET; a.sin_port = htons(port); inet_pton(AF_INET, host, &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) exit(3);
  for (size_t off = 0; off < reqlen;) { ssize_t w = write(fd, req + off, reqlen - off); if (w <= 0) exit(4); off += w; }
  size_t cap = 1 << 16, len = 0; char *buf = malloc(cap);
  for (;;) {
    if (len + 4096 > cap) buf = realloc(buf, cap *= 2);
    ssize_t n = read(fd, buf + len, cap - len - 1);
    if (n <= 0) break;
    len += n;
  }
  close(fd);
  buf[len] = 0; *outlen = len;
  return buf;
}

int main(void) {
  const char *handler = getenv("_HANDLER");
  for (unsigned round = 1;; round++) {
    const char *get = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: rapi\r\nConnection: close\r\n\r\n";
    size_t len; char *resp = exchange(get, strlen(get), &len);
    char *body = strstr(resp, "\r\n\r\n"); if (!body) return 5; *body = 0; body += 4;
    char *id = strcasestr(resp, "Lambda-Runtime-Aws-Request-Id: "); if (!id) return 6;
    id += strlen("Lambda-Runtime-Aws-Request-Id: ");
    char rid[128]; sscanf(id, "%127[^\r\n]", rid);
    char *out = malloc(strlen(body) + 512);
    int n = sprintf(out, "{\"lang\":\"c\",\"round\":%u,\"handler\":\"%s\",\"requestId\":\"%s\",\"event\":%s}", round, handler, rid, body);
    char *req = malloc(n + 512);
    int m = sprintf(req, "POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: rapi\r\nConnection: close\r\n"
                         "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", rid, n, out);
    free(exchange(req, m, &len));
    free(req); free(out); free(resp);
  }
}
`;

test('a compiled C bootstrap serves invocations through its own HTTP client', async () => {
  const dir = writeCode(h, { 'main.c': C_BOOTSTRAP });
  execFileSync('cc', ['-O2', '-o', path.join(dir, 'bootstrap'), path.join(dir, 'main.c')]);
  const s = spec(dir, { runtime: 'provided.al2', handler: 'anything.goes' });
  const r1 = await invoke(h, s, { hello: 'world' }, { requestId: 'c-req-1' });
  assert.equal(r1.functionError, undefined, r1.payload.toString());
  assert.deepEqual(json(r1), {
    lang: 'c',
    round: 1,
    handler: 'anything.goes',
    requestId: 'c-req-1',
    event: { hello: 'world' },
  });
  const r2 = await invoke(h, s, [1, 2, 3]);
  assert.equal((json(r2) as { round: number }).round, 2);
});

/**
 * The npm aws-lambda-ric package (AWS's Node runtime interface client): its install builds aws-lambda-cpp and
 * curl from source (cmake, autoconf, automake, libtool, g++), so it is not a dependency of ours. Tests use an
 * installed copy: KINDLING_TEST_AWS_LAMBDA_RIC names its package dir (or it is resolvable from here).
 */
function findRic(): string | undefined {
  const given = process.env.KINDLING_TEST_AWS_LAMBDA_RIC;
  if (given !== undefined && given !== '') return given;
  try {
    return path.dirname(path.dirname(fileURLToPath(import.meta.resolve('aws-lambda-ric'))));
  } catch {
    return undefined;
  }
}
const ric = findRic();
const RIC_MISSING =
  'aws-lambda-ric is not installed (its npm install compiles aws-lambda-cpp and curl: needs cmake, autoconf, ' +
  'automake, libtool, g++); set KINDLING_TEST_AWS_LAMBDA_RIC to its package dir';

test("AWS's own runtime interface client (npm aws-lambda-ric, run with node as the bootstrap) serves a handler", {
  skip: ric === undefined || !fs.existsSync(path.join(ric, 'package.json')) ? RIC_MISSING : false,
}, async () => {
  const dir = writeCode(h, {
    bootstrap:
      '#!/bin/sh\nexec /usr/bin/node /var/task/node_modules/aws-lambda-ric/bin/index.mjs "$_HANDLER"\n',
    'index.mjs': `export const handler = async (event, context) => {
        console.log('handling', JSON.stringify(event));
        if (event.fail) throw new TypeError('asked to fail');
        return { ric: true, requestId: context.awsRequestId, arn: context.invokedFunctionArn, event };
      };`,
  });
  fs.chmodSync(path.join(dir, 'bootstrap'), 0o755);
  // What it runs from (its sources and the native client it built); not its 100+ MB of build deps.
  for (const part of ['package.json', 'bin', 'dist']) {
    fs.cpSync(path.join(ric!, part), path.join(dir, 'node_modules', 'aws-lambda-ric', part), {
      recursive: true,
    });
  }
  const s = spec(dir, { runtime: 'provided.al2023', handler: 'index.handler', timeoutSec: 10 });
  const ok = await invoke(h, s, { n: 1 }, { requestId: 'ric-req-1' });
  assert.equal(ok.functionError, undefined, ok.payload.toString() + ok.log);
  assert.deepEqual(json(ok), { ric: true, requestId: 'ric-req-1', arn: s.functionArn, event: { n: 1 } });
  assert.match(ok.log, /handling \{"n":1\}/);
  const bad = await invoke(h, s, { fail: true });
  assert.equal(bad.functionError, 'Unhandled');
  const body = json(bad) as { errorType: string; errorMessage: string };
  assert.equal(body.errorType, 'TypeError');
  assert.equal(body.errorMessage, 'asked to fail');
});

// ---- the Runtime API's headers and the bootstrap's environment ----

/** A Node bootstrap: `answer(event, headers)` returns { path, body, headers? } for the invocation. */
function nodeBootstrap(answer: string, init = ''): string {
  return `#!/usr/bin/node
const http = require('node:http');
const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const agent = new http.Agent({ keepAlive: true });
function call(method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path: '/2018-06-01/runtime' + path, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const answer = async (event, headers) => { ${answer} };
(async () => {
  ${init}
  for (;;) {
    const next = await call('GET', '/invocation/next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    const a = await answer(next.body, next.headers);
    await call('POST', '/invocation/' + id + '/' + (a.path ?? 'response'), a.body, a.headers ?? {});
  }
})();
`;
}

test("/next carries Lambda's headers: request id, deadline, function ARN, trace id, client context", async () => {
  const s = provided({ bootstrap: nodeBootstrap('return { body: JSON.stringify({ event, headers }) };') });
  const cc = Buffer.from(JSON.stringify({ custom: { k: 'v' }, env: { platform: 'test' } })).toString(
    'base64',
  );
  const before = Date.now();
  const r = await invoke(
    h,
    s,
    { x: 1 },
    {
      requestId: 'hdr-req-1',
      clientContext: cc,
      traceId: 'Root=1-5e1b4151-5ac6c58f5b5dae6a2c8f5a0e;Parent=53995c3f42cd8ad8;Sampled=1',
    },
  );
  assert.equal(r.functionError, undefined, r.payload.toString());
  const v = json(r) as { event: string; headers: Record<string, string> };
  assert.equal(v.event, '{"x":1}');
  assert.equal(v.headers['lambda-runtime-aws-request-id'], 'hdr-req-1');
  const deadline = Number(v.headers['lambda-runtime-deadline-ms']);
  assert.ok(deadline > before && deadline <= Date.now() + s.timeoutSec * 1000, String(deadline));
  assert.equal(v.headers['lambda-runtime-invoked-function-arn'], s.functionArn);
  assert.equal(
    v.headers['lambda-runtime-trace-id'],
    'Root=1-5e1b4151-5ac6c58f5b5dae6a2c8f5a0e;Parent=53995c3f42cd8ad8;Sampled=1',
  );
  // Lambda hands the client context over as JSON text.
  assert.deepEqual(JSON.parse(v.headers['lambda-runtime-client-context']!), {
    custom: { k: 'v' },
    env: { platform: 'test' },
  });
  assert.equal(v.headers['content-type'], 'application/json');
  // No Cognito identity was given: the header is left out, as Lambda leaves it out.
  assert.equal(v.headers['lambda-runtime-cognito-identity'], undefined);
});

test("the bootstrap runs in /var/task with Lambda's variables", async () => {
  const s = provided(
    {
      bootstrap: nodeBootstrap(
        `return { body: JSON.stringify({ cwd: process.cwd(), env: process.env, argv0: process.argv[1] }) };`,
      ),
    },
    { environment: { MY_VAR: 'mine' }, handler: 'my.handler' },
  );
  const r = await invoke(h, s);
  assert.equal(r.functionError, undefined, r.payload.toString());
  const v = json(r) as { cwd: string; env: Record<string, string>; argv0: string };
  assert.equal(v.cwd, '/var/task');
  assert.equal(v.argv0, '/var/task/bootstrap');
  assert.equal(v.env._HANDLER, 'my.handler');
  assert.equal(v.env.LAMBDA_TASK_ROOT, '/var/task');
  assert.equal(v.env.LAMBDA_RUNTIME_DIR, '/var/runtime');
  assert.match(v.env.AWS_LAMBDA_RUNTIME_API!, /^127\.0\.0\.1:\d+$/);
  assert.equal(v.env.AWS_LAMBDA_FUNCTION_NAME, s.functionName);
  assert.equal(v.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, '128');
  assert.equal(v.env.AWS_LAMBDA_FUNCTION_VERSION, '$LATEST');
  assert.equal(v.env.AWS_EXECUTION_ENV, 'AWS_Lambda_provided.al2023');
  assert.equal(v.env.MY_VAR, 'mine');
  // The Runtime API never shares the platform relay's port.
  assert.notEqual(v.env.AWS_LAMBDA_RUNTIME_API, new URL(v.env.AWS_ENDPOINT_URL!).host);
  for (const k of Object.keys(v.env)) assert.ok(!k.startsWith('KINDLING_'), k);
});

test("the bootstrap inherits no descriptor of the shim's: not the host's channel, not its sockets", async () => {
  // Listed before bash opens anything of its own beyond stdio and its script.
  const s = provided({
    bootstrap: `#!/bin/bash
ls -l /proc/$$/fd/ > /tmp/fdl
sed -n 's/.* \\([0-9]*\\) -> \\(.*\\)$/\\1->\\2/p' /tmp/fdl | tr '\\n' ' ' > /tmp/fds
${bashLoop(`  curl -sS -o /dev/null "${API}/invocation/$ID/response" --data-binary "\\"$(cat /tmp/fds)\\""`).replace('#!/bin/bash\n', '')}`,
  });
  const r = await invoke(h, s);
  assert.equal(r.functionError, undefined, r.payload.toString() + r.log);
  const fds = String(json(r)).trim().split(' ');
  const numbers = fds.map((f) => Number(f.split('->')[0])).sort((a, b) => a - b);
  // stdin (/dev/null), stdout and stderr (pipes to the shim), and bash's own script descriptor.
  assert.deepEqual(
    numbers.filter((n) => n !== 255),
    [0, 1, 2],
    fds.join(' '),
  );
  assert.ok(!fds.some((f) => f.includes('socket')), fds.join(' '));
});

test('the platform API relay answers a custom runtime at AWS_ENDPOINT_URL', async () => {
  const s = provided({
    bootstrap: bashLoop(`  OUT=$(curl -sS "$AWS_ENDPOINT_URL/from-provided")
  curl -sS -o /dev/null "${API}/invocation/$ID/response" -d "$OUT"`),
  });
  const r = await invoke(h, s);
  assert.equal(r.functionError, undefined, r.payload.toString());
  assert.deepEqual(json(r), { via: 'unix-socket', url: '/from-provided' });
  assert.ok(h.apiHits.includes('GET /from-provided'));
});

// ---- errors the runtime reports ----

test("a posted /error answers Unhandled with the runtime's error body and type", async () => {
  const s = provided({
    bootstrap:
      nodeBootstrap(`return { path: 'error', headers: { 'Lambda-Runtime-Function-Error-Type': 'Runtime.HandlerFailed' },
      body: JSON.stringify({ errorMessage: 'it broke', errorType: 'HandlerFailed', stackTrace: ['at x'] }) };`),
  });
  const r = await invoke(h, s);
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'Runtime.HandlerFailed');
  assert.deepEqual(json(r), { errorMessage: 'it broke', errorType: 'HandlerFailed', stackTrace: ['at x'] });
  // The environment stays warm after a handled error.
  const again = await invoke(h, s);
  assert.equal(again.start, 'warm');
});

test('an /error without the type header takes its type from the body', async () => {
  const s = provided({
    bootstrap: nodeBootstrap(
      `return { path: 'error', body: JSON.stringify({ errorMessage: 'm', errorType: 'MyError' }) };`,
    ),
  });
  const r = await invoke(h, s);
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'MyError');
});

test("malformed error JSON is answered 202 and passed through as posted, as Lambda's runtime API does", async () => {
  const s = provided({
    bootstrap: bashLoop(`  if [ -f /tmp/code ]; then
    curl -sS -o /dev/null "${API}/invocation/$ID/response" -d "\\"$(cat /tmp/code)\\""
  else
    curl -sS -o /tmp/body -w '%{http_code}' -H 'Lambda-Runtime-Function-Error-Type: Custom.Broken' \\
      "${API}/invocation/$ID/error" --data-binary '{"errorMessage": not json' > /tmp/code
  fi`),
  });
  const r = await invoke(h, s);
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'Custom.Broken');
  assert.equal(r.payload.toString(), '{"errorMessage": not json');
  const status = await invoke(h, s);
  assert.equal(json(status), '202');
});

test('/runtime/init/error fails init with its type and body, before any invocation', async () => {
  const s = provided({
    bootstrap: `#!/bin/bash
echo "starting"
curl -sS -H 'Lambda-Runtime-Function-Error-Type: Runtime.ConfigMissing' \\
  "${API}/init/error" -d '{"errorMessage":"no config","errorType":"ConfigMissing"}'
sleep 5
`,
  });
  const r = await invoke(h, s);
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'Runtime.ConfigMissing');
  assert.deepEqual(json(r), { errorMessage: 'no config', errorType: 'ConfigMissing' });
  assert.match(r.log, /starting/);
  assert.match(r.log, /INIT_REPORT .*Error Type: Runtime\.ConfigMissing/);
});

// ---- bad bootstraps ----

test('a package without a bootstrap fails init with Runtime.InvalidEntrypoint', async () => {
  const r = await invoke(h, provided({ 'function.sh': 'echo hi\n' }));
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'Runtime.InvalidEntrypoint');
  assert.match(
    (json(r) as { errorMessage: string }).errorMessage,
    /Couldn't find valid bootstrap\(s\): \[\/var\/task\/bootstrap/,
  );
});

test('a bootstrap that is not executable fails init with Runtime.InvalidEntrypoint', async () => {
  const r = await invoke(h, provided({ bootstrap: '#!/bin/sh\nexit 0\n' }, {}, false));
  assert.equal(r.errorType, 'Runtime.InvalidEntrypoint');
  assert.match((json(r) as { errorMessage: string }).errorMessage, /permission denied/);
});

test('a bootstrap whose interpreter does not exist fails init with Runtime.InvalidEntrypoint', async () => {
  const r = await invoke(h, provided({ bootstrap: '#!/no/such/interpreter\n' }));
  assert.equal(r.errorType, 'Runtime.InvalidEntrypoint');
  assert.match((json(r) as { errorMessage: string }).errorMessage, /No such file or directory/);
});

test('a bootstrap that exits at once fails init with Runtime.ExitError and its status', async () => {
  const r = await invoke(h, provided({ bootstrap: '#!/bin/sh\necho "bye" >&2\nexit 3\n' }));
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'Runtime.ExitError');
  assert.match(
    (json(r) as { errorMessage: string }).errorMessage,
    /Runtime exited with error: exit status 3/,
  );
  assert.match(r.log, /bye/);
});

test('a bootstrap that never calls /next times out in init', async () => {
  const s = provided({ bootstrap: '#!/bin/sh\necho "stuck" >&2\nexec sleep 600\n' }, { timeoutSec: 1 });
  const t0 = Date.now();
  const r = await invoke(h, s);
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'Sandbox.Timedout');
  // Lambda gives init 10 s whatever the function's timeout: generous bound only.
  assert.ok(Date.now() - t0 < 30_000);
  assert.match(r.log, /stuck/);
});

test('a bootstrap that exits between invocations: that invocation reports Runtime.ExitError, the next gets a fresh environment', async () => {
  // Serves one invocation, takes the second and exits without answering it.
  const s = provided({
    bootstrap: bashLoop(`  if [ -f /tmp/served ]; then exit 2; fi
  touch /tmp/served
  curl -sS -o /dev/null "${API}/invocation/$ID/response" -d '"served"'`),
  });
  const first = await invoke(h, s);
  assert.equal(json(first), 'served');
  const failed = await invoke(h, s);
  assert.equal(failed.functionError, 'Unhandled');
  assert.equal(failed.errorType, 'Runtime.ExitError');
  assert.match((json(failed) as { errorMessage: string }).errorMessage, /exit status 2/);
  const fresh = await invoke(h, s);
  assert.equal(fresh.functionError, undefined, fresh.payload.toString());
  assert.equal(json(fresh), 'served');
  assert.notEqual(fresh.start, 'warm');
});

// ---- the Runtime API refuses what Lambda's refuses ----

test('a second /response for the same id is 403 InvalidStateTransition; one for another id is 400 InvalidRequestID', async () => {
  // The first invocation: a wrong id first (400), the right one (202), the right one again (403). The second
  // invocation answers what the runtime was told.
  const s = provided({
    bootstrap: bashLoop(`  if [ -f /tmp/log ]; then
    curl -sS -o /dev/null "${API}/invocation/$ID/response" --data-binary @/tmp/log
  else
    W=$(curl -sS -o /tmp/w -w '%{http_code}' "${API}/invocation/not-$ID/response" -d '"wrong"')
    R=$(curl -sS -o /tmp/r -w '%{http_code}' "${API}/invocation/$ID/response" -d '"first"')
    T=$(curl -sS -o /tmp/t -w '%{http_code}' "${API}/invocation/$ID/response" -d '"twice"')
    E=$(curl -sS -o /tmp/e -w '%{http_code}' "${API}/invocation/$ID/error" -d '{}')
    printf '{"wrong":[%s,%s],"right":[%s,%s],"twice":[%s,%s],"error":[%s,%s]}' "$W" "$(cat /tmp/w)" "$R" "$(cat /tmp/r)" "$T" "$(cat /tmp/t)" "$E" "$(cat /tmp/e)" > /tmp/log
  fi`),
  });
  const first = await invoke(h, s);
  assert.equal(first.functionError, undefined);
  assert.equal(json(first), 'first');
  const told = json(await invoke(h, s)) as Record<string, [number, { errorType?: string; status?: string }]>;
  assert.deepEqual(told.wrong, [400, { errorMessage: 'Invalid request ID', errorType: 'InvalidRequestID' }]);
  assert.deepEqual(told.right, [202, { status: 'OK' }]);
  assert.equal(told.twice?.[0], 403);
  assert.equal(told.twice?.[1].errorType, 'InvalidStateTransition');
  assert.equal(told.error?.[0], 403);
  assert.equal(told.error?.[1].errorType, 'InvalidStateTransition');
});

// curl asks `Expect: 100-continue` first (refused before the body is sent); without it the body arrives and is
// dropped; chunked, the limit is found while reading.
const SEVEN_MB = [
  ['', "-H 'Expect:'"],
  [' (Expect: 100-continue)', ''],
  [' (chunked)', "-H 'Transfer-Encoding: chunked'"],
] as const;
for (const [how, te] of SEVEN_MB) {
  test(`a 7 MB /response${how} is refused 413 and the invoke answers Function.ResponseSizeTooLarge`, async () => {
    const s = provided({
      bootstrap: bashLoop(`  if [ -f /tmp/code ]; then
    curl -sS -o /dev/null "${API}/invocation/$ID/response" -d "[$(cat /tmp/code),$(cat /tmp/body)]"
  else
    head -c 7340032 /dev/zero | tr '\\0' 'a' > /tmp/big
    curl -sS -o /tmp/body -w '%{http_code}' ${te} "${API}/invocation/$ID/response" --data-binary @/tmp/big > /tmp/code || echo 0 > /tmp/code
    rm -f /tmp/big
  fi`),
    });
    const r = await invoke(h, s);
    assert.equal(r.functionError, 'Unhandled');
    assert.equal(r.errorType, 'Function.ResponseSizeTooLarge');
    assert.deepEqual(json(r), {
      errorMessage: 'Response payload size exceeded maximum allowed payload size (6291556 bytes).',
      errorType: 'Function.ResponseSizeTooLarge',
    });
    // The runtime was told, and is still serving.
    const told = await invoke(h, s);
    assert.equal(told.functionError, undefined, told.payload.toString());
    assert.deepEqual(json(told), [
      413,
      {
        errorMessage: 'Exceeded maximum allowed payload size (6291556 bytes).',
        errorType: 'RequestEntityTooLarge',
      },
    ]);
  });
}

test('response streaming is refused, saying Kindling does not serve it yet', async () => {
  const s = provided({
    bootstrap: nodeBootstrap(
      `return { body: 'streamed', headers: { 'Lambda-Runtime-Function-Response-Mode': 'streaming' } };`,
    ),
  });
  const r = await invoke(h, s);
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'Runtime.InvalidResponseModeHeader');
  assert.match(
    (json(r) as { errorMessage: string }).errorMessage,
    /streaming .* not supported by Kindling yet/,
  );
});

test('malformed HTTP from the bootstrap is refused, and the Runtime API keeps serving', async () => {
  // Raw requests over fresh connections; the answers' status lines are the invocation's response.
  const s = provided({
    bootstrap: nodeBootstrap(
      `const net = require('node:net');
      const raw = (text) => new Promise((resolve) => {
        const c = net.connect(Number(port), host, () => c.end(text));
        let out = '';
        c.on('data', (d) => (out += d));
        c.on('close', () => resolve(out.split('\\r\\n')[0]));
        c.on('error', () => resolve('error'));
      });
      const base = '/2018-06-01/runtime/invocation/';
      const got = {
        both: await raw('POST ' + base + 'x/response HTTP/1.1\\r\\nContent-Length: 3\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\n'),
        badLength: await raw('POST ' + base + 'x/response HTTP/1.1\\r\\nContent-Length: 12abc\\r\\n\\r\\n'),
        hugeHead: await raw('GET ' + base + 'next HTTP/1.1\\r\\nX-Big: ' + 'a'.repeat(70000) + '\\r\\n\\r\\n'),
        badChunk: await raw('POST ' + base + 'x/response HTTP/1.1\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\nzz\\r\\n'),
        unknownPath: await raw('GET /2020-01-01/extension/register HTTP/1.1\\r\\nConnection: close\\r\\n\\r\\n'),
        wrongMethod: await raw('GET ' + base + 'x/response HTTP/1.1\\r\\nConnection: close\\r\\n\\r\\n'),
        notHttp: await raw('hello\\r\\n\\r\\n'),
      };
      return { body: JSON.stringify(got) };`,
    ),
  });
  const r = await invoke(h, s);
  assert.equal(r.functionError, undefined, r.payload.toString());
  assert.deepEqual(json(r), {
    both: 'HTTP/1.1 400 Bad Request',
    badLength: 'HTTP/1.1 400 Bad Request',
    hugeHead: 'HTTP/1.1 431 Request Header Fields Too Large',
    badChunk: 'HTTP/1.1 400 Bad Request',
    unknownPath: 'HTTP/1.1 404 Not Found',
    wrongMethod: 'HTTP/1.1 405 Method Not Allowed',
    notHttp: 'HTTP/1.1 400 Bad Request',
  });
  // Still serving the next invocation.
  assert.equal((await invoke(h, s)).functionError, undefined);
});

test('the shell tools a bootstrap script reaches for work in the sandbox (awk, sed, grep, mktemp, curl)', async () => {
  const s = provided({
    bootstrap:
      bashLoop(`  OUT=$(echo "$EV" | awk '{ print length($0) }'):$(echo abc | sed s/b/B/):$(echo xyz | grep -c y)
  curl -sS -o /dev/null "${API}/invocation/$ID/response" -d "\\"$OUT\\""`),
  });
  const r = await invoke(h, s, { k: 1 });
  assert.equal(r.functionError, undefined, r.payload.toString() + r.log);
  assert.equal(json(r), '7:aBc:1');
});
