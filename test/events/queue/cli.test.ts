// `kindling queue ...` end to end: the real CLI as a child process against a real platform.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cliEnv, runCli } from '../../cli/helpers.js';
import { startPlatform, type TestPlatform } from '../../helpers/platform.js';

let p: TestPlatform;
let env: NodeJS.ProcessEnv;

before(async () => {
  p = await startPlatform();
  env = cliEnv(p);
});
after(async () => {
  await p.close();
});

const cli = (...args: string[]) => runCli(['queue', ...args], env);

test('queue create, send, receive --delete and ls work together', async () => {
  const created = await cli('create', 'jobs', '--visibility-timeout', '60');
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /\/\d{12}\/jobs\n$/);
  const sent = await cli('send', 'jobs', '{"n":1}', '--attr', 'kind=test');
  assert.equal(sent.code, 0, sent.stderr);
  const ls = await cli('ls', '--json');
  assert.equal(ls.code, 0, ls.stderr);
  const rows = JSON.parse(ls.stdout) as { name: string; visible: number }[];
  assert.deepEqual(rows.find((r) => r.name === 'jobs')?.visible, 1);
  const got = await cli('receive', 'jobs', '--delete', '--json');
  assert.equal(got.code, 0, got.stderr);
  const messages = JSON.parse(got.stdout) as {
    Body: string;
    MessageAttributes?: Record<string, { StringValue?: string }>;
  }[];
  assert.equal(messages[0]?.Body, '{"n":1}');
  assert.equal(messages[0]?.MessageAttributes?.kind?.StringValue, 'test');
  const after = await cli('attributes', 'jobs', '--json');
  assert.equal((JSON.parse(after.stdout) as Record<string, string>).ApproximateNumberOfMessages, '0');
});

test('queue create with --dlq sets a redrive policy to that queue', async () => {
  assert.equal((await cli('create', 'jobs-dlq')).code, 0);
  const r = await cli('create', 'with-dlq', '--dlq', 'jobs-dlq', '--max-receive', '3');
  assert.equal(r.code, 0, r.stderr);
  const a = JSON.parse((await cli('attributes', 'with-dlq', '--json')).stdout) as Record<string, string>;
  assert.deepEqual(JSON.parse(a.RedrivePolicy ?? '{}'), {
    deadLetterTargetArn: a.QueueArn!.replace(/with-dlq$/, 'jobs-dlq'),
    maxReceiveCount: 3,
  });
});

test('queue attributes --set changes an attribute', async () => {
  assert.equal((await cli('create', 'tunable')).code, 0);
  const r = await cli('attributes', 'tunable', '--set', 'DelaySeconds=7', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as Record<string, string>).DelaySeconds, '7');
});

test('queue purge and rm remove messages and the queue', async () => {
  assert.equal((await cli('create', 'doomed')).code, 0);
  assert.equal((await cli('send', 'doomed', 'x')).code, 0);
  assert.equal((await cli('purge', 'doomed')).code, 0);
  assert.match((await cli('receive', 'doomed')).stdout, /no messages/);
  assert.equal((await cli('rm', 'doomed')).code, 0);
  const gone = await cli('send', 'doomed', 'x');
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /^kindling queue: QueueDoesNotExist: The specified queue does not exist\.\n$/);
});

test('queue send with an invalid --delay is a usage error', async () => {
  const r = await cli('send', 'jobs', 'x', '--delay', '901');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--delay must be an integer from 0 to 900/);
});

test('an unknown queue command is a usage error', async () => {
  const r = await cli('explode');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown queue command 'explode'/);
});
