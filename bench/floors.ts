// The floors Kindling is measured against, each run as its own process by bench/run.ts:
//   inproc: a bare node:http server calling the handler in-process;
//   ipc:    a node:http server forwarding every request over IPC to one child Node process;
//   per-process: Kindling's own model with nothing else — a node:http server forwarding each request to
//           one of N child processes that each serve one request at a time over a Unix socket
//           (length-prefixed frames), requests waiting for a free child when all are busy; `/child/<i>`
//           sends a request to child i (waiting while it is busy);
//   per-process-lambda: the per-process floor plus the work any Lambda-compatible server does per request,
//           done with Kindling's own modules: the SigV4 signature checked (api/sigv4), a request id,
//           Invoke's response headers, and the invocation's record (its START/END/REPORT log and billing
//           from worker/report) stored through the telemetry part (SQLite, batched as the server batches
//           it). What is left
//           between it and Kindling is Kindling's own machinery (routing, invocation, placement, sandbox,
//           the runtime's protocol). Signed with FLOOR_ACCESS_KEY_ID / FLOOR_SECRET_ACCESS_KEY.
// Usage: node dist/bench/floors.js inproc|ipc|per-process|per-process-lambda N. Prints `listening on PORT`
// when ready.
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InvocationRecord } from '../src/telemetry/types.js';
import type { FunctionVersionSpec } from '../src/worker/types.js';

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

/** Frames on a stream: [u32 length][bytes]; calls `onFrame` with each whole one. */
function frames(sock: net.Socket, onFrame: (b: Buffer) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  sock.on('data', (c: Buffer) => {
    buf = buf.length === 0 ? c : Buffer.concat([buf, c]);
    while (buf.length >= 4) {
      const n = buf.readUInt32LE(0);
      if (buf.length < 4 + n) break;
      onFrame(buf.subarray(4, 4 + n));
      buf = buf.subarray(4 + n);
    }
  });
}

function frame(b: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32LE(b.length, 0);
  return Buffer.concat([head, b]);
}

/** The per-request work of a Lambda-compatible server (per-process-lambda), around the forwarding. */
interface LambdaWork {
  /** Checks the request's signature: undefined when valid, else why not. */
  verify(req: http.IncomingMessage, body: Buffer): string | undefined;
  /** Answers as Invoke does and stores the invocation's record. */
  answer(res: http.ServerResponse, requestId: string, out: Buffer, durationMs: number): void;
}

/** Loaded only by this floor: the others' processes stay as small as they were. */
async function lambdaWork(dir: string): Promise<LambdaWork> {
  const { parseSignature, SignatureError, sha256Hex, verifySignature } = await import('../src/api/sigv4.js');
  const { openDatabase, SqliteSql } = await import('../src/store/sqlite.js');
  const { Telemetry } = await import('../src/telemetry/telemetry.js');
  const { report } = await import('../src/worker/report.js');
  const accessKeyId = process.env.FLOOR_ACCESS_KEY_ID ?? '';
  const secret = process.env.FLOOR_SECRET_ACCESS_KEY ?? '';
  const telemetry = new Telemetry(new SqliteSql(openDatabase(path.join(dir, 'telemetry.db'))));
  // As the invocation service does: records reach the observers in an Immediate after the answer.
  let observing: InvocationRecord[] = [];
  const notify = () => {
    const records = observing;
    observing = [];
    for (const r of records) telemetry.onInvocation(r);
  };
  const functionName = 'bench-trivial';
  const functionArn = `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`;
  // What the server's report (worker/report.ts) reads of a version: runtime, memory, version, timeout.
  const spec = {
    runtime: 'nodejs20.x',
    memoryMB: 128,
    version: '$LATEST',
    timeoutSec: 3,
  } as FunctionVersionSpec;
  const logStreamName = `${new Date().toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]0123456789abcdef`;
  return {
    verify(req, body) {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      try {
        const sig = parseSignature(req.headers, new URLSearchParams(q < 0 ? '' : url.slice(q + 1)));
        if (sig === undefined || sig.accessKeyId !== accessKeyId) return 'unknown key';
        verifySignature(sig, {
          method: req.method ?? 'GET',
          rawPath: q < 0 ? url : url.slice(0, q),
          rawQuery: q < 0 ? '' : url.slice(q + 1),
          headers: req.headers,
          payloadHash: sha256Hex(body),
          secret,
        });
        return undefined;
      } catch (e) {
        if (e instanceof SignatureError) return e.message;
        throw e;
      }
    },
    answer(res, requestId, out, durationMs) {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': out.length,
        'x-amzn-requestid': requestId,
        'x-amz-executed-version': '$LATEST',
      });
      res.end(out);
      // The log and billing of the answer as the server makes them (START/END/REPORT).
      const r = report({
        spec,
        requestId,
        start: 'warm',
        outcome: { status: 'ok', payload: out, fatal: false, rssBytes: 45 * 1048576, log: '', durationMs },
        initDurationMs: undefined,
        initLog: '',
        initFailed: false,
        memoryPeakBytes: () => undefined,
      });
      observing.push({
        tenantId: 't-floor',
        accountId: '000000000000',
        functionName,
        functionArn,
        version: '$LATEST',
        requestId,
        invocationType: 'RequestResponse',
        start: 'warm',
        timestamp: Date.now(),
        durationMs,
        billedDurationMs: r.billedDurationMs,
        memoryMB: spec.memoryMB,
        maxMemoryUsedMB: r.maxMemoryUsedMB,
        log: r.log,
        logStreamName,
      });
      if (observing.length === 1) setImmediate(notify);
    },
  };
}

