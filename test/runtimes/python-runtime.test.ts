// The Python runtime inside real bubblewrap sandboxes: handlers in modules and packages, Lambda's context,
// logs, and every bad input the issue lists (syntax and import errors, a handler that is missing or not
// callable, an answer that is not JSON, a handler that raises, times out, prints without end or exits).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { hostPython } from '../../src/runtimes/python/interpreter.js';
import type { FunctionVersionSpec } from '../../src/worker/types.js';
import { type Harness, harness, invoke, json, spec, writeCode } from '../worker/helpers.js';

let h: Harness;
before(async () => {
  h = await harness();
});
after(async () => {
  await h.close();
});

/** A python3.12 function from files; handler `app.handler` unless given. */
function py(files: Record<string, string>, over: Partial<FunctionVersionSpec> = {}): FunctionVersionSpec {
  return spec(writeCode(h, files), { runtime: 'python3.12', handler: 'app.handler', ...over });
}

/** A function whose app.py is `body`. */
const app = (body: string, over: Partial<FunctionVersionSpec> = {}) => py({ 'app.py': body }, over);

type ErrorBody = { errorMessage: string; errorType: string; requestId?: string; stackTrace?: string[] };

test('a module.function handler answers its JSON result', async () => {
  const r = await invoke(h, app('def handler(event, context):\n    return {"got": event["x"] * 2}\n'), {
    x: 21,
  });
  assert.equal(r.functionError, undefined, r.payload.toString());
  assert.deepEqual(json(r), { got: 42 });
});

test('handlers in packages and nested modules load, by slashes or dots', async () => {
  const files = {
    'pkg/__init__.py': '',
    'pkg/sub/__init__.py': 'LEVEL = "sub"\n',
    'pkg/sub/mod.py': 'from . import LEVEL\ndef fn(event, context):\n    return [LEVEL, __name__]\n',
  };
  for (const handler of ['pkg/sub/mod.fn', 'pkg.sub.mod.fn']) {
    const r = await invoke(h, py(files, { handler }));
    assert.equal(r.functionError, undefined, `${handler}: ${r.payload.toString()}`);
    assert.deepEqual(json(r), ['sub', 'pkg.sub.mod'], handler);
  }
});

test("the context object carries Lambda's fields and methods", async () => {
  const s = app(
    `def handler(event, c):
    return {"id": c.aws_request_id, "name": c.function_name, "ver": c.function_version,
            "mem": c.memory_limit_in_mb, "arn": c.invoked_function_arn, "group": c.log_group_name,
            "stream": c.log_stream_name, "remaining": c.get_remaining_time_in_millis(),
            "custom": c.client_context.custom, "identity": c.identity.cognito_identity_id}
`,
  );
  const cc = Buffer.from(JSON.stringify({ custom: { k: 'v' } })).toString('base64');
  const v = json(await invoke(h, s, {}, { requestId: 'req-py-1', clientContext: cc })) as Record<
    string,
    unknown
  >;
  assert.equal(v.id, 'req-py-1');
  assert.equal(v.name, s.functionName);
  assert.equal(v.ver, '$LATEST');
  assert.equal(v.mem, '128');
  assert.equal(v.arn, s.functionArn);
  assert.equal(v.group, `/aws/lambda/${s.functionName}`);
  assert.match(String(v.stream), /^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]+$/);
  assert.ok(Number(v.remaining) > 0 && Number(v.remaining) <= 2000, String(v.remaining));
  assert.deepEqual(v.custom, { k: 'v' });
  assert.equal(v.identity, null);
});

