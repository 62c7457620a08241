// `node <the sandboxes' V8 flags> compile-cache-build.js <code dir> <out dir>`: the V8 code cache of a
// version's CommonJS modules, run by the host (runtimes/compile-cache.ts) with the Node binary its
// sandboxes run, so V8's version and flags match. Compiles only (what V8 compiles eagerly: the top level,
// as Node's own compile cache holds it), never runs the code. The tree is untrusted: symlinks are not
// followed (extraction refuses them anyway), sizes are bounded.
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { CACHE_SUFFIX, enableChecksums, WRAP_HEAD, WRAP_TAIL } from './compile-cache-use.js';

/** Bounds on what a build compiles (its memory and time on the host); the rest compiles at load. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;
const MAX_TOTAL_BYTES = 64 * 1024 * 1024;
/** `import(`, also with blanks or a comment before the parenthesis; in strings too (a lost entry only). */
const DYNAMIC_IMPORT = /\bimport\s*(?:\(|\/[*/])/;

const [codeDir, outDir] = process.argv.slice(2);
if (codeDir === undefined || outDir === undefined) {
  console.error('usage: compile-cache-build.js <code dir> <out dir>');
  process.exit(2);
}
enableChecksums();

/** package.json "type" nearest to `dir` inside the code (Node reads the same file inside the sandbox). */
const typeOf = new Map<string, string | undefined>();
function packageType(dir: string): string | undefined {
  const known = typeOf.get(dir);
  if (known !== undefined || typeOf.has(dir)) return known;
  let t: string | undefined;
  const file = path.join(dir, 'package.json');
  if (fs.existsSync(file)) {
    try {
      t = (JSON.parse(fs.readFileSync(file, 'utf8')) as { type?: string }).type;
    } catch {
      t = undefined;
    }
  } else if (dir !== codeDir) {
    t = packageType(path.dirname(dir));
  }
  typeOf.set(dir, t);
  return t;
}

let total = 0;
let built = 0;
function walk(rel: string): void {
  for (const e of fs.readdirSync(path.join(codeDir!, rel), { withFileTypes: true })) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) {
      walk(r);
      continue;
    }
    if (!e.isFile() || !(e.name.endsWith('.js') || e.name.endsWith('.cjs'))) continue;
    const file = path.join(codeDir!, r);
    if (e.name.endsWith('.js') && packageType(path.dirname(file)) === 'module') continue;
    const size = fs.statSync(file).size;
    if (size > MAX_FILE_BYTES || total + size > MAX_TOTAL_BYTES) continue;
    total += size;
    const source = fs.readFileSync(file, 'utf8');
    // A #! line is valid only at the very start of a script, not inside the wrapper. import() in a
    // script compiled by vm with cached data finds no loader (Node 20), so such modules keep Node's way.
    if (source.startsWith('#!') || DYNAMIC_IMPORT.test(source)) continue;
    let data: Buffer;
    try {
      // The origin as the runtime gives it: V8 keeps the cached script's own.
      data = new vm.Script(WRAP_HEAD + source + WRAP_TAIL, {
        filename: `/var/task/${r}`,
        columnOffset: -WRAP_HEAD.length,
      }).createCachedData();
    } catch {
      continue; // a syntax error: the runtime reports it at load
    }
    fs.mkdirSync(path.join(outDir!, rel), { recursive: true });
    fs.writeFileSync(path.join(outDir!, r + CACHE_SUFFIX), data);
    built++;
  }
}
walk('');
console.log(`${built} modules`);
