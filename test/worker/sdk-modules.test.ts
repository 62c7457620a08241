// What a function can import: the AWS SDK v3 clients Lambda's nodejs20.x ships, and none of Kindling's
// own dependencies. The tree functions see is built from package.json files (sdk-modules.ts); real
// bubblewrap sandboxes load the handlers.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { prepareSdkModules, sdkClosure } from '../../src/runtimes/node/sdk-modules.js';
import { fn, type Harness, harness, invoke, json } from './helpers.js';

let h: Harness;
before(async () => {
  h = await harness();
});
after(async () => {
  await h.close();
});

/** Package (module to import) → client class to construct. */
const CLIENTS: Array<[string, string]> = [
  ['@aws-sdk/client-lambda', 'LambdaClient'],
  ['@aws-sdk/client-s3', 'S3Client'],
  ['@aws-sdk/client-sqs', 'SQSClient'],
  ['@aws-sdk/client-eventbridge', 'EventBridgeClient'],
  ['@aws-sdk/client-dynamodb', 'DynamoDBClient'],
  ['@aws-sdk/client-sns', 'SNSClient'],
  ['@aws-sdk/client-ssm', 'SSMClient'],
  ['@aws-sdk/client-secrets-manager', 'SecretsManagerClient'],
  ['@aws-sdk/client-sts', 'STSClient'],
  ['@aws-sdk/client-kms', 'KMSClient'],
  ['@aws-sdk/client-cloudwatch-logs', 'CloudWatchLogsClient'],
  ['@aws-sdk/client-kinesis', 'KinesisClient'],
  ['@aws-sdk/client-sfn', 'SFNClient'],
];

test('every AWS SDK v3 client Lambda ships is importable in a function and constructs a client', async () => {
  const imports = CLIENTS.map(([mod, cls], i) => `import { ${cls} as C${i} } from '${mod}';`).join('\n');
  const made = CLIENTS.map(([, cls], i) => `'${cls}': typeof new C${i}({}).send`).join(', ');
  const s = fn(h, `${imports}\nexport const handler = async () => ({ ${made} });`, { timeoutSec: 20 });
  const r = await invoke(h, s);
  assert.equal(r.functionError, undefined, r.payload.toString());
  assert.deepEqual(json(r), Object.fromEntries(CLIENTS.map(([, cls]) => [cls, 'function'])));
});

test('lib-dynamodb wraps a DynamoDB client inside a function (CommonJS require)', async () => {
  const s = fn(
    h,
    `import { createRequire } from 'node:module';
     const require = createRequire(import.meta.url);
     const { DynamoDBClient } = require('@aws-sdk/client-dynamodb');
     const { DynamoDBDocumentClient } = require('@aws-sdk/lib-dynamodb');
     export const handler = async () => typeof DynamoDBDocumentClient.from(new DynamoDBClient({})).send;`,
  );
  const r = await invoke(h, s);
  assert.equal(r.functionError, undefined, r.payload.toString());
  assert.equal(json(r), 'function');
});

for (const dep of ['ioredis', 'better-sqlite3', 'zod', 'yauzl', 'yazl']) {
  test(`a function importing Kindling's own dependency ${dep} fails with Runtime.ImportModuleError`, async () => {
    const s = fn(h, `import x from '${dep}';\nexport const handler = async () => typeof x;`);
    const r = await invoke(h, s);
    assert.equal(r.errorType, 'Runtime.ImportModuleError', r.payload.toString());
    const body = json(r) as { errorType: string; errorMessage: string };
    assert.equal(body.errorType, 'Runtime.ImportModuleError');
    assert.match(body.errorMessage, new RegExp(`Cannot find (package|module) '${dep}'`));
  });
}

test("require.resolve from a handler finds none of Kindling's own dependencies, but finds the SDK", async () => {
  const s = fn(
    h,
    `import { createRequire } from 'node:module';
     import fs from 'node:fs';
     const require = createRequire('/var/task/index.js');
     const tryResolve = (m) => { try { return require.resolve(m); } catch (e) { return e.code; } };
     export const handler = async () => ({
       own: Object.fromEntries(['ioredis', 'better-sqlite3', 'zod', 'yauzl', 'yazl', 'typescript',
         '@biomejs/biome'].map((m) => [m, tryResolve(m)])),
       sdk: tryResolve('@aws-sdk/client-s3'),
       listed: fs.readdirSync('/var/runtime/node_modules').sort(),
     });`,
  );
  const r = await invoke(h, s);
  assert.equal(r.functionError, undefined, r.payload.toString());
  const out = json(r) as { own: Record<string, string>; sdk: string; listed: string[] };
  for (const [m, v] of Object.entries(out.own)) assert.equal(v, 'MODULE_NOT_FOUND', `${m} resolved to ${v}`);
  assert.match(out.sdk, /^\/var\/runtime\/node_modules\/@aws-sdk\/client-s3\//);
  assert.ok(!out.listed.includes('ioredis') && !out.listed.includes('zod'), out.listed.join(' '));
});

// ---- the tree itself, from a made-up node_modules ----

function writePkg(root: string, rel: string, manifest: Record<string, unknown>, files: string[] = []): void {
  const dir = path.join(root, rel);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(manifest));
  fs.writeFileSync(path.join(dir, 'index.js'), `module.exports = ${JSON.stringify(rel)};`);
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), f);
  }
}

