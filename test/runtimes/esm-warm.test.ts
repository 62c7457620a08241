// The ES-module loader is initialised in an environment only when something needs it: a CommonJS function's
// environment never carries it (memory per idle environment, issue 11), and sandboxes started after an
// ES-module function was bound on this node initialise it before their bind (an ES-module pool hit).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { NodeRuntime } from '../../src/runtimes/node/runtime.js';
import type { ExecutionEnvironment } from '../../src/runtimes/runtime.js';
import { BwrapDriver } from '../../src/sandbox/bwrap-driver.js';
import { fn, type Harness, harness, invoke, json, spec, writeCode } from '../worker/helpers.js';

// Modules Node loads only once its ES-module loader has run an import.
const ESM_LOADED = "process.moduleLoadList.some((m) => m.endsWith('esm/module_job'))";

let h: Harness;
before(async () => {
  // No pool: every environment below is started for its own request, in this order.
  h = await harness({ poolTarget: 0, poolMin: 0 });
});
after(async () => {
  await h.close();
});

test('a CommonJS function runs without the ES-module loader until an ES-module function is bound here', async () => {
  const cjs = (tag: string) =>
    spec(
      writeCode(h, { 'index.js': `exports.handler = async () => ({ tag: '${tag}', esm: ${ESM_LOADED} });` }),
    );

  const before = await invoke(h, cjs('first'));
  assert.equal(before.functionError, undefined, before.payload.toString());
  assert.deepEqual(json(before), { tag: 'first', esm: false });

  const esm = await invoke(h, fn(h, `export const handler = async () => ({ esm: ${ESM_LOADED} });`));
  assert.equal(esm.functionError, undefined, esm.payload.toString());
  assert.deepEqual(json(esm), { esm: true });

  // Started after that bind: warmed with the ES-module loader, and still runs CommonJS as before.
  const later = await invoke(h, cjs('later'));
  assert.equal(later.functionError, undefined, later.payload.toString());
  assert.deepEqual(json(later), { tag: 'later', esm: true });
});

test("a bind reports the ES-module loader only for its own handler, not for the pool's warm-up of it", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-esm-warm-'));
  // As the platform makes its data dir: traversable by the sandboxes' unprivileged uids.
  fs.chmodSync(dir, 0o711);
  fs.mkdirSync(path.join(dir, 'run'));
  const driver = new BwrapDriver(
    { envRoot: path.join(dir, 'envs'), apiSocketPath: path.join(dir, 'run', 'api.sock') },
    { version: null, parents: {}, warnings: [] },
  );
  const runtime = new NodeRuntime({ cacheDir: path.join(dir, 'runtime'), warn: () => {}, sdk: false });
  const code = (name: string, files: Record<string, string>) => {
    const d = path.join(dir, name);
    fs.mkdirSync(d, { mode: 0o755 });
    for (const [f, body] of Object.entries(files)) fs.writeFileSync(path.join(d, f), body, { mode: 0o644 });
    return d;
  };
  const bind = (env: ExecutionEnvironment, codeDir: string) =>
    env.bind({
      handler: 'index.handler',
      codeDir,
      memoryMB: 128,
      timeoutSec: 5,
      env: {},
      context: {
        functionName: 'f',
        functionVersion: '$LATEST',
        memoryMB: 128,
        invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:f',
        logGroupName: '/aws/lambda/f',
        logStreamName: 's',
      },
    });
  const spec = () => ({
    id: `esm-${Math.random().toString(16).slice(2)}`,
    networkOutbound: false,
    tmpSizeMB: 64,
  });
  const envs: ExecutionEnvironment[] = [];
  try {
    envs.push(await runtime.start(driver, spec()));
    const esm = await bind(envs[0]!, code('esm', { 'index.mjs': 'export const handler = async () => 1;' }));
    assert.equal(esm.ok, true, esm.log);
    assert.equal(esm.esm, true);
    // Started after that bind, so warmed with the ES-module loader; its own handler is CommonJS.
    envs.push(await runtime.start(driver, spec()));
    const cjs = await bind(envs[1]!, code('cjs', { 'index.js': 'exports.handler = async () => 1;' }));
    assert.equal(cjs.ok, true, cjs.log);
    assert.equal(cjs.esm, undefined, 'a CommonJS bind does not keep the warm-up window open');
  } finally {
    await Promise.all(envs.map((e) => e.retire()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
