// A descriptor the server inherited from whoever started it (here a file the test opens, passed without
// close-on-exec as a supervisor's pipe would be) never reaches a sandboxed function: the server closes
// such descriptors before its first sandbox. Node itself marks close-on-exec the inherited descriptors
// that follow stdio without a gap (libuv's uv_disable_stdio_inheritance, fds 0-15 and on while open),
// so the test places its descriptor beyond a gap, at 200, where a supervisor's pipe may well sit.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { createFunction, lambdaClient } from '../helpers/functions.js';
import { spawnServer, tempDir } from '../helpers/platform.js';

const listFds = `
import fs from 'node:fs';
export const handler = async () =>
  fs.readdirSync('/proc/self/fd').map((fd) => { try { return fs.readlinkSync('/proc/self/fd/' + fd); } catch { return ''; } });`;

test('a descriptor the server inherited is closed before any sandbox, so no function sees it', async () => {
  const dir = tempDir();
  const secret = path.join(dir, 'inherited-by-the-server.log');
  const fd = fs.openSync(secret, 'a');
  const srv = await spawnServer(undefined, {}, 0, { 200: fd });
  fs.closeSync(fd);
  const lambda = lambdaClient(srv);
  try {
    await createFunction(lambda, 'fds', listFds);
    const out = await lambda.send(new InvokeCommand({ FunctionName: 'fds' }));
    const links = JSON.parse(Buffer.from(out.Payload!).toString()) as string[];
    assert.ok(links.length > 0, 'the function listed its descriptors');
    assert.ok(!links.some((l) => l.includes('inherited-by-the-server')), JSON.stringify(links));
    // The server said what it closed.
    assert.match(srv.output(), /closed descriptors inherited from the parent process: (\d+, )*200\b/);
  } finally {
    lambda.destroy();
    srv.child.kill('SIGTERM');
    await srv.exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
