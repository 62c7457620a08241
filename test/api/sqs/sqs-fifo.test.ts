// FIFO queues through the unmodified @aws-sdk/client-sqs: ordering per message group, one group member
// in flight at a time, deduplication, and SQS's errors for FIFO-only parameters.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';

let p: TestPlatform;
let sqs: SQSClient;
let n = 0;

before(async () => {
  p = await startPlatform();
  sqs = new SQSClient(sdkConfig(p));
});
after(async () => {
  sqs.destroy();
  await p.close();
});

async function fifoQueue(attrs: Record<string, string> = {}): Promise<string> {
  const out = await sqs.send(
    new CreateQueueCommand({ QueueName: `fifo${++n}.fifo`, Attributes: { FifoQueue: 'true', ...attrs } }),
  );
  return out.QueueUrl!;
}

async function errorName(cmd: object): Promise<string> {
  try {
    await sqs.send(cmd as never);
  } catch (e) {
    return (e as Error).name;
  }
  return 'no error';
}

const receive = (url: string, max = 10) =>
  sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: max,
      VisibilityTimeout: 600,
      MessageSystemAttributeNames: ['All'],
    }),
  );

test('a .fifo name without FifoQueue=true answers InvalidParameterValue', async () => {
  assert.equal(await errorName(new CreateQueueCommand({ QueueName: 'plain.fifo' })), 'InvalidParameterValue');
});

test('FifoQueue=true on a name without .fifo answers InvalidParameterValue', async () => {
  assert.equal(
    await errorName(new CreateQueueCommand({ QueueName: 'not-fifo', Attributes: { FifoQueue: 'true' } })),
    'InvalidParameterValue',
  );
});

test('a FIFO queue reports its FIFO attributes', async () => {
  const url = await fifoQueue({ ContentBasedDeduplication: 'true' });
  const a = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] })))
    .Attributes;
  assert.equal(a?.FifoQueue, 'true');
  assert.equal(a?.ContentBasedDeduplication, 'true');
  assert.equal(a?.DeduplicationScope, 'queue');
});

test('a send to a FIFO queue without MessageGroupId answers MissingParameter', async () => {
  const url = await fifoQueue();
  assert.equal(
    await errorName(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', MessageDeduplicationId: 'd' })),
    'MissingParameter',
  );
});

test('a send without a deduplication id to a queue without content-based deduplication answers InvalidParameterValue', async () => {
  const url = await fifoQueue();
  assert.equal(
    await errorName(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', MessageGroupId: 'g' })),
    'InvalidParameterValue',
  );
});

test('a per-message delay on a FIFO queue answers InvalidParameterValue', async () => {
  const url = await fifoQueue({ ContentBasedDeduplication: 'true' });
  assert.equal(
    await errorName(
      new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', MessageGroupId: 'g', DelaySeconds: 5 }),
    ),
    'InvalidParameterValue',
  );
});

test('a deduplication id on a standard queue answers InvalidParameterValue', async () => {
  const url = (await sqs.send(new CreateQueueCommand({ QueueName: `standard-${++n}` }))).QueueUrl!;
  assert.equal(
    await errorName(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', MessageDeduplicationId: 'd' })),
    'InvalidParameterValue',
  );
});

test('messages of a group arrive in send order with increasing sequence numbers', async () => {
  const url = await fifoQueue({ ContentBasedDeduplication: 'true' });
  const sent = await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: url,
      Entries: ['1', '2', '3'].map((b) => ({ Id: `m${b}`, MessageBody: b, MessageGroupId: 'g' })),
    }),
  );
  const seqs = sent.Successful!.map((s) => BigInt(s.SequenceNumber!));
  assert.ok(seqs[0]! < seqs[1]! && seqs[1]! < seqs[2]!);
  const got = await receive(url);
  assert.deepEqual(
    got.Messages?.map((m) => m.Body),
    ['1', '2', '3'],
  );
  assert.equal(got.Messages?.[0]?.Attributes?.MessageGroupId, 'g');
  assert.equal(got.Messages?.[0]?.Attributes?.SequenceNumber, sent.Successful![0]!.SequenceNumber);
});

test('a group with a message in flight is held back while other groups keep flowing', async () => {
  const url = await fifoQueue({ ContentBasedDeduplication: 'true' });
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'a1', MessageGroupId: 'a' }));
  const first = await receive(url, 1);
  assert.equal(first.Messages?.[0]?.Body, 'a1');
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'a2', MessageGroupId: 'a' }));
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'b1', MessageGroupId: 'b' }));
  const second = await receive(url);
  assert.deepEqual(
    second.Messages?.map((m) => m.Body),
    ['b1'],
  );
  await sqs.send(
    new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: first.Messages![0]!.ReceiptHandle! }),
  );
  const third = await receive(url);
  assert.deepEqual(
    third.Messages?.map((m) => m.Body),
    ['a2'],
  );
});

test('a long poll on a FIFO queue is woken when a delete unblocks the group', async () => {
  const url = await fifoQueue({ ContentBasedDeduplication: 'true' });
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x1', MessageGroupId: 'x' }));
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x2', MessageGroupId: 'x' }));
  const first = await receive(url, 1);
  // Without an in-process wake-up the poll would run its full 20 s and be cut off here.
  const polling = sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 20 }), {
    abortSignal: AbortSignal.timeout(10_000),
  });
  await new Promise((r) => setTimeout(r, 100));
  await sqs.send(
    new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: first.Messages![0]!.ReceiptHandle! }),
  );
  assert.equal((await polling).Messages?.[0]?.Body, 'x2');
});

test('a message sent twice with the same deduplication id is delivered once', async () => {
  const url = await fifoQueue();
  const a = await sqs.send(
    new SendMessageCommand({
      QueueUrl: url,
      MessageBody: 'once',
      MessageGroupId: 'g',
      MessageDeduplicationId: 'same',
    }),
  );
  const b = await sqs.send(
    new SendMessageCommand({
      QueueUrl: url,
      MessageBody: 'once',
      MessageGroupId: 'g',
      MessageDeduplicationId: 'same',
    }),
  );
  assert.equal(a.MessageId, b.MessageId);
  const got = await receive(url);
  assert.equal(got.Messages?.length, 1);
  assert.equal(got.Messages?.[0]?.Attributes?.MessageDeduplicationId, 'same');
});

test('content-based deduplication drops a repeated body', async () => {
  const url = await fifoQueue({ ContentBasedDeduplication: 'true' });
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'dup', MessageGroupId: 'g' }));
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'dup', MessageGroupId: 'g' }));
  const got = await receive(url);
  assert.equal(got.Messages?.length, 1);
});

test('a FIFO queue cannot name a standard queue as its dead-letter queue', async () => {
  const dlq = (await sqs.send(new CreateQueueCommand({ QueueName: `std-dlq-${++n}` }))).QueueUrl!;
  const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] })))
    .Attributes!.QueueArn!;
  const name = await errorName(
    new CreateQueueCommand({
      QueueName: 'mixed.fifo',
      Attributes: {
        FifoQueue: 'true',
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: 2 }),
      },
    }),
  );
  assert.equal(name, 'InvalidParameterValue');
});
