// The runtime registry is the one list: what CreateFunction accepts, what the worker serves, and which
// runtime folder serves each name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SUPPORTED_RUNTIMES as CONTROL_RUNTIMES } from '../../src/control/functions.js';
import {
  DEFAULT_RUNTIME,
  runtimeByPoolName,
  runtimeEntry,
  SUPPORTED_RUNTIMES,
} from '../../src/runtimes/registry.js';

test('the control plane validates against the registry list itself', () => {
  assert.equal(CONTROL_RUNTIMES, SUPPORTED_RUNTIMES);
  assert.deepEqual(
    [...SUPPORTED_RUNTIMES],
    [
      'nodejs20.x',
      'nodejs18.x',
      'nodejs22.x',
      'python3.13',
      'python3.12',
      'python3.11',
      'python3.10',
      'python3.9',
    ],
  );
});

test('every Node name and alias is served by the node runtime and shares its pools', () => {
  for (const name of ['nodejs20.x', 'nodejs18.x', 'nodejs22.x', 'nodejs24.x', 'nodejs']) {
    const e = runtimeEntry(name);
    assert.equal(e?.id, 'node', name);
    assert.equal(e?.poolName, 'nodejs20.x');
  }
  assert.equal(DEFAULT_RUNTIME.id, 'node');
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
  assert.ok(!(SUPPORTED_RUNTIMES as readonly string[]).includes('nodejs24.x'));
  assert.ok(!(SUPPORTED_RUNTIMES as readonly string[]).includes('nodejs'));
});

test('a runtime no entry serves is unknown', () => {
  for (const name of ['python3.8', 'python', 'provided.al2', '', 'nodejs20', 'NODEJS20.X']) {
    assert.equal(runtimeEntry(name), undefined, name);
    assert.equal(runtimeByPoolName(name), undefined, name);
  }
});
