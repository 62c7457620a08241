// SIGTERM drains: events already running finish, queued ones stay queued (none is failed or dropped),
// and the next start runs them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  InvokeCommand,
  PutFunctionConcurrencyCommand,
  PutFunctionEventInvokeConfigCommand,
} from '@aws-sdk/client-lambda';
import { PostgresSql } from '../../../src/store/postgres.js';
import { SqliteSql } from '../../../src/store/sqlite.js';
import { type ServerProcess, sdkConfig, spawnServer, tempDir } from '../../helpers/platform.js';
import { dropTestStore, testStoreFor } from '../../helpers/store.js';
import { clients, createFunction, createQueue, receive } from './fixtures.js';

const slowHandler =
  'export const handler = async (event) => { await new Promise((r) => setTimeout(r, 200)); return event; };';

test('SIGTERM leaves queued async events queued, and the next start runs them', async () => {
  const dataDir = tempDir();
  const env = { KINDLING_RETRY_BASE_MS: '50' };
  let server: ServerProcess | undefined = await spawnServer(dataDir, env);
  try {
    let c = clients(sdkConfig(server));
    const sink = await createQueue(c.sqs, 'sink');
    await createFunction(c.lambda, 'slow', slowHandler);
    await c.lambda.send(
      new PutFunctionConcurrencyCommand({ FunctionName: 'slow', ReservedConcurrentExecutions: 1 }),
    );
    await c.lambda.send(
      new PutFunctionEventInvokeConfigCommand({
        FunctionName: 'slow',
        DestinationConfig: { OnSuccess: { Destination: sink.arn } },
      }),
    );
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const out = await c.lambda.send(
        new InvokeCommand({
          FunctionName: 'slow',
          InvocationType: 'Event',
          Payload: Buffer.from(`{"i":${i}}`),
        }),
      );
      ids.push(out.$metadata.requestId!);
    }
    c.lambda.destroy();
    c.sqs.destroy();
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0);
    server = undefined;

    // The node's store, read directly (this run's: the data dir's SQLite file, or its PostgreSQL database).
    const { store } = await testStoreFor(dataDir);
    const sql = store
      ? await PostgresSql.open({ url: store, max: 1 })
      : SqliteSql.open(path.join(dataDir, 'kindling.db'));
    const statuses = await sql.all<{ status: string; n: number }>(
      'SELECT status, COUNT(*) AS n FROM async_events GROUP BY status',
    );
    await sql.close();
    const count = (s: string) => statuses.find((r) => r.status === s)?.n ?? 0;
    assert.equal(count('failed'), 0);
    assert.equal(count('running'), 0);
    assert.ok(count('queued') > 0, `some events were still queued at shutdown: ${JSON.stringify(statuses)}`);
    assert.equal(count('queued') + count('succeeded'), ids.length);

    server = await spawnServer(dataDir, env);
    c = clients(sdkConfig(server));
    // The sink holds one record per run: those from before the shutdown and those run after the restart.
    const got = await receive(c.sqs, `${server.endpoint}${new URL(sink.url).pathname}`, ids.length, 60_000);
    c.lambda.destroy();
    c.sqs.destroy();
    const ran = new Set(got.map((m) => JSON.parse(m.Body!).requestContext.requestId as string));
    assert.deepEqual([...ran].sort(), [...ids].sort());
  } finally {
    if (server) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    await dropTestStore(dataDir);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
