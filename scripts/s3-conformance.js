#!/usr/bin/env node
// Runs Ceph's public S3 conformance suite (s3-tests: boto3 + pytest) against a throwaway Kindling
// server on loopback and summarises what it reported, grouped by feature. Not part of `npm test`.
// See docs/s3-conformance.md.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = `usage: npm run conformance:s3 -- [--suite DIR] [--out DIR] [--timeout SEC] [--store URL]
                                  [--files a.py,b.py] [--all] [-- PYTEST_ARGS...]

  --suite DIR    a checkout of ceph/s3-tests (default: $S3_TESTS_DIR). Get one with
                 git clone https://github.com/ceph/s3-tests (only its files are read; nothing is installed
                 from it: its Python dependencies come from Debian packages, installed here when missing).
  --out DIR      where summary.txt, results.jsonl, pytest.log, server.log and s3tests.conf go
                 (default: a new directory under the system's temp dir, printed at the end)
  --timeout SEC  per-test timeout (pytest-timeout), default 120
  --store URL    KINDLING_STORE for the server (default: SQLite in the throwaway data dir)
  --files LIST   suite files under s3tests/functional to run (default: test_s3.py,test_headers.py)
  --all          run every test, without deselecting the features Kindling deliberately lacks
  PYTEST_ARGS    passed to pytest as they are (e.g. -k test_multipart to run a subset)`;

/**
 * The suite's own markers for features Kindling deliberately lacks or that only RGW can pass, and why.
 * The tests of features that are built but not finished stay selected: they are what is left to do.
 */
const DESELECT_MARKERS = {
  fails_on_aws: 'the suite marks these as failing on AWS S3 itself (RGW extensions and RGW-only answers)',
  auth_aws2: 'Signature Version 2: Kindling accepts SigV4 only (AWS has deprecated SigV2)',
  bucket_logging: 'server access logging is not provided',
  bucket_logging_cleanup: 'server access logging is not provided',
  fails_without_logging_rollover: 'server access logging is not provided',
  encryption: 'SSE-C and SSE-KMS are not provided (every stored block is encrypted by Kindling itself)',
  sse_s3: 'SSE-S3 headers and default bucket encryption are not provided (see encryption)',
  bucket_encryption: 'default bucket encryption configuration is not provided',
  lifecycle_expiration:
    "needs RGW's lifecycle debug interval (a 'day' that lasts seconds); S3 itself expires objects after days",
  lifecycle_transition: 'storage-class transitions: Kindling has one storage class',
  cloud_transition: 'transitions to a cloud tier: Kindling has one storage class',
  cloud_restore: 'restores from a cloud tier: Kindling has one storage class',
  target_by_bucket: 'cloud-tier targets: Kindling has one storage class',
  iam_user: 'IAM users and their policies are not provided (tenants and keys are an admin matter)',
  iam_account: 'IAM accounts are not provided',
};

/** Unmarked tests of features Kindling lacks, deselected by name (the suite has no marker for them). */
const DESELECT_NAMES = {
  object_lock: 'Object Lock (retention, legal hold) is not provided',
  sse_kms: 'SSE-KMS is not provided',
  sse_c: 'SSE-C is not provided',
};

// Debian's Python, where Debian's packages install (a pyenv or venv python3 earlier in PATH has none of them).
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Python modules the suite imports, and the Debian package that provides each. */
const PYTHON_DEPS = {
  boto3: 'python3-boto3',
  botocore: 'python3-botocore',
  pytest: 'python3-pytest',
  pytest_timeout: 'python3-pytest-timeout',
  munch: 'python3-munch',
  isodate: 'python3-isodate',
  requests: 'python3-requests',
  httplib2: 'python3-httplib2',
  lxml: 'python3-lxml',
  yaml: 'python3-yaml',
  pytz: 'python3-tz',
  dateutil: 'python3-dateutil',
};

/** Feature groups for tests without a feature marker, by the words in their names (first match wins). */
const NAME_FEATURES = [
  [/post_object/, 'POST object (browser form upload)'],
  [/cors/, 'CORS'],
  [/version|delete_marker/, 'versioning'],
  [/lifecycle/, 'lifecycle'],
  [/tagging|_tags?(_|$)/, 'tagging'],
  [/object_lock|retention|legal_hold/, 'object lock'],
  [/policy/, 'bucket policy'],
  [/public_?block|access_block/, 'public access block'],
  [/ownership/, 'object ownership'],
  [/_acl|acl_|grant/, 'ACLs'],
  [/multipart|upload_part|_part_/, 'multipart'],
  [/copy/, 'copy'],
  [/presign|x_amz_expires|raw_/, 'presigned and anonymous access'],
  [/range/, 'ranged GET'],
  [/if_match|if_none|ifmatch|ifnonematch|modified|conditional/, 'conditional requests'],
  [/checksum|md5/, 'checksums'],
  [/list|prefix|delimiter|marker|maxkeys|max_keys|encoding/, 'listing'],
  [/bucket_create|bucket_name|naming|bucket_head|bucket_delete|buckets_/, 'buckets'],
  [/metadata|meta_/, 'metadata'],
  [/delete/, 'delete'],
  [/(^|_)auth|header|content|date|expect|user_agent|signature/, 'headers and auth'],
];

function main() {
  const { values, positionals } = parseArgs({
    options: {
      suite: { type: 'string' },
      out: { type: 'string' },
      timeout: { type: 'string', default: '120' },
      store: { type: 'string' },
      files: { type: 'string', default: 'test_s3.py,test_headers.py' },
      all: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
  });
  if (values.help) return console.log(USAGE);
  const suite = values.suite ?? process.env.S3_TESTS_DIR;
  if (!suite || !fs.existsSync(path.join(suite, 's3tests/functional/__init__.py'))) {
    console.error(`s3-conformance: no s3-tests checkout at ${suite ?? '(none given)'}\n\n${USAGE}`);
    process.exit(2);
  }
  if (!fs.existsSync(path.join(repoRoot, 'dist/src/api/s3/acl.js'))) {
    console.error('s3-conformance: build first (npm run build)');
    process.exit(2);
  }
  const timeout = Number(values.timeout);
  if (!Number.isInteger(timeout) || timeout < 1) {
    console.error(`s3-conformance: --timeout must be a whole number of seconds\n\n${USAGE}`);
    process.exit(2);
  }
  const out = path.resolve(values.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-s3-conformance-')));
  fs.mkdirSync(out, { recursive: true });
  return run({ suite: path.resolve(suite), out, timeout, values, pytestArgs: positionals });
}

/** Installs the Debian packages of the Python modules the suite imports that are missing. */
function ensurePythonDeps() {
  const missing = Object.entries(PYTHON_DEPS).filter(
    ([mod]) => spawnSync(PYTHON, ['-c', `import ${mod}`], { stdio: 'ignore' }).status !== 0,
  );
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map(([, pkg]) => pkg))];
  if (process.getuid?.() !== 0) {
    console.error(
      `s3-conformance: missing Python modules; install: sudo apt-get install -y ${pkgs.join(' ')}`,
    );
    process.exit(2);
  }
  console.log(`installing ${pkgs.join(' ')}`);
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '-qq', ...pkgs], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    }).status === 0;
  // A machine that never ran apt-get update has no package lists yet.
  if (
    !install() &&
    !(spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' }).status === 0 && install())
  ) {
    console.error(`s3-conformance: apt-get install ${pkgs.join(' ')} failed`);
    process.exit(1);
  }
}

/** Starts `kindling serve` on loopback, port 0, in a throwaway data dir; resolves once it listens. */
function startServer(dataDir, out, store) {
  const log = fs.openSync(path.join(out, 'server.log'), 'w');
  const child = spawn(
    process.execPath,
    [
      path.join(repoRoot, 'bin/kindling.js'),
      'serve',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--data-dir',
      dataDir,
    ],
    {
      // No function runs here: keep the warming pool empty so the suite has the CPU.
      env: {
        ...process.env,
        KINDLING_POOL_TARGET: '0',
        KINDLING_POOL_MIN: '0',
        ...(store && { KINDLING_STORE: store }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let text = '';
  return new Promise((resolve, reject) => {
    const onData = (d) => {
      fs.writeSync(log, d);
      text += d;
      const m = /listening on (http:\/\/\S+)/.exec(text);
      if (m) {
        text = '';
        child.stdout.off('data', onData);
        child.stdout.on('data', (x) => fs.writeSync(log, x));
        resolve({ child, endpoint: new URL(m[1]) });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => fs.writeSync(log, d));
    child.on('exit', (code) =>
      reject(new Error(`kindling serve exited (${code}) before listening; see server.log`)),
    );
  });
}

/** Creates a tenant with the admin key (the `kindling tenants` CLI) and returns what s3tests.conf needs. */
async function createTenant(dataDir, name) {
  const res = spawnSync(
    process.execPath,
    [path.join(repoRoot, 'bin/kindling.js'), '--data-dir', dataDir, '--json', 'tenants', 'create', name],
    { encoding: 'utf8' },
  );
  if (res.status !== 0) throw new Error(`kindling tenants create ${name}: ${res.stderr}`);
  const { tenant, accessKey } = JSON.parse(res.stdout);
  const { canonicalId } = await import(path.join(repoRoot, 'dist/src/api/s3/acl.js'));
  return { name, id: canonicalId(tenant.id), ...accessKey };
}

function configText(endpoint, main, alt, other) {
  const section = (title, t, extra = '') =>
    `[${title}]\ndisplay_name = ${t.name}\nuser_id = ${t.id}\nemail = ${t.name}@example.invalid\n` +
    `access_key = ${t.accessKeyId}\nsecret_key = ${t.secretAccessKey}\n${extra}\n`;
  // The suite's configure() reads the IAM sections even when no IAM test runs: keys nobody has.
  const iam = (title, key) =>
    `[${title}]\naccess_key = ${key.padEnd(20, 'X')}\nsecret_key = ${'x'.repeat(40)}\n` +
    `user_id = ${key}\nemail = ${key}@example.invalid\ndisplay_name = ${key}\n\n`;
  return (
    `[DEFAULT]\nhost = ${endpoint.hostname}\nport = ${endpoint.port}\nis_secure = False\nssl_verify = False\n\n` +
    '[fixtures]\nbucket prefix = s3t-{random}-\n\n' +
    section('s3 main', main, 'api_name = \n') +
    section('s3 alt', alt) +
    section('s3 tenant', other, `tenant = ${other.name}\n`) +
    iam('iam', 'NOIAM') +
    iam('iam root', 'NOIAMROOT') +
    iam('iam alt root', 'NOIAMALTROOT')
  );
}

function markerExpression(all) {
  return all
    ? []
    : [
        '-m',
        Object.keys(DESELECT_MARKERS)
          .map((m) => `not ${m}`)
          .join(' and '),
      ];
}

function nameExpression(all, pytestArgs) {
  // A -k of the caller's is combined with ours: pytest keeps only the last -k it is given.
  const at = pytestArgs.indexOf('-k');
  const theirs = at >= 0 ? pytestArgs.splice(at, 2)[1] : undefined;
  const ours = all ? [] : Object.keys(DESELECT_NAMES).map((n) => `not ${n}`);
  const parts = [...ours, ...(theirs ? [`(${theirs})`] : [])];
  return parts.length ? ['-k', parts.join(' and ')] : [];
}

function runPytest(suite, out, conf, timeout, values, pytestArgs) {
  const files = values.files.split(',').map((f) => `s3tests/functional/${f.trim()}`);
  const args = [
    '-m',
    'pytest',
    ...files,
    ...markerExpression(values.all),
    ...nameExpression(values.all, pytestArgs),
    '-p',
    'kindling_report',
    '-p',
    'no:cacheprovider',
    `--timeout=${timeout}`,
    '-q',
    '-rN',
    '--tb=short',
    ...pytestArgs,
  ];
  fs.writeFileSync(path.join(out, 'results.jsonl'), '');
  const log = fs.openSync(path.join(out, 'pytest.log'), 'w');
  console.log(`${PYTHON} ${args.join(' ')}`);
  const child = spawn(PYTHON, args, {
    cwd: suite,
    env: {
      ...process.env,
      S3TEST_CONF: conf,
      PYTHONPATH: [path.join(repoRoot, 'scripts/s3-conformance'), process.env.PYTHONPATH]
        .filter(Boolean)
        .join(':'),
      KINDLING_CONFORMANCE_RESULTS: path.join(out, 'results.jsonl'),
      PYTHONDONTWRITEBYTECODE: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let dots = 0;
  const onData = (d) => {
    fs.writeSync(log, d);
    dots += (String(d).match(/[.FEsx]/g) ?? []).length;
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', (d) => fs.writeSync(log, d));
  const progress = setInterval(() => console.log(`  ... ${dots} tests run`), 60_000);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearInterval(progress);
      resolve(code);
    }),
  );
}

/** Failures raised inside boto3 before any request is sent: the suite wants a newer boto3 than Debian's. */
const CLIENT_TOO_OLD = /ParamValidationError|Got unexpected keyword argument/;

function featureOf(nodeid, markers, message = '') {
  if (CLIENT_TOO_OLD.test(message)) return 'boto3 too old (nothing was sent)';
  const name = nodeid.replace(/^.*::/, '').replace(/^test_/, '');
  const file = nodeid.replace(/::.*$/, '');
  if (file.endsWith('test_headers.py')) return 'headers and auth';
  for (const [re, feature] of NAME_FEATURES) if (re.test(name)) return feature;
  const generic = new Set(['fails_on_dbstore', 'fails_on_rgw', 'fails_on_mod_proxy_fcgi', 'fails_on_dho']);
  const marker = markers.find((m) => !generic.has(m));
  return marker ?? 'objects (basic)';
}

/** The S3 error code (or the assertion) that a failure message names, for grouping. */
function causeOf(message = '') {
  const code = /An error occurred \(([^)]+)\)/.exec(message);
  if (code) return code[1];
  if (message.includes('Timeout')) return 'timeout';
  const first = message.split(/\s+(?=where|\+)/)[0];
  return first.slice(0, 90);
}

function summarise(out, exitCode, all) {
  const lines = fs.readFileSync(path.join(out, 'results.jsonl'), 'utf8').split('\n').filter(Boolean);
  const tests = new Map();
  let cleanupFallback = false;
  for (const line of lines) {
    const r = JSON.parse(line);
    if (r.note === 'cleanup-fallback') {
      cleanupFallback = true;
      continue;
    }
    const t = tests.get(r.nodeid) ?? { nodeid: r.nodeid, markers: r.markers, outcomes: [] };
    t.outcomes.push(r);
    tests.set(r.nodeid, t);
  }
  const counts = { passed: 0, failed: 0, errors: 0, skipped: 0, deselected: 0 };
  const failures = [];
  const deselected = new Map();
  for (const t of tests.values()) {
    const o = t.outcomes;
    const failed = o.find((r) => r.outcome === 'failed');
    const error = o.find((r) => r.outcome === 'error');
    if (o.some((r) => r.outcome === 'deselected')) {
      counts.deselected++;
      const why =
        Object.keys(DESELECT_MARKERS).find((m) => t.markers.includes(m)) ??
        Object.keys(DESELECT_NAMES).find((n) => t.nodeid.includes(n)) ??
        '(your -k)';
      deselected.set(why, (deselected.get(why) ?? 0) + 1);
    } else if (failed || error) {
      counts[failed ? 'failed' : 'errors']++;
      const r = failed ?? error;
      failures.push({ ...t, kind: failed ? 'failed' : `error (${r.when})`, message: r.message });
    } else if (o.some((r) => r.outcome === 'skipped')) counts.skipped++;
    else counts.passed++;
  }
  const ran = counts.passed + counts.failed + counts.errors;
  const pct = ran ? ((100 * counts.passed) / ran).toFixed(1) : '0';
  const report = [];
  report.push(`S3 conformance (ceph/s3-tests) against Kindling, ${new Date().toISOString()}`);
  report.push(
    `passed ${counts.passed}, failed ${counts.failed}, errors ${counts.errors}, skipped ${counts.skipped}, ` +
      `deselected ${counts.deselected} (${pct}% of the tests run passed; pytest exit ${exitCode})`,
  );
  if (cleanupFallback)
    report.push(
      "Note: ListObjectVersions answered NotImplemented, so the suite's bucket cleanup listed with ListObjectsV2.",
    );
  if (!all && deselected.size) {
    report.push('', 'Deselected (features Kindling deliberately lacks, or RGW-only behaviour):');
    for (const [why, n] of [...deselected].sort((a, b) => b[1] - a[1]))
      report.push(
        `  ${String(n).padStart(4)}  ${why}: ${DESELECT_MARKERS[why] ?? DESELECT_NAMES[why] ?? ''}`,
      );
  }
  const byFeature = new Map();
  for (const f of failures) {
    const feature = featureOf(f.nodeid, f.markers, f.message);
    byFeature.set(feature, [...(byFeature.get(feature) ?? []), f]);
  }
  report.push('', 'Failures and errors by feature:');
  for (const [feature, list] of [...byFeature].sort((a, b) => b[1].length - a[1].length)) {
    const causes = new Map();
    for (const f of list) causes.set(causeOf(f.message), (causes.get(causeOf(f.message)) ?? 0) + 1);
    const top = [...causes]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([c, n]) => `${c} x${n}`)
      .join('; ');
    report.push(`  ${String(list.length).padStart(4)}  ${feature}  [${top}]`);
  }
  report.push('', 'Each failure (test, outcome, message):');
  for (const [feature, list] of [...byFeature].sort((a, b) => a[0].localeCompare(b[0]))) {
    report.push(`  ${feature}:`);
    for (const f of list)
      report.push(`    ${f.nodeid.replace(/^.*::/, '')}  ${f.kind}  ${(f.message ?? '').slice(0, 200)}`);
  }
  const text = `${report.join('\n')}\n`;
  fs.writeFileSync(path.join(out, 'summary.txt'), text);
  // stdout gets the counts and the groups; the file has every failure too.
  console.log(text.slice(0, text.indexOf('\nEach failure')));
  console.log(
    `\nfull summary: ${path.join(out, 'summary.txt')} (pytest output: pytest.log, server: server.log)`,
  );
}

async function run({ suite, out, timeout, values, pytestArgs }) {
  ensurePythonDeps();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-s3-conformance-data-'));
  const server = await startServer(dataDir, out, values.store);
  let code = 1;
  try {
    // The suite's three users: main, alt (another account) and "tenant" (a third one).
    const tenants = [];
    for (const name of ['s3-main', 's3-alt', 's3-tenant']) tenants.push(await createTenant(dataDir, name));
    const conf = path.join(out, 's3tests.conf');
    fs.writeFileSync(conf, configText(server.endpoint, ...tenants), { mode: 0o600 });
    console.log(`Kindling at ${server.endpoint.origin}, data dir ${dataDir}; results in ${out}`);
    code = await runPytest(suite, out, conf, timeout, values, pytestArgs);
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((resolve) => server.child.once('exit', resolve));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  summarise(out, code, values.all);
  // pytest exits 1 when a test failed: that is the report, not a failure of this script.
  process.exit(code === 0 || code === 1 ? 0 : code);
}

await main();
