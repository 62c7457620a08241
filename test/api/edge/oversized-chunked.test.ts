// A body over the operation's limit is answered 413 whether its length was declared or it arrived chunked:
// the refusal closes the connection lingering, so the client reads the answer instead of a reset.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { connect, signedHead, statusOf, within } from './helpers.js';

let p: TestPlatform;
before(async () => {
  p = await startPlatform();
});
after(() => p.close());

const INVOKE = '/2015-03-31/functions/nobody/invocations';

test('a chunked Event invoke over 256 KB answers 413 RequestEntityTooLargeException, not a reset', async () => {
  const body = Buffer.alloc(300 * 1024, 'x');
  const head = signedHead(p.endpoint, p.credentials, {
    method: 'POST',
    path: INVOKE,
    service: 'lambda',
    body,
    headers: { 'x-amz-invocation-type': 'Event' },
  }).replace(/content-length: \d+\r\n/, 'transfer-encoding: chunked\r\n');
  const c = await connect(p.endpoint);
  c.socket.write(head);
  // The whole body in 16 KB chunks, as a streaming client sends it, without waiting for an answer.
  for (let i = 0; i < body.length; i += 16 * 1024) {
    const part = body.subarray(i, i + 16 * 1024);
    c.socket.write(`${part.length.toString(16)}\r\n`);
    c.socket.write(part);
    c.socket.write('\r\n');
  }
  c.socket.write('0\r\n\r\n');
  const raw = await within(c.closed, 10_000, 'the answer');
  assert.equal(statusOf(raw), 413, raw.slice(0, 300));
  assert.match(raw, /RequestEntityTooLargeException/);
});
