// Durability of async accept: a server killed with SIGKILL while Event invokes pour in loses none that
// got a 202. After the restart every accepted event runs at least once (counted through the function's
// on-success destination queue, which receives one record per successful run).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import {
  InvokeCommand,
  PutFunctionConcurrencyCommand,
  PutFunctionEventInvokeConfigCommand,
} from '@aws-sdk/client-lambda';
import { type ServerProcess, sdkConfig, spawnServer, tempDir } from '../../helpers/platform.js';
import { dropTestStore } from '../../helpers/store.js';
import { clients, createFunction, createQueue, okHandler, receive } from './fixtures.js';

const TOTAL = 80;
const KILL_AFTER = 20;

test('every Event invoke that got a 202 before a SIGKILL runs at least once after the restart', async () => {
  const dataDir = tempDir();
  // A short lease: on PostgreSQL the restarted node (a new node id) takes the killed one's claims over
  // once their leases ran out; on SQLite it recovers them at start.
  const env = { KINDLING_RETRY_BASE_MS: '50', KINDLING_LEASE_MS: '2000' };
  let server: ServerProcess | undefined = await spawnServer(dataDir, env);
  try {
    let c = clients(sdkConfig({ endpoint: server.endpoint, credentials: server.credentials }));
    const sink = await createQueue(c.sqs, 'sink');
    await createFunction(c.lambda, 'counter', okHandler);
    // A low limit keeps most events queued (not yet run) at the moment of the kill.
    await c.lambda.send(
      new PutFunctionConcurrencyCommand({ FunctionName: 'counter', ReservedConcurrentExecutions: 2 }),
    );
    await c.lambda.send(
      new PutFunctionEventInvokeConfigCommand({
        FunctionName: 'counter',
        DestinationConfig: { OnSuccess: { Destination: sink.arn } },
      }),
    );

    const accepted = new Set<string>();
    const victim = server;
    let killed = false;
    const kill = () => {
      if (!killed) {
        killed = true;
        victim.child.kill('SIGKILL');
      }
    };
    await Promise.allSettled(
      Array.from({ length: TOTAL }, (_, i) =>
        c.lambda
          .send(
            new InvokeCommand({
              FunctionName: 'counter',
              InvocationType: 'Event',
              Payload: Buffer.from(JSON.stringify({ i })),
            }),
          )
          .then((out) => {
            if (out.StatusCode === 202 && !killed) accepted.add(out.$metadata.requestId!);
            if (accepted.size >= KILL_AFTER) kill();
          }),
      ),
    );
    kill();
    assert.equal(await server.exited, 'SIGKILL');
    assert.ok(accepted.size >= KILL_AFTER, `at least ${KILL_AFTER} invokes were accepted before the kill`);
    c.lambda.destroy();
    c.sqs.destroy();

    server = await spawnServer(dataDir, env);
    c = clients(sdkConfig({ endpoint: server.endpoint, credentials: server.credentials }));
    const ran = new Set<string>();
    const end = Date.now() + 90_000;
    while ([...accepted].some((id) => !ran.has(id)) && Date.now() < end) {
      for (const m of await receive(c.sqs, sink.url, 10, 5_000))
        ran.add(JSON.parse(m.Body!).requestContext.requestId);
    }
    const missing = [...accepted].filter((id) => !ran.has(id));
    assert.deepEqual(missing, [], `${missing.length} of ${accepted.size} accepted events never ran`);
    c.lambda.destroy();
    c.sqs.destroy();
  } finally {
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    await dropTestStore(dataDir);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
