import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, beforeEach, test } from 'node:test';
import { CODE_LIMITS, CodeStore } from '../../src/control/code-store.js';
import { DirBlobStore } from '../../src/store/blobs/dir-blob-store.js';
import { handlerZip, renameEntry, zipBomb, zipOf } from '../api/lambda/zips.js';
import { asLambda } from '../helpers/lambda-errors.js';
import { tempDir } from '../helpers/platform.js';

const UNZIP = /^Could not unzip uploaded file\. Please check your file, then try to upload again\./;
let root: string;
let store: CodeStore;
const dirs: string[] = [];

beforeEach(() => {
  root = tempDir('kindling-code-');
  dirs.push(root);
  store = new CodeStore({
    blobs: new DirBlobStore(path.join(root, 'blobs')),
    cacheDir: path.join(root, 'code'),
  });
});
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Everything under the store's root except the (empty) top directories. */
function written(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(path.relative(root, p));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out.filter((p) => p !== 'blobs' && p !== 'code');
}

async function rejects(zip: Buffer, type: string, message: RegExp): Promise<void> {
  await assert.rejects(store.put(zip), (e: unknown) => {
    assert.equal(asLambda(e).type, type);
    assert.match(asLambda(e).message, message);
    return true;
  });
  assert.deepEqual(written(), [], 'nothing may stay behind from a refused zip');
}

test('a valid zip is extracted once per digest into read-only files and stored as a blob', async () => {
  const zip = await zipOf([
    { name: 'index.mjs', data: 'export const handler = async () => 1;' },
    { name: 'lib/util.js', data: 'module.exports = 2;' },
    { name: 'bin/tool', data: '#!/bin/sh\n', mode: 0o100755 },
  ]);
  const code = await store.put(zip);
  store.release(code.digest);
  assert.equal(code.size, zip.length);
  assert.equal(Buffer.from(code.sha256, 'base64').toString('hex'), code.digest);
  assert.equal(fs.readFileSync(path.join(code.codeDir, 'lib/util.js'), 'utf8'), 'module.exports = 2;');
  assert.equal(fs.statSync(path.join(code.codeDir, 'index.mjs')).mode & 0o777, 0o444);
  assert.equal(fs.statSync(path.join(code.codeDir, 'bin/tool')).mode & 0o777, 0o555);
  assert.equal(fs.statSync(path.join(code.codeDir, 'lib')).mode & 0o777, 0o555);
  assert.ok(await store.hasBlob(code.digest));
  const again = await store.put(zip);
  assert.equal(again.codeDir, code.codeDir);
  assert.deepEqual(
    fs.readdirSync(path.join(root, 'code')),
    [code.digest],
    'no temp dirs left, one cache dir',
  );
});

test('backslashes in entry names (zips made on Windows) become directories', async () => {
  const zip = renameEntry(
    await zipOf([{ name: 'lib/util.js', data: 'module.exports = 3;' }]),
    'lib/util.js',
    'lib\\util.js',
  );
  const code = await store.put(zip);
  assert.equal(fs.readFileSync(path.join(code.codeDir, 'lib', 'util.js'), 'utf8'), 'module.exports = 3;');
});

test('a backslash path climbing out with ..\\ is refused', async () => {
  const zip = renameEntry(await zipOf([{ name: 'xx/evil.txt', data: 'x' }]), 'xx/evil.txt', '..\\evil.txt');
  await rejects(zip, 'InvalidParameterValueException', UNZIP);
});

test('concurrent uploads of the same zip share one extraction', async () => {
  const zip = await handlerZip('export const handler = async () => 1;');
  const [a, b] = await Promise.all([store.put(zip), store.put(zip)]);
  assert.equal(a.codeDir, b.codeDir);
  assert.deepEqual(fs.readdirSync(path.join(root, 'code')), [a.digest]);
});

test('a malformed zip is refused with Lambda’s unzip message', async () => {
  await rejects(Buffer.from('this is not a zip file at all'), 'InvalidParameterValueException', UNZIP);
});

test('a zero-byte upload is refused with Lambda’s unzip message', async () => {
  await rejects(Buffer.alloc(0), 'InvalidParameterValueException', UNZIP);
});

test('a zip without entries is refused with Lambda’s unzip message', async () => {
  await rejects(await zipOf([]), 'InvalidParameterValueException', UNZIP);
});

test('a truncated zip is refused with Lambda’s unzip message', async () => {
  const zip = await handlerZip('export const handler = async () => 1;');
  await rejects(zip.subarray(0, zip.length - 30), 'InvalidParameterValueException', UNZIP);
});

test('an entry named with .. is refused and nothing is written outside the cache', async () => {
  const zip = renameEntry(
    await zipOf([{ name: 'xx/escaped.txt', data: 'pwned' }]),
    'xx/escaped.txt',
    '../escaped.txt',
  );
  await rejects(zip, 'InvalidParameterValueException', UNZIP);
  assert.ok(!fs.existsSync(path.join(root, 'escaped.txt')));
});

