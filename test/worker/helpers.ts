// Test helpers for the execution core: a WorkerManager on a temp data dir with real sandboxes, fixture
// functions written to temp code dirs, and a spec builder.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { defaultConfig, type PlatformConfig } from '../../src/config.js';
import type { FunctionVersionSpec, InvocationResult, InvokeOptions } from '../../src/worker/types.js';
import { WorkerManager } from '../../src/worker/worker-manager.js';

export interface Harness {
  dir: string;
  wm: WorkerManager;
  apiSocketPath: string;
  /** Requests the fake API server (on the unix socket) received. */
  apiHits: string[];
  close(): Promise<void>;
}

export async function harness(
  overrides: Partial<PlatformConfig> = {},
  extra: {
    maxEnvironments?: number;
    egressHelper?: string;
    onThrottle?: (tenantId: string, functionArn: string) => void;
    trimAfterIdleMs?: number;
  } = {},
): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-worker-'));
  // As the platform makes its data dir: traversable by the sandboxes' unprivileged uids.
  fs.chmodSync(dir, 0o711);
  const config = defaultConfig({
    dataDir: dir,
    poolTarget: 1,
    poolMin: 0,
    poolMax: 4,
    keepAliveMs: 60_000,
    healthCheckIntervalMs: 60_000,
    queueWaitMs: 300,
    queueDepth: 10,
    sandbox: 'bwrap',
    ...overrides,
  });
  const runDir = path.join(dir, 'run');
  fs.mkdirSync(runDir, { recursive: true });
  const apiSocketPath = path.join(runDir, 'api.sock');
  const apiHits: string[] = [];
  const server = http.createServer((req, res) => {
    apiHits.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ via: 'unix-socket', url: req.url }));
  });
  await new Promise<void>((r) => server.listen(apiSocketPath, r));
  // As the platform does: the sandboxes' unprivileged uids connect to it (every request is signed).
  fs.chmodSync(apiSocketPath, 0o666);
  const wm = new WorkerManager({
    config,
    apiSocketPath,
    envRoot: path.join(dir, 'envs'),
    logger: {
      warn: (m: string) => {
        if (process.env.KINDLING_TEST_WARN) console.error(m);
      },
    },
    ...extra,
  });
  wm.start();
  return {
    dir,
    wm,
    apiSocketPath,
    apiHits,
    async close() {
      await wm.close();
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes files into a fresh code dir (under the data dir, as the code cache is) and returns it. */
export function writeCode(h: Harness, files: Record<string, string>): string {
  const codeDir = path.join(h.dir, 'code', randomUUID());
  for (const [name, text] of Object.entries(files)) {
    const f = path.join(codeDir, name);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, text);
  }
  return codeDir;
}

let seq = 0;

export function spec(codeDir: string, over: Partial<FunctionVersionSpec> = {}): FunctionVersionSpec {
  const name = over.functionName ?? `fn${++seq}`;
  return {
    tenantId: 'tenant-a',
    accountId: '123456789012',
    functionName: name,
    functionArn: `arn:aws:lambda:us-east-1:123456789012:function:${name}`,
    version: '$LATEST',
    versionKey: `${name}:${randomUUID()}`,
    runtime: 'nodejs20.x',
    handler: 'index.handler',
    memoryMB: 128,
    timeoutSec: 2,
    environment: {},
    codeDir,
    ephemeralStorageMB: 512,
    networkOutbound: false,
    reservedConcurrency: undefined,
    ...over,
  };
}

export function invoke(
  h: Harness,
  s: FunctionVersionSpec,
  event: unknown = {},
  opts: Partial<InvokeOptions> = {},
): Promise<InvocationResult> {
  return h.wm.invoke(s, Buffer.from(JSON.stringify(event)), {
    requestId: randomUUID(),
    tenantConcurrency: 64,
    ...opts,
  });
}

export function json(r: InvocationResult): unknown {
  return JSON.parse(r.payload.toString('utf8'));
}

/** A function from one handler body (ESM). */
export function fn(h: Harness, body: string, over: Partial<FunctionVersionSpec> = {}): FunctionVersionSpec {
  return spec(writeCode(h, { 'index.mjs': body }), over);
}
