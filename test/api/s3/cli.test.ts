import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CreateFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { cliEnv, runCli } from '../../cli/helpers.js';
import { sdkConfig, startPlatform, type TestPlatform, tempDir } from '../../helpers/platform.js';
import { zipOf } from '../lambda/zips.js';
import { bucketName } from './fixtures.js';

let t: TestPlatform;
let env: NodeJS.ProcessEnv;
let dir: string;
before(async () => {
  t = await startPlatform();
  env = cliEnv(t);
  dir = tempDir('kindling-bucket-cli-');
});
after(async () => {
  await t.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('kindling bucket create, put, ls, get and rm work on a bucket and its object', async () => {
  const b = bucketName('cli');
  assert.equal((await runCli(['bucket', 'create', b], env)).code, 0);
  const src = path.join(dir, 'in.bin');
  fs.writeFileSync(src, Buffer.alloc(70_000, 9));
  const put = await runCli(['bucket', 'put', `${b}/dir/file.bin`, src], env);
  assert.equal(put.code, 0, put.stderr);
  const ls = await runCli(['bucket', 'ls', b, '--json'], env);
  assert.deepEqual(
    JSON.parse(ls.stdout).map((o: { key: string; size: number }) => [o.key, o.size]),
    [['dir/file.bin', 70_000]],
  );
  const dest = path.join(dir, 'out.bin');
  const get = await runCli(['bucket', 'get', `${b}/dir/file.bin`, dest], env);
  assert.equal(get.code, 0, get.stderr);
  assert.ok(fs.readFileSync(dest).equals(fs.readFileSync(src)));
  assert.equal((await runCli(['bucket', 'rm', b, '--force'], env)).code, 0);
  const buckets = await runCli(['bucket', 'ls', '--json'], env);
  assert.ok(!JSON.parse(buckets.stdout).some((x: { name: string }) => x.name === b));
});

test('kindling bucket get of a missing key prints one NoSuchKey line and fails', async () => {
  const b = bucketName('cli');
  await runCli(['bucket', 'create', b], env);
  const r = await runCli(['bucket', 'get', `${b}/missing`], env);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /NoSuchKey/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('kindling bucket put without a key is a usage error', async () => {
  const r = await runCli(['bucket', 'put', 'just-a-bucket', '/dev/null'], env);
  assert.equal(r.code, 2);
});

test('kindling bucket notify sets a function notification by function name and shows it', async () => {
  const b = bucketName('cli');
  await runCli(['bucket', 'create', b], env);
  const lambda = new LambdaClient(sdkConfig(t));
  const name = `cli-notify-${process.pid}`;
  const { FunctionArn } = await lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::123456789012:role/any',
      Code: { ZipFile: await zipOf([{ name: 'index.js', data: 'exports.handler = async () => 1;' }]) },
    }),
  );
  lambda.destroy();
  const r = await runCli(
    ['bucket', 'notify', b, '--function', name, '--suffix', '.png', '--id', 'pngs', '--json'],
    env,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [
    { id: 'pngs', function: FunctionArn, events: ['s3:ObjectCreated:*'], filter: 'Suffix=.png' },
  ]);
});