test("the function's code comes first on sys.path, runs in /var/task, on the host's real Python", async () => {
  const s = app(
    `import os, sys
def handler(event, context):
    return {"path0": sys.path[0], "cwd": os.getcwd(), "version": "%d.%d.%d" % sys.version_info[:3],
            "root": os.environ["LAMBDA_TASK_ROOT"], "handler": os.environ["_HANDLER"],
            "exec": os.environ["AWS_EXECUTION_ENV"], "nobytecode": sys.dont_write_bytecode,
            "env_nobytecode": os.environ.get("PYTHONDONTWRITEBYTECODE"), "mine": os.environ.get("MY_VAR"),
            "runtime_dir": os.environ.get("LAMBDA_RUNTIME_DIR"),
            "kindling": sorted(k for k in os.environ if k.startswith("KINDLING_"))}
`,
    { environment: { MY_VAR: 'hello' } },
  );
  const v = json(await invoke(h, s)) as Record<string, unknown>;
  assert.equal(v.path0, '/var/task');
  assert.equal(v.cwd, '/var/task');
  assert.equal(v.root, '/var/task');
  assert.equal(v.version, hostPython()?.version);
  assert.equal(v.handler, 'app.handler');
  // The name the user asked for, as on Lambda; the real version is in INIT_START and GetFunction.
  assert.equal(v.exec, 'AWS_Lambda_python3.12');
  assert.equal(v.nobytecode, true);
  assert.equal(v.env_nobytecode, '1');
  assert.equal(v.mine, 'hello');
  assert.equal(v.runtime_dir, '/var/runtime');
  // The runtime's own plumbing is not part of the function's environment.
  assert.deepEqual(v.kindling, []);
});

test('the init log line names the interpreter that really runs, whatever python3.x was asked for', async () => {
  const real = execFileSync(hostPython()!.path, ['-c', 'import platform; print(platform.python_version())'], {
    encoding: 'utf8',
  }).trim();
  const r = await invoke(h, app('def handler(e, c):\n    return 1\n', { runtime: 'python3.9' }));
  assert.equal(r.functionError, undefined, r.payload.toString());
  assert.match(
    r.log,
    new RegExp(
      `^INIT_START Runtime Version: python:${real.replace(/\./g, '\\.')}\\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:python:${real.replace(/\./g, '\\.')}\\n`,
    ),
  );
});

test('packages shipped in the zip import before the runtime’s own, boto3 included', async () => {
  const s = py({
    'app.py': 'import boto3, vendored\ndef handler(e, c):\n    return [boto3.WHO, vendored.VALUE]\n',
    'boto3/__init__.py': 'WHO = "the zip\'s boto3"\n',
    'vendored/__init__.py': 'VALUE = 7\n',
  });
  const r = await invoke(h, s);
  assert.equal(r.functionError, undefined, r.payload.toString());
  assert.deepEqual(json(r), ["the zip's boto3", 7]);
});

test('boto3 is importable inside the sandbox, as on Lambda', async () => {
  const s = app(
    'import boto3, botocore\ndef handler(e, c):\n    return [boto3.__version__, botocore.__version__]\n',
  );
  const r = await invoke(h, s);
  assert.equal(r.functionError, undefined, r.payload.toString());
  const [b3, bc] = json(r) as string[];
  assert.match(String(b3), /^1\.\d+\.\d+/);
  assert.match(String(bc), /^1\.\d+\.\d+/);
});

