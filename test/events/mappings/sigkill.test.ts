// A `kindling serve` process killed with SIGKILL while batches are in flight loses no message: after a
// restart on the same data dir the mapping resumes and every message is processed at least once.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { CreateEventSourceMappingCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type ServerProcess, sdkConfig, spawnServer, tempDir } from '../../helpers/platform.js';
import { createFunction, waitFor } from './helpers.js';

// Each record is copied to the `done` queue through the platform's own SQS API (the function's
// credentials), so what was processed survives the kill and is counted after the restart.
const copyToDone = `
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
export const handler = async (event) => {
  // The sandbox has no home directory; the SDK's shared-config lookup wants one.
  process.env.HOME ??= '/tmp';
  const { SQSClient, SendMessageBatchCommand, GetQueueUrlCommand } = require('@aws-sdk/client-sqs');
  const sqs = new SQSClient({});
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: 'done' }));
  await new Promise((r) => setTimeout(r, 100));
  await sqs.send(new SendMessageBatchCommand({
    QueueUrl,
    Entries: event.Records.map((r, i) => ({ Id: String(i), MessageBody: r.body })),
  }));
  return null;
};`;

// On PostgreSQL the restarted node is a new node: it takes the mapping over once the killed node's lease
// runs out (on SQLite at once). A short lease keeps the test quick.
const ENV = { KINDLING_LEASE_MS: '3000' };

async function clients(srv: ServerProcess) {
  const cfg = sdkConfig({ endpoint: srv.endpoint, credentials: srv.credentials });
  return { lambda: new LambdaClient(cfg), sqs: new SQSClient(cfg) };
}

async function attr(sqs: SQSClient, url: string, name: string): Promise<number> {
  const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: [name as never] }));
  return Number((a.Attributes as Record<string, string> | undefined)?.[name]);
}

test('SIGKILL while batches are in flight loses no message: after a restart every message is processed', async () => {
  const dataDir = tempDir();
  let srv = await spawnServer(dataDir, ENV);
  let c = await clients(srv);
  try {
    const work = (
      await c.sqs.send(new CreateQueueCommand({ QueueName: 'work', Attributes: { VisibilityTimeout: '3' } }))
    ).QueueUrl!;
    const done = (await c.sqs.send(new CreateQueueCommand({ QueueName: 'done' }))).QueueUrl!;
    const workArn = (
      await c.sqs.send(new GetQueueAttributesCommand({ QueueUrl: work, AttributeNames: ['QueueArn'] }))
    ).Attributes!.QueueArn!;
    await createFunction(c.lambda, 'copier', copyToDone, 3);
    await c.lambda.send(
      new CreateEventSourceMappingCommand({ FunctionName: 'copier', EventSourceArn: workArn, BatchSize: 10 }),
    );
    const total = 300;
    const bodies = Array.from({ length: total }, (_, i) => `msg-${i}`);
    for (let i = 0; i < total; i += 10) {
      await c.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: work,
          Entries: bodies.slice(i, i + 10).map((b, j) => ({ Id: String(j), MessageBody: b })),
        }),
      );
    }
    // Kill once work is under way and batches are leased.
    await waitFor(
      'batches in flight',
      async () =>
        (await attr(c.sqs, done, 'ApproximateNumberOfMessages')) > 0 &&
        (await attr(c.sqs, work, 'ApproximateNumberOfMessagesNotVisible')) > 0,
      30_000,
    );
    srv.child.kill('SIGKILL');
    assert.equal(await srv.exited, 'SIGKILL');
    c.lambda.destroy();
    c.sqs.destroy();

    srv = await spawnServer(dataDir, ENV);
    c = await clients(srv);
    await waitFor(
      'the work queue to drain',
      async () =>
        (await attr(c.sqs, work, 'ApproximateNumberOfMessages')) +
          (await attr(c.sqs, work, 'ApproximateNumberOfMessagesNotVisible')) ===
        0,
      60_000,
    ).catch((e) => {
      console.error('SERVER OUTPUT', srv.output());
      throw e;
    });
    const processed = new Set<string>();
    await waitFor(
      'every body in the done queue',
      async () => {
        const r = await c.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: done, MaxNumberOfMessages: 10, VisibilityTimeout: 600 }),
        );
        for (const m of r.Messages ?? []) processed.add(m.Body ?? '');
        return processed.size === total;
      },
      30_000,
    ).catch(() => undefined); // the assertion below shows what is missing
    if (processed.size !== total) console.error('SERVER OUTPUT', srv.output());
    assert.deepEqual([...processed].sort(), [...bodies].sort());
  } finally {
    c.lambda.destroy();
    c.sqs.destroy();
    srv.child.kill('SIGTERM');
    await srv.exited;
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
