// `kindling deploy <dir|zip>`: zips a directory (or takes a zip), creates the function or updates its code
// and configuration when it exists, and waits until it is Active with its last update Successful.
import fs from 'node:fs';
import path from 'node:path';
import {
  CreateFunctionCommand,
  type FunctionConfiguration,
  GetFunctionConfigurationCommand,
  LambdaClient,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import yazl from 'yazl';
import {
  connect,
  type KindlingClient,
  parseCommand,
  parseIntFlag,
  parseKeyValues,
  sdk,
  toCliError,
} from './client.js';
import { CliError, emit, printFields, USAGE } from './output.js';

const USAGE_TEXT = `kindling deploy <dir|zip> --name NAME [--runtime nodejs20.x|python3.12|…] [--handler H]
                       [--memory MB] [--timeout SEC] [--env KEY=VALUE]...
  --handler defaults to index.handler, or lambda_function.lambda_handler (as Lambda's console) for python3.x`;

/** The handler Lambda's console starts a function of this runtime with. */
function defaultHandler(runtime: string): string {
  return runtime.startsWith('python') ? 'lambda_function.lambda_handler' : 'index.handler';
}

/** Lambda's limit for a ZipFile upload. */
export const MAX_ZIP_BYTES = 50 * 1024 * 1024;
const WAIT_MS = 5 * 60_000;

/** Zips a directory's files (recursively, keeping the executable bit) into a buffer. */
export async function zipDirectory(dir: string): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  let count = 0;
  // Real paths of directories being walked: a symlink back up the tree must not recurse forever.
  const open = new Set<string>();
  const walk = (abs: string, rel: string) => {
    const real = fs.realpathSync(abs);
    if (open.has(real)) throw new CliError(`${abs} is a symbolic link loop`);
    open.add(real);
    for (const e of fs
      .readdirSync(abs, { withFileTypes: true })
      .sort((a, b) => a.name.localeCompare(b.name))) {
      // Version-control metadata is never part of a function.
      if (rel === '' && e.name === '.git') continue;
      const p = path.join(abs, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      const st = fs.statSync(p); // follows symlinks: the function gets the files, not links out of its dir
      if (st.isDirectory()) walk(p, r);
      else if (st.isFile()) {
        zip.addFile(p, r, { mode: st.mode, mtime: new Date(0) });
        count++;
      }
    }
    open.delete(real);
  };
  walk(dir, '');
  if (count === 0) throw new CliError(`${dir} contains no files to deploy`);
  zip.end();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of zip.outputStream as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_ZIP_BYTES)
      throw new CliError(`the zipped code is larger than Lambda's 50 MB limit for direct upload`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

async function readCode(source: string): Promise<Buffer> {
  let st: fs.Stats;
  try {
    st = fs.statSync(source);
  } catch {
    throw new CliError(`no such file or directory: ${source}`);
  }
  if (st.isDirectory()) return zipDirectory(source);
  if (!st.isFile()) throw new CliError(`${source} is neither a directory nor a zip file`);
  if (st.size > MAX_ZIP_BYTES)
    throw new CliError(`${source} is larger than Lambda's 50 MB limit for direct upload`);
  const buf = fs.readFileSync(source);
  // PK\x03\x04 (or the empty-archive PK\x05\x06)
  if (buf.length < 4 || buf[0] !== 0x50 || buf[1] !== 0x4b) throw new CliError(`${source} is not a zip file`);
  return buf;
}

async function current(k: KindlingClient, name: string): Promise<FunctionConfiguration | undefined> {
  try {
    return await k.client(LambdaClient).send(new GetFunctionConfigurationCommand({ FunctionName: name }));
  } catch (e) {
    if ((e as { name?: string }).name === 'ResourceNotFoundException') return undefined;
    throw toCliError(e, k.conn);
  }
}

/** Polls until the function is Active and its last update finished; a Failed state is an error. */
async function waitReady(k: KindlingClient, name: string): Promise<FunctionConfiguration> {
  const until = Date.now() + WAIT_MS;
  let delay = 50;
  for (;;) {
    const c = await sdk(
      k.client(LambdaClient).send(new GetFunctionConfigurationCommand({ FunctionName: name })),
      k,
    );
    if (c.State === 'Failed')
      throw new CliError(`function ${name} failed to become active: ${c.StateReason ?? 'unknown reason'}`);
    if (c.LastUpdateStatus === 'Failed') {
      throw new CliError(`update of ${name} failed: ${c.LastUpdateStatusReason ?? 'unknown reason'}`);
    }
    if (
      (c.State === undefined || c.State === 'Active') &&
      (c.LastUpdateStatus === undefined || c.LastUpdateStatus === 'Successful')
    ) {
      return c;
    }
    if (Date.now() > until)
      throw new CliError(`function ${name} is still ${c.State}/${c.LastUpdateStatus} after 5 minutes`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 1000);
  }
}

/** The options `deploy` and `dev` share (what a function is made of besides its code). */
export const DEPLOY_OPTIONS = {
  name: { type: 'string' },
  runtime: { type: 'string' },
  handler: { type: 'string' },
  memory: { type: 'string' },
  timeout: { type: 'string' },
  env: { type: 'string', multiple: true },
  description: { type: 'string' },
} as const;

export interface DeploySettings {
  name: string;
  runtime?: string;
  handler?: string;
  memory?: number;
  timeout?: number;
  env?: Record<string, string>;
  description?: string;
}

/** The checked settings of `--name`, `--runtime`, ... */
export function deploySettings(values: {
  name?: string;
  runtime?: string;
  handler?: string;
  memory?: string;
  timeout?: string;
  env?: string[];
  description?: string;
}): DeploySettings {
  const name = values.name;
  if (!name) throw new CliError('--name is required (see --help)', USAGE);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name))
    throw new CliError(`--name must be 1-64 letters, digits, '-' or '_', got '${name}'`, USAGE);
  const memory = parseIntFlag(values.memory, '--memory', 128, 10240);
  const timeout = parseIntFlag(values.timeout, '--timeout', 1, 900);
  return {
    name,
    ...(values.runtime !== undefined && { runtime: values.runtime }),
    ...(values.handler !== undefined && { handler: values.handler }),
    ...(memory !== undefined && { memory }),
    ...(timeout !== undefined && { timeout }),
    ...(values.env !== undefined && { env: parseKeyValues(values.env, '--env') }),
    ...(values.description !== undefined && { description: values.description }),
  };
}

