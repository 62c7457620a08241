// Lambda's SQS event built from leased messages, and batches split to stay within the payload limit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_EVENT_BYTES, sqsEvent, sqsEvents } from '../../../src/events/pollers/sqs-event.js';
import type { ReceivedMessage } from '../../../src/events/queue/types.js';

const ARN = 'arn:aws:sqs:us-east-1:123456789012:q';
const msg = (id: string, body: string): ReceivedMessage => ({
  messageId: id,
  receiptHandle: `rh-${id}`,
  body,
  md5OfBody: 'md5',
  attributes: { ApproximateReceiveCount: '1' },
  messageAttributes: { bin: { dataType: 'Binary', binaryValue: Buffer.from([1, 2, 3]) } },
});

test('the event carries each message as a Lambda SQS record', () => {
  const ev = JSON.parse(sqsEvent([msg('a', 'hello')], ARN, 'us-east-1'));
  assert.deepEqual(ev, {
    Records: [
      {
        messageId: 'a',
        receiptHandle: 'rh-a',
        body: 'hello',
        attributes: { ApproximateReceiveCount: '1' },
        messageAttributes: {
          bin: { binaryValue: 'AQID', stringListValues: [], binaryListValues: [], dataType: 'Binary' },
        },
        md5OfBody: 'md5',
        eventSource: 'aws:sqs',
        eventSourceARN: ARN,
        awsRegion: 'us-east-1',
      },
    ],
  });
});

test('a batch within the payload limit is one event', () => {
  const out = sqsEvents([msg('a', 'x'), msg('b', 'y')], ARN, 'us-east-1');
  assert.equal(out.length, 1);
  assert.deepEqual(
    out[0]?.messages.map((m) => m.messageId),
    ['a', 'b'],
  );
});

test('a batch above the payload limit is split into events under it, in order, losing nothing', () => {
  const big = 'z'.repeat(1024 * 1024);
  const batch = Array.from({ length: 10 }, (_, i) => msg(`m${i}`, big));
  const out = sqsEvents(batch, ARN, 'us-east-1');
  assert.ok(out.length >= 2);
  for (const e of out) {
    assert.ok(e.payload.length <= MAX_EVENT_BYTES, `${e.payload.length} bytes`);
    assert.deepEqual(
      JSON.parse(e.payload.toString()).Records.map((r: { messageId: string }) => r.messageId),
      e.messages.map((m) => m.messageId),
    );
  }
  assert.deepEqual(
    out.flatMap((e) => e.messages.map((m) => m.messageId)),
    batch.map((m) => m.messageId),
  );
});
