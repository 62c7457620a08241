// The CLI's shared client module: finding the endpoint and credentials, parsing flags, one-line errors.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  parseCommand,
  parseIntFlag,
  parseKeyValues,
  resolveConnection,
  toCliError,
} from '../../src/cli/client.js';
import { CliError, formatTable, HelpShown } from '../../src/cli/output.js';
import { tempDir } from '../helpers/platform.js';

const dir = tempDir();
fs.writeFileSync(path.join(dir, 'endpoint'), 'http://127.0.0.1:4567\n');
fs.writeFileSync(
  path.join(dir, 'credentials'),
  '[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = filesecret\n',
);
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const envKeys = { AWS_ACCESS_KEY_ID: 'AKIAENV', AWS_SECRET_ACCESS_KEY: 'envsecret' };

test('the endpoint comes from KINDLING_ENDPOINT before the data dir', () => {
  const c = resolveConnection(
    { json: false },
    { KINDLING_ENDPOINT: 'http://10.0.0.1:9000/', KINDLING_DATA_DIR: dir, ...envKeys },
  );
  assert.equal(c.endpoint, 'http://10.0.0.1:9000');
});

test('the endpoint and credentials come from KINDLING_DATA_DIR files when the environment has none', () => {
  const c = resolveConnection({ json: false }, { KINDLING_DATA_DIR: dir });
  assert.equal(c.endpoint, 'http://127.0.0.1:4567');
  assert.equal(c.credentials.accessKeyId, 'AKIAFILE');
});

test('AWS_* credentials win over the data dir found through the environment', () => {
  const c = resolveConnection({ json: false }, { KINDLING_DATA_DIR: dir, ...envKeys });
  assert.equal(c.credentials.accessKeyId, 'AKIAENV');
});

test('an explicit --data-dir wins over AWS_* credentials and KINDLING_ENDPOINT', () => {
  const c = resolveConnection(
    { json: false, dataDir: dir },
    { KINDLING_ENDPOINT: 'http://10.0.0.1:9000', ...envKeys },
  );
  assert.equal(c.endpoint, 'http://127.0.0.1:4567');
  assert.equal(c.credentials.accessKeyId, 'AKIAFILE');
});

test('--endpoint wins over everything', () => {
  const c = resolveConnection({ json: false, endpoint: 'http://127.0.0.1:1', dataDir: dir }, {});
  assert.equal(c.endpoint, 'http://127.0.0.1:1');
});

test('AWS_SESSION_TOKEN is carried with environment credentials', () => {
  const c = resolveConnection(
    { json: false, endpoint: 'http://x:1' },
    { ...envKeys, AWS_SESSION_TOKEN: 'tok' },
  );
  assert.equal(c.credentials.sessionToken, 'tok');
});

test('no endpoint anywhere is a CliError that mentions kindling serve', () => {
  assert.throws(
    () => resolveConnection({ json: false, dataDir: path.join(dir, 'missing') }, envKeys),
    (e: unknown) => {
      return e instanceof CliError && /kindling serve/.test(e.message);
    },
  );
});

test('an endpoint that is not an http URL is a usage error', () => {
  assert.throws(() => resolveConnection({ json: false, endpoint: 'ftp://x' }, envKeys), { exitCode: 2 });
});

test('no credentials anywhere is a CliError', () => {
  assert.throws(
    () => resolveConnection({ json: false, endpoint: 'http://x:1', dataDir: path.join(dir, 'missing') }, {}),
    CliError,
  );
});

test('parseCommand reads the common flags', () => {
  const r = parseCommand(['a', '--json', '--endpoint', 'http://e:1', '--data-dir', '/d'], { usage: 'x' });
  assert.deepEqual(r.common, { json: true, endpoint: 'http://e:1', dataDir: '/d' });
  assert.deepEqual(r.positionals, ['a']);
});

test('parseCommand refuses an unknown flag with exit code 2', () => {
  assert.throws(() => parseCommand(['--nope'], { usage: 'x' }), { exitCode: 2 });
});

test('parseCommand refuses a flag without its value', () => {
  assert.throws(() => parseCommand(['--tail'], { usage: 'x', options: { tail: { type: 'string' } } }), {
    exitCode: 2,
  });
});

test('parseCommand refuses too many positional arguments', () => {
  assert.throws(() => parseCommand(['a', 'b'], { usage: 'x', maxPositionals: 1 }), { exitCode: 2 });
});

test('parseCommand refuses too few positional arguments', () => {
  assert.throws(() => parseCommand([], { usage: 'x', minPositionals: 1 }), { exitCode: 2 });
});

test('--help prints the usage and ends the command', (t) => {
  const write = t.mock.method(process.stdout, 'write', () => true);
  assert.throws(() => parseCommand(['--help'], { usage: 'kindling thing' }), HelpShown);
  assert.match(String(write.mock.calls[0]?.arguments[0]), /usage: kindling thing/);
});

test('KEY=VALUE pairs become an object and a value may contain =', () => {
  assert.deepEqual(parseKeyValues(['A=1', 'B=x=y'], '--env'), { A: '1', B: 'x=y' });
});

test('a pair without a key is a usage error', () => {
  assert.throws(() => parseKeyValues(['=1'], '--env'), { exitCode: 2 });
});

test('an integer flag outside its range is a usage error', () => {
  assert.throws(() => parseIntFlag('0', '--memory', 128, 10240), { exitCode: 2 });
});

test('an integer flag with a fraction is a usage error', () => {
  assert.throws(() => parseIntFlag('1.5', '--tail', 1), { exitCode: 2 });
});

test('an SDK error becomes one line with its error type', () => {
  const sdkError = Object.assign(new Error('Function not found: x\nmore'), {
    name: 'ResourceNotFoundException',
    $metadata: {},
  });
  assert.equal(toCliError(sdkError).message, 'ResourceNotFoundException: Function not found: x');
});

test('a refused connection names the endpoint and suggests kindling serve', () => {
  const e = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  assert.match(
    toCliError(e, { endpoint: 'http://h:1' }).message,
    /cannot reach Kindling at http:\/\/h:1 .*kindling serve/,
  );
});

test('tables align columns under their headers', () => {
  const out = formatTable(
    [
      { a: 'x', n: 5 },
      { a: 'longer', n: 10 },
    ],
    [
      { header: 'NAME', value: (r) => r.a },
      { header: 'N', value: (r) => r.n, right: true },
    ],
  );
  assert.equal(out, 'NAME     N\nx        5\nlonger  10');
});
