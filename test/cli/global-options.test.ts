// Common options before the command (`kindling --data-dir DIR deploy ...`) work as they do after it; a
// mistake among them is one line and exit code 2. The real CLI as a child process, a real platform.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { cleanEnv, ECHO_HANDLER, functionDir, isOneLine, runCli } from './helpers.js';

let p: TestPlatform;
/** Nothing from the environment: endpoint and key come from the options alone. */
const bare = cleanEnv();
let keyOnly: NodeJS.ProcessEnv;

before(async () => {
  p = await startPlatform({ sandbox: 'none' });
  keyOnly = cleanEnv({
    AWS_ACCESS_KEY_ID: p.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: p.credentials.secretAccessKey,
  });
});
after(async () => {
  await p.close();
});

test('--data-dir before the command finds the endpoint and key for deploy and ls', async () => {
  const dataDir = p.platform.config.dataDir;
  const dir = functionDir({ 'index.js': ECHO_HANDLER });
  const d = await runCli(['--data-dir', dataDir, 'deploy', dir, '--name', 'global-dd'], bare);
  assert.equal(d.code, 0, d.stderr);
  const r = await runCli(['--data-dir', dataDir, 'ls'], bare);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /global-dd/);
});

test('--endpoint before the command is the endpoint used', async () => {
  const r = await runCli(['--endpoint', p.endpoint, 'ls'], keyOnly);
  assert.equal(r.code, 0, r.stderr);
  const wrong = await runCli(['--endpoint', 'http://127.0.0.1:1', 'ls'], keyOnly);
  assert.notEqual(wrong.code, 0);
});

test('--json before the command prints JSON', async () => {
  const r = await runCli(['--json', '--endpoint', p.endpoint, 'ls'], keyOnly);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Array.isArray(JSON.parse(r.stdout)));
});

test('global options in --opt=value form work before a command with its own subcommand', async () => {
  const r = await runCli([`--endpoint=${p.endpoint}`, '--json', 'queue', 'ls'], keyOnly);
  assert.equal(r.code, 0, r.stderr);
  JSON.parse(r.stdout);
});

test('an unknown option before the command is one line and exit code 2', async () => {
  const r = await runCli(['--verbose', 'ls'], bare);
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /unknown option '--verbose'/);
});

test('a global option missing its value is one line and exit code 2', async () => {
  const r = await runCli(['--data-dir'], bare);
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /'--data-dir' needs a value/);
});

test('a value-less global option given a value is one line and exit code 2', async () => {
  const r = await runCli(['--json=yes', 'ls'], bare);
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
});

test('global options without a command are one line and exit code 2', async () => {
  const r = await runCli(['--json'], bare);
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /missing command/);
});

test('the same option before and after the command is refused rather than one silently winning', async () => {
  const r = await runCli(['--endpoint', p.endpoint, 'ls', '--endpoint', 'http://127.0.0.1:1'], keyOnly);
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
});

test('a global option the command does not take is refused by the command (exit 2)', async () => {
  const r = await runCli(['--endpoint', p.endpoint, 'serve'], bare);
  assert.equal(r.code, 2);
  assert.ok(isOneLine(r.stderr), r.stderr);
});
