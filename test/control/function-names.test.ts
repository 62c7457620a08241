// What callers name a function by, parsed as Lambda reads it: a plain name takes a fast path on the invoke
// hot path, and must read exactly as the full pattern reads it (and be refused with the same words).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FUNCTION_REF_PATTERN, parseFunctionRef } from '../../src/control/function-names.js';
import { asLambda } from '../helpers/lambda-errors.js';

const REF = new RegExp(`^${FUNCTION_REF_PATTERN}$`);

/** The full pattern's reading, as parseFunctionRef read every name before its fast path. */
function byPattern(ref: string) {
  const m = REF.exec(ref);
  if (!m) return undefined;
  return { name: m[7]!, accountId: m[5]?.slice(0, -1), region: m[3]?.slice(0, -1), qualifier: m[9] };
}

/** Each reference reads as the full pattern reads it. */
const readsAsPattern = (refs: string[]) => {
  for (const r of refs) assert.deepEqual(parseFunctionRef(r), byPattern(r), r);
};

test('a plain name reads as the full pattern reads it', () =>
  readsAsPattern([
    'f',
    'bench-trivial',
    'my_fn.v2',
    '123456789012',
    'a'.repeat(64),
    '-',
    '.',
    'us-east-1',
    'function',
  ]));

test('names the fast path does not take still read as before', () =>
  readsAsPattern([
    'f:1',
    'f:$LATEST',
    'f:live',
    '123456789012:function:f',
    'arn:aws:lambda:us-east-1:123456789012:function:f',
    'arn:aws:lambda:us-east-1:123456789012:function:f:prod',
  ]));

test('bad names are refused with the same words, fast path or not', () => {
  const refused = (ref: string) => {
    try {
      parseFunctionRef(ref);
    } catch (e) {
      return asLambda(e).message;
    }
    assert.fail(`${ref} was accepted`);
  };
  assert.match(refused('a'.repeat(65)), /Member must have length less than or equal to 64/);
  assert.match(refused('bad name'), /Member must satisfy regular expression pattern/);
  assert.match(refused('f/../g'), /Member must satisfy regular expression pattern/);
  assert.match(refused(''), /greater than or equal to 1/);
});
