// The event stream S3 Select answers with, decoded message by message: a scan that finds nothing for a
// while sends Cont keep-alives, RequestProgress adds Progress, an error after the start is an error message.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { frames } from '../../../src/api/s3/select.js';
import { crc32 } from '../../../src/events/objects/checksums.js';
import { ObjectStoreError } from '../../../src/events/objects/errors.js';

interface Message {
  headers: Record<string, string>;
  payload: string;
}

/** Decodes one event-stream message, checking both CRCs. */
function decode(b: Buffer): Message {
  const total = b.readUInt32BE(0);
  assert.equal(total, b.length);
  const headersLength = b.readUInt32BE(4);
  assert.equal(b.readUInt32BE(8), crc32(b.subarray(0, 8)));
  assert.equal(b.readUInt32BE(total - 4), crc32(b.subarray(0, total - 4)));
  const headers: Record<string, string> = {};
  let i = 12;
  while (i < 12 + headersLength) {
    const n = b.readUInt8(i);
    const name = b.toString('utf8', i + 1, i + 1 + n);
    assert.equal(b.readUInt8(i + 1 + n), 7);
    const len = b.readUInt16BE(i + 2 + n);
    headers[name] = b.toString('utf8', i + 4 + n, i + 4 + n + len);
    i += 4 + n + len;
  }
  return { headers, payload: b.toString('utf8', 12 + headersLength, total - 4) };
}

async function* scan(items: Array<Buffer | null | Error>): AsyncGenerator<Buffer | null> {
  for (const x of items) {
    if (x instanceof Error) throw x;
    yield x;
  }
}

async function collect(
  items: Array<Buffer | null | Error>,
  progress: boolean,
  stepMs: number,
): Promise<Message[]> {
  const it = scan(items);
  let t = 0;
  let released = false;
  const out: Message[] = [];
  const first = await it.next();
  const stats = { scanned: 10, processed: 10, returned: 3 };
  for await (const m of frames(
    first,
    it,
    stats,
    progress,
    () => (released = true),
    () => (t += stepMs),
  ))
    out.push(decode(m));
  assert.ok(released, 'the object is released when the stream ends');
  return out;
}

test('a scan with nothing to send for over a second sends Cont, then Records, Stats and End', async () => {
  const out = await collect([null, null, null, null, null, null, Buffer.from('a\n'), null], false, 400);
  const types = out.map((m) => m.headers[':event-type']);
  assert.deepEqual(types, ['Cont', 'Cont', 'Records', 'Stats', 'End']);
  assert.equal(out[2]!.payload, 'a\n');
  assert.equal(out[2]!.headers[':content-type'], 'application/octet-stream');
  assert.equal(out[0]!.headers[':content-type'], undefined);
  assert.match(
    out[3]!.payload,
    /<Stats><BytesScanned>10<\/BytesScanned><BytesProcessed>10<\/BytesProcessed><BytesReturned>3<\/BytesReturned><\/Stats>/,
  );
});

test('a quick scan sends no Cont; RequestProgress adds Progress events', async () => {
  const quick = await collect([Buffer.from('x\n'), null, null], false, 1);
  assert.deepEqual(
    quick.map((m) => m.headers[':event-type']),
    ['Records', 'Stats', 'End'],
  );
  const withProgress = await collect([null, null, null], true, 600);
  assert.ok(
    withProgress.some(
      (m) => m.headers[':event-type'] === 'Progress' && m.payload.includes('<Progress><BytesScanned>'),
    ),
  );
});

test('an error after the stream started becomes an error message with the code, and nothing follows it', async () => {
  const out = await collect([Buffer.from('a\n'), new ObjectStoreError('CastFailed', 'no')], false, 1);
  assert.deepEqual(
    out.map((m) => m.headers[':message-type']),
    ['event', 'error'],
  );
  assert.equal(out[1]!.headers[':error-code'], 'CastFailed');
  assert.equal(out[1]!.headers[':error-message'], 'no');
  const internal = await collect([null, new Error('secret detail')], false, 1);
  assert.equal(internal[0]!.headers[':error-code'], 'InternalError');
  assert.ok(!JSON.stringify(internal).includes('secret detail'));
});
