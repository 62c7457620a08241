// The `kindling` CLI end to end: the real command as a child process against a real platform (Lambda
// API, worker with sandboxes, telemetry).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { zipDirectory } from '../../src/cli/deploy.js';
import { sdkConfig, startPlatform, type TestPlatform, tempDir } from '../helpers/platform.js';
import { cleanEnv, cliEnv, ECHO_HANDLER, functionDir, isOneLine, runCli, spawnCli } from './helpers.js';

let p: TestPlatform;
let env: NodeJS.ProcessEnv;
let lambda: LambdaClient;

before(async () => {
  p = await startPlatform();
  env = cliEnv(p);
  lambda = new LambdaClient(sdkConfig(p));
  const r = await runCli(['deploy', functionDir({ 'index.js': ECHO_HANDLER }), '--name', 'echo'], env);
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  lambda.destroy();
  await p.close();
});

test('deploy of a directory creates the function and leaves it Active', async () => {
  const dir = functionDir({ 'index.js': 'exports.handler = async () => "made";' });
  const r = await runCli(
    ['deploy', dir, '--name', 'fresh', '--runtime', 'nodejs20.x', '--handler', 'index.handler'],
    env,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Created function fresh/);
  const c = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'fresh' }));
  assert.equal(c.State, 'Active');
});

test('deploy of an existing function updates its code and configuration', async () => {
  const v1 = functionDir({ 'index.js': 'exports.handler = async () => "v1";' });
  const v2 = functionDir({ 'index.js': 'exports.handler = async () => "v2:" + process.env.COLOR;' });
  assert.equal((await runCli(['deploy', v1, '--name', 'updated'], env)).code, 0);
  const r = await runCli(['deploy', v2, '--name', 'updated', '--memory', '256', '--env', 'COLOR=blue'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Updated function updated/);
  const c = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'updated' }));
  assert.equal(c.MemorySize, 256);
  const out = await runCli(['invoke', 'updated'], env);
  assert.equal(out.stdout.trim(), '"v2:blue"');
});

