// Queue → function through a mapping, end to end: messages sent with the SQS SDK reach real functions as
// Lambda's SQS event; success deletes, failures return after the visibility timeout, poison messages
// go to the dead-letter queue, and a disabled mapping or a deleted function leaves messages queued.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateEventSourceMappingCommand,
  DeleteFunctionCommand,
  GetEventSourceMappingCommand,
  LambdaClient,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { createFunction, logging, recordsOf, type Seen, waitFor, watchInvocations } from './helpers.js';

let p: TestPlatform;
let lambda: LambdaClient;
let sqs: SQSClient;
let seen: Seen[];

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
  sqs = new SQSClient(sdkConfig(p));
  seen = watchInvocations(p);
});
after(async () => {
  lambda.destroy();
  sqs.destroy();
  await p.close();
});

async function queue(
  name: string,
  attributes: Record<string, string> = {},
): Promise<{ url: string; arn: string }> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  return { url: QueueUrl ?? '', arn: a.Attributes?.QueueArn ?? '' };
}

async function counts(url: string): Promise<{ visible: number; inFlight: number }> {
  const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
  return {
    visible: Number(a.Attributes?.ApproximateNumberOfMessages),
    inFlight: Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible),
  };
}

async function sendAll(url: string, bodies: string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: bodies.slice(i, i + 10).map((b, j) => ({ Id: String(j), MessageBody: b })),
      }),
    );
    assert.equal(out.Failed?.length ?? 0, 0);
  }
}

test('a message sent with the SQS SDK reaches the function as Lambda’s SQS event and is deleted', async () => {
  const q = await queue('del-event');
  await createFunction(lambda, 'del-event-fn', logging());
  await lambda.send(
    new CreateEventSourceMappingCommand({ FunctionName: 'del-event-fn', EventSourceArn: q.arn }),
  );
  const sent = await sqs.send(
    new SendMessageCommand({
      QueueUrl: q.url,
      MessageBody: 'hello',
      MessageAttributes: { color: { DataType: 'String', StringValue: 'blue' } },
    }),
  );
  const [rec] = await waitFor(
    'the event',
    () => recordsOf(seen, 'del-event-fn').length > 0 && recordsOf(seen, 'del-event-fn'),
  );
  assert.ok(rec);
  assert.equal(rec.messageId, sent.MessageId);
  assert.equal(rec.body, 'hello');
  assert.equal(rec.md5OfBody, sent.MD5OfMessageBody);
  assert.equal(rec.eventSource, 'aws:sqs');
  assert.equal(rec.eventSourceARN, q.arn);
  assert.equal(rec.awsRegion, 'us-east-1');
  assert.equal(typeof rec.receiptHandle, 'string');
  assert.equal(rec.attributes.ApproximateReceiveCount, '1');
  for (const k of ['SentTimestamp', 'SenderId', 'ApproximateFirstReceiveTimestamp'])
    assert.ok(rec.attributes[k], k);
  assert.deepEqual(rec.messageAttributes.color, {
    stringValue: 'blue',
    stringListValues: [],
    binaryListValues: [],
    dataType: 'String',
  });
  await waitFor('the message deleted', async () => {
    const c = await counts(q.url);
    return c.visible === 0 && c.inFlight === 0;
  });
});

test('a batch sent with SendMessageBatch arrives in batches of at most BatchSize', async () => {
  const q = await queue('del-batch');
  await createFunction(lambda, 'del-batch-fn', logging());
  await lambda.send(
    new CreateEventSourceMappingCommand({
      FunctionName: 'del-batch-fn',
      EventSourceArn: q.arn,
      BatchSize: 4,
    }),
  );
  const bodies = Array.from({ length: 10 }, (_, i) => `m${i}`);
  await sendAll(q.url, bodies);
  await waitFor('all ten', () => recordsOf(seen, 'del-batch-fn').length >= 10);
  const sizes = seen
    .filter((s) => s.functionName === 'del-batch-fn')
    .map((s) => (s.event as { Records: unknown[] }).Records.length);
  assert.ok(
    sizes.every((n) => n >= 1 && n <= 4),
    `batch sizes ${sizes}`,
  );
  assert.deepEqual(
    recordsOf(seen, 'del-batch-fn')
      .map((r) => r.body)
      .sort(),
    bodies.sort(),
  );
});

