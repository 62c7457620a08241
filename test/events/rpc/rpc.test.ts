// RPC-style messages on an embedded queue marked as an RPC queue (a mapping with no FunctionName and the
// tag kindling:rpc=true): each message invokes the function it names, in the queue owner's tenant.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateEventSourceMappingCommand,
  GetEventSourceMappingCommand,
  LambdaClient,
  UpdateFunctionConfigurationCommand,
  waitUntilFunctionUpdatedV2,
} from '@aws-sdk/client-lambda';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { createFunction, logging, type Seen, waitFor, watchInvocations } from '../mappings/helpers.js';

let p: TestPlatform;
let lambda: LambdaClient;
let sqs: SQSClient;
let seen: Seen[];
let rpcQueue: { url: string; arn: string };
let dlq: { url: string; arn: string };
let replies: { url: string; arn: string };
let otherFnArn = '';
let mappingUuid = '';

async function queue(client: SQSClient, name: string, attributes: Record<string, string> = {}) {
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const a = await client.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  return { url: QueueUrl ?? '', arn: a.Attributes?.QueueArn ?? '' };
}

/** Receives everything on a queue until `n` messages have arrived. */
async function drain(url: string, n: number): Promise<Message[]> {
  const got: Message[] = [];
  await waitFor(`${n} message(s) on ${url}`, async () => {
    const r = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }),
    );
    got.push(...(r.Messages ?? []));
    return got.length >= n;
  });
  return got;
}

const invocations = (fn: string) => seen.filter((s) => s.functionName === fn);

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
  sqs = new SQSClient(sdkConfig(p));
  seen = watchInvocations(p);
  dlq = await queue(sqs, 'rpc-dlq');
  replies = await queue(sqs, 'rpc-replies');
  rpcQueue = await queue(sqs, 'rpc-calls', {
    VisibilityTimeout: '1',
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 5 }),
  });
  await createFunction(
    lambda,
    'generateThumbnail',
    logging("return { thumb: event.key + '.small', size: event.size };"),
  );
  await createFunction(
    lambda,
    'agg-step',
    logging(
      "if (event.step === 2 && process.env.FAIL === 'yes') throw new Error('step 2 is down'); return { done: event.step };",
    ),
  );
  await lambda.send(
    new UpdateFunctionConfigurationCommand({
      FunctionName: 'agg-step',
      Environment: { Variables: { FAIL: 'yes' } },
    }),
  );
  await waitUntilFunctionUpdatedV2({ client: lambda, maxWaitTime: 30 }, { FunctionName: 'agg-step' });
  await createFunction(lambda, 'agg-ok', logging('return { n: event.n };'));
  const other = await p.platform.tenants.create('rpc-other');
  const otherLambda = new LambdaClient(
    sdkConfig({ endpoint: p.endpoint, credentials: await p.platform.tenants.createKey(other.id) }),
  );
  otherFnArn = await createFunction(otherLambda, 'secret', logging());
  otherLambda.destroy();
  const m = await lambda.send(
    new CreateEventSourceMappingCommand({
      EventSourceArn: rpcQueue.arn,
      Tags: { 'kindling:rpc': 'true' },
    } as never),
  );
  mappingUuid = m.UUID ?? '';
});
after(async () => {
  lambda.destroy();
  sqs.destroy();
  await p.close();
});

test('an RPC mapping has no FunctionArn and becomes Enabled', async () => {
  const m = await waitFor('Enabled', async () => {
    const g = await lambda.send(new GetEventSourceMappingCommand({ UUID: mappingUuid }));
    return g.State === 'Enabled' && g;
  });
  assert.equal(m.FunctionArn, undefined);
  assert.equal(m.EventSourceArn, rpcQueue.arn);
});

test('an RPC message invokes the named function with args as the event and replies to replyTo', async () => {
  const sent = await sqs.send(
    new SendMessageCommand({
      QueueUrl: rpcQueue.url,
      MessageBody: JSON.stringify({
        invoke: 'generateThumbnail',
        args: { key: 'cat.png', size: 64 },
        replyTo: replies.url,
        requestId: 'r-1',
      }),
    }),
  );
  const [reply] = await drain(replies.url, 1);
  assert.deepEqual(JSON.parse(reply?.Body ?? ''), {
    requestId: 'r-1',
    status: 'success',
    result: { thumb: 'cat.png.small', size: 64 },
  });
  assert.deepEqual(
    invocations('generateThumbnail').map((s) => s.event),
    [{ key: 'cat.png', size: 64 }],
  );
  assert.ok(sent.MessageId);
});

