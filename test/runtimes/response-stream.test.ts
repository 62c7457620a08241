// Response streaming's two halves without a sandbox: the runtime's ResponseStream (what leaves as chunk
// frames, in what pieces, with what content type and prelude) and the host's StreamRelay (backpressure by
// pausing the channel, the 20 MB and 6 MB limits, buffering for callers that do not stream).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  HTTP_INTEGRATION_TYPE,
  installAwsLambdaGlobal,
  isStreaming,
  ResponseStream,
} from '../../src/runtimes/node/response-stream.js';
import { BUFFERED_LIMIT, STREAM_LIMIT, StreamRelay } from '../../src/runtimes/node/stream-relay.js';
import type { ResponseSink } from '../../src/runtimes/runtime.js';

type Sent = { ct: string | undefined; body: Buffer };

function capture(): { sent: Sent[]; stream: ResponseStream } {
  const sent: Sent[] = [];
  const stream = new ResponseStream((ct, body, done) => {
    sent.push({ ct, body: Buffer.from(body) });
    done();
  });
  return { sent, stream };
}

const ended = (s: ResponseStream) => new Promise((r) => s.end(r));

/** The global as handlers see it. */
type AwsLambda = {
  streamifyResponse: (f: unknown) => unknown;
  HttpResponseStream: { from: (s: unknown, prelude: unknown) => unknown };
};
function awslambda(): AwsLambda {
  installAwsLambdaGlobal();
  return (globalThis as unknown as { awslambda: AwsLambda }).awslambda;
}

test("streamifyResponse marks the handler with Lambda's own symbol; HttpResponseStream.from needs the real stream", () => {
  const { streamifyResponse, HttpResponseStream } = awslambda();
  const h = streamifyResponse(async () => {});
  assert.equal(isStreaming(h), true);
  assert.equal(
    (h as Record<symbol, unknown>)[Symbol.for('aws.lambda.runtime.handler.streaming')],
    'response',
  );
  assert.equal(
    isStreaming(async () => {}),
    false,
  );
  assert.throws(() => HttpResponseStream.from({ write() {} }, {}), TypeError);
});

test('the first chunk carries the content type; later ones do not; nothing written still announces it', async () => {
  const { sent, stream } = capture();
  stream.setContentType('text/csv');
  stream.write('a,b\n');
  stream.write(Buffer.from('1,2\n'));
  await ended(stream);
  assert.deepEqual(
    sent.map((s) => [s.ct, s.body.toString()]),
    [
      ['text/csv', 'a,b\n'],
      [undefined, '1,2\n'],
    ],
  );
  assert.throws(() => stream.setContentType('text/plain'), /after the first write/);
  assert.throws(() => capture().stream.setContentType('text/plain\r\nX-Evil: 1'), TypeError);
  const empty = capture();
  await ended(empty.stream);
  assert.deepEqual(
    empty.sent.map((s) => [s.ct, s.body.length]),
    [['application/octet-stream', 0]],
  );
});

test('HttpResponseStream.from: the JSON prelude and 8 NUL bytes precede the first bytes, even when none follow', async () => {
  const { from } = awslambda().HttpResponseStream;
  const { sent, stream } = capture();
  from(stream, { statusCode: 302, headers: { location: '/x' } });
  await ended(stream);
  assert.equal(sent[0]!.ct, HTTP_INTEGRATION_TYPE);
  assert.equal(
    sent[0]!.body.toString('latin1'),
    `${JSON.stringify({ statusCode: 302, headers: { location: '/x' } })}${'\0'.repeat(8)}`,
  );
});

test('a write larger than a frame leaves in 1 MB pieces, in order', async () => {
  const { sent, stream } = capture();
  const big = Buffer.alloc(2.5 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  stream.write(big);
  await ended(stream);
  assert.deepEqual(
    sent.map((s) => s.body.length),
    [1024 * 1024, 1024 * 1024, 0.5 * 1024 * 1024],
  );
  assert.equal(sent[0]!.ct, 'application/octet-stream');
  assert.equal(sent[1]!.ct, undefined);
  assert.ok(Buffer.concat(sent.map((s) => s.body)).equals(big));
});

function channel() {
  const log: string[] = [];
  return {
    log,
    ch: { pause: () => log.push('pause'), resume: () => log.push('resume'), kill: () => log.push('kill') },
  };
}

test('a full sink pauses the channel until it has room; the end resumes it whatever the sink says', () => {
  const { log, ch } = channel();
  let room: () => void = () => {};
  let full = true;
  const got: string[] = [];
  const sink: ResponseSink = {
    write: (c, ct) => {
      got.push(`${ct}:${c.toString()}`);
      return !full;
    },
    onRoom: (r) => {
      room = r;
    },
  };
  const relay = new StreamRelay(ch, sink);
  relay.push('text/plain', Buffer.from('a'));
  relay.push(undefined, Buffer.from('b'));
  assert.deepEqual(log, ['pause']);
  full = false;
  room();
  room();
  assert.deepEqual(log, ['pause', 'resume']);
  full = true;
  relay.push(undefined, Buffer.from('c'));
  relay.end();
  assert.deepEqual(log, ['pause', 'resume', 'pause', 'resume']);
  assert.deepEqual(got, ['text/plain:a', 'text/plain:b', 'text/plain:c']);
});

test('past the streamed limit the environment is killed and nothing more is passed on', () => {
  const { log, ch } = channel();
  let passed = 0;
  const sink: ResponseSink = {
    write: (c) => {
      passed += c.length;
      return true;
    },
    onRoom: () => {},
  };
  const relay = new StreamRelay(ch, sink);
  const mb = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < 25; i++) relay.push(undefined, mb);
  assert.equal(relay.overLimit, true);
  assert.equal(passed, STREAM_LIMIT);
  assert.deepEqual(log, ['kill']);
  assert.match(relay.tooLarge().toString(), /Function.ResponseSizeTooLarge.*20971520 bytes/);
});

test('without a sink the bytes are collected, up to the synchronous limit', () => {
  const { log, ch } = channel();
  const relay = new StreamRelay(ch, undefined);
  relay.push('text/plain', Buffer.from('ab'));
  relay.push(undefined, Buffer.from('cd'));
  assert.equal(relay.payload().toString(), 'abcd');
  relay.push(undefined, Buffer.alloc(BUFFERED_LIMIT));
  assert.equal(relay.overLimit, true);
  assert.deepEqual(log, ['kill']);
});
