// The SQS-compatible API through the unmodified @aws-sdk/client-sqs (JSON protocol) against a real server.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListDeadLetterSourceQueuesCommand,
  ListQueuesCommand,
  ListQueueTagsCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
  TagQueueCommand,
} from '@aws-sdk/client-sqs';
import { md5OfMessageAttributes } from '../../../src/events/queue/md5.js';
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

async function newQueue(attrs: Record<string, string> = {}): Promise<string> {
  const out = await sqs.send(
    new CreateQueueCommand({ QueueName: `q${++n}-${process.pid}`, Attributes: attrs }),
  );
  return out.QueueUrl!;
}

/** The error a command fails with (asserts that it fails). */
async function failure(
  cmd: object,
): Promise<Error & { name: string; Code?: string; $metadata: { httpStatusCode?: number } }> {
  try {
    await sqs.send(cmd as never);
  } catch (e) {
    return e as Error & { name: string; Code?: string; $metadata: { httpStatusCode?: number } };
  }
  assert.fail('expected the command to fail');
}

async function attrs(url: string): Promise<Record<string, string>> {
  return (
    (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes ??
    {}
  );
}

test('a queue goes through create, send, receive, delete message and delete queue', async () => {
  const created = await sqs.send(new CreateQueueCommand({ QueueName: 'lifecycle' }));
  assert.match(created.QueueUrl!, /^http:\/\/127\.0\.0\.1:\d+\/\d{12}\/lifecycle$/);
  const url = (await sqs.send(new GetQueueUrlCommand({ QueueName: 'lifecycle' }))).QueueUrl!;
  assert.equal(url, created.QueueUrl);
  const listed = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'life' }));
  assert.deepEqual(listed.QueueUrls, [url]);

  const sent = await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'hello' }));
  assert.ok(sent.MessageId);
  const got = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: url, MessageSystemAttributeNames: ['All'] }),
  );
  assert.equal(got.Messages?.length, 1);
  const m = got.Messages![0]!;
  assert.equal(m.Body, 'hello');
  assert.equal(m.MessageId, sent.MessageId);
  assert.equal(m.Attributes?.ApproximateReceiveCount, '1');
  assert.ok(Number(m.Attributes?.SentTimestamp) > 0);
  assert.ok(Number(m.Attributes?.ApproximateFirstReceiveTimestamp) >= Number(m.Attributes?.SentTimestamp));
  assert.equal((await attrs(url)).ApproximateNumberOfMessagesNotVisible, '1');

  await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle! }));
  const a = await attrs(url);
  assert.equal(a.ApproximateNumberOfMessages, '0');
  assert.equal(a.ApproximateNumberOfMessagesNotVisible, '0');

  await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
  const e = await failure(new GetQueueUrlCommand({ QueueName: 'lifecycle' }));
  assert.equal(e.name, 'QueueDoesNotExist');
});

test('creating an existing queue with the same attributes returns its URL', async () => {
  const a = await sqs.send(
    new CreateQueueCommand({ QueueName: 'same-attrs', Attributes: { VisibilityTimeout: '45' } }),
  );
  const b = await sqs.send(
    new CreateQueueCommand({ QueueName: 'same-attrs', Attributes: { VisibilityTimeout: '45' } }),
  );
  assert.equal(a.QueueUrl, b.QueueUrl);
});

test('creating an existing queue with different attributes answers QueueNameExists', async () => {
  await sqs.send(
    new CreateQueueCommand({ QueueName: 'diff-attrs', Attributes: { VisibilityTimeout: '45' } }),
  );
  const e = await failure(
    new CreateQueueCommand({ QueueName: 'diff-attrs', Attributes: { VisibilityTimeout: '46' } }),
  );
  assert.equal(e.name, 'QueueNameExists');
  assert.equal(e.$metadata.httpStatusCode, 400);
});

test('a long poll returns the message sent while it waits', async () => {
  const url = await newQueue();
  // Without an in-process wake-up the poll would run its full 20 s and be cut off here.
  const polling = sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 20 }), {
    abortSignal: AbortSignal.timeout(10_000),
  });
  await new Promise((r) => setTimeout(r, 100));
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'wake up' }));
  const got = await polling;
  assert.equal(got.Messages?.[0]?.Body, 'wake up');
});

test('a long poll on an empty queue answers with no messages when the wait ends', async () => {
  const url = await newQueue();
  const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1 }));
  assert.equal(got.Messages, undefined);
});

