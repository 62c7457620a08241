// The host ⇄ runtime framing: frames survive any chunking, bodies travel raw, hostile frames are refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  encodeFrame,
  FrameDecoder,
  type FrameHeader,
  ProtocolError,
} from '../../src/runtimes/node/protocol.js';

function collect(): { frames: Array<[FrameHeader, string]>; decoder: FrameDecoder } {
  const frames: Array<[FrameHeader, string]> = [];
  return {
    frames,
    decoder: new FrameDecoder((h, b) => frames.push([h, b.toString('utf8')]), {
      maxHeader: 1024,
      maxBody: 1 << 20,
    }),
  };
}

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
  const bufs = encodeFrame({ t: 'invoke', id: 'r' }, body);
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