/** @aws-sdk/a → @smithy/b (nested copy of tslib 1 under b) → tslib; plus packages nothing SDK needs. */
function fakeModules(dir: string, bVersion = '1.0.0'): string {
  const nm = path.join(dir, 'node_modules');
  writePkg(
    nm,
    '@aws-sdk/a',
    {
      name: '@aws-sdk/a',
      version: '3.0.0',
      dependencies: { '@smithy/b': '^1', tslib: '^2' },
      optionalDependencies: { absent: '*' },
    },
    ['dist-cjs/index.js', 'dist-types/index.d.ts', 'types.d.ts'],
  );
  writePkg(nm, '@aws-sdk/a/node_modules/@smithy/b', { name: '@smithy/b', version: '0.9.0' });
  writePkg(nm, '@smithy/b', { name: '@smithy/b', version: bVersion, dependencies: { tslib: '^1' } }, [
    'dist-cjs/x.js',
  ]);
  writePkg(nm, '@smithy/b/node_modules/tslib', { name: 'tslib', version: '1.14.0' });
  writePkg(nm, 'tslib', { name: 'tslib', version: '2.8.0' });
  writePkg(nm, 'zod', { name: 'zod', version: '4.0.0' });
  writePkg(nm, 'ioredis', { name: 'ioredis', version: '6.0.0', dependencies: { tslib: '^2' } });
  return nm;
}

test('the SDK closure follows dependencies as Node resolves them, nested copies included, and nothing else', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-sdk-'));
  try {
    const nm = fakeModules(dir);
    assert.deepEqual([...sdkClosure(nm).keys()].sort(), [
      '@aws-sdk/a',
      '@aws-sdk/a/node_modules/@smithy/b',
      'tslib',
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the built tree holds the closure as hard links without type declarations, and a second start reuses it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-sdk-'));
  try {
    const nm = fakeModules(dir);
    const cache = path.join(dir, 'data', 'runtime');
    const first = prepareSdkModules(nm, cache);
    assert.equal(first.cached, false);
    assert.equal(first.linked, true);
    assert.equal(first.packages, 3);
    const src = fs.statSync(path.join(nm, 'tslib', 'index.js'));
    const dst = fs.statSync(path.join(first.dir, 'tslib', 'index.js'));
    assert.equal(dst.ino, src.ino);
    assert.ok(fs.existsSync(path.join(first.dir, '@aws-sdk/a/node_modules/@smithy/b/index.js')));
    assert.ok(fs.existsSync(path.join(first.dir, '@aws-sdk/a/dist-cjs/index.js')));
    // Type declarations are never read at run time.
    assert.ok(!fs.existsSync(path.join(first.dir, '@aws-sdk/a/dist-types')));
    assert.ok(!fs.existsSync(path.join(first.dir, '@aws-sdk/a/types.d.ts')));
    assert.ok(!fs.existsSync(path.join(first.dir, 'zod')));
    assert.ok(!fs.existsSync(path.join(first.dir, 'ioredis')));
    assert.ok(!fs.existsSync(path.join(first.dir, '@smithy/b')));
    const second = prepareSdkModules(nm, cache);
    assert.equal(second.cached, true);
    assert.equal(second.dir, first.dir);
    assert.equal(second.files, first.files);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a changed package version builds a new tree and removes the old one', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-sdk-'));
  try {
    const nm = fakeModules(dir);
    const cache = path.join(dir, 'runtime');
    const first = prepareSdkModules(nm, cache);
    fs.writeFileSync(
      path.join(nm, 'tslib', 'package.json'),
      JSON.stringify({ name: 'tslib', version: '2.9.0' }),
    );
    const second = prepareSdkModules(nm, cache);
    assert.equal(second.cached, false);
    assert.notEqual(second.dir, first.dir);
    assert.ok(!fs.existsSync(first.dir));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('on another filesystem the tree is made of copies', { skip: !fs.existsSync('/dev/shm') }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-sdk-'));
  const shm = fs.mkdtempSync('/dev/shm/kindling-sdk-');
  try {
    const nm = fakeModules(dir);
    if (fs.statSync(nm).dev === fs.statSync(shm).dev) return;
    const r = prepareSdkModules(nm, shm);
    assert.equal(r.linked, false);
    assert.equal(fs.readFileSync(path.join(r.dir, 'tslib', 'index.js'), 'utf8'), 'module.exports = "tslib";');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(shm, { recursive: true, force: true });
  }
});
