// Unit tests of the one ARN module: what counts as a function or queue ARN and what is read from one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  accountInFunctionRef,
  functionArn,
  isFunctionArn,
  isQueueArn,
  parseFunctionArn,
  qualifierInFunctionRef,
} from '../../src/control/arn.js';

const ARN = 'arn:aws:lambda:us-east-1:123456789012:function:my-fn';

test('a function ARN built from its parts parses back to them', () => {
  assert.deepEqual(parseFunctionArn(functionArn('eu-west-1', '123456789012', 'f_1')), {
    region: 'eu-west-1',
    accountId: '123456789012',
    name: 'f_1',
    qualifier: undefined,
  });
});

test('a qualified function ARN carries its qualifier', () => {
  assert.equal(parseFunctionArn(`${ARN}:$LATEST`)?.qualifier, '$LATEST');
  assert.equal(parseFunctionArn(`${ARN}:live`)?.qualifier, 'live');
});

test('names, partial ARNs and other services are not function ARNs', () => {
  for (const s of [
    'my-fn',
    '123456789012:function:my-fn',
    'arn:aws:sqs:us-east-1:123456789012:q',
    `${ARN}:a:b`,
  ]) {
    assert.equal(parseFunctionArn(s), undefined, s);
    assert.equal(isFunctionArn(s), false, s);
  }
});

test('a function name longer than 64 characters is not a function ARN', () => {
  assert.equal(isFunctionArn(`arn:aws:lambda:us-east-1:123456789012:function:${'a'.repeat(65)}`), false);
});

test('queue ARNs are told apart from function ARNs', () => {
  assert.equal(isQueueArn('arn:aws:sqs:us-east-1:123456789012:jobs.fifo'), true);
  assert.equal(isQueueArn(ARN), false);
});

test('the account is read from full and partial function ARNs, not from a bare name', () => {
  assert.equal(accountInFunctionRef(ARN), '123456789012');
  assert.equal(accountInFunctionRef('210987654321:function:f'), '210987654321');
  assert.equal(accountInFunctionRef('f'), undefined);
});

test('the qualifier is read from an ARN or from name:qualifier', () => {
  assert.equal(qualifierInFunctionRef(`${ARN}:v1`), 'v1');
  assert.equal(qualifierInFunctionRef('f:prod'), 'prod');
  assert.equal(qualifierInFunctionRef(ARN), undefined);
  assert.equal(qualifierInFunctionRef('f'), undefined);
});
