// Compile-cache figures for `npm run bench` (runtimes/compile-cache.ts): the Init Duration of a function
// with a large dependency in its first environment (compiled from source; the host then builds the
// version's cache) and in a later environment of the same version (loads from the cache), for Node (a
// ~2 MB CommonJS bundle) and Python (a package of 300 modules). Every sample is its own version (its own
// code digest) and tagged single-use, so each invoke binds a fresh pool environment.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CodeStore } from '../src/control/code-store.js';
import { hostPython } from '../src/runtimes/python/interpreter.js';
import { readCredentialsFile } from '../src/server/data-dir.js';
import { type LatencyStats, stats } from './load.js';
import { type KindlingClient, kindlingClient, poolReady, startProcess, stop } from './run.js';
import { zipFiles } from './zip.js';

const fmt = (s: LatencyStats) => `${s.p50.toFixed(1)} / ${s.p99.toFixed(1)}`;

/** A webpack-style CommonJS bundle: `modules` factories, all required at load, as a big SDK is. */
export function nodeBundle(modules: number, salt: string): string {
  let out = `"use strict";\n// ${salt}\nconst __modules = {\n`;
  for (let i = 0; i < modules; i++) {
    out += `${i}: (module, exports, __req) => {
  const dep = ${i > 0 ? `__req(${i >> 1})` : 'null'};
  class Thing${i} {
    constructor(a) { this.a = a; this.tag = "thing-${i}-" + String(a).padStart(4, "0"); }
    get size() { return this.tag.length + ${i % 13}; }
    transform(x) { return x.map((v, j) => (v * ${(i % 7) + 1} + j) ^ ${i}).filter((v) => v % 3 !== ${i % 3}); }
    describe() { return \`Thing ${i} of \${this.a} with \${this.size}\`; }
  }
  function helper${i}(input, opts = {}) {
    const { depth = ${i % 5}, name = "h${i}" } = opts;
    let acc = 0;
    for (let k = 0; k < depth; k++) acc += input.length * k;
    return { name, acc, ok: acc >= 0 };
  }
  const TABLE_${i} = { alpha: "${'a'.repeat(i % 40)}", beta: [${i}, ${i * 2}, ${i * 3}], gamma: { nested: true, id: ${i} } };
  module.exports = { Thing${i}, helper${i}, TABLE_${i}, make: (a) => new Thing${i}(a), dep };
},
`;
  }
  out += `};
const __cache = {};
function __req(id) {
  const c = __cache[id];
  if (c) return c.exports;
  const m = (__cache[id] = { exports: {} });
  __modules[id](m, m.exports, __req);
  return m.exports;
}
const loaded = [];
for (let i = 0; i < ${modules}; i++) loaded.push(__req(i));
exports.handler = async () => ({ modules: loaded.length, first: loaded[0].make(1).describe() });
`;
  return out;
}

/** A package of `modules` Python modules, all imported by the handler's module. */
export function pythonPackage(modules: number, salt: string): Record<string, string> {
  const files: Record<string, string> = {
    'big/__init__.py': `# ${salt}\n`,
    'lambda_function.py': `import big.all\n\ndef lambda_handler(event, context):\n    return {"modules": big.all.COUNT}\n`,
  };
  const names: string[] = [];
  for (let i = 0; i < modules; i++) {
    const name = `m${String(i).padStart(3, '0')}`;
    names.push(name);
    files[`big/${name}.py`] = `"""Module ${i}."""
import json

TABLE = {"alpha": "${'a'.repeat(i % 40)}", "beta": [${i}, ${i * 2}, ${i * 3}], "gamma": {"nested": True, "id": ${i}}}


class Thing${i}:
    def __init__(self, a):
        self.a = a
        self.tag = "thing-${i}-%04d" % a

    @property
    def size(self):
        return len(self.tag) + ${i % 13}

    def transform(self, xs):
        return [(v * ${(i % 7) + 1} + j) ^ ${i} for j, v in enumerate(xs) if v % 3 != ${i % 3}]

    def describe(self):
        return json.dumps({"thing": ${i}, "a": self.a, "size": self.size})


def helper${i}(data, depth=${i % 5}, name="h${i}"):
    acc = 0
    for k in range(depth):
        acc += len(data) * k
    return {"name": name, "acc": acc, "ok": acc >= 0}
`;
  }
  files['big/all.py'] = `from . import ${names.join(', ')}\nCOUNT = ${modules}\n`;
  return files;
}

/** Init Duration (ms) from the REPORT line of a Tail log. */
function initDuration(logResult: string | string[] | undefined): number {
  const log = Buffer.from(String(logResult ?? ''), 'base64').toString('utf8');
  const m = /Init Duration: ([\d.]+) ms/.exec(log);
  if (m === null) throw new Error(`no Init Duration in the log:\n${log}`);
  return Number(m[1]);
}

