#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner, on the SQLite store;
// then the store matrix (the files under MATRIX) again on PostgreSQL. One throwaway PostgreSQL cluster
// serves the whole run (scripts/postgres-cluster.js); each test makes its own database in it.
// Optional arguments filter test files by substring: `node scripts/run-tests.js sqs s3`.
// KINDLING_TEST_STORES=sqlite (or postgres) runs one leg only.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCluster, stopCluster } from './postgres-cluster.js';

/** Test folders whose files run on both stores: everything that keeps durable state. */
const MATRIX = [
  'store/',
  'control/',
  'api/lambda/',
  'api/admin/',
  'telemetry/',
  'events/schedules/',
  'events/bus/put-events',
  'api/scheduler/',
  'events/mappings/',
  'events/rpc/',
  'events/queue/',
  'api/sqs/',
  'invoke/',
  'events/notifications/',
  'events/objects/',
  'api/s3/',
  'api/s3control/',
  'api/logs/',
  'api/efs/',
];

/** Files under MATRIX that keep no state of their own: the PostgreSQL leg would only repeat them. */
const STORE_AGNOSTIC = [
  'api/lambda/function-url-express.test.js',
  'api/lambda/invoke.test.js',
  'api/lambda/routes.test.js',
  'api/lambda/json-check.test.js',
  'api/lambda/python-unavailable.test.js',
  'api/admin/metrics-auth.test.js',
  'api/lambda/response-streaming.test.js',
  'events/objects/select-engine.test.js',
  'api/s3/select-frames.test.js',
  'api/s3/select.test.js',
  'api/sqs/sqs-limits.test.js',
];

const root = path.resolve('dist/test');
const files = [];
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.test.js')) files.push(p);
  }
})(root);
const filters = process.argv.slice(2);
const chosen = files.filter((f) => filters.length === 0 || filters.some((x) => f.includes(x))).sort();
if (chosen.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const legs = (process.env.KINDLING_TEST_STORES ?? 'sqlite,postgres').split(',');
const matrix = chosen.filter((f) => {
  const rel = path.relative(root, f);
  return MATRIX.some((m) => rel.startsWith(m)) && !STORE_AGNOSTIC.includes(rel);
});

const pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-test-pg-'));
let status = 0;
try {
  const cluster = await startCluster(pgDir);
  const env = { ...process.env, KINDLING_TEST_PG: cluster.url };
  const run = (list, extra, concurrency = 2) =>
    spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...list], {
      stdio: 'inherit',
      env: { ...env, ...extra },
    }).status ?? 1;
  if (legs.includes('sqlite')) {
    console.log(`# store: sqlite (${chosen.length} files)`);
    status = run(chosen, { KINDLING_TEST_STORE: 'sqlite' }) || status;
  }
  if (legs.includes('postgres') && matrix.length > 0) {
    console.log(`# store: postgres (${matrix.length} files)`);
    // Three at a time: this leg's files wait on PostgreSQL more than they use the CPU (CI's 20 minutes).
    status = run(matrix, { KINDLING_TEST_STORE: 'postgres' }, 3) || status;
  }
} finally {
  stopCluster(pgDir);
  fs.rmSync(pgDir, { recursive: true, force: true });
}
process.exit(status);
