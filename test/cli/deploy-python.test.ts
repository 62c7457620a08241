// `kindling deploy --runtime python3.12` end to end: the real CLI deploys a directory of Python code with
// Lambda's default Python handler name, says which interpreter runs it, and the function answers.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hostPython } from '../../src/runtimes/python/interpreter.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';
import { cliEnv, functionDir, runCli } from './helpers.js';

let p: TestPlatform;
let env: NodeJS.ProcessEnv;

before(async () => {
  p = await startPlatform({ sandbox: 'bwrap' });
  env = cliEnv(p);
});
after(async () => {
  await p.close();
});

test('deploy --runtime python3.12 creates a Python function with lambda_function.lambda_handler and it answers', async () => {
  const dir = functionDir({
    'lambda_function.py':
      'from helpers.greet import greet\ndef lambda_handler(event, context):\n    return greet(event["name"])\n',
    'helpers/__init__.py': '',
    'helpers/greet.py': 'def greet(name):\n    return {"hello": name}\n',
  });
  const r = await runCli(['deploy', dir, '--name', 'pyhello', '--runtime', 'python3.12'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Runtime\s+python3\.12$/m);
  assert.match(r.stdout, /^Handler\s+lambda_function\.lambda_handler$/m);
  assert.match(
    r.stdout,
    new RegExp(
      `^RuntimeVersion\\s+arn:aws:lambda:[a-z0-9-]+::runtime:python:${hostPython()!.version.replace(/\./g, '\\.')}$`,
      'm',
    ),
  );
  const out = await runCli(['invoke', 'pyhello', '--payload', '{"name":"kindling"}'], env);
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), { hello: 'kindling' });
});
