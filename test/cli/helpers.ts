// Runs the real `kindling` CLI (node bin/kindling.js) as a child process against a test platform, with
// an environment that holds only what the test gives it (no stray AWS_* or KINDLING_* from the host).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot, tempDir } from '../helpers/platform.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('AWS_') && !k.startsWith('KINDLING_')) env[k] = v;
  }
  return { ...env, ...extra };
}

/** Environment pointing the CLI at a platform with the given key. */
export function cliEnv(p: {
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}) {
  return cleanEnv({
    KINDLING_ENDPOINT: p.endpoint,
    AWS_ACCESS_KEY_ID: p.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: p.credentials.secretAccessKey,
  });
}

// Scratch directories are removed when the test process exits (one listener for all of them).
const scratchDirs: string[] = [];
function removeOnExit(dir: string): void {
  if (scratchDirs.length === 0) {
    process.on('exit', () => {
      for (const d of scratchDirs) fs.rmSync(d, { recursive: true, force: true });
    });
  }
  scratchDirs.push(dir);
}

// One scratch working directory per test process (so no ./.kindling of the repo is picked up).
let scratch: string | undefined;
function cwdDir(): string {
  if (scratch === undefined) {
    scratch = tempDir('kindling-cli-cwd-');
    removeOnExit(scratch);
  }
  return scratch;
}

/** Asynchronous on purpose: the platform under test runs in this process and must keep serving. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, cwd = cwdDir()): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(repoRoot, 'bin/kindling.js'), ...args],
      { env, cwd, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Starts the CLI and returns it running (for --follow). */
export function spawnCli(
  args: string[],
  env: NodeJS.ProcessEnv,
): { child: ChildProcess; stdout: () => string } {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin/kindling.js'), ...args], {
    env,
    cwd: cwdDir(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return { child, stdout: () => out };
}

/** Writes a function's files into a fresh directory. */
export function functionDir(files: Record<string, string>): string {
  const dir = tempDir('kindling-fn-');
  removeOnExit(dir);
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

/** One line on stderr, no stack trace: how every user mistake must look. */
export function isOneLine(stderr: string): boolean {
  const lines = stderr.trim().split('\n');
  return lines.length === 1 && lines[0]!.length > 0 && !/\n\s+at /.test(stderr);
}

export const ECHO_HANDLER = `
exports.handler = async (event) => {
  console.log('event seen', JSON.stringify(event));
  if (event && event.fail) throw new Error('boom requested');
  return { echo: event };
};
`;
