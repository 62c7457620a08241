// `kindling schedule ...` and `kindling events ...` run as real CLI processes against a real server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { cliEnv, isOneLine, runCli } from '../../cli/helpers.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { clients, createFunction, failHandler, okHandler, until } from '../../invoke/async/fixtures.js';

let p: TestPlatform;
let lambda: LambdaClient;
let sqs: SQSClient;
let env: NodeJS.ProcessEnv;

before(async () => {
  p = await startPlatform({ retryBaseMs: 50 });
  ({ lambda, sqs } = clients(sdkConfig(p)));
  env = cliEnv(p);
  await createFunction(lambda, 'job', okHandler);
  await createFunction(lambda, 'flaky', failHandler);
});
after(async () => {
  lambda.destroy();
  sqs.destroy();
  await p.close();
});

test('schedule create makes a rule targeting the function and schedule ls lists it', async () => {
  const c = await runCli(
    ['schedule', 'create', 'nightly', '--cron', '0 2 * * ? *', '--function', 'job', '--input', '{"k":1}'],
    env,
  );
  assert.equal(c.code, 0, c.stderr);
  const ls = await runCli(['schedule', 'ls', '--json'], env);
  assert.equal(ls.code, 0, ls.stderr);
  const rule = (
    JSON.parse(ls.stdout) as {
      Name: string;
      ScheduleExpression: string;
      State: string;
      Targets: { Arn: string; Input: string }[];
    }[]
  ).find((r) => r.Name === 'nightly');
  assert.equal(rule?.ScheduleExpression, 'cron(0 2 * * ? *)');
  assert.equal(rule?.State, 'ENABLED');
  assert.match(rule?.Targets[0]?.Arn ?? '', /:function:job$/);
  assert.equal(rule?.Targets[0]?.Input, '{"k":1}');
});

test('schedule disable and enable change the rule’s state', async () => {
  assert.equal(
    (await runCli(['schedule', 'create', 'toggled', '--rate', '5 minutes', '--function', 'job'], env)).code,
    0,
  );
  assert.equal((await runCli(['schedule', 'disable', 'toggled'], env)).code, 0);
  let ls = JSON.parse((await runCli(['schedule', 'ls', '--prefix', 'toggled', '--json'], env)).stdout);
  assert.equal(ls[0].State, 'DISABLED');
  assert.equal((await runCli(['schedule', 'enable', 'toggled'], env)).code, 0);
  ls = JSON.parse((await runCli(['schedule', 'ls', '--prefix', 'toggled', '--json'], env)).stdout);
  assert.equal(ls[0].State, 'ENABLED');
});

test('schedule rm removes the rule together with its targets', async () => {
  assert.equal(
    (await runCli(['schedule', 'create', 'doomed', '--rate', '1 hour', '--function', 'job'], env)).code,
    0,
  );
  const rm = await runCli(['schedule', 'rm', 'doomed'], env);
  assert.equal(rm.code, 0, rm.stderr);
  const ls = JSON.parse((await runCli(['schedule', 'ls', '--prefix', 'doomed', '--json'], env)).stdout);
  assert.deepEqual(ls, []);
});

test('schedule create with an invalid rate prints one line and fails', async () => {
  const r = await runCli(['schedule', 'create', 'bad', '--rate', '1 minutes', '--function', 'job'], env);
  assert.notEqual(r.code, 0);
  assert.ok(isOneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /ScheduleExpression is not valid/);
});

test('schedule create with both --rate and --cron is a usage error', async () => {
  const r = await runCli(
    ['schedule', 'create', 'both', '--rate', '1 hour', '--cron', '0 2 * * ? *', '--function', 'job'],
    env,
  );
  assert.equal(r.code, 2);
});

test('schedule create for an unknown function prints one line and fails', async () => {
  const r = await runCli(['schedule', 'create', 'orphan', '--rate', '1 hour', '--function', 'ghost'], env);
  assert.notEqual(r.code, 0);
  assert.ok(isOneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /ResourceNotFoundException/);
});

test('schedule rm of an unknown rule prints one line and fails', async () => {
  const r = await runCli(['schedule', 'rm', 'never-was'], env);
  assert.notEqual(r.code, 0);
  assert.ok(isOneLine(r.stderr), r.stderr);
});

test('events lists a function’s async invocations with attempts, status and last error', async () => {
  const out = await lambda.send(
    new InvokeCommand({ FunctionName: 'flaky', InvocationType: 'Event', Payload: Buffer.from('{"x":1}') }),
  );
  const id = out.$metadata.requestId!;
  await until(async () =>
    (await p.platform.components.async.events.byRequestId(id))?.status === 'failed' ? true : undefined,
  );
  const r = await runCli(['events', 'flaky', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const e = (
    JSON.parse(r.stdout) as {
      Events: {
        RequestId: string;
        Source: string;
        Attempts: number;
        Status: string;
        LastError: { Message: string };
      }[];
    }
  ).Events.find((x) => x.RequestId === id);
  assert.equal(e?.Source, 'api');
  assert.equal(e?.Attempts, 3);
  assert.equal(e?.Status, 'failed');
  assert.equal(e?.LastError.Message, 'boom: {"x":1}');
  const table = await runCli(['events', 'flaky'], env);
  assert.match(table.stdout, new RegExp(`${id}.*failed \\(RetriesExhausted\\)`));
});

test('events for an unknown function prints one line and fails', async () => {
  const r = await runCli(['events', 'ghost'], env);
  assert.notEqual(r.code, 0);
  assert.ok(isOneLine(r.stderr), r.stderr);
});
