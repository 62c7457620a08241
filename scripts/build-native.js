#!/usr/bin/env node
// Part of `npm run build`, after tsc: compiles the provided.* runtimes' Runtime API shim (C) into dist/native/.
// Without a C compiler it warns and goes on (provided.* functions then fail to start, saying why); a
// compile error fails the build.
import { BUILT_SHIM, buildShim, findCompiler } from '../dist/src/runtimes/provided/shim-build.js';

if (findCompiler() === undefined) {
  console.warn('build-native: no C compiler (cc): provided.* runtimes will not start; install gcc');
} else {
  try {
    buildShim(BUILT_SHIM);
  } catch (e) {
    const err = /** @type {Error & { stderr?: Buffer }} */ (e);
    console.error(`build-native: ${err.message}\n${err.stderr?.toString() ?? ''}`);
    process.exit(1);
  }
}
