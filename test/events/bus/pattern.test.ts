// EventBridge event patterns: what matches and what does not, per matcher, and the patterns refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  EventPatternError,
  matchesEventPattern,
  parseEventPattern,
} from '../../../src/events/bus/pattern.js';

const event = {
  version: '0',
  id: 'e1',
  'detail-type': 'Order Placed',
  source: 'com.shop.orders',
  account: '123456789012',
  time: '2030-01-01T00:00:00Z',
  region: 'us-east-1',
  resources: ['arn:aws:shop:order/1', 'arn:aws:shop:customer/7'],
  detail: {
    state: 'CREATED',
    amount: 42.5,
    count: 3,
    paid: true,
    coupon: null,
    customer: { tier: 'Gold', email: 'ann@example.com' },
    items: [
      { sku: 'A-1', qty: 1 },
      { sku: 'B-2', qty: 5 },
    ],
    tags: ['new', 'eu'],
    ip: '10.1.2.3',
  },
};

const m = (pattern: unknown) => matchesEventPattern(parseEventPattern(JSON.stringify(pattern)), event);

test('exact values, any of a list, on top-level and nested fields', () => {
  assert.equal(m({ source: ['com.shop.orders'] }), true);
  assert.equal(m({ source: ['other', 'com.shop.orders'] }), true);
  assert.equal(m({ source: ['other'] }), false);
  assert.equal(m({ detail: { customer: { tier: ['Gold'] } } }), true);
  assert.equal(m({ detail: { customer: { tier: ['gold'] } } }), false);
  assert.equal(m({ detail: { count: [3] }, 'detail-type': ['Order Placed'] }), true);
  assert.equal(m({ detail: { count: ['3'] } }), false, 'a string never matches a number');
  assert.equal(m({ detail: { paid: [true], coupon: [null] } }), true);
  assert.equal(m({ detail: { missing: [null] } }), false, 'null matches null, not an absent field');
});

test('every field of the pattern must match', () => {
  assert.equal(m({ source: ['com.shop.orders'], detail: { state: ['SHIPPED'] } }), false);
});

test('event arrays match when any element does, also for arrays of objects', () => {
  assert.equal(m({ resources: ['arn:aws:shop:customer/7'] }), true);
  assert.equal(m({ detail: { tags: ['eu'] } }), true);
  assert.equal(m({ detail: { items: { sku: ['B-2'] } } }), true);
  assert.equal(m({ detail: { items: { sku: ['C-3'] } } }), false);
});

test('prefix and suffix, also ignoring case', () => {
  assert.equal(m({ source: [{ prefix: 'com.shop' }] }), true);
  assert.equal(m({ source: [{ prefix: 'org.' }] }), false);
  assert.equal(m({ detail: { customer: { email: [{ suffix: '@example.com' }] } } }), true);
  assert.equal(m({ detail: { customer: { email: [{ suffix: '@EXAMPLE.com' }] } } }), false);
  assert.equal(
    m({ detail: { customer: { email: [{ suffix: { 'equals-ignore-case': '@EXAMPLE.com' } }] } } }),
    true,
  );
  assert.equal(m({ source: [{ prefix: { 'equals-ignore-case': 'COM.SHOP' } }] }), true);
});

test('equals-ignore-case and wildcard', () => {
  assert.equal(m({ detail: { state: [{ 'equals-ignore-case': 'created' }] } }), true);
  assert.equal(m({ detail: { customer: { email: [{ wildcard: 'ann@*.com' }] } } }), true);
  assert.equal(m({ detail: { customer: { email: [{ wildcard: 'bob@*' }] } } }), false);
});

