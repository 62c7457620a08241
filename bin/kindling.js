#!/usr/bin/env node
// Entry point of the `kindling` command; the compiled CLI lives in dist/.
import('../dist/src/cli/main.js').then((m) => m.main(process.argv.slice(2)));
