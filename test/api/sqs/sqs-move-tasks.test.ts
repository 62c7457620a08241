// Message move tasks (DLQ redrive) with the unmodified SDK: back to each message's source queue or to a
// given destination, rate-limited, one active task per source, cancellable; SQS's errors, and another
// tenant's queues answering as missing ones.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CancelMessageMoveTaskCommand,
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  type ListMessageMoveTasksResultEntry,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { signRequest } from '../../../src/api/sigv4.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { failure } from '../../helpers/sdk-errors.js';

let p: TestPlatform;
let sqs: SQSClient;
let other: SQSClient;

before(async () => {
  p = await startPlatform();
  sqs = new SQSClient(sdkConfig(p));
  const t = await p.platform.tenants.create('move-other');
  const key = await p.platform.tenants.createKey(t.id);
  other = new SQSClient(
    sdkConfig({ ...p, credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey } }),
  );
});
after(async () => {
  sqs.destroy();
  other.destroy();
  await p.close();
});

async function queue(
  name: string,
  attributes: Record<string, string> = {},
): Promise<{ url: string; arn: string }> {
  const url = (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl!;
  const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  return { url, arn: a.Attributes!.QueueArn! };
}

async function count(url: string): Promise<number> {
  const a = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(a.Attributes!.ApproximateNumberOfMessages) +
    Number(a.Attributes!.ApproximateNumberOfMessagesNotVisible)
  );
}

/** A source queue whose `n` messages have been dead-lettered to its DLQ; returns both queues and the sent ids. */
async function deadLettered(name: string, n: number) {
  const dlq = await queue(`${name}-dlq`);
  const src = await queue(name, {
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 1 }),
  });
  const ids: string[] = [];
  for (let i = 0; i < n; i += 10) {
    const sent = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: src.url,
        Entries: Array.from({ length: Math.min(10, n - i) }, (_, j) => ({
          Id: `m${i + j}`,
          MessageBody: `body ${i + j}`,
          MessageAttributes: { n: { DataType: 'Number', StringValue: String(i + j) } },
        })),
      }),
    );
    ids.push(...sent.Successful!.map((s) => s.MessageId!));
  }
  // Received once (visibility 0), so the next receive dead-letters them.
  for (let got = 0; got < n; ) {
    const r = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: src.url, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
    );
    got += r.Messages?.length ?? 0;
  }
  while ((await count(dlq.url)) < n)
    await sqs.send(new ReceiveMessageCommand({ QueueUrl: src.url, MaxNumberOfMessages: 10 }));
  assert.equal(await count(src.url), 0);
  return { src, dlq, ids };
}

async function tasks(sourceArn: string, client = sqs): Promise<ListMessageMoveTasksResultEntry[]> {
  return (
    (await client.send(new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 10 }))).Results ??
    []
  );
}

async function settled(sourceArn: string): Promise<ListMessageMoveTasksResultEntry> {
  for (;;) {
    const [t] = await tasks(sourceArn);
    if (t && t.Status !== 'RUNNING' && t.Status !== 'CANCELLING') return t;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function receiveAll(url: string, n: number) {
  const msgs: Message[] = [];
  while (msgs.length < n) {
    const r = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
      }),
    );
    msgs.push(...(r.Messages ?? []));
  }
  return msgs;
}

test('a move task without a destination redrives each message to its source queue, with new ids', async () => {
  const { src, dlq, ids } = await deadLettered('redrive', 3);
  const handle = (await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlq.arn }))).TaskHandle;
  assert.ok(handle);
  const done = await settled(dlq.arn);
  assert.equal(done.Status, 'COMPLETED');
  assert.equal(done.ApproximateNumberOfMessagesMoved, 3);
  assert.equal(done.ApproximateNumberOfMessagesToMove, 3);
  assert.equal(done.SourceArn, dlq.arn);
  assert.equal(done.DestinationArn, undefined);
  assert.equal(done.TaskHandle, undefined);
  assert.equal(done.MaxNumberOfMessagesPerSecond, undefined);
  assert.ok(Math.abs(Number(done.StartedTimestamp) - Date.now()) < 60_000);
  const back = await receiveAll(src.url, 3);
  assert.deepEqual(back.map((m) => m.Body).sort(), ['body 0', 'body 1', 'body 2']);
  for (const m of back) {
    assert.ok(!ids.includes(m.MessageId!), 'a moved message gets a new id');
    assert.equal(m.MessageAttributes?.n?.StringValue, m.Body!.slice(5));
    assert.equal(m.Attributes?.ApproximateReceiveCount, '1');
  }
  assert.equal(await count(dlq.url), 0);
});