test('an entry with an absolute path is refused', async () => {
  const zip = renameEntry(
    await zipOf([{ name: 'Xtmp/kindling-abs.txt', data: 'pwned' }]),
    'Xtmp/kindling-abs.txt',
    '/tmp/kindling-abs.txt',
  );
  await rejects(zip, 'InvalidParameterValueException', UNZIP);
  assert.ok(!fs.existsSync('/tmp/kindling-abs.txt'));
});

test('a symlink entry pointing out of the code directory is refused', async () => {
  const zip = await zipOf([
    { name: 'index.mjs', data: 'export const handler = async () => 1;' },
    { name: 'passwd', data: '../../../../etc/passwd', mode: 0o120777 },
  ]);
  await rejects(zip, 'InvalidParameterValueException', /symbolic link/);
});

test('a zip bomb over the unzipped limit is refused before writing its content', async () => {
  const zip = await zipBomb(CODE_LIMITS.unzippedBytes + 1024 * 1024);
  assert.ok(zip.length < 2 * 1024 * 1024, 'the test zip itself is small');
  await rejects(
    zip,
    'InvalidParameterValueException',
    /^Unzipped size must be smaller than 262144000 bytes$/,
  );
});

test('an entry inflating past its declared size is stopped while extracting', async () => {
  // The central directory claims 10 bytes; the data inflates to 1 MB. yauzl stops the stream at 10.
  const zip = await zipOf([{ name: 'lie.bin', data: Buffer.alloc(1024 * 1024) }]);
  const cd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  zip.writeUInt32LE(10, cd + 24);
  const local = zip.indexOf(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
  zip.writeUInt32LE(10, local + 22);
  await rejects(zip, 'InvalidParameterValueException', UNZIP);
});

test('the unzipped size is counted across entries while streaming', async () => {
  const small = new CodeStore({
    blobs: new DirBlobStore(path.join(root, 'blobs')),
    cacheDir: path.join(root, 'code'),
    maxUnzippedBytes: 1000,
  });
  const zip = await zipOf([
    { name: 'a.bin', data: Buffer.alloc(600) },
    { name: 'b.bin', data: Buffer.alloc(600) },
  ]);
  await assert.rejects(small.put(zip), /Unzipped size must be smaller than 1000 bytes/);
  assert.deepEqual(written(), []);
});

test('a zip over 50 MB is refused as RequestEntityTooLargeException', async () => {
  await rejects(
    Buffer.alloc(CODE_LIMITS.zippedBytes + 1),
    'RequestEntityTooLargeException',
    /smaller than 52428800 bytes/,
  );
});

test('duplicate entry names are refused instead of overwriting', async () => {
  const zip = renameEntry(
    await zipOf([
      { name: 'index.mjs', data: 'export const handler = async () => 1;' },
      { name: 'index.mjX', data: 'export const handler = async () => 2;' },
    ]),
    'index.mjX',
    'index.mjs',
  );
  await rejects(zip, 'InvalidParameterValueException', UNZIP);
});

test('removeBlob keeps a blob that an unfinished upload has pinned', async () => {
  const zip = await handlerZip('export const handler = async () => 1;');
  const code = await store.put(zip);
  store.removeBlob(code.digest);
  assert.ok(await store.hasBlob(code.digest));
  store.release(code.digest);
  store.removeBlob(code.digest);
  assert.ok(!(await store.hasBlob(code.digest)));
});

test('sweep drops unreferenced code and keeps referenced code', async () => {
  const a = await store.put(await handlerZip('export const handler = async () => "a";'));
  const b = await store.put(await handlerZip('export const handler = async () => "b";'));
  store.release(a.digest);
  store.release(b.digest);
  await store.sweep(new Set([a.digest]));
  assert.ok(fs.existsSync(a.codeDir) && (await store.hasBlob(a.digest)));
  assert.ok(!fs.existsSync(b.codeDir) && !(await store.hasBlob(b.digest)));
});

test("sweep drops the compile caches of unreferenced code and a referenced one's unfinished builds", async () => {
  const a = await store.put(await handlerZip('export const handler = async () => "ca";'));
  const b = await store.put(await handlerZip('export const handler = async () => "cb";'));
  store.release(a.digest);
  store.release(b.digest);
  for (const c of [a, b]) {
    fs.mkdirSync(`${c.codeDir}.compiled/node-20/x`, { recursive: true });
    fs.mkdirSync(`${c.codeDir}.compiled/.tmp-node-20-abc`, { recursive: true });
    // Read-only, as builds leave them.
    fs.chmodSync(`${c.codeDir}.compiled/node-20/x`, 0o555);
  }
  await store.sweep(new Set([a.digest]));
  assert.deepEqual(fs.readdirSync(`${a.codeDir}.compiled`), ['node-20']);
  assert.ok(!fs.existsSync(`${b.codeDir}.compiled`));
});

test('the same zip uploaded twice is stored once under one digest', async () => {
  const a = await store.put(await handlerZip('export const handler = async () => "same";'));
  const b = await store.put(await handlerZip('export const handler = async () => "same";'));
  assert.equal(a.digest, b.digest);
  assert.deepEqual(fs.readdirSync(path.join(root, 'blobs')), [`${a.digest}.zip`]);
});
