import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSince } from '../../src/cli/logs.js';

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);

test('--since 10m means ten minutes before now', () => {
  assert.equal(parseSince('10m', NOW), NOW - 600_000);
});

test('--since 1d means one day before now', () => {
  assert.equal(parseSince('1d', NOW), NOW - 86_400_000);
});

test('--since takes an ISO 8601 date', () => {
  assert.equal(parseSince('2026-11-25T11:00:00Z', NOW), Date.UTC(2026, 10, 25, 11));
});

test('--since with an unknown unit is a usage error', () => {
  assert.throws(() => parseSince('10w', NOW), { exitCode: 2 });
});

test('--since with a bare number is a usage error', () => {
  assert.throws(() => parseSince('600', NOW), { exitCode: 2 });
});
