#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) on the SQLite store, and the store matrix (the
// files under MATRIX) again on PostgreSQL. One throwaway PostgreSQL cluster serves the whole run
// (scripts/postgres-cluster.js); each test makes its own database in it.
// Optional arguments filter test files by substring: `node scripts/run-tests.js sqs s3`.
// KINDLING_TEST_STORES=sqlite (or postgres) runs one leg only; KINDLING_TEST_CONCURRENCY sets how many
// files run at once (default 3).
//
// Both legs share one queue, the longest files first, each file in a node process of its own (what
// `node --test` does too); a file's report is printed whole when it ends, under a header naming file and
// store. Most files wait (sandboxes, servers, PostgreSQL) far more than they compute, so three at a time
// keep two cores busy where two sorted alphabetically, leg after leg, left them half idle and ended on
// one long file. (`node --test` sorts the files it is given, so it cannot start the longest first.)
import { spawn } from 'node:child_process';
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

/**
 * The slowest files of each store, longest first (wall seconds in one run on a busy machine; only their
 * order matters): they start first, so the run does not end waiting on one of them. Files not listed follow
 * in path order. `npm test` prints its ten slowest at the end.
 */
const LONGEST = {
  sqlite: {
    'cli/cli.test.js': 86,
    'cluster/sigkill.test.js': 52,
    'events/schedules/restart.test.js': 48,
    'durability/kill-loop.test.js': 45,
    'fuzz/surfaces.test.js': 42,
    'events/schedules/cli.test.js': 40,
    'api/s3/durability.test.js': 38,
    'api/s3/cli.test.js': 34,
    'runtimes/python-clone.test.js': 28,
    'cli/serve-store.test.js': 28,
    'events/queue/cli.test.js': 28,
    'sandbox/limits.test.js': 27,
    'api/lambda/response-streaming.test.js': 26,
    'runtimes/provided-runtime.test.js': 23,
    'api/console/console-browser.test.js': 23,
    'invoke/async/async-invoke.test.js': 22,
    'cluster/drain.test.js': 22,
    'events/queue/durability.test.js': 21,
    'cli/global-options.test.js': 21,
    'events/mappings/redis-streams.test.js': 21,
    'events/bus/restart.test.js': 21,
    'cluster/cluster.test.js': 20,
    'runtimes/extensions-python-provided.test.js': 19,
    'events/mappings/sigkill.test.js': 19,
    'sandbox/inherited-fds.test.js': 19,
    'api/object-lambda/object-lambda.test.js': 18,
    'events/mappings/sqs-delivery.test.js': 18,
    'api/lambda/versions.test.js': 18,
    'runtimes/provided-platform.test.js': 18,
    'runtimes/node-runtime.test.js': 17,
    'worker/worker-manager.test.js': 17,
    'sandbox/volumes.test.js': 17,
    'runtimes/extensions.test.js': 16,
    'api/s3/access-control.test.js': 16,
    'cli/dev.test.js': 15,
    'sandbox/isolation.test.js': 15,
    'runtimes/python-runtime.test.js': 15,
    'api/s3/s3-blobs.test.js': 15,
    'control/code-store.test.js': 15,
    'cli/fast-commands.test.js': 15,
  },
  postgres: {
    'events/schedules/restart.test.js': 123,
    'events/schedules/cli.test.js': 75,
    'api/s3/durability.test.js': 63,
    'api/s3/cli.test.js': 58,
    'events/queue/durability.test.js': 57,
    'events/queue/cli.test.js': 54,
    'api/lambda/versions.test.js': 43,
    'api/s3/s3-blobs.test.js': 40,
    'api/s3/multipart.test.js': 37,
    'api/s3/access-control.test.js': 37,
    'invoke/async/sigkill.test.js': 32,
    'invoke/async/drain.test.js': 32,
    'events/mappings/sigkill.test.js': 32,
    'api/logs/events.test.js': 31,
    'events/rpc/rpc.test.js': 31,
    'events/schedules/scheduler.test.js': 29,
    'events/mappings/redis-streams.test.js': 29,
    'api/lambda/errors.test.js': 29,
    'events/mappings/cli-trigger.test.js': 29,
    'events/mappings/rate-matching.test.js': 28,
    'api/lambda/restart.test.js': 26,
    'invoke/async/async-invoke.test.js': 26,
    'api/s3/checksums.test.js': 24,
    'events/mappings/sqs-delivery.test.js': 23,
    'api/lambda/layers.test.js': 23,
    'invoke/async/cluster.test.js': 22,
    'api/lambda/function-urls.test.js': 22,
    'invoke/async/dispatcher.test.js': 21,
    'api/logs/logs-sdk.test.js': 21,
    'api/s3/two-nodes.test.js': 20,
  },
};

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
// Three at once on 2 cores: at four, two load-sensitive files (a sandbox start past its 15 s timeout, a
// drained node's 2 s invocation) each failed once while other work shared the machine.
const concurrency = Number(process.env.KINDLING_TEST_CONCURRENCY) || 3;

/** @type {{ file: string, rel: string, store: 'sqlite' | 'postgres' }[]} */
const queue = [];
if (legs.includes('sqlite'))
  for (const file of chosen) queue.push({ file, rel: path.relative(root, file), store: 'sqlite' });
if (legs.includes('postgres'))
  for (const file of matrix) queue.push({ file, rel: path.relative(root, file), store: 'postgres' });
// Stable: equal estimates keep path order, SQLite before PostgreSQL.
queue.sort((a, b) => (LONGEST[b.store][b.rel] ?? 0) - (LONGEST[a.store][a.rel] ?? 0));

