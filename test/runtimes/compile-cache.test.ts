// Compile caches carried across environments, in real bubblewrap sandboxes: the first environment of a
// version compiles from source and the host builds the version's cache after it; later environments load
// from it; a corrupt cache is refused safely; one version's cache never serves another; the cache is
// read-only inside.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { MIN_SOURCE_BYTES } from '../../src/runtimes/compile-cache.js';
import { hostPython } from '../../src/runtimes/python/interpreter.js';
import type { FunctionVersionSpec, InvocationResult } from '../../src/worker/types.js';
import { type Harness, harness, invoke, json, spec, writeCode } from '../worker/helpers.js';

let h: Harness;
before(async () => {
  h = await harness();
});
after(async () => {
  await h.close();
});

/** Each invoke a fresh environment (as the single-use tag gives): every one binds, so every one loads. */
const fresh = (codeDir: string, over: Partial<FunctionVersionSpec> = {}) =>
  spec(codeDir, { singleUse: true, ...over });

/** Waits for the compile cache the first bind of `codeDir` started (built in the background). */
async function built(codeDir: string, flavour: RegExp): Promise<string> {
  const root = `${codeDir}.compiled`;
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    const name = fs.existsSync(root) ? fs.readdirSync(root).find((n) => flavour.test(n)) : undefined;
    if (name !== undefined) return path.join(root, name);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no compile cache appeared in ${root}`);
}

function ok(r: InvocationResult): unknown {
  assert.equal(r.functionError, undefined, r.payload.toString());
  return json(r);
}

/** Code below MIN_SOURCE_BYTES gets no cache (not worth a build): the fixtures carry this much comment. */
const PAD = `\n// ${'x'.repeat(MIN_SOURCE_BYTES)}\n`;
const LIB = `
const table = {};
for (let i = 0; i < 50; i++) table['k' + i] = (x) => x * i;
exports.double = (x) => table.k2(x);
exports.where = () => [__filename, __dirname, typeof require.resolve, require.resolve('./lib.js')];
${PAD}`;
const INDEX = `
const lib = require('./lib.js');
exports.handler = async (e) => ({ d: lib.double(e.x), where: lib.where(), esm: (await import('./esm.mjs')).v });
`;
const nodeCode = () => writeCode(h, { 'index.js': INDEX, 'lib.js': LIB, 'esm.mjs': 'export const v = 7;' });

test('a second environment of a Node version loads its modules from the cache the first one left', async () => {
  const code = nodeCode();
  const first = await invoke(h, fresh(code), { x: 4 });
  assert.deepEqual(ok(first), {
    d: 8,
    where: ['/var/task/lib.js', '/var/task', 'function', '/var/task/lib.js'],
    esm: 7,
  });
  assert.equal(first.compileCache, undefined, 'the first environment has no cache yet');
  const dir = await built(code, /^node-/);
  assert.ok(fs.existsSync(path.join(dir, 'lib.js.v8')));
  // import() finds no loader in a script compiled with cached data: that module keeps Node's own way.
  assert.ok(!fs.existsSync(path.join(dir, 'index.js.v8')));
  const second = await invoke(h, fresh(code), { x: 5 });
  assert.deepEqual(ok(second), first.payload.length > 0 ? { ...(json(first) as object), d: 10 } : {});
  assert.deepEqual(second.compileCache, { used: 1, rejected: 0 });
  // Stack traces keep the source's lines and columns.
  const thrower = writeCode(h, {
    'index.js': `exports.handler = async () => { throw new Error('boom'); };${PAD}`,
  });
  await invoke(h, fresh(thrower));
  await built(thrower, /^node-/);
  const r = await invoke(h, fresh(thrower));
  assert.deepEqual(r.compileCache, { used: 1, rejected: 0 });
  assert.match(JSON.parse(r.payload.toString()).stackTrace[1], /\/var\/task\/index\.js:1:39/);
});

for (const major of [22, 24]) {
  test(`Node ${major} uses its own cache, never Node 20's`, async () => {
    const code = nodeCode();
    // Node 20's cache of this code first: refused by Node ${major}'s V8, so never offered to it.
    await invoke(h, fresh(code), { x: 1 });
    await built(code, /^node-20\./);
    const runtime = `nodejs${major}.x`;
    const first = await invoke(h, fresh(code, { runtime }), { x: 2 });
    assert.equal((ok(first) as { d: number }).d, 4);
    assert.equal(first.compileCache, undefined);
    await built(code, new RegExp(`^node-${major}\\.`));
    const second = await invoke(h, fresh(code, { runtime }), { x: 3 });
    assert.equal((ok(second) as { d: number }).d, 6);
    assert.deepEqual(second.compileCache, { used: 1, rejected: 0 });
  });
}

test('code too small to be worth a build gets no cache, and its environments load as before', async () => {
  const code = writeCode(h, { 'index.js': 'const lib = 1;\nexports.handler = async () => lib;' });
  assert.equal(ok(await invoke(h, fresh(code))), 1);
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(!fs.existsSync(`${code}.compiled`));
  const r = await invoke(h, fresh(code));
  assert.equal(ok(r), 1);
  assert.equal(r.compileCache, undefined);
});

test('a corrupt Node cache entry is refused by V8 and the module compiles from source', async () => {
  const code = nodeCode();
  await invoke(h, fresh(code), { x: 1 });
  const dir = await built(code, /^node-/);
  for (const name of ['lib.js.v8']) {
    const f = path.join(dir, name);
    const bytes = Buffer.from(fs.readFileSync(f));
    // Same length and header, other bytes: only the checksum can tell.
    for (let i = bytes.length - 64; i < bytes.length - 32; i++) bytes[i]! ^= 0x5a;
    fs.chmodSync(f, 0o644);
    fs.writeFileSync(f, bytes);
  }
  const r = await invoke(h, fresh(code), { x: 6 });
  assert.equal((ok(r) as { d: number }).d, 12);
  assert.deepEqual(r.compileCache, { used: 0, rejected: 1 });
});

test("one version's cache never serves another: each code has its own", async () => {
  // Two versions whose lib.js differ only in content, not in length (V8's header checks the length).
  const index = "const { v } = require('./lib.js');\nexports.handler = async () => v;";
  const a = writeCode(h, { 'index.js': index, 'lib.js': `exports.v = "AAAA";${PAD}` });
  const b = writeCode(h, { 'index.js': index, 'lib.js': `exports.v = "BBBB";${PAD}` });
  await invoke(h, fresh(a));
  await built(a, /^node-/);
  const rb = await invoke(h, fresh(b));
  assert.equal(ok(rb), 'BBBB');
  assert.equal(rb.compileCache, undefined, "b has no cache of its own yet, and never a's");
  await built(b, /^node-/);
  const [ra, rb2] = [await invoke(h, fresh(a)), await invoke(h, fresh(b))];
  assert.equal(ok(ra), 'AAAA');
  assert.equal(ok(rb2), 'BBBB');
  assert.deepEqual(ra.compileCache, { used: 2, rejected: 0 });
  assert.deepEqual(rb2.compileCache, { used: 2, rejected: 0 });
});

test('the compile cache is read-only inside the sandbox, after binding too', async () => {
  const code = writeCode(h, {
    'index.js': `const fs = require('fs');
exports.handler = async () => {
  const out = {};
  for (const f of ['/var/kindling/cache/index.js.v8', '/var/kindling/cache/new.v8']) {
    try { fs.writeFileSync(f, 'x'); out[f] = 'written'; } catch (e) { out[f] = e.code; }
  }
  out.listed = fs.readdirSync('/var/kindling/cache');
  return out;
};${PAD}`,
  });
  await invoke(h, fresh(code));
  await built(code, /^node-/);
  const r = await invoke(h, fresh(code));
  const v = ok(r) as Record<string, unknown>;
  assert.deepEqual(r.compileCache, { used: 1, rejected: 0 });
  assert.deepEqual(v.listed, ['index.js.v8']);
  assert.match(String(v['/var/kindling/cache/index.js.v8']), /^E(ROFS|ACCES|PERM)$/);
  assert.match(String(v['/var/kindling/cache/new.v8']), /^E(ROFS|ACCES|PERM)$/);
});

const PY = {
  'app.py':
    'from pkg import a, b\nfrom pkg.sub import c\ndef handler(event, context):\n    return [a.V, b.V, c.V, a.__file__]\n',
  'pkg/__init__.py': '',
  'pkg/a.py': `V = "a"\n# ${'x'.repeat(MIN_SOURCE_BYTES)}\n`,
  'pkg/b.py': 'V = "b"\n',
  'pkg/sub/__init__.py': '',
  'pkg/sub/c.py': 'V = "c"\n',
};
const python = (code: string) => fresh(code, { runtime: 'python3.12', handler: 'app.handler' });
const noPython = hostPython() === undefined ? 'no python3 on this host' : false;

test('a second environment of a Python version imports its modules from the bytecode the host compiled', {
  skip: noPython,
}, async () => {
  const code = writeCode(h, PY);
  const first = await invoke(h, python(code));
  assert.deepEqual(ok(first), ['a', 'b', 'c', '/var/task/pkg/a.py']);
  assert.equal(first.compileCache, undefined);
  const dir = await built(code, /^python-/);
  assert.ok(fs.readdirSync(path.join(dir, 'pkg')).some((n) => /^a\.cpython-\d+\.pyc$/.test(n)));
  const second = await invoke(h, python(code));
  assert.deepEqual(ok(second), ['a', 'b', 'c', '/var/task/pkg/a.py']);
  // app, pkg, pkg.a, pkg.b, pkg.sub, pkg.sub.c
  assert.deepEqual(second.compileCache, { used: 6, rejected: 0 });
});

test('corrupt or stale Python bytecode is refused and the module compiles from source', {
  skip: noPython,
}, async () => {
  const code = writeCode(h, PY);
  await invoke(h, python(code));
  const dir = await built(code, /^python-/);
  const a = fs.readdirSync(path.join(dir, 'pkg')).find((n) => n.startsWith('a.'))!;
  const f = path.join(dir, 'pkg', a);
  const bytes = Buffer.from(fs.readFileSync(f));
  bytes[bytes.length - 3]! ^= 0x5a; // inside the marshalled code: only the checksum can tell
  fs.chmodSync(f, 0o644);
  fs.writeFileSync(f, bytes);
  // pkg/b.py changed after the build (its mtime no longer what the bytecode was compiled from).
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(path.join(code, 'pkg/b.py'), later, later);
  const r = await invoke(h, python(code));
  assert.deepEqual(ok(r), ['a', 'b', 'c', '/var/task/pkg/a.py']);
  assert.deepEqual(r.compileCache, { used: 4, rejected: 2 });
});

test('builds waiting behind a long one are bounded: past the bound, code goes without a cache', async () => {
  const { CompileCache } = await import('../../src/runtimes/compile-cache.js');
  const dir = fs.mkdtempSync(path.join(h.dir, 'cc-bound-'));
  const codes = [0, 1, 2, 3, 4].map((i) => {
    const c = path.join(dir, `code-${i}`);
    fs.mkdirSync(c);
    fs.writeFileSync(path.join(c, 'index.js'), `exports.i = ${i};${PAD}`);
    return c;
  });
  const warnings: string[] = [];
  // A "compiler" that takes a while and produces an empty cache.
  const cache = new CompileCache(
    {
      flavour: 'test-slow',
      extensions: ['.js'],
      command: () => ({ file: '/bin/sleep', args: ['0.3'] }),
    },
    (m) => warnings.push(m),
    MIN_SOURCE_BYTES,
    2,
  );
  // Asked at once, two may wait (the first has not started yet); the rest are turned away.
  const jobs = codes.map((c) => cache.build(c));
  const results = await Promise.all(jobs);
  assert.deepEqual(
    results.map((r) => r !== undefined),
    [true, true, false, false, false],
    warnings.join('\n'),
  );
  // Turned away is not remembered as failed: asked again later, it is built.
  assert.ok((await cache.build(codes[4]!)) !== undefined);
});