test('a message not deleted within its visibility timeout comes back with a higher receive count', async () => {
  const url = await newQueue();
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'again' }));
  const first = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      VisibilityTimeout: 1,
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
    }),
  );
  assert.equal(first.Messages?.[0]?.Attributes?.ApproximateReceiveCount, '1');
  const hidden = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }));
  assert.equal(hidden.Messages, undefined);
  const second = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      WaitTimeSeconds: 5,
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
    }),
  );
  assert.equal(second.Messages?.[0]?.Body, 'again');
  assert.equal(second.Messages?.[0]?.Attributes?.ApproximateReceiveCount, '2');
});

test('a stale receipt handle does not delete a message received again since', async () => {
  const url = await newQueue();
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' }));
  const first = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 0 }));
  const second = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 0 }));
  assert.notEqual(first.Messages![0]!.ReceiptHandle, second.Messages![0]!.ReceiptHandle);
  await sqs.send(
    new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: first.Messages![0]!.ReceiptHandle! }),
  );
  const third = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }));
  assert.equal(third.Messages?.[0]?.Body, 'x');
});

test('a malformed receipt handle answers ReceiptHandleIsInvalid', async () => {
  const url = await newQueue();
  const e = await failure(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: 'not-a-handle' }));
  assert.equal(e.name, 'ReceiptHandleIsInvalid');
});

test('changing visibility to 0 makes a message receivable at once', async () => {
  const url = await newQueue();
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'back' }));
  const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 600 }));
  await sqs.send(
    new ChangeMessageVisibilityCommand({
      QueueUrl: url,
      ReceiptHandle: got.Messages![0]!.ReceiptHandle!,
      VisibilityTimeout: 0,
    }),
  );
  const again = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }));
  assert.equal(again.Messages?.[0]?.Body, 'back');
});

test('changing visibility of a message no longer in flight answers MessageNotInflight', async () => {
  const url = await newQueue();
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'y' }));
  const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 0 }));
  const e = await failure(
    new ChangeMessageVisibilityCommand({
      QueueUrl: url,
      ReceiptHandle: got.Messages![0]!.ReceiptHandle!,
      VisibilityTimeout: 30,
    }),
  );
  assert.equal(e.name, 'MessageNotInflight');
});

test('a message received more than maxReceiveCount times moves to the dead-letter queue while others keep flowing', async () => {
  const dlqUrl = await newQueue();
  const dlqArn = (await attrs(dlqUrl)).QueueArn!;
  const url = await newQueue({
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }),
  });
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'poison' }));
  for (let i = 0; i < 2; i++) {
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 0 }));
    assert.equal(got.Messages?.[0]?.Body, 'poison');
  }
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'good' }));
  const next = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
  assert.deepEqual(
    next.Messages?.map((m) => m.Body),
    ['good'],
  );
  const dead = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: dlqUrl, MessageSystemAttributeNames: ['All'] }),
  );
  assert.equal(dead.Messages?.[0]?.Body, 'poison');
  assert.equal(dead.Messages?.[0]?.Attributes?.DeadLetterQueueSourceArn, (await attrs(url)).QueueArn);
  const sources = await sqs.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: dlqUrl }));
  assert.deepEqual(sources.queueUrls, [url]);
});

test('a redrive policy naming a missing queue is refused', async () => {
  const e = await failure(
    new CreateQueueCommand({
      QueueName: 'redrive-missing',
      Attributes: {
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: `arn:aws:sqs:us-east-1:${'1'.repeat(12)}:nope`,
          maxReceiveCount: 3,
        }),
      },
    }),
  );
  assert.equal(e.name, 'InvalidParameterValue');
});

test('a batch send answers per entry and the messages arrive with their attributes', async () => {
  const url = await newQueue();
  const out = await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: url,
      Entries: [
        {
          Id: 'a',
          MessageBody: 'one',
          MessageAttributes: { kind: { DataType: 'String', StringValue: 'k1' } },
        },
        {
          Id: 'b',
          MessageBody: 'two',
          MessageAttributes: { blob: { DataType: 'Binary', BinaryValue: Buffer.from([0, 1, 2]) } },
        },
        {
          Id: 'c',
          MessageBody: 'three',
          MessageAttributes: { bad: { DataType: 'String', StringValue: '' } },
        },
      ],
    }),
  );
  assert.deepEqual(out.Successful?.map((s) => s.Id).sort(), ['a', 'b']);
  assert.equal(out.Failed?.length, 1);
  assert.equal(out.Failed?.[0]?.Id, 'c');
  assert.equal(out.Failed?.[0]?.SenderFault, true);
  const got = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }),
  );
  const byBody = new Map(got.Messages?.map((m) => [m.Body, m]));
  assert.equal(byBody.get('one')?.MessageAttributes?.kind?.StringValue, 'k1');
  assert.deepEqual([...(byBody.get('two')?.MessageAttributes?.blob?.BinaryValue ?? [])], [0, 1, 2]);
});