async function perProcess(n: number, withLambdaWork = false): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-floor-'));
  const work = withLambdaWork ? await lambdaWork(dir) : undefined;
  const all: net.Socket[] = [];
  const idle: net.Socket[] = [];
  type Waiting = { body: Buffer; res: http.ServerResponse; requestId?: string; sentAt?: number };
  const queue: Waiting[] = [];
  // Requests for one child (`/child/<i>`, bench/after-idle.ts), waiting while it is busy.
  const queueOf = new Map<net.Socket, Waiting[]>();
  const current = new Map<net.Socket, Waiting>();
  const send = (sock: net.Socket, w: Waiting) => {
    current.set(sock, w);
    if (work) w.sentAt = performance.now();
    sock.write(frame(w.body));
  };
  const dispatch = (sock: net.Socket) => {
    const next = queueOf.get(sock)?.shift() ?? queue.shift();
    if (next) send(sock, next);
    else idle.push(sock);
  };
  const server = net.createServer((sock) => {
    frames(sock, (out) => {
      const w = current.get(sock)!;
      current.delete(sock);
      if (work) work.answer(w.res, w.requestId!, out, performance.now() - w.sentAt!);
      else {
        w.res.writeHead(200, { 'content-type': 'application/json', 'content-length': out.length });
        w.res.end(out);
      }
      dispatch(sock);
    });
    all.push(sock);
    queueOf.set(sock, []);
    idle.push(sock);
    if (all.length === n) {
      listen(
        http.createServer(async (req, res) => {
          const w: Waiting = { body: await readBody(req), res };
          if (work) {
            const refused = work.verify(req, w.body);
            if (refused !== undefined) {
              res.writeHead(403, { 'content-type': 'text/plain' });
              res.end(refused);
              return;
            }
            w.requestId = randomUUID();
          }
          const pinned = /^\/child\/(\d+)$/.exec(req.url ?? '');
          if (pinned) {
            const sock = all[Number(pinned[1]) % n]!;
            if (current.has(sock)) queueOf.get(sock)!.push(w);
            else {
              idle.splice(idle.indexOf(sock), 1);
              send(sock, w);
            }
            return;
          }
          // The most recently used idle child, as Kindling places on its most recently used environment.
          const sock = idle.pop();
          if (sock === undefined) queue.push(w);
          else send(sock, w);
        }),
      );
    }
  });
  const socketPath = path.join(dir, 'floor.sock');
  server.listen(socketPath, () => {
    for (let i = 0; i < n; i++) {
      fork(fileURLToPath(import.meta.url), ['per-process-child', socketPath], { stdio: 'inherit' });
    }
  });
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  process.on('SIGTERM', () => process.exit(0));
}

function perProcessChild(socketPath: string): void {
  const sock = net.connect(socketPath);
  frames(sock, (body) => {
    void handler(body.length ? JSON.parse(body.toString()) : {}).then((result) => {
      sock.write(frame(Buffer.from(JSON.stringify(result))));
    });
  });
  sock.on('close', () => process.exit(0));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const mode = process.argv[2];
  if (mode === 'inproc') inproc();
  else if (mode === 'ipc') ipc();
  else if (mode === 'ipc-child') ipcChild();
  else if (mode === 'per-process') void perProcess(Number(process.argv[3] ?? 16));
  else if (mode === 'per-process-lambda') void perProcess(Number(process.argv[3] ?? 16), true);
  else if (mode === 'per-process-child') perProcessChild(process.argv[3]!);
  else {
    console.error('usage: floors.js inproc|ipc|per-process|per-process-lambda N');
    process.exit(2);
  }
}
