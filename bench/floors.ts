// The floors Kindling is measured against, each run as its own process by bench/run.ts:
//   inproc: a bare node:http server calling the handler in-process;
//   ipc:    a node:http server forwarding every request over IPC to one child Node process.
// Usage: node dist/bench/floors.js inproc|ipc|ipc-child. Prints `listening on PORT` when ready.
import { fork } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The trivial handler every bench target runs. */
export const handler = async (event: unknown) => ({ ok: true, echo: event });

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function listen(server: http.Server): void {
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => {
    console.log(`listening on ${(server.address() as AddressInfo).port}`);
  });
}

function inproc(): void {
  listen(
    http.createServer(async (req, res) => {
      const body = await readBody(req);
      const result = await handler(body.length ? JSON.parse(body.toString()) : {});
      const out = JSON.stringify(result);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    }),
  );
}

function ipc(): void {
  const child = fork(fileURLToPath(import.meta.url), ['ipc-child'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, http.ServerResponse>();
  let next = 0;
  child.on('message', (m: { id: number; out: string }) => {
    const res = waiting.get(m.id);
    if (!res) return;
    waiting.delete(m.id);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(m.out) });
    res.end(m.out);
  });
  listen(
    http.createServer(async (req, res) => {
      const body = await readBody(req);
      const id = next++;
      waiting.set(id, res);
      child.send({ id, payload: body.toString() });
    }),
  );
}

function ipcChild(): void {
  process.on('message', async (m: { id: number; payload: string }) => {
    const result = await handler(m.payload ? JSON.parse(m.payload) : {});
    process.send!({ id: m.id, out: JSON.stringify(result) });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const mode = process.argv[2];
  if (mode === 'inproc') inproc();
  else if (mode === 'ipc') ipc();
  else if (mode === 'ipc-child') ipcChild();
  else {
    console.error('usage: floors.js inproc|ipc');
    process.exit(2);
  }
}