test('anything-but: a value, a list, a prefix, a suffix', () => {
  assert.equal(m({ detail: { state: [{ 'anything-but': 'CANCELLED' }] } }), true);
  assert.equal(m({ detail: { state: [{ 'anything-but': 'CREATED' }] } }), false);
  assert.equal(m({ detail: { state: [{ 'anything-but': ['A', 'CREATED'] }] } }), false);
  assert.equal(m({ detail: { count: [{ 'anything-but': [1, 2] }] } }), true);
  assert.equal(m({ detail: { count: [{ 'anything-but': [3] }] } }), false);
  assert.equal(m({ source: [{ 'anything-but': { prefix: 'com.' } }] }), false);
  assert.equal(m({ source: [{ 'anything-but': { prefix: 'org.' } }] }), true);
  assert.equal(m({ source: [{ 'anything-but': { suffix: '.orders' } }] }), false);
  assert.equal(m({ detail: { missing: [{ 'anything-but': 'x' }] } }), false, 'needs the field');
});

test('numeric ranges and equality', () => {
  assert.equal(m({ detail: { amount: [{ numeric: ['>', 40, '<=', 42.5] }] } }), true);
  assert.equal(m({ detail: { amount: [{ numeric: ['>', 42.5] }] } }), false);
  assert.equal(m({ detail: { amount: [{ numeric: ['>=', 42.5] }] } }), true);
  assert.equal(m({ detail: { count: [{ numeric: ['=', 3] }] } }), true);
  assert.equal(m({ detail: { count: [{ numeric: ['<', 3] }] } }), false);
  assert.equal(m({ detail: { state: [{ numeric: ['>', 0] }] } }), false, 'a string is not a number');
});

test('exists true and false', () => {
  assert.equal(m({ detail: { state: [{ exists: true }] } }), true);
  assert.equal(m({ detail: { nope: [{ exists: true }] } }), false);
  assert.equal(m({ detail: { nope: [{ exists: false }] } }), true);
  assert.equal(m({ detail: { state: [{ exists: false }] } }), false);
  assert.equal(m({ other: { deep: [{ exists: false }] } }), true, 'under a missing object too');
});

test('cidr on IPv4 addresses', () => {
  assert.equal(m({ detail: { ip: [{ cidr: '10.0.0.0/8' }] } }), true);
  assert.equal(m({ detail: { ip: [{ cidr: '10.2.0.0/16' }] } }), false);
});

test('$or: one of the alternatives must match', () => {
  assert.equal(m({ $or: [{ source: ['x'] }, { detail: { count: [3] } }] }), true);
  assert.equal(m({ $or: [{ source: ['x'] }, { detail: { count: [4] } }] }), false);
  assert.equal(
    m({ source: ['com.shop.orders'], detail: { $or: [{ paid: [false] }, { count: [3] }] } }),
    true,
  );
});

test('a hostile wildcard with many stars answers quickly (no regular-expression backtracking)', () => {
  const p = parseEventPattern(JSON.stringify({ s: [{ wildcard: `${'*a'.repeat(40)}*b` }] }));
  assert.equal(matchesEventPattern(p, { s: 'a'.repeat(20_000) }), false);
});

for (const [why, pattern] of [
  ['not JSON', '{"source": ['],
  ['not an object', '["a"]'],
  ['an empty object', '{}'],
  ['a scalar where an array belongs', '{"source": "com.shop"}'],
  ['an empty array', '{"source": []}'],
  ['a nested array', '{"source": [["a"]]}'],
  ['an unknown matcher', '{"source": [{"regex": ".*"}]}'],
  ['two keys in a matcher', '{"source": [{"prefix": "a", "suffix": "b"}]}'],
  ['a prefix that is not a string', '{"source": [{"prefix": 5}]}'],
  ['exists that is not a boolean', '{"source": [{"exists": "yes"}]}'],
  ['numeric with an unknown operator', '{"n": [{"numeric": ["!=", 1]}]}'],
  ['numeric with an empty range', '{"n": [{"numeric": [">", 5, "<", 1]}]}'],
  ['numeric out of range', '{"n": [{"numeric": [">", 1e12]}]}'],
  ['anything-but with mixed types', '{"s": [{"anything-but": ["a", 1]}]}'],
  ['$or with one alternative', '{"$or": [{"source": ["a"]}]}'],
  ['a bad cidr', '{"ip": [{"cidr": "10.0.0.0/40"}]}'],
] as const) {
  test(`a pattern with ${why} is refused`, () => {
    assert.throws(() => parseEventPattern(pattern), EventPatternError);
  });
}
