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
    ['nodejs20.x', 'nodejs18.x', 'nodejs22.x', 'provided.al2023', 'provided.al2'],
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

test('both custom runtime names are served by the provided runtime and share one pool', () => {
  for (const name of ['provided.al2023', 'provided.al2']) {
    const e = runtimeEntry(name);
    assert.equal(e?.id, 'provided', name);
    assert.equal(e?.poolName, 'provided.al2023');
  }
  assert.equal(runtimeByPoolName('provided.al2023')?.id, 'provided');
});

test('aliases are served but not accepted for new functions', () => {
  assert.ok(!(SUPPORTED_RUNTIMES as readonly string[]).includes('nodejs24.x'));
  assert.ok(!(SUPPORTED_RUNTIMES as readonly string[]).includes('nodejs'));
});

test('a runtime no entry serves is unknown', () => {
  for (const name of ['python3.12', 'provided', 'provided.al2024', '', 'nodejs20', 'NODEJS20.X']) {
    assert.equal(runtimeEntry(name), undefined, name);
    assert.equal(runtimeByPoolName(name), undefined, name);
  }
});