/**
 * Creates the function, or updates its code (and the configuration named in `s`) when it exists; waits
 * until it is Active with its last update Successful. `configure: false` updates the code only.
 */
export async function deploy(
  k: KindlingClient,
  s: DeploySettings,
  zip: Buffer,
  configure = true,
): Promise<{ action: 'created' | 'updated'; config: FunctionConfiguration }> {
  const name = s.name;
  const existing = await current(k, name);
  let action: 'created' | 'updated';
  if (!existing) {
    await sdk(
      k.client(LambdaClient).send(
        new CreateFunctionCommand({
          FunctionName: name,
          Runtime: (s.runtime ?? 'nodejs20.x') as never,
          Handler: s.handler ?? defaultHandler(s.runtime ?? 'nodejs20.x'),
          // Lambda requires a role; Kindling runs functions with their tenant's own credentials instead.
          Role: 'arn:aws:iam::000000000000:role/kindling-function',
          Code: { ZipFile: zip },
          ...(s.memory !== undefined && { MemorySize: s.memory }),
          ...(s.timeout !== undefined && { Timeout: s.timeout }),
          ...(s.env !== undefined && { Environment: { Variables: s.env } }),
          ...(s.description !== undefined && { Description: s.description }),
        }),
      ),
      k,
    );
    action = 'created';
  } else {
    await sdk(
      k.client(LambdaClient).send(new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: zip })),
      k,
    );
    const changes = configure
      ? {
          ...(s.runtime !== undefined && { Runtime: s.runtime as never }),
          ...(s.handler !== undefined && { Handler: s.handler }),
          ...(s.memory !== undefined && { MemorySize: s.memory }),
          ...(s.timeout !== undefined && { Timeout: s.timeout }),
          ...(s.env !== undefined && { Environment: { Variables: s.env } }),
          ...(s.description !== undefined && { Description: s.description }),
        }
      : {};
    if (Object.keys(changes).length > 0) {
      // Lambda refuses a configuration update while the code update is in progress.
      await waitReady(k, name);
      await sdk(
        k
          .client(LambdaClient)
          .send(new UpdateFunctionConfigurationCommand({ FunctionName: name, ...changes })),
        k,
      );
    }
    action = 'updated';
  }
  return { action, config: await waitReady(k, name) };
}

/** `<dir|zip> --name ... [options]`, as `deploy` and `dev` take them. */
export function parseDeployArgs(args: string[], usage: string) {
  const { values, positionals, common } = parseCommand(args, {
    usage,
    minPositionals: 1,
    maxPositionals: 1,
    options: DEPLOY_OPTIONS,
  });
  return { source: positionals[0]!, settings: deploySettings(values), common };
}

export async function run(args: string[]): Promise<void> {
  const { source, settings, common } = parseDeployArgs(args, USAGE_TEXT);
  const name = settings.name;
  const zip = await readCode(source);

  const k = connect(common);
  try {
    const { action, config: c } = await deploy(k, settings, zip);
    emit(common.json, c, () => {
      process.stdout.write(
        `${action === 'created' ? 'Created' : 'Updated'} function ${name} (${zip.length} bytes of code)\n`,
      );
      printFields([
        ['FunctionArn', c.FunctionArn],
        ['Runtime', c.Runtime],
        // What really runs it, where that differs from the name (python3.x on the host's Python 3).
        ...(c.RuntimeVersionConfig?.RuntimeVersionArn !== undefined
          ? [['RuntimeVersion', c.RuntimeVersionConfig.RuntimeVersionArn] as [string, string]]
          : []),
        ['Handler', c.Handler],
        ['MemorySize', c.MemorySize === undefined ? undefined : `${c.MemorySize} MB`],
        ['Timeout', c.Timeout === undefined ? undefined : `${c.Timeout} s`],
        ['CodeSha256', c.CodeSha256],
        ['State', c.State ?? 'Active'],
      ]);
    });
  } finally {
    k.destroy();
  }
}
