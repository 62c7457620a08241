// The runtime registry is the one list: what CreateFunction accepts, what the worker serves, which runtime
// folder serves each name, and what each runs on this host.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SUPPORTED_RUNTIMES as CONTROL_RUNTIMES } from '../../src/control/functions.js';
import {
  DEFAULT_RUNTIME,
  RUNTIMES,
  runtimeByPoolName,
  runtimeEntry,
  SUPPORTED_RUNTIMES,
} from '../../src/runtimes/registry.js';

test('the control plane validates against the registry list itself', () => {
  assert.equal(CONTROL_RUNTIMES, SUPPORTED_RUNTIMES);
  for (const name of [
    'nodejs20.x',
    'nodejs22.x',
    'nodejs24.x',
    'nodejs18.x',
    'provided.al2023',
    'provided.al2',
  ])
    assert.ok(SUPPORTED_RUNTIMES.includes(name), name);
});

test('each Node major is its own entry with its own pool', () => {
  for (const major of [18, 20, 22, 24]) {
    const e = runtimeEntry(`nodejs${major}.x`);
    assert.equal(e?.id, 'node');
    assert.equal(e?.poolName, `nodejs${major}.x`);
    assert.equal(runtimeByPoolName(`nodejs${major}.x`), e);
  }
  assert.equal(new Set(RUNTIMES.map((r) => r.poolName)).size, RUNTIMES.length);
  assert.equal(runtimeEntry('nodejs')?.poolName, 'nodejs20.x');
  assert.equal(DEFAULT_RUNTIME.poolName, `nodejs${process.versions.node.split('.')[0]}.x`);
});

test('both custom runtime names are served by the provided runtime and share one pool', () => {
  for (const name of ['provided.al2023', 'provided.al2']) {
    const e = runtimeEntry(name);
    assert.equal(e?.id, 'provided', name);
    assert.equal(e?.poolName, 'provided.al2023');
  }
  assert.equal(runtimeByPoolName('provided.al2023')?.id, 'provided');
});

test('every python3.x name is served by the python runtime, sharing one pool named for the host Python 3', () => {
  for (const name of ['python3.9', 'python3.10', 'python3.11', 'python3.12', 'python3.13']) {
    const e = runtimeEntry(name);
    assert.equal(e?.id, 'python', name);
    assert.equal(e?.poolName, 'python3');
  }
  assert.equal(runtimeByPoolName('python3')?.id, 'python');
  // The registry names what really runs them (`kindling runtimes`, GetFunction).
  const d = runtimeEntry('python3.12')?.describe?.();
  assert.equal(d?.language, 'Python');
  assert.match(d?.version ?? '', /^3\.\d+\.\d+$/);
  assert.ok(d?.binary?.startsWith('/usr/'), d?.binary);
  assert.equal(d?.missing, undefined);
  assert.match(
    runtimeEntry('python3.13')?.runtimeVersion?.('eu-west-1')?.arn ?? '',
    /^arn:aws:lambda:eu-west-1::runtime:python:3\.\d+\.\d+$/,
  );
});

test('aliases are served but not accepted for new functions', () => {
  assert.ok(!SUPPORTED_RUNTIMES.includes('nodejs'));
});

test('every entry describes what it runs here: a version and binary, or why it is missing', () => {
  for (const r of RUNTIMES) {
    const d = r.describe();
    assert.ok(d.language.length > 0, r.poolName);
    if (d.missing === undefined) assert.ok(d.version && d.binary, r.poolName);
    else assert.equal(d.version, undefined, r.poolName);
  }
  const node22 = runtimeEntry('nodejs22.x')!.describe();
  assert.match(node22.version ?? '', /^22\.\d+\.\d+$/);
  assert.match(node22.binary ?? '', /node22-linux-[a-z0-9]+\/bin\/node$/);
  assert.match(runtimeEntry('nodejs24.x')!.describe().version ?? '', /^24\./);
  assert.match(runtimeEntry('nodejs18.x')!.describe().missing ?? '', /not installed on this host/);
});

test('a runtime no entry serves is unknown', () => {
  for (const name of [
    'java21',
    'python3.8',
    'python',
    'provided',
    'provided.al2024',
    '',
    'nodejs20',
    'NODEJS20.X',
    'nodejs16.x',
  ]) {
    assert.equal(runtimeEntry(name), undefined, name);
    assert.equal(runtimeByPoolName(name), undefined, name);
  }
});
