// Starts a real platform for integration tests: in-process (fast) or as a child `kindling serve`
// process (for SIGTERM/SIGKILL tests). Both listen on loopback, port 0, in a fresh data dir.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ConfigOverrides, defaultConfig } from '../../src/config.js';
import { readCredentialsFile } from '../../src/server/data-dir.js';
import { Platform } from '../../src/server/platform.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export function tempDir(prefix = 'kindling-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface TestPlatform {
  platform: Platform;
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  region: string;
  close(): Promise<void>;
}

export async function startPlatform(overrides: ConfigOverrides = {}): Promise<TestPlatform> {
  const dataDir = overrides.dataDir ?? tempDir();
  // The PostgreSQL leg of the store matrix gives each platform a database of its own.
  const { testStoreFor, dropTestStore } = await import('./store.js');
  const db = overrides.store === undefined ? await testStoreFor(dataDir) : { store: overrides.store };
  // A data dir the test owns keeps its database (the test may start it again); ours goes with it.
  const drop = () => (overrides.dataDir ? Promise.resolve() : dropTestStore(dataDir));
  let platform: Platform;
  try {
    platform = await Platform.start(
      defaultConfig({
        port: 0,
        host: '127.0.0.1',
        drainMs: 2_000,
        keepAliveMs: 60_000,
        ...overrides,
        dataDir,
        store: db.store,
      }),
    );
  } catch (e) {
    await drop();
    throw e;
  }
  return {
    platform,
    endpoint: platform.url,
    credentials: { accessKeyId: platform.root.accessKeyId, secretAccessKey: platform.root.secretAccessKey },
    region: platform.config.region,
    async close() {
      await platform.stop(1_000);
      await drop();
      if (!overrides.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The config an AWS SDK v3 client needs to talk to a test platform. */
export function sdkConfig(p: {
  endpoint: string;
  region?: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}) {
  return {
    endpoint: p.endpoint,
    region: p.region ?? 'us-east-1',
    credentials: p.credentials,
    maxAttempts: 1,
  };
}

export interface ServerProcess {
  child: ChildProcess;
  endpoint: string;
  dataDir: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  output(): string;
  /** Resolves with the exit code or signal once the process ends. */
  exited: Promise<number | string>;
}

/** stdin ignored, stdout and stderr piped, and `inherit`'s descriptors at their numbers (the gaps closed). */
function stdioWith(inherit: Record<number, number>): (number | 'ignore' | 'pipe')[] {
  const stdio: (number | 'ignore' | 'pipe')[] = ['ignore', 'pipe', 'pipe'];
  for (const [at, fd] of Object.entries(inherit)) {
    while (stdio.length < Number(at)) stdio.push('ignore');
    stdio[Number(at)] = fd;
  }
  return stdio;
}

/** `kindling serve`'s command line after the node binary: loopback, `port`, the data dir. */
export function serveArgs(dataDir: string, port = 0): string[] {
  return [
    path.join(repoRoot, 'bin/kindling.js'),
    'serve',
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
    '--data-dir',
    dataDir,
  ];
}

/** Spawns `kindling serve` and waits for its `listening on` line. */
export async function spawnServer(
  dataDir = tempDir(),
  env: Record<string, string> = {},
  port = 0,
  /** Open descriptors of the test's the server inherits, keyed by the number it gets there (never close-on-exec). */
  inherit: Record<number, number> = {},
): Promise<ServerProcess> {
  const { testStoreFor } = await import('./store.js');
  const { store } = env.KINDLING_STORE === undefined ? await testStoreFor(dataDir) : { store: undefined };
  const child = spawn(process.execPath, serveArgs(dataDir, port), {
    env: { ...process.env, ...(store && { KINDLING_STORE: store }), ...env },
    stdio: stdioWith(inherit),
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, sig) => resolve(code ?? sig ?? -1)),
  );
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 30_000);
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`server exited before listening:\n${out}`));
    });
  });
  const credentials = readCredentialsFile(path.join(dataDir, 'credentials'));
  if (!credentials) throw new Error('no credentials file written');
  return { child, endpoint, dataDir, credentials, output: () => out, exited };
}
