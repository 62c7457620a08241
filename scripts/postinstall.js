#!/usr/bin/env node
// Runs after `npm install` / `npm ci`. The Node binaries the nodejs22.x / nodejs24.x runtimes run on come
// from npm packages (optionalDependencies `node22-linux-*`, `node24-linux-*`) that each declare a `node` bin,
// so npm links node_modules/.bin/node to one of them — and npm scripts put node_modules/.bin first on PATH:
// `npm test` would run the project on that Node instead of the host's. The link goes; the runtimes find
// the binaries by package path (src/runtimes/node/versions.ts).
import fs from 'node:fs';
import path from 'node:path';

const bin = path.resolve('node_modules', '.bin');
for (const name of ['node', 'node.cmd', 'node.ps1']) {
  const link = path.join(bin, name);
  let target;
  try {
    target = fs.readlinkSync(link);
  } catch {
    continue; // absent, or not a link (then it is not ours to remove)
  }
  if (/(^|[\\/])node\d+-(linux|darwin|win)-[a-z0-9]+[\\/]/.test(target)) fs.unlinkSync(link);
}