test('deploy of a zip file uploads it as it is', async () => {
  const zip = await zipDirectory(functionDir({ 'main.js': 'exports.go = async () => ({ from: "zip" });' }));
  const file = path.join(tempDir(), 'fn.zip');
  fs.writeFileSync(file, zip);
  const r = await runCli(['deploy', file, '--name', 'zipped', '--handler', 'main.go'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse((await runCli(['invoke', 'zipped'], env)).stdout), { from: 'zip' });
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
});

test('deploy --json prints the function configuration as JSON', async () => {
  const r = await runCli(
    ['deploy', functionDir({ 'index.js': ECHO_HANDLER }), '--name', 'jsondeploy', '--json'],
    env,
  );
  assert.equal(r.code, 0, r.stderr);
  const c = JSON.parse(r.stdout) as { FunctionName: string; State: string };
  assert.equal(c.FunctionName, 'jsondeploy');
  assert.equal(c.State, 'Active');
});

test('invoke prints the function result on stdout', async () => {
  const r = await runCli(['invoke', 'echo', '--payload', '{"n":1}'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { echo: { n: 1 } });
});

test('invoke --json prints one parseable object with the status code and payload', async () => {
  const r = await runCli(['invoke', 'echo', '--payload', '{"n":2}', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { StatusCode: number; Payload: unknown };
  assert.equal(out.StatusCode, 200);
  assert.deepEqual(out.Payload, { echo: { n: 2 } });
});

test('invoke --log prints the decoded log tail with START, END and REPORT on stderr', async () => {
  const r = await runCli(['invoke', 'echo', '--payload', '{"tail":true}', '--log'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^START RequestId: /m);
  assert.match(r.stderr, /event seen \{"tail":true\}/);
  assert.match(r.stderr, /^END RequestId: /m);
  assert.match(r.stderr, /^REPORT RequestId: .*Billed Duration/m);
  assert.deepEqual(JSON.parse(r.stdout), { echo: { tail: true } });
});

test('invoke --payload @file sends the contents of the file', async () => {
  const file = path.join(tempDir(), 'event.json');
  fs.writeFileSync(file, '{"fromFile":"yes"}');
  const r = await runCli(['invoke', 'echo', '--payload', `@${file}`], env);
  assert.deepEqual(JSON.parse(r.stdout), { echo: { fromFile: 'yes' } });
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
});

test('a function error prints the error payload and exits non-zero', async () => {
  const r = await runCli(['invoke', 'echo', '--payload', '{"fail":true}'], env);
  assert.equal(r.code, 1);
  assert.equal((JSON.parse(r.stdout) as { errorMessage: string }).errorMessage, 'boom requested');
  assert.match(r.stderr, /function error \(Unhandled/);
});

test('logs shows START, END and REPORT lines and the console output of invocations', async () => {
  assert.equal((await runCli(['invoke', 'echo', '--payload', '{"marker":"logs-1"}'], env)).code, 0);
  const r = await runCli(['logs', 'echo'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^START RequestId: /m);
  assert.match(r.stdout, /event seen \{"marker":"logs-1"\}/);
  assert.match(r.stdout, /^END RequestId: /m);
  assert.match(r.stdout, /^REPORT RequestId: /m);
});

test('logs accepts the function ARN instead of its name', async () => {
  assert.equal((await runCli(['invoke', 'echo', '--payload', '{"marker":"by-arn"}'], env)).code, 0);
  const c = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'echo' }));
  const r = await runCli(['logs', c.FunctionArn!], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /"marker":"by-arn"/);
});

test('logs --json prints an array of invocation logs', async () => {
  assert.equal((await runCli(['invoke', 'echo', '--payload', '{"marker":"logs-json"}'], env)).code, 0);
  const r = await runCli(['logs', 'echo', '--json'], env);
  const events = JSON.parse(r.stdout) as { requestId: string; log: string }[];
  assert.ok(events.some((e) => e.log.includes('logs-json') && e.requestId.length > 0));
});

test('logs --tail N prints at most N lines, the newest', async () => {
  assert.equal((await runCli(['invoke', 'echo', '--payload', '{"marker":"tail-last"}'], env)).code, 0);
  const r = await runCli(['logs', 'echo', '--tail', '2'], env);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[1]!, /^REPORT RequestId: /);
});

test('logs --since a date in the future prints nothing', async () => {
  const r = await runCli(['logs', 'echo', '--since', '2999-01-01'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
});

test('logs --since with a malformed value prints one line and exits 2', async () => {
  const r = await runCli(['logs', 'echo', '--since', 'lately'], env);
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
});

test('logs --follow prints invocations that finish after it started', async () => {
  const f = spawnCli(['logs', 'echo', '--follow', '--tail', '1'], env);
  try {
    // Wait for the first page (the newest line already stored), then invoke. The bound only turns a
    // hang into a failure.
    const giveUp = Date.now() + 30_000;
    while (f.stdout() === '') {
      if (Date.now() > giveUp || f.child.exitCode !== null) assert.fail(`logs --follow printed nothing`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await runCli(['invoke', 'echo', '--payload', '{"marker":"followed"}'], env)).code, 0);
    while (!f.stdout().includes('"marker":"followed"')) {
      if (f.child.exitCode !== null) assert.fail(`logs --follow exited: ${f.stdout()}`);
      if (Date.now() > giveUp) assert.fail(`logs --follow never printed the new invocation: ${f.stdout()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    f.child.kill();
  }
});

test('billing shows GB-seconds of the invoked functions', async () => {
  assert.equal((await runCli(['invoke', 'echo'], env)).code, 0);
  const r = await runCli(['billing', '--function', 'echo', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    records: { functionName: string; invocations: number }[];
    totalGbMs: number;
  };
  assert.ok(out.records.every((x) => x.functionName === 'echo'));
  assert.ok((out.records[0]?.invocations ?? 0) >= 1);
  assert.ok(out.totalGbMs > 0);
});

test('billing --since with a malformed value prints one line and exits 2', async () => {
  const r = await runCli(['billing', '--since', 'a-while'], env);
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
});

test('ls lists the deployed functions', async () => {
  const r = await runCli(['ls'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^NAME\s+RUNTIME/);
  assert.match(r.stdout, /^echo\s+nodejs20\.x/m);
});

test('ls --json prints an array of function configurations', async () => {
  const r = await runCli(['ls', '--json'], env);
  const fns = JSON.parse(r.stdout) as { FunctionName: string }[];
  assert.ok(fns.some((f) => f.FunctionName === 'echo'));
});

test('rm deletes the function', async () => {
  assert.equal(
    (await runCli(['deploy', functionDir({ 'index.js': ECHO_HANDLER }), '--name', 'doomed'], env)).code,
    0,
  );
  const r = await runCli(['rm', 'doomed'], env);
  assert.equal(r.code, 0, r.stderr);
  await assert.rejects(lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'doomed' })), {
    name: 'ResourceNotFoundException',
  });
});

test('pool shows the nodejs20.x warming pool', async () => {
  const r = await runCli(['pool'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^nodejs20\.x\s+\d+/m);
});

test('pool --set N fixes the target and --auto returns it to demand', async () => {
  const set = await runCli(['pool', '--set', '2', '--json'], env);
  assert.equal(set.code, 0, set.stderr);
  const fixed = (JSON.parse(set.stdout) as { pool: { target: number; mode: string } }).pool;
  assert.equal(fixed.target, 2);
  assert.equal(fixed.mode, 'fixed');
  const auto = await runCli(['pool', '--auto', '--json'], env);
  assert.equal((JSON.parse(auto.stdout) as { pool: { mode: string } }).pool.mode, 'demand');
});

test('tenants create prints a working key and tenants ls lists the tenant', async () => {
  const r = await runCli(['tenants', 'create', 'acme', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const key = (JSON.parse(r.stdout) as { accessKey: { accessKeyId: string; secretAccessKey: string } })
    .accessKey;
  const asAcme = cliEnv({ endpoint: p.endpoint, credentials: key });
  assert.equal((await runCli(['ls'], asAcme)).code, 0);
  const ls = await runCli(['tenants'], env);
  assert.match(ls.stdout, /^acme\s+\d{12}/m);
});

test('tenants create-key, keys and delete-key manage a tenant’s keys', async () => {
  assert.equal((await runCli(['tenants', 'create', 'keyed'], env)).code, 0);
  const created = JSON.parse((await runCli(['tenants', 'create-key', 'keyed', '--json'], env)).stdout) as {
    accessKeyId: string;
  };
  assert.match((await runCli(['tenants', 'keys', 'keyed'], env)).stdout, new RegExp(created.accessKeyId));
  assert.equal((await runCli(['tenants', 'delete-key', 'keyed', created.accessKeyId], env)).code, 0);
  assert.doesNotMatch(
    (await runCli(['tenants', 'keys', 'keyed'], env)).stdout,
    new RegExp(created.accessKeyId),
  );
});

test('tenants limit sets the tenant’s concurrency limit', async () => {
  assert.equal((await runCli(['tenants', 'create', 'limited'], env)).code, 0);
  const r = await runCli(['tenants', 'limit', 'limited', '5', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { concurrencyLimit: number }).concurrencyLimit, 5);
});

test('tenants rm deletes the tenant', async () => {
  assert.equal((await runCli(['tenants', 'create', 'shortlived'], env)).code, 0);
  assert.equal((await runCli(['tenants', 'rm', 'shortlived'], env)).code, 0);
  assert.doesNotMatch((await runCli(['tenants'], env)).stdout, /shortlived/);
});

test('a non-admin tenant gets AccessDeniedException from tenants, in one line', async () => {
  const r0 = await runCli(['tenants', 'create', 'plain', '--json'], env);
  const key = (JSON.parse(r0.stdout) as { accessKey: { accessKeyId: string; secretAccessKey: string } })
    .accessKey;
  const r = await runCli(['tenants', 'ls'], cliEnv({ endpoint: p.endpoint, credentials: key }));
  assert.notEqual(r.code, 0);
  assert.ok(isOneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /AccessDeniedException/);
});

test('doctor reports the isolation in effect without a server', async () => {
  const r = await runCli(['doctor', '--json'], cleanEnv());
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { driver: string; sandboxed: boolean; server: unknown };
  assert.ok(report.driver === 'bwrap' || report.driver === 'unsandboxed');
  assert.equal(report.sandboxed, report.driver === 'bwrap');
  assert.equal(report.server, null);
});

test('doctor also shows the isolation of the running server when it can ask it', async () => {
  const r = await runCli(['doctor', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { server: { running: boolean; isolation?: { driver: string } } };
  assert.equal(report.server.running, true);
  assert.ok(report.server.isolation?.driver === 'bwrap' || report.server.isolation?.driver === 'unsandboxed');
});

test('doctor --sandbox none warns loudly that functions run unsandboxed', async () => {
  const r = await runCli(['doctor', '--sandbox', 'none'], cleanEnv());
  assert.equal(r.code, 0);
  assert.match(r.stdout, /unsandboxed/);
  assert.match(r.stderr, /WARNING: UNSANDBOXED/);
});

// ---- user mistakes: one line on stderr, no stack trace, non-zero exit ----

test('invoking an unknown function prints one line and exits non-zero', async () => {
  const r = await runCli(['invoke', 'nope'], env);
  assert.notEqual(r.code, 0);
  assert.ok(isOneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /ResourceNotFoundException/);
});

test('logs of an unknown function prints one line and exits non-zero', async () => {
  const r = await runCli(['logs', 'nope'], env);
  assert.notEqual(r.code, 0);
  assert.ok(isOneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /ResourceNotFoundException/);
});

test('rm of an unknown function prints one line and exits non-zero', async () => {
  const r = await runCli(['rm', 'nope'], env);
  assert.notEqual(r.code, 0);
  assert.ok(isOneLine(r.stderr), r.stderr);
});

test('an unknown flag prints one line and exits 2', async () => {
  const r = await runCli(['invoke', 'echo', '--bogus'], env);
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /--bogus/);
});

test('invalid JSON in --payload prints one line and exits 2 without calling the function', async () => {
  const r = await runCli(['invoke', 'echo', '--payload', '{not json'], env);
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /not valid JSON/);
});

test('a missing --payload file prints one line and exits 2', async () => {
  const r = await runCli(['invoke', 'echo', '--payload', '@/nonexistent/event.json'], env);
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
});

test('deploy of a missing directory prints one line and exits non-zero', async () => {
  const r = await runCli(['deploy', '/nonexistent/fn', '--name', 'x'], env);
  assert.notEqual(r.code, 0);
  assert.ok(isOneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /no such file or directory/);
});

test('deploy without --name prints one line and exits 2', async () => {
  const r = await runCli(['deploy', functionDir({ 'index.js': ECHO_HANDLER })], env);
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
});

test('deploy of a file that is not a zip prints one line and exits non-zero', async () => {
  const dir = functionDir({ 'index.js': ECHO_HANDLER });
  const r = await runCli(['deploy', path.join(dir, 'index.js'), '--name', 'x'], env);
  assert.notEqual(r.code, 0);
  assert.ok(isOneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /not a zip/);
});

test('deploy of a directory with a symbolic link loop prints one line and exits non-zero', async () => {
  const dir = functionDir({ 'index.js': ECHO_HANDLER });
  // A link to its own directory: walking the parent instead would read all of /tmp, racing other tests.
  fs.symlinkSync('.', path.join(dir, 'loop'));
  const r = await runCli(['deploy', dir, '--name', 'loopy'], env);
  assert.notEqual(r.code, 0);
  assert.ok(isOneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /symbolic link loop/);
});

test('a non-numeric --memory prints one line and exits 2', async () => {
  const r = await runCli(
    ['deploy', functionDir({ 'index.js': ECHO_HANDLER }), '--name', 'x', '--memory', 'lots'],
    env,
  );
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
});

test('an --env value without = prints one line and exits 2', async () => {
  const r = await runCli(
    ['deploy', functionDir({ 'index.js': ECHO_HANDLER }), '--name', 'x', '--env', 'NOEQUALS'],
    env,
  );
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
});

test('an unknown command prints one line and exits 2', async () => {
  const r = await runCli(['frobnicate'], env);
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
});

test('pool --set together with --auto is refused in one line', async () => {
  const r = await runCli(['pool', '--set', '1', '--auto'], env);
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
});

test('without an endpoint or a data dir a client command says how to start one', async () => {
  const r = await runCli(['ls'], cleanEnv());
  assert.notEqual(r.code, 0);
  assert.ok(isOneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /kindling serve/);
});

test('an endpoint nobody listens on is reported in one line', async () => {
  const r = await runCli(
    ['ls', '--endpoint', 'http://127.0.0.1:9'],
    cleanEnv({ AWS_ACCESS_KEY_ID: 'AKIAX', AWS_SECRET_ACCESS_KEY: 'x' }),
  );
  assert.notEqual(r.code, 0);
  assert.ok(isOneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /cannot reach Kindling/);
});

test('--data-dir finds the endpoint and admin credentials of a local server', async () => {
  const r = await runCli(['ls', '--data-dir', p.platform.config.dataDir, '--json'], cleanEnv());
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Array.isArray(JSON.parse(r.stdout)));
});

test('serve on a port already in use ends with one line saying so and exits non-zero', async () => {
  const port = new URL(p.endpoint).port;
  const dataDir = tempDir();
  const r = await runCli(['serve', '--port', port, '--data-dir', dataDir], cleanEnv());
  fs.rmSync(dataDir, { recursive: true, force: true });
  assert.equal(r.code, 1);
  // Parts may warn while starting (e.g. no writable cgroups); the failure itself is one line, no stack.
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.match(r.stderr.trimEnd().split('\n').at(-1)!, /^kindling serve: .*already in use/);
});

test('serve with a --port that is not a number prints one line and exits 2', async () => {
  const r = await runCli(['serve', '--port', 'http'], cleanEnv());
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
});

test('serve with a --drain-ms that is not a number prints one line and exits 2', async () => {
  const r = await runCli(['serve', '--drain-ms', 'soon'], cleanEnv());
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
});
