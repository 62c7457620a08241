// Functions survive a SIGKILL of `kindling serve`: what CreateFunction/UpdateFunctionCode acknowledged is
// there after a restart on the same data dir, and the start-up sweep keeps the code they reference.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import {
  CreateFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  UpdateFunctionCodeCommand,
} from '@aws-sdk/client-lambda';
import { type ServerProcess, sdkConfig, spawnServer, tempDir } from '../../helpers/platform.js';
import { handlerZip } from './zips.js';

test('functions created and updated before a SIGKILL run after a restart', async () => {
  const dataDir = tempDir();
  let server: ServerProcess | undefined;
  const clients: LambdaClient[] = [];
  try {
    server = await spawnServer(dataDir);
    const first = new LambdaClient(sdkConfig(server));
    clients.push(first);
    const base = { Runtime: 'nodejs20.x' as const, Handler: 'index.handler', Role: 'arn:aws:iam::1:role/r' };
    await first.send(
      new CreateFunctionCommand({
        ...base,
        FunctionName: 'survivor',
        Code: { ZipFile: await handlerZip('export const handler = async () => "v1";') },
      }),
    );
    const updated = await first.send(
      new UpdateFunctionCodeCommand({
        FunctionName: 'survivor',
        ZipFile: await handlerZip('export const handler = async () => "v2";'),
      }),
    );
    server.child.kill('SIGKILL');
    await server.exited;

    server = await spawnServer(dataDir);
    const second = new LambdaClient(sdkConfig(server));
    clients.push(second);
    const cfg = await second.send(new GetFunctionConfigurationCommand({ FunctionName: 'survivor' }));
    assert.equal(cfg.CodeSha256, updated.CodeSha256);
    assert.equal(cfg.RevisionId, updated.RevisionId);
    const out = await second.send(new InvokeCommand({ FunctionName: 'survivor' }));
    assert.equal(JSON.parse(Buffer.from(out.Payload ?? []).toString()), 'v2');
  } finally {
    for (const c of clients) c.destroy();
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
