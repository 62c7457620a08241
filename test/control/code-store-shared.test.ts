// Code zips in a blob store every node shares, extracted into each node's own cache on demand: a node
// that never saw the upload runs the code; a zip missing or corrupt in the store is a ServiceException.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { CodeStore } from '../../src/control/code-store.js';
import { DirBlobStore } from '../../src/store/blobs/dir-blob-store.js';
import { handlerZip } from '../api/lambda/zips.js';
import { asLambda } from '../helpers/lambda-errors.js';
import { tempDir } from '../helpers/platform.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Two nodes: one shared blob dir, a code cache each. */
function twoNodes() {
  const root = tempDir('kindling-code-shared-');
  dirs.push(root);
  const node = (name: string) =>
    new CodeStore({
      blobs: new DirBlobStore(path.join(root, 'shared', 'code')),
      shared: true,
      graceMs: 60_000,
      cacheDir: path.join(root, name, 'code'),
    });
  return {
    root,
    a: node('a'),
    b: node('b'),
    zipFile: (d: string) => path.join(root, 'shared', 'code', `${d}.zip`),
  };
}

const serviceError = (pattern: RegExp) => (e: unknown) => {
  const w = asLambda(e);
  assert.equal(w.type, 'ServiceException');
  assert.match(w.message, pattern);
  return true;
};

test('code uploaded on one node is extracted on another from the shared blob store when first run', async () => {
  const n = twoNodes();
  const code = await n.a.put(await handlerZip('export const handler = async () => "from a";'));
  n.a.release(code.digest);
  assert.ok(!fs.existsSync(n.b.codeDir(code.digest)), 'node b has not seen the code yet');
  const dir = await n.b.ensureCodeDir(code.digest);
  assert.equal(dir, n.b.codeDir(code.digest));
  assert.match(fs.readFileSync(path.join(dir, 'index.mjs'), 'utf8'), /from a/);
  assert.equal(fs.statSync(path.join(dir, 'index.mjs')).mode & 0o222, 0, 'extracted read-only');
});

test('a code zip missing from the shared blob store is a ServiceException naming it, and nothing is extracted', async () => {
  const n = twoNodes();
  const code = await n.a.put(await handlerZip('export const handler = async () => 1;'));
  n.a.release(code.digest);
  fs.rmSync(n.zipFile(code.digest));
  await assert.rejects(
    n.b.ensureCodeDir(code.digest),
    serviceError(new RegExp(`SHA-256 ${code.digest}\\) could not be read`)),
  );
  assert.ok(!fs.existsSync(n.b.codeDir(code.digest)));
});

test('a code zip whose bytes differ from its digest is a ServiceException, and nothing is extracted', async () => {
  const n = twoNodes();
  const code = await n.a.put(await handlerZip('export const handler = async () => 1;'));
  n.a.release(code.digest);
  const other = await handlerZip('export const handler = async () => "evil";');
  fs.chmodSync(n.zipFile(code.digest), 0o600);
  fs.writeFileSync(n.zipFile(code.digest), other);
  await assert.rejects(n.b.ensureCodeDir(code.digest), serviceError(/is corrupt: its SHA-256 differs/));
  assert.ok(!fs.existsSync(n.b.codeDir(code.digest)));
});

test('removing a blob on a shared store is left to the sweeper, which spares young blobs', async () => {
  const n = twoNodes();
  const code = await n.a.put(await handlerZip('export const handler = async () => 1;'));
  n.a.release(code.digest);
  n.a.removeBlob(code.digest);
  assert.ok(await n.b.hasBlob(code.digest), 'another node may be committing a function on this zip');
  await n.b.sweepBlobs(new Set());
  assert.ok(await n.b.hasBlob(code.digest), 'younger than the grace period');
  const old = new Date(Date.now() - 3600_000);
  fs.utimesSync(n.zipFile(code.digest), old, old);
  await n.b.sweepBlobs(new Set([code.digest]));
  assert.ok(await n.b.hasBlob(code.digest), 'referenced');
  await n.b.sweepBlobs(new Set());
  assert.ok(!(await n.b.hasBlob(code.digest)));
});