test('print output and logging records land in their own request’s log, records tagged as Lambda tags them', async () => {
  const s = app(
    `import logging, sys
logger = logging.getLogger()
print("at init")
def handler(event, context):
    print("printed", event["n"])
    sys.stdout.buffer.write(b"bytes too\\n")
    print("to stderr", file=sys.stderr)
    print("no newline", end="")
    logger.info("hidden at Lambda's default level")
    logger.warning("warned %s", event["n"])
    logger.setLevel(logging.INFO)
    logger.info("shown once the level allows")
    logger.setLevel(logging.WARNING)
    return "ok"
`,
  );
  const r1 = await invoke(h, s, { n: 1 }, { requestId: 'req-log-1' });
  assert.equal(r1.functionError, undefined, r1.payload.toString());
  const [init, rest] = r1.log.split('START RequestId: req-log-1');
  assert.match(init!, /^at init$/m);
  assert.match(rest!, /^printed 1$/m);
  assert.match(rest!, /^no newline/m);
  assert.match(rest!, /^bytes too$/m);
  assert.match(rest!, /^to stderr$/m);
  assert.doesNotMatch(rest!, /hidden at Lambda's default level/);
  assert.match(rest!, /^\[WARNING\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\treq-log-1\twarned 1$/m);
  assert.match(rest!, /^\[INFO\]\t\S+\treq-log-1\tshown once the level allows$/m);
  assert.ok(rest!.indexOf('printed 1') < rest!.indexOf('END RequestId'));
  const r2 = await invoke(h, s, { n: 2 }, { requestId: 'req-log-2' });
  assert.doesNotMatch(r2.log, /at init|printed 1|req-log-1/);
  assert.match(r2.log, /\treq-log-2\twarned 2$/m);
});

test("a handler that raises answers Lambda's Python error body and logs the traceback", async () => {
  const s = app(
    `class PaymentDeclined(Exception):
    pass

def check(n):
    raise PaymentDeclined("card %d declined" % n)

def handler(event, context):
    check(event["n"])
`,
  );
  const r = await invoke(h, s, { n: 4 }, { requestId: 'req-raise-1' });
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'PaymentDeclined');
  const body = json(r) as ErrorBody;
  assert.equal(body.errorType, 'PaymentDeclined');
  assert.equal(body.errorMessage, 'card 4 declined');
  assert.equal(body.requestId, 'req-raise-1');
  assert.ok(Array.isArray(body.stackTrace) && body.stackTrace.length === 2, JSON.stringify(body.stackTrace));
  // The handler's frames only, in traceback's own format; none of the runtime's.
  assert.match(
    body.stackTrace![0]!,
    /^ {2}File "\/var\/task\/app\.py", line 8, in handler\n {4}check\(event\["n"\]\)\n$/,
  );
  assert.match(body.stackTrace![1]!, /line 5, in check/);
  assert.doesNotMatch(body.stackTrace!.join(''), /bootstrap\.py/);
  assert.match(
    r.log,
    /^\[ERROR\] PaymentDeclined: card 4 declined\rTraceback \(most recent call last\):\r {2}File "\/var\/task\/app\.py"/m,
  );
  // The environment stays warm after a handled error, as on Lambda.
  assert.equal((await invoke(h, s, { n: 5 })).errorType, 'PaymentDeclined');
});

test('a syntax error in the handler module is Runtime.UserCodeSyntaxError at init', async () => {
  const r = await invoke(h, app('def handler(event, context)\n    return 1\n'));
  assert.equal(r.errorType, 'Runtime.UserCodeSyntaxError');
  const body = json(r) as ErrorBody;
  assert.match(body.errorMessage, /^Syntax error in module 'app': .*\(app\.py, line 1\)$/);
  assert.equal(body.requestId, '');
  assert.match(body.stackTrace![0]!, /^ {2}File "\/var\/task\/app\.py" Line 1\n/);
  assert.match(r.log, /INIT_REPORT .*Error Type: Runtime\.UserCodeSyntaxError/);
});

test('an import the handler module cannot satisfy is Runtime.ImportModuleError', async () => {
  const r = await invoke(h, app('import requests_that_are_not_here\ndef handler(e, c):\n    return 1\n'));
  assert.equal(r.errorType, 'Runtime.ImportModuleError');
  assert.equal(
    (json(r) as ErrorBody).errorMessage,
    "Unable to import module 'app': No module named 'requests_that_are_not_here'",
  );
});

test('a handler naming a module the zip lacks is Runtime.ImportModuleError', async () => {
  const r = await invoke(
    h,
    app('def handler(e, c):\n    return 1\n', { handler: 'lambda_function.lambda_handler' }),
  );
  assert.equal(r.errorType, 'Runtime.ImportModuleError');
  assert.equal(
    (json(r) as ErrorBody).errorMessage,
    "Unable to import module 'lambda_function': No module named 'lambda_function'",
  );
});

test('a handler function the module lacks is Runtime.HandlerNotFound', async () => {
  const r = await invoke(h, app('def other(e, c):\n    return 1\n'));
  assert.equal(r.errorType, 'Runtime.HandlerNotFound');
  assert.equal((json(r) as ErrorBody).errorMessage, "Handler 'handler' missing on module 'app'");
});

test('a handler name without a dot is Runtime.MalformedHandlerName', async () => {
  const r = await invoke(h, app('def handler(e, c):\n    return 1\n', { handler: 'app' }));
  assert.equal(r.errorType, 'Runtime.MalformedHandlerName');
  assert.match((json(r) as ErrorBody).errorMessage, /^Bad handler 'app': /);
});

test('a handler module named like a built-in module is Runtime.BuiltInModuleConflict', async () => {
  const r = await invoke(h, app('def handler(e, c):\n    return 1\n', { handler: 'sys.handler' }));
  assert.equal(r.errorType, 'Runtime.BuiltInModuleConflict');
});

test('an exception raised while the module initialises fails init with its own type', async () => {
  const r = await invoke(h, app('raise RuntimeError("no config")\ndef handler(e, c):\n    return 1\n'));
  assert.equal(r.errorType, 'RuntimeError');
  const body = json(r) as ErrorBody;
  assert.equal(body.errorMessage, 'no config');
  assert.match(body.stackTrace!.join(''), /app\.py", line 1, in <module>/);
});

test('a handler that is not callable fails each invoke with TypeError, as on Lambda', async () => {
  const s = app('handler = 42\n');
  const r = await invoke(h, s);
  assert.equal(r.errorType, 'TypeError');
  assert.equal((json(r) as ErrorBody).errorMessage, "'int' object is not callable");
});

test('a result that is not JSON-serialisable is Runtime.MarshalError', async () => {
  const r = await invoke(h, app('def handler(e, c):\n    return {"s": {1, 2}}\n'));
  assert.equal(r.errorType, 'Runtime.MarshalError');
  assert.equal(
    (json(r) as ErrorBody).errorMessage,
    'Unable to marshal response: Object of type set is not JSON serializable',
  );
});

test('Decimal results are numbers, bytes are answered raw, None is null', async () => {
  const s = app(
    'from decimal import Decimal\ndef handler(e, c):\n    return {"d": Decimal("2"), "f": Decimal("1.5")} if e["k"] == "d" else (b"raw" if e["k"] == "b" else None)\n',
  );
  assert.deepEqual(json(await invoke(h, s, { k: 'd' })), { d: 2, f: 1.5 });
  assert.equal((await invoke(h, s, { k: 'b' })).payload.toString(), 'raw');
  assert.equal((await invoke(h, s, { k: 'n' })).payload.toString(), 'null');
});

test('an answer over 6 MB is Function.ResponseSizeTooLarge, and the environment keeps serving', async () => {
  const s = app('def handler(e, c):\n    return "x" * (7 * 1024 * 1024) if e.get("big") else "small"\n');
  const r = await invoke(h, s, { big: true });
  assert.equal(r.errorType, 'Function.ResponseSizeTooLarge');
  assert.match((json(r) as ErrorBody).errorMessage, /Response payload size exceeded/);
  const ok = await invoke(h, s, {});
  assert.equal(ok.start, 'warm');
  assert.equal(json(ok), 'small');
});

test('a handler past its timeout answers Task timed out, and the next call gets a healthy environment', async () => {
  const s = app(
    'import time\ndef handler(e, c):\n    if e.get("sleep"):\n        time.sleep(30)\n    return "awake"\n',
    {
      timeoutSec: 1,
    },
  );
  const r = await invoke(h, s, { sleep: true });
  assert.equal(r.errorType, 'Sandbox.Timedout');
  assert.match(r.log, /Task timed out after 1\.00 seconds/);
  const next = await invoke(h, s, {});
  assert.equal(next.functionError, undefined, next.payload.toString());
  assert.equal(json(next), 'awake');
});

test('a handler that prints without end gets its answer; the log is capped', async () => {
  const s = app(
    'def handler(e, c):\n    for i in range(40000):\n        print("line %06d " % i + "y" * 100)\n    print("z" * (1024 * 1024))\n    return "done"\n',
    { timeoutSec: 30 },
  );
  const r = await invoke(h, s);
  assert.equal(r.functionError, undefined, r.payload.toString());
  assert.equal(json(r), 'done');
  assert.ok(r.log.length < 1.5 * 1024 * 1024, `log of ${r.log.length} chars`);
  assert.match(r.log, /^line 000000 y+$/m);
  assert.match(r.log, /\[log truncated\]/);
  assert.match(r.log, /^END RequestId/m);
});

test('sys.exit in a handler is Runtime.ExitError; the next call gets a fresh environment', async () => {
  const s = app(
    'import sys\ndef handler(e, c):\n    if e.get("exit"):\n        sys.exit(3)\n    return "alive"\n',
  );
  const r = await invoke(h, s, { exit: true });
  assert.equal(r.errorType, 'Runtime.ExitError');
  assert.match((json(r) as ErrorBody).errorMessage, /Runtime exited with error: exit status 3/);
  const next = await invoke(h, s, {});
  // A new environment: from the pool when its refill (a clone, quick) was done by then, else started.
  assert.notEqual(next.start, 'warm');
  assert.equal(json(next), 'alive');
});

test('/var/task refuses writes after binding; importing code from it leaves nothing behind there', async () => {
  const s = py({
    'app.py': `import os, helper
def handler(e, c):
    try:
        open("/var/task/new.txt", "w").write("x")
        wrote = True
    except OSError as err:
        wrote = err.strerror
    return {"wrote": wrote, "entries": sorted(os.listdir("/var/task")), "helper": helper.X}
`,
    'helper.py': 'X = 1\n',
  });
  const v = json(await invoke(h, s)) as { wrote: unknown; entries: string[]; helper: number };
  assert.notEqual(v.wrote, true);
  assert.deepEqual(v.entries, ['app.py', 'helper.py']);
  assert.equal(v.helper, 1);
});

test('module state stays warm between invocations and credentials reach os.environ per invocation', async () => {
  const s = app(
    'import os\ncount = 0\ndef handler(e, c):\n    global count\n    count += 1\n    return [count, os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SESSION_TOKEN")]\n',
  );
  const creds = (id: string) => ({ accessKeyId: id, secretAccessKey: 'secret', sessionToken: `tok-${id}` });
  assert.deepEqual(json(await invoke(h, s, {}, { credentials: creds('AKIA1') })), [1, 'AKIA1', 'tok-AKIA1']);
  assert.deepEqual(json(await invoke(h, s, {}, { credentials: creds('AKIA2') })), [2, 'AKIA2', 'tok-AKIA2']);
});

test('the function reaches the platform API through the runtime’s own relay at AWS_ENDPOINT_URL', async () => {
  const s = app(
    `import json, os, urllib.request
def handler(e, c):
    with urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/from-python?x=1", timeout=5) as r:
        return json.loads(r.read())
`,
  );
  const r = await invoke(h, s);
  assert.equal(r.functionError, undefined, r.payload.toString());
  assert.deepEqual(json(r), { via: 'unix-socket', url: '/from-python?x=1' });
  assert.ok(h.apiHits.includes('GET /from-python?x=1'));
});

test('python3.12 answers non-ASCII characters as they are, the other names escape them (as Lambda does)', async () => {
  const files = { 'app.py': 'def handler(e, c):\n    return {"word": "café"}\n' };
  assert.equal((await invoke(h, py(files))).payload.toString('utf8'), '{"word": "café"}');
  assert.equal(
    (await invoke(h, py(files, { runtime: 'python3.11' }))).payload.toString('utf8'),
    '{"word": "caf\\u00e9"}',
  );
});

test('a 5 MB event arrives whole and a 5 MB answer comes back whole', async () => {
  const s = app('def handler(e, c):\n    return {"n": len(e["s"]), "echo": e["s"]}\n', {
    timeoutSec: 30,
  });
  const big = 'y'.repeat(5 * 1024 * 1024 - 100);
  for (let i = 0; i < 2; i++) {
    const r = await invoke(h, s, { s: big });
    assert.equal(r.functionError, undefined, r.payload.subarray(0, 500).toString());
    const v = json(r) as { n: number; echo: string };
    assert.equal(v.n, big.length);
    assert.equal(v.echo, big);
  }
});
