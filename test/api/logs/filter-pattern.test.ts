// CloudWatch's filter patterns on unstructured text, one behaviour each.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileFilterPattern } from '../../../src/api/logs/filter-pattern.js';

const matches = (pattern: string, message: string) => compileFilterPattern(pattern)(message);

test('an empty pattern, or "", matches everything', () => {
  assert.equal(matches('', 'anything'), true);
  assert.equal(matches('  ', 'anything'), true);
  assert.equal(matches('""', 'anything'), true);
});

test('every bare term must occur, as a case-sensitive substring', () => {
  assert.equal(matches('ERROR disk', '[ERROR] no disk left'), true);
  assert.equal(matches('ERROR disk', '[ERROR] no space left'), false);
  assert.equal(matches('error', '[ERROR]'), false);
});

test('a quoted phrase matches as a whole, with escaped quotes inside', () => {
  assert.equal(matches('"disk full"', 'the disk full now'), true);
  assert.equal(matches('"disk full"', 'full disk'), false);
  assert.equal(matches('"say \\"hi\\""', 'they say "hi" here'), true);
});

test('an exclusion drops events that contain the term', () => {
  assert.equal(matches('ERROR -retrying', 'ERROR retrying'), false);
  assert.equal(matches('ERROR -retrying', 'ERROR gave up'), true);
  assert.equal(matches('-"health check"', 'GET /health check'), false);
});

test('?terms match when any one of them occurs', () => {
  assert.equal(matches('?ERROR ?WARN', 'WARN slow'), true);
  assert.equal(matches('?ERROR ?WARN', 'INFO fine'), false);
  assert.equal(matches('?ERROR ?WARN -disk', 'ERROR disk'), false);
});

test('JSON, space-delimited and regular-expression patterns are refused, naming them', () => {
  for (const [p, name] of [
    ['{ $.level = "ERROR" }', /JSON filter patterns/],
    ['[ip, user, status = 404]', /Space-delimited/],
    ['%ERR(OR)?%', /Regular-expression/],
  ] as const) {
    assert.throws(
      () => compileFilterPattern(p),
      (e: Error) => e.name === 'InvalidParameterException' && name.test(e.message),
    );
  }
});

test('an unclosed quote or a dangling operator is refused', () => {
  assert.throws(() => compileFilterPattern('"open'), { name: 'InvalidParameterException' });
  assert.throws(() => compileFilterPattern('ERROR ?'), { name: 'InvalidParameterException' });
  assert.throws(() => compileFilterPattern('ab"cd'), { name: 'InvalidParameterException' });
});
