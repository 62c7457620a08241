// A child process run to completion with its output collected: the AWS CLI, boto3 scripts.
import { spawn } from 'node:child_process';

export interface ProcessResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runProcess(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** A Python script (`python3 -c`), with sys.argv[1:] = args. */
export const runPython = (script: string, args: string[] = [], env: Record<string, string> = {}) =>
  runProcess('python3', ['-c', script, ...args], env);
