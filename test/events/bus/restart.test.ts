// PutEvents across a SIGKILL of a `kindling serve` child: every event the call answered with an EventId
// reaches the target function after the restart (the deliveries were stored before the answer).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import {
  EventBridgeClient,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { PutFunctionEventInvokeConfigCommand } from '@aws-sdk/client-lambda';
import { type ServerProcess, sdkConfig, spawnServer, tempDir } from '../../helpers/platform.js';
import { dropTestStore } from '../../helpers/store.js';
import { clients, createFunction, createQueue, okHandler, receive } from '../../invoke/async/fixtures.js';

async function stop(server: ServerProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!server || server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill(signal);
  await server.exited;
}

test('events accepted by PutEvents reach the function after a SIGKILL right after the answer', async () => {
  const dataDir = tempDir();
  let server: ServerProcess | undefined = await spawnServer(dataDir, { KINDLING_RETRY_BASE_MS: '50' });
  try {
    const c = clients(sdkConfig(server));
    const events = new EventBridgeClient(sdkConfig(server));
    const sink = await createQueue(c.sqs, 'sink');
    const fnArn = await createFunction(c.lambda, 'on-event', okHandler);
    await c.lambda.send(
      new PutFunctionEventInvokeConfigCommand({
        FunctionName: 'on-event',
        DestinationConfig: { OnSuccess: { Destination: sink.arn } },
      }),
    );
    await events.send(new PutRuleCommand({ Name: 'all-orders', EventPattern: '{"source":["shop"]}' }));
    await events.send(new PutTargetsCommand({ Rule: 'all-orders', Targets: [{ Id: 'fn', Arn: fnArn }] }));
    const entries = Array.from({ length: 10 }, (_, i) => ({
      Source: 'shop',
      DetailType: 'Order',
      Detail: JSON.stringify({ n: i }),
    }));
    const answered = await Promise.all(
      [1, 2].map(() => events.send(new PutEventsCommand({ Entries: entries }))),
    );
    await stop(server, 'SIGKILL');
    c.lambda.destroy();
    c.sqs.destroy();
    events.destroy();
    const ids = answered.flatMap((a) => a.Entries!.map((e) => e.EventId!));
    assert.equal(ids.length, 20);

    server = await spawnServer(dataDir, { KINDLING_RETRY_BASE_MS: '50' });
    const { sqs } = clients(sdkConfig(server));
    const got = await receive(sqs, `${server.endpoint}${new URL(sink.url).pathname}`, 20, 60_000);
    sqs.destroy();
    // At least once: a run the kill cut short may run again, but none is lost.
    const ran = new Set(got.map((m) => JSON.parse(m.Body!).responsePayload.got.id as string));
    for (const id of ids) assert.ok(ran.has(id), `event ${id} ran`);
  } finally {
    await stop(server);
    await dropTestStore(dataDir);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
