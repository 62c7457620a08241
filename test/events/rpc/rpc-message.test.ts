// The RPC message schema: what is accepted, and each malformed shape refused with a reason.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRpcMessage } from '../../../src/events/rpc/rpc-message.js';

const parse = (v: unknown) => parseRpcMessage(typeof v === 'string' ? v : JSON.stringify(v));
const refused = (v: unknown) => {
  const r = parse(v);
  assert.equal(r.ok, false);
  return r.ok ? '' : r.reason;
};

test('a single invoke with args, replyTo and requestId is accepted', () => {
  const r = parse({ invoke: 'f', args: { a: 1 }, replyTo: 'q', requestId: 'r' });
  assert.deepEqual(r, {
    ok: true,
    message: { events: [{ invoke: 'f', args: { a: 1 } }], aggregate: false, replyTo: 'q', requestId: 'r' },
  });
});
test('an aggregate keeps its sub-events in order', () => {
  const r = parse({ batch: [{ invoke: 'a' }, { invoke: 'b', args: 2 }] });
  assert.ok(r.ok);
  assert.deepEqual(
    r.message.events.map((e) => e.invoke),
    ['a', 'b'],
  );
  assert.equal(r.message.aggregate, true);
});
test('a body that is not JSON is refused', () => assert.match(refused('hello'), /not JSON/));
test('a JSON array is refused', () => assert.match(refused([1]), /JSON object/));
test('a JSON null is refused', () => assert.match(refused('null'), /JSON object/));
test('a message without invoke is refused', () => assert.match(refused({ args: {} }), /invoke/));
test('an empty function name is refused', () => assert.match(refused({ invoke: '' }), /invoke/));
test('a function name longer than 170 characters is refused', () =>
  assert.match(refused({ invoke: 'f'.repeat(171) }), /invoke/));
test('an unknown field (such as a tenant) is refused', () => {
  refused({ invoke: 'f', tenant: 'admin' });
});
test('an empty batch is refused', () => assert.match(refused({ batch: [] }), /batch/));
test('a batch of more than 100 sub-events is refused', () =>
  assert.match(refused({ batch: Array.from({ length: 101 }, () => ({ invoke: 'f' })) }), /batch/));
test('a sub-event with a replyTo of its own is refused', () => {
  refused({ batch: [{ invoke: 'f', replyTo: 'q' }] });
});
test('a non-string replyTo is refused', () => {
  refused({ invoke: 'f', replyTo: 5 });
});
test('a refused message still reports a readable replyTo and requestId', () => {
  const r = parse({ invoke: '', replyTo: 'q', requestId: 'r' });
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.replyTo, 'q');
  assert.equal(!r.ok && r.requestId, 'r');
});
