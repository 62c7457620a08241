// `kindling ls`, `invoke` and `logs` answer without loading the AWS SDK (it costs more than the rest of
// the command): they speak Lambda's REST API and the admin API directly. Nor do they start Node's ES-module
// loader (the CLI's client side is built as CommonJS). A preload records every CommonJS module the CLI
// process loaded and whether the ESM loader ran; `kindling rm` (SDK) and `kindling doctor` (an ES-module
// command) are the controls.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createFunction, lambdaClient } from '../helpers/functions.js';
import { startPlatform, type TestPlatform, tempDir } from '../helpers/platform.js';
import { cliEnv, runCli } from './helpers.js';

let p: TestPlatform;
let dir: string;

before(async () => {
  p = await startPlatform();
  dir = tempDir('kindling-cli-modules-');
  fs.writeFileSync(
    path.join(dir, 'record.cjs'),
    `process.on('exit', () => require('node:fs').writeFileSync(process.env.RECORD_TO, JSON.stringify({
      modules: Object.keys(require.cache),
      esm: process.moduleLoadList.some((m) => m.endsWith('esm/module_job')),
    })));`,
  );
  const lambda = lambdaClient(p);
  await createFunction(lambda, 'fast', 'export const handler = async (e) => ({ got: e });');
  await createFunction(lambda, 'gone-soon', 'export const handler = async () => 1;');
  lambda.destroy();
});
after(async () => {
  await p.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI; its exit code, stdout, the SDK packages it loaded and whether the ESM loader ran. */
async function run(args: string[]) {
  const record = path.join(dir, `${args[0]}.json`);
  const env = { ...cliEnv(p), NODE_OPTIONS: `--require ${path.join(dir, 'record.cjs')}`, RECORD_TO: record };
  const r = await runCli(args, env);
  const loaded = JSON.parse(fs.readFileSync(record, 'utf8')) as { modules: string[]; esm: boolean };
  const sdk = [
    ...new Set(loaded.modules.flatMap((m) => /node_modules\/(@aws-sdk\/[^/]+)/.exec(m)?.[1] ?? [])),
  ];
  return { ...r, sdk, esm: loaded.esm };
}

test('ls, invoke and logs do their work without loading the AWS SDK or the ES-module loader', async () => {
  const ls = await run(['ls']);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /^fast\s+nodejs20\.x/m);
  assert.deepEqual(ls.sdk, []);
  assert.equal(ls.esm, false);

  const inv = await run(['invoke', 'fast', '--payload', '{"a":1}', '--log']);
  assert.equal(inv.code, 0, inv.stderr);
  assert.deepEqual(JSON.parse(inv.stdout), { got: { a: 1 } });
  assert.match(inv.stderr, /REPORT RequestId:/);
  assert.deepEqual(inv.sdk, []);
  assert.equal(inv.esm, false);

  const logs = await run(['logs', 'fast']);
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /START RequestId:/);
  assert.deepEqual(logs.sdk, []);
  assert.equal(logs.esm, false);

  // A function ARN works as a name, as Lambda's commands take it (its colons are escaped in the signed path).
  const listed = JSON.parse((await run(['ls', '--json'])).stdout) as {
    FunctionName: string;
    FunctionArn: string;
  }[];
  const arn = listed.find((f) => f.FunctionName === 'fast')!.FunctionArn;
  assert.match(arn, /^arn:aws:lambda:[^:]+:\d{12}:function:fast$/);
  const byArn = await run(['invoke', arn, '--payload', '{"b":2}']);
  assert.equal(byArn.code, 0, byArn.stderr);
  assert.deepEqual(JSON.parse(byArn.stdout), { got: { b: 2 } });
  const logsByArn = await run(['logs', arn]);
  assert.equal(logsByArn.code, 0, logsByArn.stderr);
  assert.match(logsByArn.stdout, /START RequestId:/);

  // Their errors still name Lambda's error type in one line.
  const missing = await run(['invoke', 'no-such-function']);
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /^kindling invoke: ResourceNotFoundException: Function not found: .*no-such-function\n$/,
  );
});

test('control: a command that still uses the SDK (rm) shows up as loading it', async () => {
  const rm = await run(['rm', 'gone-soon']);
  assert.equal(rm.code, 0, rm.stderr);
  assert.ok(rm.sdk.includes('@aws-sdk/client-lambda'), JSON.stringify(rm.sdk));
  assert.equal(rm.esm, false);
});

test('an ES-module command (doctor) loads through the loader, and its help and usage errors keep their exit codes', async () => {
  // Its CliError and HelpShown come from the ES-module copy of the CLI's modules: main (CommonJS) must still
  // know them (a brand, not class identity), or --help would print an empty error and exit 1.
  const help = await run(['doctor', '--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^usage: kindling doctor/);
  assert.equal(help.stderr, '');
  assert.equal(help.esm, true);
  const bad = await run(['doctor', '--no-such-flag']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^kindling doctor: .*--no-such-flag/);
});
