// `kindling invoke <name>`: runs a function synchronously and prints its result; `--log` prints the
// decoded tail of its log to stderr. A function error prints the error payload and exits 1. Lambda's
// Invoke through its REST API, without loading the AWS SDK.
import fs from 'node:fs';
import { connect, parseCommand } from './client.js';
import { CliError, printJson, USAGE } from './output.js';

const USAGE_TEXT = 'kindling invoke <name> [--payload JSON|@file] [--log] [--qualifier VERSION|ALIAS]';

/** The payload as given (inline JSON or @file), checked to be JSON before anything is sent. */
export function readPayload(arg: string | undefined): string {
  if (arg === undefined) return '{}';
  let text = arg;
  let what = '--payload';
  if (arg.startsWith('@')) {
    const file = arg.slice(1);
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new CliError(
        `cannot read payload file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        USAGE,
      );
    }
    what = `payload file ${file}`;
  }
  try {
    JSON.parse(text);
  } catch (e) {
    throw new CliError(`${what} is not valid JSON: ${(e as Error).message}`, USAGE);
  }
  return text;
}

export async function run(args: string[]): Promise<void> {
  const { values, positionals, common } = parseCommand(args, {
    usage: USAGE_TEXT,
    minPositionals: 1,
    maxPositionals: 1,
    options: { payload: { type: 'string' }, log: { type: 'boolean' }, qualifier: { type: 'string' } },
  });
  const payload = readPayload(values.payload);
  const k = connect(common);
  try {
    const query = values.qualifier !== undefined ? `?Qualifier=${encodeURIComponent(values.qualifier)}` : '';
    const res = await k.lambdaApi(
      'POST',
      `/2015-03-31/functions/${encodeURIComponent(positionals[0]!)}/invocations${query}`,
      payload,
      values.log ? { 'x-amz-log-type': 'Tail' } : {},
    );
    const out = {
      StatusCode: res.status,
      ExecutedVersion: res.header('x-amz-executed-version'),
      FunctionError: res.header('x-amz-function-error'),
    };
    const text = res.body.toString('utf8');
    const logResult = res.header('x-amz-log-result');
    const log = logResult ? Buffer.from(logResult, 'base64').toString('utf8') : undefined;
    if (common.json) {
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        // not JSON: keep the raw text
      }
      printJson({
        StatusCode: out.StatusCode,
        ExecutedVersion: out.ExecutedVersion,
        ...(out.FunctionError !== undefined && { FunctionError: out.FunctionError }),
        Payload: parsed,
        ...(log !== undefined && { Log: log }),
      });
    } else {
      if (log !== undefined) process.stderr.write(log.endsWith('\n') ? log : `${log}\n`);
      process.stdout.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
    }
    if (out.FunctionError) {
      if (!common.json) {
        let type = '';
        try {
          type = (JSON.parse(text) as { errorType?: string }).errorType ?? '';
        } catch {
          // the payload is not Lambda's error shape
        }
        process.stderr.write(
          `kindling invoke: function error (${out.FunctionError}${type ? `: ${type}` : ''})\n`,
        );
      }
      process.exitCode = 1;
    }
  } finally {
    k.destroy();
  }
}
