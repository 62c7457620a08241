// Builds the Runtime API shim (rapi-shim.c) with the host's C compiler. `npm run build` compiles it into
// dist/native/ (scripts/build-native.js); a runtime started without that binary compiles it into its own
// cache dir instead, once per source change.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root, from src/runtimes/provided (tsx) or dist/src/runtimes/provided (compiled). */
const root = ((): string => {
  for (let d = here; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'src'))) return d;
  }
  return path.resolve(here, '../../../..');
})();

export const SHIM_SOURCE = path.join(root, 'src', 'runtimes', 'provided', 'rapi-shim.c');
export const SHIM_NAME = 'kindling-rapi';
/** Where `npm run build` puts it. */
export const BUILT_SHIM = path.join(root, 'dist', 'native', SHIM_NAME);

const CFLAGS = ['-O2', '-Wall', '-Wextra', '-D_FORTIFY_SOURCE=2', '-fstack-protector-strong', '-s'];

/** The host's C compiler (cc, or CC from the environment); undefined when there is none. */
export function findCompiler(): string | undefined {
  const candidates = [process.env.CC, '/usr/bin/cc', '/usr/bin/gcc', '/usr/bin/clang'];
  return candidates.find((c): c is string => c !== undefined && c !== '' && fs.existsSync(c));
}

/** Compiles the shim to `out` unless it is already newer than its source. Throws why it could not. */
export function buildShim(out: string): string {
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= fs.statSync(SHIM_SOURCE).mtimeMs) return out;
  const cc = findCompiler();
  if (cc === undefined) throw new Error('no C compiler (cc) found: install gcc to run provided.* functions');
  fs.mkdirSync(path.dirname(out), { recursive: true, mode: 0o755 });
  const tmp = `${out}.${process.pid}.tmp`;
  execFileSync(cc, [...CFLAGS, '-o', tmp, SHIM_SOURCE], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
  });
  fs.chmodSync(tmp, 0o755);
  fs.renameSync(tmp, out);
  return out;
}