test('a malformed body is handed to the function as-is, as a string', async () => {
  const q = await queue('del-malformed');
  await createFunction(lambda, 'del-malformed-fn', logging());
  await lambda.send(
    new CreateEventSourceMappingCommand({ FunctionName: 'del-malformed-fn', EventSourceArn: q.arn }),
  );
  const body = '{"not json" <<< \u00e9';
  await sqs.send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: body }));
  const [rec] = await waitFor(
    'the event',
    () => recordsOf(seen, 'del-malformed-fn').length > 0 && recordsOf(seen, 'del-malformed-fn'),
  );
  assert.equal(rec?.body, body);
});

test('with ReportBatchItemFailures only the reported messages return to the queue', async () => {
  const q = await queue('del-partial', { VisibilityTimeout: '1' });
  await createFunction(
    lambda,
    'del-partial-fn',
    logging(
      "return { batchItemFailures: event.Records.filter((r) => r.body.startsWith('fail')).map((r) => ({ itemIdentifier: r.messageId })) };",
    ),
    1, // within the queue's 1 s visibility timeout, as Lambda requires
  );
  const m = await lambda.send(
    new CreateEventSourceMappingCommand({
      FunctionName: 'del-partial-fn',
      EventSourceArn: q.arn,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    }),
  );
  await sendAll(q.url, ['ok-1', 'fail-1', 'ok-2', 'fail-2', 'ok-3']);
  // The failed ones come back (a second receive) while the others never do.
  await waitFor('redelivery of the failed ones', () => {
    const again = recordsOf(seen, 'del-partial-fn').filter(
      (r) => r.attributes.ApproximateReceiveCount === '2',
    );
    return new Set(again.map((r) => r.body)).size === 2;
  });
  await lambda.send(new UpdateEventSourceMappingCommand({ UUID: m.UUID, Enabled: false }));
  const recs = recordsOf(seen, 'del-partial-fn');
  for (const ok of ['ok-1', 'ok-2', 'ok-3']) assert.equal(recs.filter((r) => r.body === ok).length, 1, ok);
  const redelivered = new Set(
    recs.filter((r) => r.attributes.ApproximateReceiveCount !== '1').map((r) => r.body),
  );
  assert.deepEqual([...redelivered].sort(), ['fail-1', 'fail-2']);
});

test('a malformed batch response fails the whole batch', async () => {
  const q = await queue('del-badresp', { VisibilityTimeout: '1' });
  await createFunction(
    lambda,
    'del-badresp-fn',
    logging("return { batchItemFailures: [{ itemIdentifier: 'not-in-batch' }] };"),
    1,
  );
  const m = await lambda.send(
    new CreateEventSourceMappingCommand({
      FunctionName: 'del-badresp-fn',
      EventSourceArn: q.arn,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    }),
  );
  await sqs.send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: 'x' }));
  await waitFor('a redelivery', () =>
    recordsOf(seen, 'del-badresp-fn').some((r) => r.attributes.ApproximateReceiveCount === '2'),
  );
  await lambda.send(new UpdateEventSourceMappingCommand({ UUID: m.UUID, Enabled: false }));
});

test('a poison message reaches the dead-letter queue after maxReceiveCount while the others flow', async () => {
  const dlq = await queue('del-poison-dlq');
  const q = await queue('del-poison', {
    VisibilityTimeout: '1',
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 2 }),
  });
  await createFunction(
    lambda,
    'del-poison-fn',
    logging(
      "if (event.Records.some((r) => r.body === 'poison')) throw new Error('cannot digest'); return null;",
    ),
    1,
  );
  await lambda.send(
    new CreateEventSourceMappingCommand({
      FunctionName: 'del-poison-fn',
      EventSourceArn: q.arn,
      BatchSize: 1,
    }),
  );
  await sendAll(q.url, ['poison', 'good-1', 'good-2', 'good-3']);
  await waitFor('the good ones', () => {
    const ok = seen.filter((s) => s.functionName === 'del-poison-fn' && !s.errorType);
    return ok.length >= 3;
  });
  const moved = await waitFor('the poison message in the DLQ', async () => {
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq.url, MaxNumberOfMessages: 10 }));
    return (r.Messages?.length ?? 0) > 0 && r.Messages;
  });
  assert.deepEqual(
    moved.map((m) => m.Body),
    ['poison'],
  );
  const tries = recordsOf(seen, 'del-poison-fn').filter((r) => r.body === 'poison').length;
  assert.equal(tries, 2);
  await waitFor('the source queue empty', async () => {
    const c = await counts(q.url);
    return c.visible === 0 && c.inFlight === 0;
  });
});

