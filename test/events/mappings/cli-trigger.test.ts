// `kindling trigger` as a user runs it (the real CLI in a child process) against a real platform.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GetEventSourceMappingCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { cliEnv, isOneLine, runCli } from '../../cli/helpers.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { createFunction, logging, waitFor } from './helpers.js';

let p: TestPlatform;
let lambda: LambdaClient;
let sqs: SQSClient;
let env: NodeJS.ProcessEnv;

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
  sqs = new SQSClient(sdkConfig(p));
  env = cliEnv(p);
  await createFunction(lambda, 'cli-fn', logging());
  await sqs.send(new CreateQueueCommand({ QueueName: 'cli-q' }));
});
after(async () => {
  lambda.destroy();
  sqs.destroy();
  await p.close();
});

test('trigger create by queue name, then ls, disable, enable and rm', async () => {
  const created = await runCli(
    ['trigger', 'create', 'cli-fn', '--queue', 'cli-q', '--batch-size', '5', '--json'],
    env,
  );
  assert.equal(created.code, 0, created.stderr);
  const m = JSON.parse(created.stdout) as { UUID: string; BatchSize: number; EventSourceArn: string };
  assert.equal(m.BatchSize, 5);
  assert.match(m.EventSourceArn, /:cli-q$/);

  const ls = await runCli(['trigger', 'ls'], env);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, new RegExp(m.UUID));
  assert.match(ls.stdout, /cli-fn/);

  const off = await runCli(['trigger', 'disable', m.UUID], env);
  assert.equal(off.code, 0, off.stderr);
  await waitFor(
    'Disabled',
    async () => (await lambda.send(new GetEventSourceMappingCommand({ UUID: m.UUID }))).State === 'Disabled',
  );
  const on = await runCli(['trigger', 'enable', m.UUID], env);
  assert.equal(on.code, 0, on.stderr);
  await waitFor(
    'Enabled',
    async () => (await lambda.send(new GetEventSourceMappingCommand({ UUID: m.UUID }))).State === 'Enabled',
  );

  const rm = await runCli(['trigger', 'rm', m.UUID], env);
  assert.equal(rm.code, 0, rm.stderr);
  assert.match(rm.stdout, /Deleting/);
});

test('trigger create without a source is a usage error on one line', async () => {
  const out = await runCli(['trigger', 'create', 'cli-fn'], env);
  assert.equal(out.code, 2);
  assert.ok(isOneLine(out.stderr), out.stderr);
});

test('trigger create for a missing queue fails with one line', async () => {
  const out = await runCli(['trigger', 'create', 'cli-fn', '--queue', 'no-such-queue'], env);
  assert.equal(out.code, 1);
  assert.ok(isOneLine(out.stderr), out.stderr);
});

test('trigger create --rpc makes a mapping with no function', async () => {
  await sqs.send(new CreateQueueCommand({ QueueName: 'cli-rpc' }));
  const out = await runCli(['trigger', 'create', '--rpc', '--queue', 'cli-rpc', '--json'], env);
  assert.equal(out.code, 0, out.stderr);
  assert.equal((JSON.parse(out.stdout) as { FunctionArn?: string }).FunctionArn, undefined);
});
