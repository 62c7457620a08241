// Unit tests of "attempt -> next step": the pure decision the async dispatcher takes after each attempt.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LambdaErrors } from '../../../src/errors.js';
import { attemptFromError, attemptFromRun, nextStep, tooOld } from '../../../src/invoke/async-attempt.js';
import type { AttemptResult } from '../../../src/invoke/async-event.js';

const limits = { maxRetries: 2, maxEventAgeSec: 3600 };
const BASE = 1000;
const NOW = 10_000_000;
const fresh = { attempts: 0, throttles: 0, enqueuedAt: NOW };
const error: AttemptResult = { outcome: 'error', errorType: 'Unhandled', errorMessage: 'x', status: 200 };
const throttled: AttemptResult = { outcome: 'throttled', errorType: 'TooManyRequestsException', status: 429 };

test('a successful attempt finishes the event as succeeded', () => {
  assert.deepEqual(nextStep(fresh, { outcome: 'success', status: 200 }, limits, BASE, NOW), {
    kind: 'succeed',
  });
});

test('a function that is gone fails the event with FunctionNotFound', () => {
  assert.deepEqual(nextStep(fresh, { outcome: 'not-found', status: 404 }, limits, BASE, NOW), {
    kind: 'fail',
    condition: 'FunctionNotFound',
  });
});

test('a function error is retried after the base delay, then after double the delay', () => {
  assert.deepEqual(nextStep(fresh, error, limits, BASE, NOW), {
    kind: 'retry',
    at: NOW + BASE,
    throttled: false,
  });
  assert.deepEqual(nextStep({ ...fresh, attempts: 1 }, error, limits, BASE, NOW), {
    kind: 'retry',
    at: NOW + 2 * BASE,
    throttled: false,
  });
});

test('a function error after the last retry fails the event with RetriesExhausted', () => {
  assert.deepEqual(nextStep({ ...fresh, attempts: 2 }, error, limits, BASE, NOW), {
    kind: 'fail',
    condition: 'RetriesExhausted',
  });
  assert.deepEqual(nextStep(fresh, error, { ...limits, maxRetries: 0 }, BASE, NOW), {
    kind: 'fail',
    condition: 'RetriesExhausted',
  });
});

test('throttles do not use up retries: the tenth throttle is still retried', () => {
  const step = nextStep({ ...fresh, attempts: 2, throttles: 9 }, throttled, limits, BASE, NOW);
  assert.equal(step.kind, 'retry');
  assert.equal(step.kind === 'retry' && step.throttled, true);
});

test('a retry that would start past the maximum event age fails the event with EventAgeExceeded', () => {
  const old = { ...fresh, enqueuedAt: NOW - 3600 * 1000 + BASE / 2 };
  assert.deepEqual(nextStep(old, throttled, limits, BASE, NOW), {
    kind: 'fail',
    condition: 'EventAgeExceeded',
  });
  assert.deepEqual(nextStep(old, error, limits, BASE, NOW), { kind: 'fail', condition: 'EventAgeExceeded' });
});

test('an event older than its maximum age is not run at all', () => {
  assert.equal(tooOld({ enqueuedAt: NOW - 3601 * 1000 }, limits, NOW), true);
  assert.equal(tooOld({ enqueuedAt: NOW - 3599 * 1000 }, limits, NOW), false);
});

test('a run with a function error becomes an error attempt carrying the response', () => {
  const payload = Buffer.from('{"errorMessage":"boom","errorType":"Error"}');
  const a = attemptFromRun({ payload, functionError: 'Unhandled', errorType: 'Error' } as never);
  assert.equal(a.outcome, 'error');
  assert.equal(a.errorType, 'Error');
  assert.equal(a.errorMessage, 'boom');
  assert.equal(a.response, payload);
});

test('a run refused because the function is gone becomes a not-found attempt', () => {
  const a = attemptFromError(LambdaErrors.functionNotFound('f'));
  assert.equal(a.outcome, 'not-found');
  assert.equal(a.status, 404);
});

test('a throttled run becomes a throttled attempt that keeps its status', () => {
  const a = attemptFromError(LambdaErrors.tooManyRequests('Rate exceeded'));
  assert.equal(a.outcome, 'throttled');
  assert.equal(a.status, 429);
});
