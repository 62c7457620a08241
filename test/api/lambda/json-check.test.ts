// The Invoke payload check accepts exactly what JSON.parse accepts, without parsing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isJson } from '../../../src/api/lambda/json-check.js';

const parses = (b: Buffer): boolean => {
  try {
    JSON.parse(b.toString('utf8'));
    return true;
  } catch {
    return false;
  }
};

const agree = (s: string | Buffer): void => {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  assert.equal(isJson(b), parses(b), `disagreement on ${JSON.stringify(b.toString('latin1'))}`);
};

test('valid JSON texts of every kind are accepted', () => {
  for (const s of [
    '{}',
    '[]',
    ' \t\r\n{"a":[1,-2.5e+3,0,0.1,1E9,true,false,null,"x\\u00e9\\n\\"\\\\\\/"]}\n',
    '"just a string"',
    '0',
    '-0',
    'null',
    '{"nested":{"deep":[[[{}]]]}}',
    '"\u2028 é 漢"',
  ])
    assert.equal(isJson(Buffer.from(s)), true, s);
});

test('each kind of malformed JSON is refused', () => {
  for (const s of [
    '',
    ' ',
    '{',
    '}',
    '[1,]',
    '{"a":1,}',
    '{"a" 1}',
    '{a:1}',
    "{'a':1}",
    '01',
    '1.',
    '.5',
    '-',
    '1e',
    '+1',
    'tru',
    'nul',
    'True',
    '"unterminated',
    '"bad \\x escape"',
    '"\\u12G4"',
    '"tab\there"',
    '{} {}',
    '[1] x',
    '\ufeff{}',
    'NaN',
    'Infinity',
  ]) {
    assert.equal(isJson(Buffer.from(s)), false, s);
    agree(s);
  }
});

test('invalid UTF-8 inside a string is accepted, outside refused, as JSON.parse does', () => {
  agree(Buffer.from([0x22, 0xff, 0xfe, 0x22]));
  agree(Buffer.from([0x22, 0xe2, 0x22]));
  agree(Buffer.from([0x5b, 0xff, 0x5d]));
});

test('deep nesting is checked without recursion', () => {
  const depth = 200_000;
  assert.equal(isJson(Buffer.from('['.repeat(depth) + ']'.repeat(depth))), true);
  assert.equal(isJson(Buffer.from('['.repeat(depth) + ']'.repeat(depth - 1))), false);
});

test('on arbitrary JSON and arbitrary near-JSON text, the check agrees with JSON.parse', () => {
  const json = fc.json().map((s) => s);
  const mutated = fc
    .tuple(fc.json(), fc.nat(), fc.constantFrom('', ',', '}', ']', '"', '\\', ' ', 'x', '0', '-', '\u0001'))
    .map(([s, at, insert]) => {
      const k = s.length === 0 ? 0 : at % (s.length + 1);
      return s.slice(0, k) + insert + s.slice(k + (insert === '' ? 1 : 0));
    });
  fc.assert(
    fc.property(fc.oneof(json, mutated, fc.string()), (s) => agree(s)),
    { seed: 8, numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 24 }), (a) => agree(Buffer.from(a))),
    { seed: 8, numRuns: 3000 },
  );
});
