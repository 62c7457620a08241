#!/usr/bin/env node
// Part of `npm run build`: the CommonJS builds — the in-sandbox Node program (tsconfig.sandbox.json) and the
// `kindling` command's client side (tsconfig.cli.json) — sit under the project's package.json, which says
// "module"; these say what their files are.
import fs from 'node:fs';

for (const dir of ['sandbox-cjs', 'cli-cjs']) {
  fs.writeFileSync(new URL(`../dist/${dir}/package.json`, import.meta.url), '{"type":"commonjs"}\n');
}