test('a batch of more than 10 entries answers TooManyEntriesInBatchRequest', async () => {
  const url = await newQueue();
  const Entries = Array.from({ length: 11 }, (_, i) => ({ Id: `e${i}`, MessageBody: 'x' }));
  const e = await failure(new SendMessageBatchCommand({ QueueUrl: url, Entries }));
  assert.equal(e.name, 'TooManyEntriesInBatchRequest');
});

test('a batch with repeated ids answers BatchEntryIdsNotDistinct', async () => {
  const url = await newQueue();
  const e = await failure(
    new SendMessageBatchCommand({
      QueueUrl: url,
      Entries: [
        { Id: 'same', MessageBody: 'x' },
        { Id: 'same', MessageBody: 'y' },
      ],
    }),
  );
  assert.equal(e.name, 'BatchEntryIdsNotDistinct');
});

test('an empty batch answers EmptyBatchRequest', async () => {
  const url = await newQueue();
  const e = await failure(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: [] }));
  assert.equal(e.name, 'EmptyBatchRequest');
});

test('a batch entry id with invalid characters answers InvalidBatchEntryId', async () => {
  const url = await newQueue();
  const e = await failure(
    new SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: 'bad id!', MessageBody: 'x' }] }),
  );
  assert.equal(e.name, 'InvalidBatchEntryId');
});

test('a batch whose messages together exceed 1 MiB answers BatchRequestTooLong', async () => {
  const url = await newQueue();
  const Entries = Array.from({ length: 3 }, (_, i) => ({ Id: `e${i}`, MessageBody: 'x'.repeat(400_000) }));
  const e = await failure(new SendMessageBatchCommand({ QueueUrl: url, Entries }));
  assert.equal(e.name, 'BatchRequestTooLong');
  assert.equal(e.message, 'Batch requests cannot be longer than 1048576 bytes. You have sent 1200000 bytes.');
});

test("a batch is limited to 1 MiB in total whatever the queue's MaximumMessageSize", async () => {
  const url = await newQueue();
  await sqs.send(
    new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { MaximumMessageSize: '1024' } }),
  );
  const Entries = Array.from({ length: 3 }, (_, i) => ({ Id: `e${i}`, MessageBody: 'x'.repeat(1000) }));
  const r = await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries }));
  assert.equal(r.Successful?.length, 3);
});

test('batch delete and batch visibility change report a bad receipt handle per entry', async () => {
  const url = await newQueue();
  await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: url,
      Entries: [
        { Id: '1', MessageBody: 'a' },
        { Id: '2', MessageBody: 'b' },
      ],
    }),
  );
  const got = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 600 }),
  );
  assert.equal(got.Messages?.length, 2);
  const vis = await sqs.send(
    new ChangeMessageVisibilityBatchCommand({
      QueueUrl: url,
      Entries: [
        { Id: 'ok', ReceiptHandle: got.Messages![0]!.ReceiptHandle!, VisibilityTimeout: 300 },
        { Id: 'bad', ReceiptHandle: 'garbage', VisibilityTimeout: 300 },
      ],
    }),
  );
  assert.deepEqual(
    vis.Successful?.map((s) => s.Id),
    ['ok'],
  );
  assert.equal(vis.Failed?.[0]?.Code, 'ReceiptHandleIsInvalid');
  const del = await sqs.send(
    new DeleteMessageBatchCommand({
      QueueUrl: url,
      Entries: [
        ...got.Messages!.map((m, i) => ({ Id: `m${i}`, ReceiptHandle: m.ReceiptHandle! })),
        { Id: 'bad', ReceiptHandle: 'garbage' },
      ],
    }),
  );
  assert.deepEqual(del.Successful?.map((s) => s.Id).sort(), ['m0', 'm1']);
  assert.equal(del.Failed?.[0]?.Id, 'bad');
  assert.equal((await attrs(url)).ApproximateNumberOfMessagesNotVisible, '0');
});

test('MD5 digests of body and attributes match what SQS computes', async () => {
  const url = await newQueue();
  const MessageAttributes = {
    timestamp: { DataType: 'Number', StringValue: '1493147359900' },
  };
  const sent = await sqs.send(
    new SendMessageCommand({ QueueUrl: url, MessageBody: 'digest me', MessageAttributes }),
  );
  // Reference value for this attribute set, as published SQS emulators' test suites pin it.
  assert.equal(sent.MD5OfMessageAttributes, '235c5c510d26fb653d073faed50ae77c');
  assert.equal(sent.MD5OfMessageBody, createHash('md5').update('digest me').digest('hex'));
  const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MessageAttributeNames: ['All'] }));
  assert.equal(got.Messages?.[0]?.MD5OfMessageAttributes, '235c5c510d26fb653d073faed50ae77c');
  assert.equal(got.Messages?.[0]?.MD5OfBody, sent.MD5OfMessageBody);
});

