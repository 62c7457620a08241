// Layers inside real sandboxes: a function sees its layers merged in order under /opt, read-only, on the
// module paths Lambda sets (Node's /opt/nodejs/node_modules, Python's /opt/python); a function without
// layers sees an empty /opt.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  InvokeCommand,
  LambdaClient,
  PublishLayerVersionCommand,
  type Runtime,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { zipOf } from '../api/lambda/zips.js';
import { sdkConfig, startPlatform, type TestPlatform, tempDir } from '../helpers/platform.js';

let p: TestPlatform;
let lambda: LambdaClient;

const zip = (files: Record<string, string>) =>
  zipOf(Object.entries(files).map(([name, data]) => ({ name, data })));

async function layer(name: string, files: Record<string, string>): Promise<string> {
  const out = await lambda.send(
    new PublishLayerVersionCommand({ LayerName: name, Content: { ZipFile: await zip(files) } }),
  );
  return out.LayerVersionArn!;
}

async function fn(
  name: string,
  runtime: string,
  handler: string,
  files: Record<string, string>,
  layers: string[],
) {
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: runtime as Runtime,
      Handler: handler,
      Role: 'arn:aws:iam::000000000000:role/test',
      Code: { ZipFile: await zip(files) },
      Layers: layers,
    }),
  );
}

async function invoke(name: string): Promise<unknown> {
  const out = await lambda.send(new InvokeCommand({ FunctionName: name }));
  const text = Buffer.from(out.Payload ?? []).toString();
  assert.equal(out.FunctionError, undefined, text);
  return JSON.parse(text);
}

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
});

after(async () => {
  lambda?.destroy();
  await p?.close();
});

const NODE_PROBE = `
const fs = require('node:fs');
exports.handler = async () => {
  let write;
  try { fs.writeFileSync('/opt/nodejs/node_modules/greeting/index.js', 'x'); write = 'written'; } catch (e) { write = e.code; }
  let create;
  try { fs.writeFileSync('/opt/new.txt', 'x'); create = 'written'; } catch (e) { create = e.code; }
  return { greeting: require('greeting'), shared: fs.readFileSync('/opt/shared.txt', 'utf8'), write, create };
};`;

test('a Node function requires a module found only in its layer; later layers win; /opt is read-only', async () => {
  const base = await layer('node-base', {
    'nodejs/node_modules/greeting/index.js': "module.exports = 'hello from a layer';",
    'shared.txt': 'base',
  });
  const top = await layer('node-top', { 'shared.txt': 'top' });
  await fn('node-layered', 'nodejs20.x', 'index.handler', { 'index.js': NODE_PROBE }, [base, top]);
  assert.deepEqual(await invoke('node-layered'), {
    greeting: 'hello from a layer',
    shared: 'top',
    write: 'EROFS',
    create: 'EROFS',
  });
  // The other order is another configuration: new environments see the other file on top.
  await lambda.send(
    new UpdateFunctionConfigurationCommand({ FunctionName: 'node-layered', Layers: [top, base] }),
  );
  assert.equal(((await invoke('node-layered')) as { shared: string }).shared, 'base');
});

test('a function without layers sees an empty /opt', async () => {
  await fn(
    'no-layers',
    'nodejs20.x',
    'index.handler',
    { 'index.js': "exports.handler = async () => require('node:fs').readdirSync('/opt');" },
    [],
  );
  assert.deepEqual(await invoke('no-layers'), []);
});

test('a Python function imports a module from /opt/python', async () => {
  const lib = await layer('py-lib', { 'python/layered_mod.py': "VALUE = 'from /opt/python'\n" });
  await fn(
    'py-layered',
    'python3.12',
    'app.handler',
    { 'app.py': 'import layered_mod\n\ndef handler(event, context):\n    return layered_mod.VALUE\n' },
    [lib],
  );
  assert.equal(await invoke('py-layered'), 'from /opt/python');
});

test('layers survive a restart: the start-time sweep keeps their blobs, the function runs them again', async () => {
  const dataDir = tempDir();
  try {
    const first = await startPlatform({ dataDir });
    const c1 = new LambdaClient(sdkConfig(first));
    const v = await c1.send(
      new PublishLayerVersionCommand({
        LayerName: 'durable',
        Content: {
          ZipFile: await zip({ 'nodejs/node_modules/durable/index.js': "module.exports = 'kept';" }),
        },
      }),
    );
    await c1.send(
      new CreateFunctionCommand({
        FunctionName: 'durable-fn',
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: 'arn:aws:iam::000000000000:role/test',
        Code: { ZipFile: await zip({ 'index.js': "exports.handler = async () => require('durable');" }) },
        Layers: [v.LayerVersionArn!],
      }),
    );
    c1.destroy();
    await first.close();
    const second = await startPlatform({ dataDir });
    const c2 = new LambdaClient(sdkConfig(second));
    try {
      const out = await c2.send(new InvokeCommand({ FunctionName: 'durable-fn' }));
      const text = Buffer.from(out.Payload ?? []).toString();
      assert.equal(out.FunctionError, undefined, text);
      assert.equal(JSON.parse(text), 'kept');
      const again = await c2.send(
        new PublishLayerVersionCommand({
          LayerName: 'durable',
          Content: { ZipFile: await zip({ 'x.txt': 'x' }) },
        }),
      );
      assert.equal(again.Version, 2);
    } finally {
      c2.destroy();
      await second.close();
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
