// `kindling dev <dir>`: the real CLI deploys a directory, watches it, and deploys again on a change; the
// next invoke runs the new code with no restart; touching a file without changing it deploys nothing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { sdkConfig, startPlatform, type TestPlatform } from '../helpers/platform.js';
import { cliEnv, functionDir, runCli, spawnCli } from './helpers.js';

let p: TestPlatform;
let lambda: LambdaClient;

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
});

after(async () => {
  lambda.destroy();
  await p.close();
});

const code = (v: string) => `exports.handler = async () => ${JSON.stringify(v)};`;

async function invoke(name: string): Promise<string> {
  const out = await lambda.send(new InvokeCommand({ FunctionName: name }));
  return JSON.parse(Buffer.from(out.Payload!).toString()) as string;
}

/** Waits for `count` lines of --json output matching `event`; the bound only turns a hang into a failure. */
async function waitFor(
  dev: ReturnType<typeof spawnCli>,
  event: string,
  count = 1,
): Promise<Record<string, unknown>[]> {
  const giveUp = Date.now() + 30_000;
  for (;;) {
    const lines = dev
      .stdout()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const hits = lines.filter((l) => l.event === event);
    if (hits.length >= count) return hits;
    if (dev.child.exitCode !== null) assert.fail(`kindling dev exited: ${dev.stdout()}`);
    if (Date.now() > giveUp) assert.fail(`no ${event} event: ${dev.stdout()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('kindling dev redeploys on a change and the next request runs the new code', async () => {
  const dir = functionDir({ 'index.js': code('one') });
  const dev = spawnCli(['--json', 'dev', dir, '--name', 'devloop'], cliEnv(p));
  try {
    await waitFor(dev, 'watching');
    assert.equal((await waitFor(dev, 'created'))[0]!.functionName, 'devloop');
    assert.equal(await invoke('devloop'), 'one');

    fs.writeFileSync(path.join(dir, 'index.js'), code('two'));
    await waitFor(dev, 'redeployed');
    assert.equal(await invoke('devloop'), 'two');

    // A new file in a new folder counts too (the watch is recursive).
    fs.mkdirSync(path.join(dir, 'lib'));
    fs.writeFileSync(path.join(dir, 'lib', 'v.js'), 'module.exports = "three";');
    fs.writeFileSync(path.join(dir, 'index.js'), 'exports.handler = async () => require("./lib/v.js");');
    await waitFor(dev, 'redeployed', 2);
    assert.equal(await invoke('devloop'), 'three');

    // Touching a file without changing it deploys nothing.
    const before = (await waitFor(dev, 'redeployed', 2)).length;
    fs.utimesSync(path.join(dir, 'index.js'), new Date(), new Date());
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal((await waitFor(dev, 'redeployed')).length, before);
  } finally {
    dev.child.kill('SIGINT');
  }
});

test('kindling dev refuses what is not a directory, and needs a name', async () => {
  const file = path.join(functionDir({ 'index.js': code('x') }), 'index.js');
  let r = await runCli(['dev', file, '--name', 'nope'], cliEnv(p));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /is not a directory/);
  r = await runCli(['dev', path.dirname(file)], cliEnv(p));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--name is required/);
});