test('the MD5 of a subset of attributes covers only the attributes returned', async () => {
  const url = await newQueue();
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: url,
      MessageBody: 'subset',
      MessageAttributes: {
        a: { DataType: 'String', StringValue: '1' },
        b: { DataType: 'String', StringValue: '2' },
      },
    }),
  );
  const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MessageAttributeNames: ['a'] }));
  const m = got.Messages![0]!;
  assert.deepEqual(Object.keys(m.MessageAttributes ?? {}), ['a']);
  assert.equal(
    m.MD5OfMessageAttributes,
    md5OfMessageAttributes({ a: { dataType: 'String', stringValue: '1' } }),
  );
});

test('a message larger than 1 MiB (SQS’s limit since 2025) answers InvalidParameterValue', async () => {
  const url = await newQueue();
  const e = await failure(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x'.repeat(1_048_577) }));
  assert.equal(e.name, 'InvalidParameterValue');
  assert.equal(
    e.message,
    'One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.',
  );
});

test('a message of exactly 1 MiB is accepted', async () => {
  const url = await newQueue();
  const sent = await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x'.repeat(1_048_576) }));
  assert.ok(sent.MessageId);
});

test('a body with characters SQS refuses answers InvalidMessageContents', async () => {
  const url = await newQueue();
  const e = await failure(new SendMessageCommand({ QueueUrl: url, MessageBody: 'bell\u0007' }));
  assert.equal(e.name, 'InvalidMessageContents');
});

test('an empty body answers MissingParameter', async () => {
  const url = await newQueue();
  const e = await failure(new SendMessageCommand({ QueueUrl: url, MessageBody: '' }));
  assert.equal(e.name, 'MissingParameter');
});

test('a message attribute with an unknown data type answers InvalidParameterValue', async () => {
  const url = await newQueue();
  const e = await failure(
    new SendMessageCommand({
      QueueUrl: url,
      MessageBody: 'x',
      MessageAttributes: { a: { DataType: 'Date', StringValue: 'today' } },
    }),
  );
  assert.equal(e.name, 'InvalidParameterValue');
});

test('a Number attribute that is not a number answers InvalidParameterValue', async () => {
  const url = await newQueue();
  const e = await failure(
    new SendMessageCommand({
      QueueUrl: url,
      MessageBody: 'x',
      MessageAttributes: { n: { DataType: 'Number', StringValue: 'twelve' } },
    }),
  );
  assert.equal(e.name, 'InvalidParameterValue');
});

test('a message attribute name reserved for AWS answers InvalidParameterValue', async () => {
  const url = await newQueue();
  const e = await failure(
    new SendMessageCommand({
      QueueUrl: url,
      MessageBody: 'x',
      MessageAttributes: { 'AWS.thing': { DataType: 'String', StringValue: 'v' } },
    }),
  );
  assert.equal(e.name, 'InvalidParameterValue');
});

test('more than 10 message attributes answer InvalidParameterValue', async () => {
  const url = await newQueue();
  const MessageAttributes = Object.fromEntries(
    Array.from({ length: 11 }, (_, i) => [`a${i}`, { DataType: 'String', StringValue: 'v' }]),
  );
  const e = await failure(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', MessageAttributes }));
  assert.equal(e.name, 'InvalidParameterValue');
});

test('a delay over 900 seconds answers InvalidParameterValue', async () => {
  const url = await newQueue();
  const e = await failure(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', DelaySeconds: 901 }));
  assert.equal(e.name, 'InvalidParameterValue');
});

test('a delayed message is counted as delayed and not received before its delay', async () => {
  const url = await newQueue();
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'later', DelaySeconds: 600 }));
  const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }));
  assert.equal(got.Messages, undefined);
  assert.equal((await attrs(url)).ApproximateNumberOfMessagesDelayed, '1');
});

test('a queue name with invalid characters answers InvalidParameterValue', async () => {
  const e = await failure(new CreateQueueCommand({ QueueName: 'bad name!' }));
  assert.equal(e.name, 'InvalidParameterValue');
});

test('a queue name longer than 80 characters answers InvalidParameterValue', async () => {
  const e = await failure(new CreateQueueCommand({ QueueName: 'a'.repeat(81) }));
  assert.equal(e.name, 'InvalidParameterValue');
});