test('a reply without a requestId in the message carries the message id', async () => {
  const sent = await sqs.send(
    new SendMessageCommand({
      QueueUrl: rpcQueue.url,
      MessageBody: JSON.stringify({ invoke: 'agg-ok', args: { n: 7 }, replyTo: replies.arn }),
    }),
  );
  const [reply] = await drain(replies.url, 1);
  assert.deepEqual(JSON.parse(reply?.Body ?? ''), {
    requestId: sent.MessageId,
    status: 'success',
    result: { n: 7 },
  });
});

test('an RPC message naming another tenant’s function is refused: dead-lettered, nothing invoked', async () => {
  const body = JSON.stringify({ invoke: otherFnArn, args: {} });
  await sqs.send(new SendMessageCommand({ QueueUrl: rpcQueue.url, MessageBody: body }));
  const [dead] = await drain(dlq.url, 1);
  assert.equal(dead?.Body, body);
  assert.equal(dead?.MessageAttributes?.ErrorCode?.StringValue, 'InvalidRpcMessage');
  assert.match(dead?.MessageAttributes?.ErrorMessage?.StringValue ?? '', /function not found/);
  assert.equal(invocations('secret').length, 0);
});

test('an RPC message naming an unknown function is dead-lettered and answered with an error', async () => {
  const body = JSON.stringify({
    invoke: 'no-such-fn',
    args: {},
    replyTo: replies.url,
    requestId: 'r-unknown',
  });
  await sqs.send(new SendMessageCommand({ QueueUrl: rpcQueue.url, MessageBody: body }));
  const [dead] = await drain(dlq.url, 1);
  assert.equal(dead?.Body, body);
  const [reply] = await drain(replies.url, 1);
  const r = JSON.parse(reply?.Body ?? '');
  assert.equal(r.requestId, 'r-unknown');
  assert.equal(r.status, 'error');
  assert.equal(r.error.errorType, 'InvalidRpcMessage');
});

test('a malformed RPC message (not JSON) goes to the dead-letter queue', async () => {
  await sqs.send(
    new SendMessageCommand({ QueueUrl: rpcQueue.url, MessageBody: 'invoke generateThumbnail please' }),
  );
  const [dead] = await drain(dlq.url, 1);
  assert.equal(dead?.Body, 'invoke generateThumbnail please');
  assert.match(dead?.MessageAttributes?.ErrorMessage?.StringValue ?? '', /not JSON/);
});

test('an RPC message with unknown fields goes to the dead-letter queue', async () => {
  const body = JSON.stringify({ invoke: 'agg-ok', args: {}, tenant: 'admin' });
  await sqs.send(new SendMessageCommand({ QueueUrl: rpcQueue.url, MessageBody: body }));
  const [dead] = await drain(dlq.url, 1);
  assert.equal(dead?.Body, body);
});

test('an aggregate message with one bad sub-event invokes nothing', async () => {
  const before = invocations('agg-ok').length;
  const body = JSON.stringify({ batch: [{ invoke: 'agg-ok', args: { n: 1 } }, { invoke: 'missing-fn' }] });
  await sqs.send(new SendMessageCommand({ QueueUrl: rpcQueue.url, MessageBody: body }));
  const [dead] = await drain(dlq.url, 1);
  assert.match(dead?.MessageAttributes?.ErrorMessage?.StringValue ?? '', /batch\.1\.invoke/);
  assert.equal(invocations('agg-ok').length, before);
});

test('an aggregate message runs its sub-events in order and replies with every result', async () => {
  const body = JSON.stringify({
    batch: [1, 2, 3].map((n) => ({ invoke: 'agg-ok', args: { n } })),
    replyTo: replies.url,
    requestId: 'agg-order',
  });
  await sqs.send(new SendMessageCommand({ QueueUrl: rpcQueue.url, MessageBody: body }));
  const [reply] = await drain(replies.url, 1);
  assert.deepEqual(JSON.parse(reply?.Body ?? ''), {
    requestId: 'agg-order',
    status: 'success',
    result: [{ n: 1 }, { n: 2 }, { n: 3 }],
  });
  assert.deepEqual(
    invocations('agg-ok')
      .slice(-3)
      .map((s) => s.event),
    [{ n: 1 }, { n: 2 }, { n: 3 }],
  );
});