test('a rate-limited move task to a given destination runs, refuses a second one, and cancels', async () => {
  const { dlq } = await deadLettered('slow', 20);
  const dest = await queue('slow-dest');
  const handle = (
    await sqs.send(
      new StartMessageMoveTaskCommand({
        SourceArn: dlq.arn,
        DestinationArn: dest.arn,
        MaxNumberOfMessagesPerSecond: 1,
      }),
    )
  ).TaskHandle!;
  const [running] = await tasks(dlq.arn);
  assert.equal(running?.Status, 'RUNNING');
  assert.equal(running?.TaskHandle, handle);
  assert.equal(running?.DestinationArn, dest.arn);
  assert.equal(running?.MaxNumberOfMessagesPerSecond, 1);
  assert.equal(running?.ApproximateNumberOfMessagesToMove, 20);
  assert.deepEqual(await failure(sqs, new StartMessageMoveTaskCommand({ SourceArn: dlq.arn })), {
    name: 'InvalidParameterValue',
    message:
      'There is already a task running. Only one active task is allowed for a source queue arn at a given time.',
    status: 400,
  });
  // Another tenant cannot cancel it, even holding its handle.
  assert.equal(
    (await failure(other, new CancelMessageMoveTaskCommand({ TaskHandle: handle }))).name,
    'ResourceNotFoundException',
  );
  const cancelled = await sqs.send(new CancelMessageMoveTaskCommand({ TaskHandle: handle }));
  assert.equal(typeof cancelled.ApproximateNumberOfMessagesMoved, 'number');
  const end = await settled(dlq.arn);
  assert.equal(end.Status, 'CANCELLED');
  const moved = end.ApproximateNumberOfMessagesMoved!;
  // At one message a second, a cancel right after the start leaves most of them where they were.
  assert.ok(moved < 20, `moved ${moved}`);
  assert.equal(await count(dest.url), moved);
  assert.equal(await count(dlq.url), 20 - moved);
  assert.equal(
    (await failure(sqs, new CancelMessageMoveTaskCommand({ TaskHandle: handle }))).name,
    'InvalidParameterValue',
  );
  // A new task may start once the last one ended, and lists first.
  await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlq.arn, DestinationArn: dest.arn }));
  const [latest, previous] = await tasks(dlq.arn);
  assert.equal(previous?.Status, 'CANCELLED');
  assert.ok(latest);
  assert.equal((await settled(dlq.arn)).Status, 'COMPLETED');
  assert.equal(await count(dest.url), 20);
});

test('StartMessageMoveTask refuses as SQS does', async () => {
  const plain = await queue('not-a-dlq');
  const { dlq } = await deadLettered('checks', 1);
  const fifo = await queue('checks-dest.fifo', { FifoQueue: 'true' });
  const start = (i: { SourceArn: string; DestinationArn?: string; MaxNumberOfMessagesPerSecond?: number }) =>
    failure(sqs, new StartMessageMoveTaskCommand(i));
  assert.deepEqual(await start({ SourceArn: plain.arn }), {
    name: 'InvalidParameterValue',
    message: 'Source queue must be configured as a Dead Letter Queue.',
    status: 400,
  });
  for (const rate of [0, 501]) {
    assert.equal(
      (await start({ SourceArn: dlq.arn, MaxNumberOfMessagesPerSecond: rate })).message,
      "Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a number that's between 1 and 500.",
    );
  }
  const gone = plain.arn.replace('not-a-dlq', 'no-such-queue');
  assert.deepEqual(await start({ SourceArn: gone }), {
    name: 'ResourceNotFoundException',
    message: "The resource that you specified for the SourceArn parameter doesn't exist.",
    status: 404,
  });
  assert.deepEqual(await start({ SourceArn: dlq.arn, DestinationArn: gone }), {
    name: 'ResourceNotFoundException',
    message: "The resource that you specified for the DestinationArn parameter doesn't exist.",
    status: 404,
  });
  assert.equal(
    (await start({ SourceArn: dlq.arn, DestinationArn: dlq.arn })).message,
    'Source and destination arn cannot be the same.',
  );
  assert.equal((await start({ SourceArn: dlq.arn, DestinationArn: fifo.arn })).name, 'InvalidParameterValue');
  assert.equal((await start({ SourceArn: 'not-an-arn' })).name, 'InvalidParameterValue');
  assert.equal(
    (await failure(sqs, new ListMessageMoveTasksCommand({ SourceArn: dlq.arn, MaxResults: 11 }))).name,
    'InvalidParameterValue',
  );
  assert.deepEqual(await failure(sqs, new CancelMessageMoveTaskCommand({ TaskHandle: 'garbage' })), {
    name: 'InvalidParameterValue',
    message: 'Value for parameter TaskHandle is invalid.',
    status: 400,
  });
  const forged = Buffer.from(JSON.stringify({ taskId: 'nope', sourceArn: dlq.arn })).toString('base64');
  assert.deepEqual(await failure(sqs, new CancelMessageMoveTaskCommand({ TaskHandle: forged })), {
    name: 'ResourceNotFoundException',
    message: 'Task does not exist.',
    status: 404,
  });
  // Nothing was started by the refusals.
  assert.deepEqual(await tasks(dlq.arn), []);
});

