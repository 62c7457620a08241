// The budget for unauthenticated body bytes: per client address (IPv6 per /64) and server-wide.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressKey, PreAuthBudget } from '../../../src/api/edge-limits.js';

test('one address cannot hold more than its share, other addresses still can', () => {
  const b = new PreAuthBudget({ unauthenticatedBytes: 100, unauthenticatedBytesPerAddress: 40 });
  const a1 = b.hold('10.0.0.1');
  assert.equal(a1.reserve(40), true);
  assert.equal(b.hold('10.0.0.1').reserve(1), false);
  assert.equal(b.hold('10.0.0.2').reserve(40), true);
  assert.equal(b.bytes, 80);
  a1.release();
  assert.equal(b.bytes, 40);
  assert.equal(b.hold('10.0.0.1').reserve(40), true);
});

test('many addresses together cannot pass the server-wide cap', () => {
  const b = new PreAuthBudget({ unauthenticatedBytes: 100, unauthenticatedBytesPerAddress: 40 });
  const ok = Array.from({ length: 10 }, (_, i) => b.hold(`10.0.0.${i}`).reserve(30)).filter(Boolean);
  assert.equal(ok.length, 3);
  assert.ok(b.bytes <= 100);
});

test('unix-socket peers (no address) count toward the server-wide cap only', () => {
  const b = new PreAuthBudget({ unauthenticatedBytes: 100, unauthenticatedBytesPerAddress: 40 });
  assert.equal(b.hold(undefined).reserve(60), true);
  assert.equal(b.hold(undefined).reserve(40), true);
  assert.equal(b.hold(undefined).reserve(1), false);
});

test('IPv6 peers of one /64 share one share; an IPv4-mapped address is its IPv4 address', () => {
  assert.equal(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:2:ffff:0:0:9'));
  assert.notEqual(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
  assert.equal(addressKey('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  const b = new PreAuthBudget({ unauthenticatedBytes: 100, unauthenticatedBytesPerAddress: 40 });
  assert.equal(b.hold('2001:db8:1:2::1').reserve(40), true);
  assert.equal(b.hold('2001:db8:1:2::99').reserve(1), false);
});

test('a hold grows to what has arrived and is given back once', () => {
  const b = new PreAuthBudget({ unauthenticatedBytes: 100, unauthenticatedBytesPerAddress: 100 });
  const h = b.hold('10.0.0.1');
  assert.equal(h.reserve(10), true);
  assert.equal(h.reserve(5), true);
  assert.equal(h.reserve(30), true);
  assert.equal(b.bytes, 30);
  h.release();
  h.release();
  assert.equal(b.bytes, 0);
});
