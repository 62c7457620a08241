// The host ⇄ runtime framing: frames survive any chunking, bodies travel raw, hostile frames are refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  encodeFrame,
  FrameDecoder,
  ProtocolError,
  type RawHeader,
  runtimeFrame,
} from '../../src/runtimes/node/protocol.js';

function collect(): { frames: Array<[RawHeader, string]>; decoder: FrameDecoder } {
  const frames: Array<[RawHeader, string]> = [];
  return {
    frames,
    decoder: new FrameDecoder((h, b) => frames.push([h, b.toString('utf8')]), {
      maxHeader: 1024,
      maxBody: 1 << 20,
    }),
  };
}

test('a large frame arriving in many small chunks decodes whole, with the frames around it', () => {
  const big = 'z'.repeat(900_000);
  const wire = Buffer.concat([
    ...encodeFrame({ t: 'pong', n: 1 }),
    ...encodeFrame({ t: 'result', id: 'big', ok: true }, big),
    ...encodeFrame({ t: 'pong', n: 2 }),
    ...encodeFrame({ t: 'log', id: 'big' }, 'after\n'),
  ]);
  for (const size of [3, 1000, 65_536, 300_001]) {
    const { frames, decoder } = collect();
    for (let at = 0; at < wire.length; at += size) decoder.push(wire.subarray(at, at + size));
    assert.deepEqual(
      frames.map(([h, b]) => [h, b.length]),
      [
        [{ t: 'pong', n: 1 }, 0],
        [{ t: 'result', id: 'big', ok: true }, big.length],
        [{ t: 'pong', n: 2 }, 0],
        [{ t: 'log', id: 'big' }, 6],
      ],
      `chunks of ${size}`,
    );
    assert.equal(frames[1]![1], big);
  }
});

test('frames split at every byte boundary decode whole, in order', () => {
  const wire = Buffer.concat([
    ...encodeFrame({ t: 'log', id: 'a' }, 'hello\n'),
    ...encodeFrame({ t: 'result', id: 'a', ok: true }, '{"x":"é"}'),
    ...encodeFrame({ t: 'pong', n: 1 }),
  ]);
  for (let cut = 1; cut < wire.length; cut++) {
    const { frames, decoder } = collect();
    decoder.push(wire.subarray(0, cut));
    decoder.push(wire.subarray(cut));
    assert.deepEqual(frames, [
      [{ t: 'log', id: 'a' }, 'hello\n'],
      [{ t: 'result', id: 'a', ok: true }, '{"x":"é"}'],
      [{ t: 'pong', n: 1 }, ''],
    ]);
  }
});

test('a large body travels as its own buffer, byte for byte', () => {
  const body = Buffer.alloc(200_000, 7);
  const bufs = encodeFrame({ t: 'invoke', id: 'r', deadline: 0, tr: '' }, body);
  assert.equal(bufs.length, 2);
  assert.equal(bufs[1], body, 'not copied');
  const { frames, decoder } = collect();
  decoder.push(Buffer.concat(bufs));
  assert.equal(frames[0]?.[1], body.toString('utf8'));
});

test('an oversized or malformed frame is a ProtocolError', () => {
  const big = Buffer.alloc(8);
  big.writeUInt32LE(10, 0);
  big.writeUInt32LE(2 << 20, 4);
  assert.throws(() => collect().decoder.push(big), ProtocolError);
  const notJson = Buffer.concat([Buffer.from([3, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('abc')]);
  assert.throws(() => collect().decoder.push(notJson), ProtocolError);
  const noType = Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{}')]);
  assert.throws(() => collect().decoder.push(noType), ProtocolError);
});

test('a runtime frame of a known type with a field of the wrong type is a ProtocolError', () => {
  assert.throws(() => runtimeFrame({ t: 'result', id: 'a', ok: 'yes' }), ProtocolError);
  assert.throws(() => runtimeFrame({ t: 'result', id: 7, ok: true }), ProtocolError);
  assert.throws(() => runtimeFrame({ t: 'result', id: 'a', ok: true, rss: '5' }), ProtocolError);
  assert.throws(() => runtimeFrame({ t: 'init', ok: true, errorType: 3 }), ProtocolError);
  assert.throws(() => runtimeFrame({ t: 'init', ok: true, esm: 'yes' }), ProtocolError);
  assert.deepEqual(runtimeFrame({ t: 'init', ok: true, esm: true }), { t: 'init', ok: true, esm: true });
  assert.throws(() => runtimeFrame({ t: 'ready' }), ProtocolError);
  assert.throws(() => runtimeFrame({ t: 'pong', n: '1' }), ProtocolError);
  assert.throws(() => runtimeFrame({ t: 'log', id: 5 }), ProtocolError);
  assert.throws(() => runtimeFrame({ t: 'chunk', id: 'a', ct: 5 }), ProtocolError);
  assert.throws(() => runtimeFrame({ t: 'chunk', id: null }), ProtocolError);
  assert.throws(() => runtimeFrame({ t: 'start', id: 'a' }), ProtocolError);
  assert.throws(() => runtimeFrame({ t: 'start', id: 'a', deadline: '1' }), ProtocolError);
  assert.throws(
    () => runtimeFrame({ t: 'start', id: 'a', deadline: Number.POSITIVE_INFINITY }),
    ProtocolError,
  );
  assert.deepEqual(runtimeFrame({ t: 'start', id: 'a', deadline: 5 }), { t: 'start', id: 'a', deadline: 5 });
  // A content type becomes a header on the host: no CR/LF to split the head, no empty or endless one.
  for (const ct of ['text/plain\r\nX-Evil: 1', 'a\nb', '', 'x'.repeat(257), 'caf\u00e9'])
    assert.throws(() => runtimeFrame({ t: 'chunk', id: 'a', ct }), ProtocolError, JSON.stringify(ct));
  assert.equal(runtimeFrame({ t: 'chunk', id: 'a', ct: 'text/html; charset=utf-8' })?.t, 'chunk');
});

test('well-formed runtime frames pass as typed frames; an unknown type is left to be ignored', () => {
  const r = runtimeFrame({ t: 'result', id: 'a', ok: false, errorType: 'Error', fatal: true, rss: 1 });
  assert.equal(r?.t === 'result' && r.errorType, 'Error');
  assert.deepEqual(runtimeFrame({ t: 'log', id: null }), { t: 'log', id: null });
  assert.deepEqual(runtimeFrame({ t: 'chunk', id: 'a', ct: 'text/plain' }), {
    t: 'chunk',
    id: 'a',
    ct: 'text/plain',
  });
  assert.deepEqual(runtimeFrame({ t: 'ready', relayPort: 9001 }), { t: 'ready', relayPort: 9001 });
  assert.equal(runtimeFrame({ t: 'something-new' }), undefined);
});

test("an init frame's compile-cache counts must be two non-negative integers", () => {
  const cc = { used: 3, rejected: 0 };
  assert.deepEqual(runtimeFrame({ t: 'init', ok: true, cc }), { t: 'init', ok: true, cc });
  for (const bad of [null, 5, 'x', {}, { used: 1 }, { used: -1, rejected: 0 }, { used: 1.5, rejected: 0 }]) {
    assert.throws(() => runtimeFrame({ t: 'init', ok: true, cc: bad }), ProtocolError, JSON.stringify(bad));
  }
  assert.throws(() => runtimeFrame({ t: 'init', ok: true, cc: { used: '1', rejected: 0 } }), ProtocolError);
});