test("another tenant's DLQ answers exactly as a missing queue to every move-task call", async () => {
  const { dlq } = await deadLettered('private-redrive', 1);
  const missing = dlq.arn.replace('private-redrive-dlq', 'nothing-here');
  for (const arn of [dlq.arn, missing]) {
    assert.deepEqual(await failure(other, new StartMessageMoveTaskCommand({ SourceArn: arn })), {
      name: 'ResourceNotFoundException',
      message: "The resource that you specified for the SourceArn parameter doesn't exist.",
      status: 404,
    });
    assert.equal(
      (await failure(other, new ListMessageMoveTasksCommand({ SourceArn: arn }))).name,
      'ResourceNotFoundException',
    );
  }
  // Its own queue as source, the victim's as destination: refused the same way, nothing moves.
  const mineDlq = (await other.send(new CreateQueueCommand({ QueueName: 'mine-dlq' }))).QueueUrl!;
  const mineArn = (
    await other.send(new GetQueueAttributesCommand({ QueueUrl: mineDlq, AttributeNames: ['QueueArn'] }))
  ).Attributes!.QueueArn!;
  await other.send(
    new CreateQueueCommand({
      QueueName: 'mine',
      Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: mineArn, maxReceiveCount: 1 }) },
    }),
  );
  assert.equal(
    (await failure(other, new StartMessageMoveTaskCommand({ SourceArn: mineArn, DestinationArn: dlq.arn })))
      .name,
    'ResourceNotFoundException',
  );
  assert.equal(await count(dlq.url), 1);
});

test('the query protocol lists move tasks as ListMessageMoveTasksResultEntry elements', async () => {
  const { dlq } = await deadLettered('xml-move', 1);
  await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlq.arn }));
  await settled(dlq.arn);
  const u = new URL('/', p.endpoint);
  const body = new URLSearchParams({
    Action: 'ListMessageMoveTasks',
    Version: '2012-11-05',
    SourceArn: dlq.arn,
  }).toString();
  const headers = signRequest({
    method: 'POST',
    url: u,
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body,
    accessKeyId: p.credentials.accessKeyId,
    secretAccessKey: p.credentials.secretAccessKey,
    region: p.region,
    service: 'sqs',
  });
  delete headers.host;
  const res = await fetch(u, { method: 'POST', headers, body });
  const xml = await res.text();
  assert.equal(res.status, 200, xml);
  assert.match(
    xml,
    /<ListMessageMoveTasksResult><ListMessageMoveTasksResultEntry><Status>COMPLETED<\/Status><SourceArn>arn:aws:sqs:[^<]+:xml-move-dlq<\/SourceArn><ApproximateNumberOfMessagesMoved>1<\/ApproximateNumberOfMessagesMoved><ApproximateNumberOfMessagesToMove>1<\/ApproximateNumberOfMessagesToMove><StartedTimestamp>\d+<\/StartedTimestamp><\/ListMessageMoveTasksResultEntry><\/ListMessageMoveTasksResult>/,
  );
});
