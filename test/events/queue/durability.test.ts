// Durability of the embedded queue: a `kindling serve` child is killed with SIGKILL and restarted on the
// same data dir; every acknowledged send is still there, and leased messages come back.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type ServerProcess, sdkConfig, spawnServer, tempDir } from '../../helpers/platform.js';

async function kill(server: ServerProcess): Promise<void> {
  server.child.kill('SIGKILL');
  await server.exited;
}

async function drain(sqs: SQSClient, url: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const got = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 600 }),
    );
    if (!got.Messages?.length) return bodies;
    for (const m of got.Messages) bodies.push(m.Body!);
  }
}

test('every acknowledged message is receivable after the server is killed with SIGKILL and restarted', async () => {
  const dataDir = tempDir();
  let server: ServerProcess | undefined = await spawnServer(dataDir);
  try {
    let sqs = new SQSClient(sdkConfig(server));
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: 'durable' }))).QueueUrl!;
    const expected: string[] = [];
    for (let i = 0; i < 20; i++) {
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: `single-${i}` }));
      expected.push(`single-${i}`);
    }
    for (let b = 0; b < 5; b++) {
      const Entries = Array.from({ length: 10 }, (_, i) => ({ Id: `e${i}`, MessageBody: `batch-${b}-${i}` }));
      const out = await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries }));
      assert.equal(out.Successful?.length, 10);
      expected.push(...Entries.map((e) => e.MessageBody));
    }
    sqs.destroy();
    await kill(server);

    server = await spawnServer(dataDir);
    sqs = new SQSClient(sdkConfig(server));
    const path = new URL(url).pathname;
    const bodies = await drain(sqs, `${server.endpoint}${path}`);
    assert.deepEqual(bodies.sort(), expected.sort());
    sqs.destroy();
  } finally {
    if (server) await kill(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a message in flight when the server is killed becomes receivable again after its visibility timeout', async () => {
  const dataDir = tempDir();
  let server: ServerProcess | undefined = await spawnServer(dataDir);
  try {
    let sqs = new SQSClient(sdkConfig(server));
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: 'leased' }))).QueueUrl!;
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'in flight' }));
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 1 }));
    assert.equal(got.Messages?.[0]?.Body, 'in flight');
    sqs.destroy();
    await kill(server);

    server = await spawnServer(dataDir);
    sqs = new SQSClient(sdkConfig(server));
    const again = `${server.endpoint}${new URL(url).pathname}`;
    const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: again, AttributeNames: ['All'] }));
    assert.equal(
      Number(a.Attributes?.ApproximateNumberOfMessages) +
        Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible),
      1,
    );
    const back = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: again,
        WaitTimeSeconds: 10,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    assert.equal(back.Messages?.[0]?.Body, 'in flight');
    assert.equal(back.Messages?.[0]?.Attributes?.ApproximateReceiveCount, '2');
    sqs.destroy();
  } finally {
    if (server) await kill(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
