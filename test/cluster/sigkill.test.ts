// Two real `kindling serve` processes on one PostgreSQL database and one blobs dir: one is SIGKILLed
// (no goodbye) while it runs async invocations and queue batches; the other takes its claims over and
// every accepted event runs (at least once).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, test } from 'node:test';
import { CreateEventSourceMappingCommand, InvokeCommand } from '@aws-sdk/client-lambda';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { createFunction, lambdaClient } from '../helpers/functions.js';
import { type ServerProcess, sdkConfig, spawnServer, tempDir } from '../helpers/platform.js';
import { freshDatabase, type TestDatabase } from '../helpers/postgres.js';
import { eventually } from './helpers.js';

const LEASE_MS = 2_000;

// Reports each event id (an async payload's, or each queue record's body) to the `done` queue.
const REPORTER = `
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
export const handler = async (event) => {
  process.env.HOME ??= '/tmp';
  const { SQSClient, SendMessageBatchCommand, GetQueueUrlCommand } = require('@aws-sdk/client-sqs');
  const sqs = new SQSClient({});
  const ids = event.Records ? event.Records.map((r) => r.body) : [event.id];
  await new Promise((r) => setTimeout(r, 400));
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: 'done' }));
  for (let i = 0; i < ids.length; i += 10) {
    await sqs.send(new SendMessageBatchCommand({
      QueueUrl,
      Entries: ids.slice(i, i + 10).map((id, j) => ({ Id: String(j), MessageBody: id })),
    }));
  }
  return null;
};`;

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test('a node SIGKILLed while it runs async events and queue batches loses none: the other node runs them', async () => {
  const db: TestDatabase = await freshDatabase();
  cleanup.push(() => db.drop());
  const blobs = tempDir('kindling-kill-blobs-');
  const dirs = [tempDir('kindling-kill-a-'), tempDir('kindling-kill-b-')];
  cleanup.push(() => {
    for (const d of [blobs, ...dirs]) fs.rmSync(d, { recursive: true, force: true });
  });
  const env = { KINDLING_STORE: db.url, KINDLING_BLOBS: blobs, KINDLING_LEASE_MS: String(LEASE_MS) };
  const a: ServerProcess = await spawnServer(dirs[0], env);
  cleanup.push(() => {
    if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
  });
  const b: ServerProcess = await spawnServer(dirs[1], env);
  cleanup.push(async () => {
    b.child.kill('SIGTERM');
    await b.exited;
  });
  assert.deepEqual(b.credentials, a.credentials, 'both nodes serve the one admin key');

  const lambdaA = lambdaClient(a);
  const sqsA = new SQSClient(sdkConfig(a));
  const sqsB = new SQSClient(sdkConfig(b));
  cleanup.push(() => {
    lambdaA.destroy();
    sqsA.destroy();
    sqsB.destroy();
  });
  await createFunction(lambdaA, 'reporter', REPORTER, { Timeout: 10 });
  const done = (await sqsA.send(new CreateQueueCommand({ QueueName: 'done' }))).QueueUrl!;
  const work = (
    await sqsA.send(new CreateQueueCommand({ QueueName: 'work', Attributes: { VisibilityTimeout: '10' } }))
  ).QueueUrl!;
  const workArn = (
    await sqsA.send(new GetQueueAttributesCommand({ QueueUrl: work, AttributeNames: ['QueueArn'] }))
  ).Attributes!.QueueArn!;
  await lambdaA.send(
    new CreateEventSourceMappingCommand({ FunctionName: 'reporter', EventSourceArn: workArn, BatchSize: 5 }),
  );

  // Everything is accepted by the node about to die.
  const expected = new Set<string>();
  for (let i = 0; i < 30; i++) {
    const id = `async-${i}`;
    const r = await lambdaA.send(
      new InvokeCommand({
        FunctionName: 'reporter',
        InvocationType: 'Event',
        Payload: JSON.stringify({ id }),
      }),
    );
    assert.equal(r.StatusCode, 202);
    expected.add(id);
  }
  for (let i = 0; i < 30; i += 10) {
    const entries = Array.from({ length: 10 }, (_, j) => ({ Id: String(j), MessageBody: `msg-${i + j}` }));
    const r = await sqsA.send(new SendMessageBatchCommand({ QueueUrl: work, Entries: entries }));
    assert.equal(r.Failed?.length ?? 0, 0);
    for (const e of entries) expected.add(e.MessageBody);
  }

  // Kill A once the first events have run: it holds claims and leased messages of the rest by then.
  const running = async () => {
    const res = await sqsA.send(
      new GetQueueAttributesCommand({ QueueUrl: done, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    return Number(res.Attributes?.ApproximateNumberOfMessages ?? 0) > 0;
  };
  await eventually(running, 60_000);
  a.child.kill('SIGKILL');
  assert.equal(await a.exited, 'SIGKILL');

  // B takes over what A held once A's leases lapse; every accepted id arrives at least once.
  const seen = new Set<string>();
  await eventually(async () => {
    const r = await sqsB.send(
      new ReceiveMessageCommand({ QueueUrl: done, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    const msgs = r.Messages ?? [];
    for (const m of msgs) seen.add(m.Body ?? '');
    if (msgs.length > 0)
      await sqsB.send(
        new DeleteMessageBatchCommand({
          QueueUrl: done,
          Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
    return [...expected].every((id) => seen.has(id));
  }, 120_000).catch(() => undefined); // the assertion shows what is missing
  assert.deepEqual(
    [...expected].filter((id) => !seen.has(id)),
    [],
    `lost after the kill; node B said:\n${b.output().slice(-2000)}`,
  );
});
