// Unit tests of the pure pieces of async invocation: retry delays and the invocation record's shape.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { destinationKind, invocationRecord } from '../../../src/invoke/async-destinations.js';
import { retryDelayMs } from '../../../src/invoke/async-dispatcher.js';
import type { AsyncEvent } from '../../../src/invoke/async-queue.js';

const event = (over: Partial<AsyncEvent> = {}): AsyncEvent => ({
  id: 1,
  requestId: 'req-1',
  tenantId: 't',
  functionName: 'f',
  functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:f',
  qualifier: undefined,
  payload: Buffer.from('{"a":1}'),
  source: { kind: 'api' },
  status: 'running',
  condition: undefined,
  attempts: 0,
  throttles: 0,
  enqueuedAt: 0,
  nextAttemptAt: 0,
  finishedAt: undefined,
  lastErrorType: undefined,
  lastErrorMessage: undefined,
  lastStatus: undefined,
  lastResponse: undefined,
  executedVersion: undefined,
  delivery: undefined,
  chainDepth: 0,
  ...over,
});

test('retry delays start at the base and double', () => {
  assert.deepEqual(
    [1, 2, 3, 4].map((n) => retryDelayMs(1000, n)),
    [1000, 2000, 4000, 8000],
  );
});

test('retry delays are capped at 5 minutes', () => {
  assert.equal(retryDelayMs(1000, 30), 300_000);
});

test('a success record carries the response payload and no functionError', () => {
  const r = invocationRecord(
    event({
      attempts: 1,
      lastStatus: 200,
      lastResponse: Buffer.from('{"ok":true}'),
      executedVersion: '$LATEST',
    }),
    'Success',
    0,
  );
  assert.deepEqual(r, {
    version: '1.0',
    timestamp: '1970-01-01T00:00:00.000Z',
    requestContext: {
      requestId: 'req-1',
      functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST',
      condition: 'Success',
      approximateInvokeCount: 1,
    },
    requestPayload: { a: 1 },
    responseContext: { statusCode: 200, executedVersion: '$LATEST' },
    responsePayload: { ok: true },
  });
});

test('a failure record marks the function error as Unhandled', () => {
  const r = invocationRecord(
    event({
      attempts: 3,
      lastStatus: 200,
      lastErrorType: 'Error',
      lastResponse: Buffer.from('{"errorMessage":"x"}'),
    }),
    'RetriesExhausted',
  );
  assert.deepEqual(r.responseContext, {
    statusCode: 200,
    executedVersion: '$LATEST',
    functionError: 'Unhandled',
  });
  assert.equal((r.requestContext as { approximateInvokeCount: number }).approximateInvokeCount, 3);
});

test('a record of an event that only ever got throttled has status 429 and no response payload', () => {
  const r = invocationRecord(
    event({ throttles: 4, lastStatus: 429, lastErrorType: 'TooManyRequestsException' }),
    'EventAgeExceeded',
  );
  assert.deepEqual(r.responseContext, { statusCode: 429, executedVersion: '$LATEST' });
  assert.equal('responsePayload' in r, false);
});

test('a payload that is not JSON travels as a string in requestPayload', () => {
  const r = invocationRecord(event({ payload: Buffer.from('plain text') }), 'Success');
  assert.equal(r.requestPayload, 'plain text');
});

test('destination ARNs are told apart: queue, function, anything else', () => {
  assert.equal(destinationKind('arn:aws:sqs:us-east-1:123456789012:q'), 'sqs');
  assert.equal(destinationKind('arn:aws:lambda:us-east-1:123456789012:function:f'), 'lambda');
  assert.equal(destinationKind('arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST'), 'lambda');
  assert.equal(destinationKind('arn:aws:sns:us-east-1:123456789012:topic'), undefined);
  assert.equal(destinationKind('q'), undefined);
});