test('an aggregate message failing at sub-event 2 of 3 retries from sub-event 2, not from the start', async () => {
  const body = JSON.stringify({
    batch: [1, 2, 3].map((step) => ({ invoke: 'agg-step', args: { step } })),
    replyTo: replies.url,
    requestId: 'agg-retry',
  });
  await sqs.send(new SendMessageCommand({ QueueUrl: rpcQueue.url, MessageBody: body }));
  await waitFor('sub-event 2 to fail', () => invocations('agg-step').some((s) => s.errorType));
  await lambda.send(
    new UpdateFunctionConfigurationCommand({
      FunctionName: 'agg-step',
      Environment: { Variables: { FAIL: 'no' } },
    }),
  );
  const [reply] = await drain(replies.url, 1);
  assert.deepEqual(JSON.parse(reply?.Body ?? ''), {
    requestId: 'agg-retry',
    status: 'success',
    result: [{ done: 1 }, { done: 2 }, { done: 3 }],
  });
  const steps = invocations('agg-step').map((s) => (s.event as { step: number }).step);
  assert.equal(steps.filter((s) => s === 1).length, 1);
  assert.ok(steps.filter((s) => s === 2).length >= 2);
  assert.equal(steps.filter((s) => s === 3).length, 1);
});

test('a duplicate delivery of a finished aggregate message does nothing twice', async () => {
  const body = JSON.stringify({
    batch: [10, 11].map((n) => ({ invoke: 'agg-ok', args: { n } })),
    replyTo: replies.url,
  });
  const sent = await sqs.send(new SendMessageCommand({ QueueUrl: rpcQueue.url, MessageBody: body }));
  await drain(replies.url, 1);
  const count = invocations('agg-ok').length;
  // The queue redelivering the same message (a delete lost to a crash) hands the processor the same id.
  const part = p.platform.components.mappings;
  const tenant = (await p.platform.tenants.get('admin'))!;
  let replied = 0;
  const out = await part.rpc.process(
    tenant,
    { source: rpcQueue.arn, messageId: sent.MessageId!, body, finalAttempt: false },
    async () => {
      replied++;
    },
  );
  assert.deepEqual(out, { kind: 'done' });
  assert.equal(invocations('agg-ok').length, count);
  assert.equal(replied, 0);
});

test('a replyTo naming another tenant’s queue gets no reply there', async () => {
  const other = (await p.platform.tenants.get('rpc-other'))!;
  const otherSqs = new SQSClient(
    sdkConfig({ endpoint: p.endpoint, credentials: await p.platform.tenants.createKey(other.id) }),
  );
  try {
    const theirs = await queue(otherSqs, 'their-inbox');
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: rpcQueue.url,
        MessageBody: JSON.stringify({ invoke: 'agg-ok', args: { n: 99 }, replyTo: theirs.arn }),
      }),
    );
    await waitFor('the invocation', () =>
      invocations('agg-ok').some((s) => (s.event as { n?: number }).n === 99),
    );
    // The message is done (deleted) once the reply was attempted: nothing may have reached their queue.
    await waitFor('the message done', async () => {
      const a = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: rpcQueue.url, AttributeNames: ['All'] }),
      );
      return (
        Number(a.Attributes?.ApproximateNumberOfMessages) +
          Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible) ===
        0
      );
    });
    const got = await otherSqs.send(
      new ReceiveMessageCommand({ QueueUrl: theirs.url, MaxNumberOfMessages: 10 }),
    );
    assert.equal(got.Messages?.length ?? 0, 0);
  } finally {
    otherSqs.destroy();
  }
});

test('an aggregate that outlasts the queue’s visibility timeout keeps its lease and runs each sub-event once', async () => {
  await createFunction(
    lambda,
    'agg-slow',
    logging('await new Promise((r) => setTimeout(r, 600)); return event.n;'),
  );
  const body = JSON.stringify({
    batch: [1, 2, 3].map((n) => ({ invoke: 'agg-slow', args: { n } })),
    replyTo: replies.url,
    requestId: 'agg-slow',
  });
  await sqs.send(new SendMessageCommand({ QueueUrl: rpcQueue.url, MessageBody: body }));
  await waitFor('the first sub-event', () => invocations('agg-slow').length > 0);
  // Past the 1 s lease: a competing consumer must still not be handed the message being worked on.
  const stolen = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: rpcQueue.url, WaitTimeSeconds: 2, VisibilityTimeout: 30 }),
  );
  assert.equal(stolen.Messages?.length ?? 0, 0);
  const [reply] = await drain(replies.url, 1);
  assert.deepEqual(JSON.parse(reply?.Body ?? ''), {
    requestId: 'agg-slow',
    status: 'success',
    result: [1, 2, 3],
  });
  assert.deepEqual(
    invocations('agg-slow').map((s) => (s.event as { n: number }).n),
    [1, 2, 3],
  );
});