// The same reporter `node --test` picks: spec on a terminal, TAP otherwise.
const reporter = process.stdout.isTTY ? 'spec' : 'tap';
const KINDS = ['tests', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];
const totals = { sqlite: {}, postgres: {} };
for (const t of Object.values(totals)) for (const k of ['files', ...KINDS]) t[k] = 0;
const failed = [];
const timings = [];
/** @type {Map<import('node:child_process').ChildProcess, { job: (typeof queue)[number], out: string[] }>} */
const running = new Map();

/** The counts a reporter prints last (`# pass 12` in TAP, `ℹ pass 12` in spec). */
function counts(text) {
  const c = {};
  for (const m of text.matchAll(/^(?:# |ℹ )(tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm))
    c[m[1]] = Number(m[2]);
  return c;
}

/**
 * What a failed file said about its failure, bounded: each failing test's block (the `not ok` line and its
 * diagnostics) with the lines printed just before it, or, when no test failed (a crash, a hook), the end.
 */
function whyFailed(text) {
  const lines = text.split('\n');
  const out = [];
  let shown = 0;
  for (let i = 0; i < lines.length && out.length < 200; i++) {
    // Failing parents repeat their children's failure; the innermost blocks carry the error.
    if (!/^\s*not ok \d+/.test(lines[i])) continue;
    if (/'subtestsFailed'/.test(lines.slice(i, i + 8).join('\n'))) continue;
    let end = i + 1;
    while (end < lines.length && end - i < 60 && !/^\s*\.\.\.$/.test(lines[end])) end++;
    // What the test printed before its verdict, back to the previous test's end.
    let start = i;
    while (start > Math.max(shown, i - 10) && !/^\s*\.\.\.$/.test(lines[start - 1])) start--;
    out.push(...lines.slice(start, end + 1));
    shown = end + 1;
  }
  if (out.length === 0) out.push(...lines.slice(-40));
  return out.join('\n');
}

function runOne(job, env) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [`--test-reporter=${reporter}`, job.file], {
      env: { ...env, KINDLING_TEST_STORE: job.store },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const entry = { job, out: [] };
    running.set(child, entry);
    child.stdout.on('data', (d) => entry.out.push(d));
    child.stderr.on('data', (d) => entry.out.push(d));
    child.on('close', (code, signal) => {
      running.delete(child);
      const text = Buffer.concat(entry.out).toString('utf8');
      const c = counts(text);
      const t = totals[job.store];
      t.files++;
      for (const k of KINDS) t[k] += c[k] ?? 0;
      const ok = code === 0 && !c.fail && !c.cancelled;
      if (!ok)
        failed.push({
          name: `${job.store}: ${job.rel}${signal ? ` (${signal})` : code ? ` (exit ${code})` : ''}`,
          why: whyFailed(text),
        });
      const secs = (Date.now() - started) / 1000;
      timings.push({ job, secs });
      process.stdout.write(
        `# ${ok ? 'ok' : 'FAILED'} ${job.rel} on ${job.store}, ${c.pass ?? 0}/${c.tests ?? 0} passed, ${secs.toFixed(1)} s\n${text}${text.endsWith('\n') ? '' : '\n'}`,
      );
      resolve();
    });
  });
}

/** Runs the queue, `concurrency` files at a time; one file never runs on both stores at once. */
async function runAll(env) {
  const pending = [...queue];
  await new Promise((done) => {
    const next = () => {
      if (pending.length === 0 && running.size === 0) return done();
      while (running.size < concurrency) {
        const busy = new Set([...running.values()].map((r) => r.job.rel));
        const i = pending.findIndex((j) => !busy.has(j.rel));
        if (i < 0) break;
        const [job] = pending.splice(i, 1);
        void runOne(job, env).then(next);
      }
    };
    next();
  });
}

const pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-test-pg-'));
// A hard stop (CI's timeout) still shows what was running and what it had printed.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    for (const [child, { job, out }] of running) {
      process.stdout.write(`# STOPPED ${job.rel} on ${job.store} (${sig})\n${Buffer.concat(out)}\n`);
      child.kill('SIGTERM');
    }
    stopCluster(pgDir);
    process.exit(1);
  });
}

const began = Date.now();
try {
  const cluster = await startCluster(pgDir);
  console.log(
    `# ${queue.length} file runs (${legs.includes('sqlite') ? chosen.length : 0} on sqlite, ${legs.includes('postgres') ? matrix.length : 0} on postgres), ${concurrency} at a time`,
  );
  await runAll({ ...process.env, KINDLING_TEST_PG: cluster.url });
} finally {
  stopCluster(pgDir);
  fs.rmSync(pgDir, { recursive: true, force: true });
}

timings.sort((a, b) => b.secs - a.secs);
console.log('# slowest files:');
for (const { job, secs } of timings.slice(0, 10))
  console.log(`#   ${secs.toFixed(1)} s  ${job.rel} on ${job.store}`);
for (const [store, t] of Object.entries(totals)) {
  if (t.files === 0) continue;
  console.log(`# store: ${store}: ${t.files} files, ${KINDS.map((k) => `${k} ${t[k]}`).join(', ')}`);
}
console.log(`# duration ${((Date.now() - began) / 1000).toFixed(0)} s`);
if (failed.length > 0) {
  console.log(`# FAILED files (${failed.length}):`);
  for (const f of failed) console.log(`#   ${f.name}`);
  // Again at the very end, where a CI log that keeps only its tail still shows them.
  for (const f of failed) console.log(`# --- why ${f.name} failed:\n${f.why}`);
}
process.exit(failed.length > 0 ? 1 : 0);
