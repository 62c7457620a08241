// The platform API relay (sandbox/relay.ts) on its own: as a module a runtime imports, and as a program
// a runtime that is not Node runs beside itself. Both pipe loopback TCP to the API's unix socket.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startRelay } from '../../src/sandbox/relay.js';

const relayProgram = fileURLToPath(new URL('../../src/sandbox/relay.js', import.meta.url));
let dir: string;
let socketPath: string;
let server: http.Server;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-relay-'));
  socketPath = path.join(dir, 'api.sock');
  server = http.createServer((req, res) => res.end(`via socket: ${req.method} ${req.url}`));
  await new Promise<void>((r) => server.listen(socketPath, r));
});
after(() => {
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function get(port: number, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: url }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

test('imported, the relay forwards a loopback request to the API socket and answers on the port it reports', async () => {
  const port = await startRelay(0, socketPath);
  assert.ok(port > 0);
  assert.equal(await get(port, '/2015-03-31/functions'), 'via socket: GET /2015-03-31/functions');
});

test('run as a program, the relay prints its port and forwards requests to the API socket', async () => {
  const child = spawn(process.execPath, [relayProgram], {
    env: { KINDLING_RELAY_PORT: '0', KINDLING_API_SOCKET: socketPath },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.setEncoding('utf8');
      child.stdout.once('data', (d: string) => resolve(Number(d.trim())));
      child.once('exit', (code) => reject(new Error(`relay exited (${code})`)));
    });
    assert.ok(port > 0);
    assert.equal(await get(port, '/queue'), 'via socket: GET /queue');
  } finally {
    child.kill('SIGKILL');
  }
});
