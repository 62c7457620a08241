#!/usr/bin/env node
// Part of `npm run build`: the CommonJS build of the in-sandbox Node program (tsconfig.sandbox.json) sits
// under the project's package.json, which says "module"; this one says what its files are.
import fs from 'node:fs';

fs.writeFileSync(new URL('../dist/sandbox-cjs/package.json', import.meta.url), '{"type":"commonjs"}\n');