test('a disabled mapping does not poll, and polls once enabled', async () => {
  const q = await queue('del-disabled');
  await createFunction(lambda, 'del-disabled-fn', logging());
  const m = await lambda.send(
    new CreateEventSourceMappingCommand({
      FunctionName: 'del-disabled-fn',
      EventSourceArn: q.arn,
      Enabled: false,
    }),
  );
  await waitFor(
    'Disabled',
    async () => (await lambda.send(new GetEventSourceMappingCommand({ UUID: m.UUID }))).State === 'Disabled',
  );
  await sqs.send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: 'wait for me' }));
  // Give a poller every chance to take it: a wake-up would lease it within milliseconds.
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(await counts(q.url), { visible: 1, inFlight: 0 });
  assert.equal(recordsOf(seen, 'del-disabled-fn').length, 0);
  await lambda.send(new UpdateEventSourceMappingCommand({ UUID: m.UUID, Enabled: true }));
  await waitFor('delivery after enabling', () => recordsOf(seen, 'del-disabled-fn').length === 1);
});

test('a mapping whose function is deleted while it polls stops, Disabled, without losing messages', async () => {
  const q = await queue('del-gone', { VisibilityTimeout: '2' });
  await createFunction(
    lambda,
    'del-gone-fn',
    logging('await new Promise((r) => setTimeout(r, 20)); return null;'),
    2,
  );
  const m = await lambda.send(
    new CreateEventSourceMappingCommand({ FunctionName: 'del-gone-fn', EventSourceArn: q.arn, BatchSize: 2 }),
  );
  const total = 40;
  await sendAll(
    q.url,
    Array.from({ length: total }, (_, i) => `g${i}`),
  );
  await waitFor('some processed', () => recordsOf(seen, 'del-gone-fn').length > 0);
  await lambda.send(new DeleteFunctionCommand({ FunctionName: 'del-gone-fn' }));
  // Messages after the delete: the mapping meets the missing function even if the first ones all ran.
  const after = ['g-after-1', 'g-after-2'];
  await sendAll(q.url, after);
  const state = await waitFor('Disabled', async () => {
    const g = await lambda.send(new GetEventSourceMappingCommand({ UUID: m.UUID }));
    return g.State === 'Disabled' && g;
  });
  assert.match(state.StateTransitionReason ?? '', /Function not found/);
  // Wait for any lease of a batch that failed with the function to run out.
  const left = await waitFor('leases to run out', async () => {
    const c = await counts(q.url);
    return c.inFlight === 0 && c;
  });
  const processed = new Set(
    seen
      .filter((s) => s.functionName === 'del-gone-fn' && !s.errorType)
      .flatMap((s) => (s.event as { Records: { body: string }[] }).Records.map((r) => r.body)),
  );
  // Nothing lost: every message ran or is still queued. At least once, as SQS: a batch whose lease ran out
  // while its (slow) invocation still succeeded is queued again too, so it may count on both sides.
  assert.ok(
    processed.size + left.visible >= total + after.length,
    `processed ${processed.size}, still queued ${left.visible}`,
  );
  assert.ok(processed.size <= total, `processed ${processed.size} of ${total} sent before the delete`);
});

test('with a batching window, messages sent one by one are gathered into one batch', async () => {
  const q = await queue('del-window');
  await createFunction(lambda, 'del-window-fn', logging());
  await lambda.send(
    new CreateEventSourceMappingCommand({
      FunctionName: 'del-window-fn',
      EventSourceArn: q.arn,
      BatchSize: 3,
      MaximumBatchingWindowInSeconds: 5,
    }),
  );
  for (const b of ['w1', 'w2', 'w3']) {
    await sqs.send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: b }));
    await new Promise((r) => setTimeout(r, 50));
  }
  await waitFor('the batch', () => recordsOf(seen, 'del-window-fn').length === 3);
  const batches = seen.filter((s) => s.functionName === 'del-window-fn');
  assert.equal(batches.length, 1);
  assert.deepEqual(
    recordsOf(seen, 'del-window-fn').map((r) => r.body),
    ['w1', 'w2', 'w3'],
  );
});
