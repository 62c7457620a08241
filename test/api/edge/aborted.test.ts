// A client that goes away while its body is being read is no internal error: it is noted at debug
// level (KINDLING_DEBUG) in one line, without a stack trace (issue 7, finding 6).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { signHeaders } from '../s3/fixtures.js';
import { connect, signedHead } from './helpers.js';

let p: TestPlatform;
let logged: string[] = [];
const original = console.error;

before(async () => {
  p = await startPlatform();
  console.error = (...args: unknown[]) => {
    logged.push(args.map((a) => (a instanceof Error ? (a.stack ?? a.message) : String(a))).join(' '));
  };
  process.env.KINDLING_DEBUG = '1';
});

after(async () => {
  console.error = original;
  delete process.env.KINDLING_DEBUG;
  await p.close();
});

async function abortMidBody(head: string, sent: Buffer): Promise<void> {
  logged = [];
  const c = await connect(p.endpoint);
  c.socket.write(head);
  c.socket.write(sent);
  await new Promise((r) => setTimeout(r, 200));
  c.socket.resetAndDestroy();
  await c.closed;
  // The server notices the reset on its next turn of the loop.
  for (let i = 0; i < 50 && !logged.some((l) => l.includes('client went away')); i++)
    await new Promise((r) => setTimeout(r, 20));
}

function assertDebugOnly(): void {
  assert.ok(!logged.some((l) => l.includes('internal error')), logged.join('\n'));
  const notes = logged.filter((l) => l.includes('client went away'));
  assert.equal(notes.length, 1, logged.join('\n'));
  assert.doesNotMatch(notes[0]!, /\n\s+at /);
}

test('a Lambda request aborted while its body is read is a one-line debug note, not an internal error', async () => {
  const body = Buffer.alloc(100_000, 'a');
  const head = signedHead(p.endpoint, p.credentials, {
    method: 'POST',
    path: '/2015-03-31/functions/nobody/invocations',
    service: 'lambda',
    body,
  });
  await abortMidBody(head, body.subarray(0, 1000));
  assertDebugOnly();
});

test('an S3 upload aborted midway is a one-line debug note, not an internal error', async () => {
  const body = Buffer.alloc(1_000_000, 'b');
  // Create the bucket first so the upload reaches the store.
  const mk = await connect(p.endpoint);
  mk.socket.write(
    signedHead(p.endpoint, p.credentials, {
      method: 'PUT',
      path: '/aborted-uploads',
      service: 's3',
      headers: { connection: 'close' },
    }),
  );
  await mk.closed;
  const signed = signHeaders(
    p.endpoint,
    p.credentials,
    'PUT',
    '/aborted-uploads/big',
    {},
    'UNSIGNED-PAYLOAD',
  );
  const lines = ['PUT /aborted-uploads/big HTTP/1.1', `content-length: ${body.length}`];
  for (const [k, v] of Object.entries(signed.headers)) lines.push(`${k}: ${v}`);
  const head = `${lines.join('\r\n')}\r\n\r\n`;
  await abortMidBody(head, body.subarray(0, 10_000));
  assertDebugOnly();
});
