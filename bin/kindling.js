#!/usr/bin/env node
// Entry point of the `kindling` command; the compiled CLI lives in dist/. CommonJS (bin/package.json), as is
// the CLI's entry: a start without Node's ES-module loader (src/cli/main.ts says more).
require('../dist/cli-cjs/cli/main.js').main(process.argv.slice(2));