async function firstAndCached(
  k: KindlingClient,
  codeCache: string,
  opts: { name: string; runtime: string; handler: string; poolKey: string; flavour: RegExp; zip: Buffer },
): Promise<{ without: number; with: number }> {
  const create = await k.call('POST', '/2015-03-31/functions', {
    FunctionName: opts.name,
    Runtime: opts.runtime,
    Handler: opts.handler,
    Role: 'arn:aws:iam::000000000000:role/bench',
    // One full vCPU by weight (as Lambda allots 1769 MB), so init is not starved by CPU shares on a busy host.
    MemorySize: 1769,
    Timeout: 30,
    Code: { ZipFile: opts.zip.toString('base64') },
    Tags: { 'kindling:single-use': 'true' },
  });
  if (create.status !== 201) throw new Error(`CreateFunction ${opts.name}: ${create.status}`);
  const call = async () => {
    await poolReady(k, 1, 30_000, opts.poolKey);
    const r = await k.call('POST', `/2015-03-31/functions/${opts.name}/invocations`, {}, 'lambda', {
      'x-amz-log-type': 'Tail',
    });
    if (r.status !== 200 || r.headers['x-amz-function-error'] !== undefined)
      throw new Error(`${opts.name}: ${r.status} ${JSON.stringify(r.json)}`);
    return initDuration(r.headers['x-amz-log-result']);
  };
  const without = await call();
  // The host builds the version's cache after its first environment's first invocation.
  const root = path.join(codeCache, `${CodeStore.digestOf(opts.zip).digest}.compiled`);
  const end = Date.now() + 60_000;
  while (!(fs.existsSync(root) && fs.readdirSync(root).some((n) => opts.flavour.test(n)))) {
    if (Date.now() > end) throw new Error(`no compile cache was built for ${opts.name}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { without, with: await call() };
}

export async function compileCacheFigures(
  k: KindlingClient,
  dataDir: string,
  opts: { quick: boolean; python: boolean },
): Promise<{ rows: [string, string, string][]; [k: string]: unknown }> {
  const samples = opts.quick ? 2 : 6;
  const codeCache = path.join(dataDir, 'code');
  const out: Record<string, unknown> = {};
  const rows: [string, string, string][] = [];
  const node = { without: [] as number[], with: [] as number[] };
  let bundleBytes = 0;
  for (let i = 0; i < samples; i++) {
    const bundle = nodeBundle(2500, `sample ${i} ${Date.now()}`);
    bundleBytes = Buffer.byteLength(bundle);
    const r = await firstAndCached(k, codeCache, {
      name: `bench-cc-node-${i}`,
      runtime: 'nodejs20.x',
      handler: 'index.handler',
      poolKey: 'nodejs20.x',
      flavour: /^node-/,
      zip: await zipFiles({ 'index.js': bundle }),
    });
    node.without.push(r.without);
    node.with.push(r.with);
  }
  const nw = stats(node.without);
  const nc = stats(node.with);
  out.node = { bundleBytes, without: nw, with: nc };
  const mb = (bundleBytes / 1048576).toFixed(1);
  rows.push(
    [
      `kindling:     node ${mb} MB bundle, Init Duration, no compile cache p50/p99 (ms)`,
      fmt(nw),
      'first environment',
    ],
    [
      `kindling:     node ${mb} MB bundle, Init Duration, compile cache p50/p99 (ms)`,
      fmt(nc),
      `later environments; ${(nw.p50 / nc.p50).toFixed(2)}x faster at p50`,
    ],
  );
  if (opts.python) {
    const py = { without: [] as number[], with: [] as number[] };
    await k.call('PUT', '/kindling/v1/pool/python3', { target: 2 }, 'kindling');
    for (let i = 0; i < samples; i++) {
      const r = await firstAndCached(k, codeCache, {
        name: `bench-cc-py-${i}`,
        runtime: 'python3.12',
        handler: 'lambda_function.lambda_handler',
        poolKey: 'python3',
        flavour: /^python-/,
        zip: await zipFiles(pythonPackage(300, `sample ${i} ${Date.now()}`)),
      });
      py.without.push(r.without);
      py.with.push(r.with);
    }
    const pw = stats(py.without);
    const pc = stats(py.with);
    out.python = { modules: 300, without: pw, with: pc };
    rows.push(
      [
        'kindling:     python 300-module package, Init Duration, no compile cache p50/p99 (ms)',
        fmt(pw),
        'first environment',
      ],
      [
        'kindling:     python 300-module package, Init Duration, compile cache p50/p99 (ms)',
        fmt(pc),
        `later environments; ${(pw.p50 / pc.p50).toFixed(2)}x faster at p50`,
      ],
    );
  }
  return { ...out, rows };
}

// `node dist/bench/compile-cache.js [--quick]`: these figures alone, against a server of their own.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-bench-cc-'));
  const server = await startProcess([
    path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/kindling.js'),
    'serve',
    '--port',
    '0',
    '--data-dir',
    dataDir,
  ]);
  try {
    const k = kindlingClient(server.port, readCredentialsFile(path.join(dataDir, 'credentials'))!);
    const figs = await compileCacheFigures(k, dataDir, {
      quick: process.argv.includes('--quick'),
      python: hostPython() !== undefined,
    });
    for (const [name, value, note] of figs.rows)
      console.log(`${name.padEnd(80)} ${value.padStart(16)}  ${note}`);
    const { rows: _rows, ...rest } = figs;
    console.log(JSON.stringify(rest, null, 2));
  } finally {
    await stop(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