test('an unknown queue attribute answers InvalidAttributeName', async () => {
  const e = await failure(
    new CreateQueueCommand({ QueueName: 'unknown-attr', Attributes: { Colour: 'blue' } as never }),
  );
  assert.equal(e.name, 'InvalidAttributeName');
});

test('a visibility timeout attribute out of range answers InvalidAttributeValue', async () => {
  const e = await failure(
    new CreateQueueCommand({ QueueName: 'bad-vt', Attributes: { VisibilityTimeout: '43201' } }),
  );
  assert.equal(e.name, 'InvalidAttributeValue');
});

test('receiving more than 10 messages at once answers InvalidParameterValue', async () => {
  const url = await newQueue();
  const e = await failure(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 11 }));
  assert.equal(e.name, 'InvalidParameterValue');
});

test('a wait time over 20 seconds answers InvalidParameterValue', async () => {
  const url = await newQueue();
  const e = await failure(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 21 }));
  assert.equal(e.name, 'InvalidParameterValue');
});

test('an unknown queue URL answers QueueDoesNotExist with the query error header', async () => {
  const e = await failure(
    new SendMessageCommand({ QueueUrl: `${p.endpoint}/000000000000/missing`, MessageBody: 'x' }),
  );
  assert.equal(e.name, 'QueueDoesNotExist');
  assert.equal(e.Code, 'AWS.SimpleQueueService.NonExistentQueue');
});

test('queue attributes can be set and read back', async () => {
  const url = await newQueue();
  await sqs.send(
    new SetQueueAttributesCommand({
      QueueUrl: url,
      Attributes: { VisibilityTimeout: '120', DelaySeconds: '5' },
    }),
  );
  const a = await attrs(url);
  assert.equal(a.VisibilityTimeout, '120');
  assert.equal(a.DelaySeconds, '5');
  assert.match(a.QueueArn!, /^arn:aws:sqs:us-east-1:\d{12}:q\d+-\d+$/);
  assert.ok(Number(a.CreatedTimestamp) > 1_600_000_000);
  assert.equal(a.MaximumMessageSize, '1048576');
});

test('purging a queue removes its messages', async () => {
  const url = await newQueue();
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'gone' }));
  await sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
  assert.equal((await attrs(url)).ApproximateNumberOfMessages, '0');
});

test('ListQueues pages with MaxResults and NextToken', async () => {
  for (const s of ['a', 'b', 'c']) await sqs.send(new CreateQueueCommand({ QueueName: `page-${s}` }));
  const first = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'page-', MaxResults: 2 }));
  assert.equal(first.QueueUrls?.length, 2);
  assert.ok(first.NextToken);
  const second = await sqs.send(
    new ListQueuesCommand({ QueueNamePrefix: 'page-', MaxResults: 2, NextToken: first.NextToken }),
  );
  assert.deepEqual(
    second.QueueUrls?.map((u) => u.split('/').pop()),
    ['page-c'],
  );
  assert.equal(second.NextToken, undefined);
});

test('queue tags can be added and listed', async () => {
  const url = await newQueue();
  await sqs.send(new TagQueueCommand({ QueueUrl: url, Tags: { team: 'core' } }));
  const tags = await sqs.send(new ListQueueTagsCommand({ QueueUrl: url }));
  assert.deepEqual(tags.Tags, { team: 'core' });
});

test('an unknown access key answers InvalidClientTokenId as the query error code', async () => {
  const stranger = new SQSClient(
    sdkConfig({ ...p, credentials: { accessKeyId: 'AKIANOTAKEY000000000', secretAccessKey: 'x' } }),
  );
  try {
    await stranger.send(new ListQueuesCommand({}));
    assert.fail('expected the call to fail');
  } catch (e) {
    const err = e as { name: string; Code?: string; $metadata: { httpStatusCode?: number } };
    assert.equal(err.$metadata.httpStatusCode, 403);
    assert.equal(err.Code, 'InvalidClientTokenId');
  } finally {
    stranger.destroy();
  }
});

test('a long poll the client abandons does not take the next message', async () => {
  const url = await newQueue();
  const ac = new AbortController();
  const abandoned = sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 20 }), {
    abortSignal: ac.signal,
  });
  await new Promise((r) => setTimeout(r, 100));
  ac.abort();
  await assert.rejects(abandoned);
  // Give the server a moment to see the connection close.
  await new Promise((r) => setTimeout(r, 200));
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'for the next one' }));
  const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1 }));
  assert.equal(got.Messages?.[0]?.Body, 'for the next one');
});
