// What every `kindling` client command shares: flag parsing with the common flags (--json, --endpoint,
// --data-dir), finding the endpoint and credentials (DESIGN.md, Credentials), configured AWS SDK clients,
// a SigV4-signed fetch for the admin API, and turning SDK/network failures into one clear line.
//
// Typical command module:
//   const { values, positionals, common } = parseCommand(args, { usage: 'kindling queue ls', options: {} });
//   const k = connect(common);
//   const out = await sdk(k.client(SQSClient).send(new ListQueuesCommand({})), k);
//   emit(common.json, out, () => printTable(...));
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { signRequest } from '../api/sigv4.js';
import { type Answer, signedRequest } from './http.js';
import { CliError, HelpShown, USAGE } from './output.js';

// No AWS SDK here: a command that uses one imports it and asks for a configured client (client() below);
// `ls`, `invoke` and `logs` never do (they speak Lambda's REST API through lambdaApi), so they answer in a
// blink. Nothing here may use import.meta either: the client commands are also built as CommonJS
// (tsconfig.cli.json), which starts without Node's ES-module loader.

export interface CommonFlags {
  json: boolean;
  endpoint?: string;
  dataDir?: string;
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  default?: string | boolean;
}

type ValueOf<S extends OptionSpec> = S extends { type: 'boolean' }
  ? S extends { multiple: true }
    ? boolean[]
    : boolean
  : S extends { multiple: true }
    ? string[]
    : string;

export type Values<O extends Record<string, OptionSpec>> = { [K in keyof O]?: ValueOf<O[K]> };

const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  endpoint: { type: 'string' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Record<string, OptionSpec>;

export const COMMON_USAGE = `common options:
  --json             machine-readable JSON output
  --endpoint URL     Kindling endpoint (default: $KINDLING_ENDPOINT, else the data dir's 'endpoint' file)
  --data-dir DIR     data dir of a local server (default: $KINDLING_DATA_DIR, else ./.kindling)`;

export interface CommandSpec<O extends Record<string, OptionSpec>> {
  /** Usage text printed by --help and after usage mistakes' hint. */
  usage: string;
  options?: O;
  /** How many positional arguments are allowed (default 0..Infinity). */
  minPositionals?: number;
  maxPositionals?: number;
}

/**
 * Parses a command's arguments (its own options plus the common ones). Unknown flags, missing values
 * and wrong positional counts throw CliError (exit 2); `--help` prints the usage and throws HelpShown.
 */
export function parseCommand<O extends Record<string, OptionSpec>>(
  args: string[],
  spec: CommandSpec<O>,
): { values: Values<O>; positionals: string[]; common: CommonFlags } {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      options: { ...(spec.options ?? {}), ...COMMON_OPTIONS } as Record<string, OptionSpec>,
      allowPositionals: true,
      strict: true,
    }) as typeof parsed;
  } catch (e) {
    // node's messages are long ("Unknown option '--x'. To specify a positional argument starting with..."):
    // keep the first sentence.
    const msg = (e as Error).message.split('. ')[0] ?? 'invalid arguments';
    throw new CliError(`${msg} (see --help)`, USAGE);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(`usage: ${spec.usage}\n\n${COMMON_USAGE}\n`);
    throw new HelpShown();
  }
  const n = parsed.positionals.length;
  if (n < (spec.minPositionals ?? 0) || n > (spec.maxPositionals ?? Number.POSITIVE_INFINITY)) {
    const extra =
      n > (spec.maxPositionals ?? Number.POSITIVE_INFINITY)
        ? ` (unexpected '${parsed.positionals.at(-1)}')`
        : '';
    throw new CliError(`usage: ${spec.usage}${extra}`, USAGE);
  }
  const common: CommonFlags = {
    json: v.json === true,
    ...(typeof v.endpoint === 'string' && { endpoint: v.endpoint }),
    ...(typeof v['data-dir'] === 'string' && { dataDir: v['data-dir'] }),
  };
  return { values: v as Values<O>, positionals: parsed.positionals, common };
}

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface Connection {
  endpoint: string;
  region: string;
  credentials: Credentials;
  dataDir: string;
}

export function resolveDataDir(
  flags: Pick<CommonFlags, 'dataDir'>,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return path.resolve(flags.dataDir ?? env.KINDLING_DATA_DIR ?? '.kindling');
}

function readTrimmed(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function readCredentials(file: string): Credentials | undefined {
  const text = readTrimmed(file);
  if (!text) return undefined;
  const id = /aws_access_key_id\s*=\s*(\S+)/.exec(text)?.[1];
  const secret = /aws_secret_access_key\s*=\s*(\S+)/.exec(text)?.[1];
  return id && secret ? { accessKeyId: id, secretAccessKey: secret } : undefined;
}

/**
 * Finds the endpoint and credentials. Endpoint: --endpoint, $KINDLING_ENDPOINT, the data dir's
 * `endpoint` file. Credentials: $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY, else the data dir's
 * `credentials` file — except that an explicit --data-dir means "talk to that server as its admin",
 * so its files win over the environment.
 */
export function resolveConnection(flags: CommonFlags, env: NodeJS.ProcessEnv = process.env): Connection {
  const dataDir = resolveDataDir(flags, env);
  const explicitDir = flags.dataDir !== undefined;
  const fileEndpoint = () => readTrimmed(path.join(dataDir, 'endpoint'));
  const endpoint =
    flags.endpoint ??
    (explicitDir ? (fileEndpoint() ?? env.KINDLING_ENDPOINT) : env.KINDLING_ENDPOINT || fileEndpoint());
  if (!endpoint) {
    throw new CliError(
      `no Kindling endpoint: start one with 'kindling serve', or set KINDLING_ENDPOINT or --endpoint (looked in ${dataDir}/endpoint)`,
    );
  }
  try {
    const u = new URL(endpoint);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    throw new CliError(`invalid endpoint URL '${endpoint}'`, USAGE);
  }
  const envCreds: Credentials | undefined =
    env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? {
          accessKeyId: env.AWS_ACCESS_KEY_ID,
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
          ...(env.AWS_SESSION_TOKEN && { sessionToken: env.AWS_SESSION_TOKEN }),
        }
      : undefined;
  const fileCreds = () => readCredentials(path.join(dataDir, 'credentials'));
  const credentials = explicitDir ? (fileCreds() ?? envCreds) : (envCreds ?? fileCreds());
  if (!credentials) {
    throw new CliError(
      `no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or point --data-dir at the server's data dir (looked in ${dataDir}/credentials)`,
    );
  }
  const region = env.KINDLING_REGION || env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1';
  return { endpoint: endpoint.replace(/\/+$/, ''), region, credentials, dataDir };
}

/** The configuration every AWS SDK client of a CLI connection gets. */
export interface SdkClientConfig {
  endpoint: string;
  region: string;
  credentials: Credentials;
  maxAttempts: number;
  forcePathStyle: boolean;
}

/** A connection plus the SDK clients a command asked for, one per client class. */
export class KindlingClient {
  readonly conn: Connection;
  readonly #clients = new Map<unknown, { destroy(): void }>();

  constructor(conn: Connection) {
    this.conn = conn;
    // The SDK warns on every CLI run that future versions need Node 22: noise for a one-shot command.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  }

  /**
   * An SDK client pointed at this connection: `k.client(SQSClient)`. One retry at most: a CLI should fail
   * fast with a clear line, not back off for seconds. S3 is addressed path-style (the other clients
   * ignore that setting).
   */
  client<T extends { destroy(): void }>(Client: new (config: SdkClientConfig) => T): T {
    let c = this.#clients.get(Client) as T | undefined;
    if (c === undefined) {
      c = new Client({
        endpoint: this.conn.endpoint,
        region: this.conn.region,
        credentials: this.conn.credentials,
        maxAttempts: 2,
        forcePathStyle: true,
      });
      this.#clients.set(Client, c);
    }
    return c;
  }

  /**
   * A call to Lambda's REST API (`/2015-03-31/...`), signed for service `lambda` as the SDK signs it:
   * the answer's status, headers and raw body. An error answer becomes a CliError naming Lambda's error
   * type (`ResourceNotFoundException: Function not found: ...`), as an SDK call's would.
   */
  async lambdaApi(
    method: string,
    pathAndQuery: string,
    body?: string | Buffer,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const res = await this.#request('lambda', method, pathAndQuery, body, headers);
    if (res.status >= 300) throw answerError(res);
    return res;
  }

  /** One signed exchange over node:http (no fetch: see http.ts); a failure to connect is a CliError. */
  async #request(
    service: string,
    method: string,
    pathAndQuery: string,
    body: string | Buffer | undefined,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    try {
      return await signedRequest({
        method,
        url: new URL(pathAndQuery, `${this.conn.endpoint}/`),
        headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
        body,
        credentials: this.conn.credentials,
        region: this.conn.region,
        service,
      });
    } catch (e) {
      throw toCliError(e, this.conn);
    }
  }

  /** lambdaApi for a JSON answer. */
  async lambdaJson<T>(method: string, pathAndQuery: string, body?: unknown): Promise<T> {
    const r = await this.lambdaApi(
      method,
      pathAndQuery,
      body === undefined ? undefined : JSON.stringify(body),
    );
    try {
      return JSON.parse(r.body.toString('utf8')) as T;
    } catch {
      throw new CliError(`the server answered ${pathAndQuery} with something that is not JSON`);
    }
  }

  /** A SigV4-signed request (service `kindling` by default) to a path on the endpoint. */
  signedFetch(
    method: string,
    pathAndQuery: string,
    body?: unknown,
    opts: { service?: string; headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const url = new URL(pathAndQuery, `${this.conn.endpoint}/`);
    const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const headers = signRequest({
      method,
      url,
      headers: { ...(text !== undefined && { 'content-type': 'application/json' }), ...opts.headers },
      body: text,
      accessKeyId: this.conn.credentials.accessKeyId,
      secretAccessKey: this.conn.credentials.secretAccessKey,
      sessionToken: this.conn.credentials.sessionToken,
      region: this.conn.region,
      service: opts.service ?? 'kindling',
    });
    // fetch sets host itself; sending it would be refused as a forbidden header in some versions.
    delete headers.host;
    return fetch(url, { method, headers, body: text, ...(opts.signal && { signal: opts.signal }) });
  }

  /** An admin-API call: JSON in, JSON out; an error answer becomes a CliError with the server's message. */
  async admin<T = unknown>(method: string, pathAndQuery: string, body?: unknown): Promise<T> {
    const res = await this.#request(
      'kindling',
      method,
      pathAndQuery,
      body === undefined ? undefined : JSON.stringify(body),
    );
    if (res.status >= 300) throw answerError(res);
    const text = res.body.toString('utf8');
    try {
      return (text ? JSON.parse(text) : undefined) as T;
    } catch {
      return undefined as T;
    }
  }

  destroy(): void {
    for (const c of this.#clients.values()) c.destroy();
  }
}

/** An error answer as one line: `ResourceNotFoundException: Function not found: x`. */
function answerError(res: Answer): CliError {
  const text = res.body.toString('utf8');
  let d: { __type?: string; message?: string; Message?: string } = {};
  try {
    d = (JSON.parse(text) ?? {}) as typeof d;
  } catch {
    // not JSON: the status says enough
  }
  const type = d.__type ?? res.header('x-amzn-errortype')?.split(':')[0] ?? `HTTP ${res.status}`;
  const msg = d.message ?? d.Message ?? (text.slice(0, 200) || `status ${res.status}`);
  return new CliError(`${type}: ${msg.split('\n')[0]}`);
}

export function connect(flags: CommonFlags, env: NodeJS.ProcessEnv = process.env): KindlingClient {
  return new KindlingClient(resolveConnection(flags, env));
}

/** Runs `use` with a connected client and closes the client's sockets afterwards, whatever happens. */
export async function withClient<T>(flags: CommonFlags, use: (k: KindlingClient) => Promise<T>): Promise<T> {
  const k = connect(flags);
  try {
    return await use(k);
  } finally {
    k.destroy();
  }
}

function networkCode(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; depth++) {
    const c = cur as { code?: unknown; errors?: unknown[]; cause?: unknown };
    if (typeof c.code === 'string' && /^E[A-Z]+/.test(c.code)) return c.code;
    if (Array.isArray(c.errors) && c.errors.length > 0) cur = c.errors[0];
    else cur = c.cause;
  }
  return undefined;
}

/** One line for any failure of an SDK or admin call: `ResourceNotFoundException: Function not found: x`. */
export function toCliError(e: unknown, conn?: Pick<Connection, 'endpoint'>): CliError {
  if (e instanceof CliError) return e;
  const code = networkCode(e);
  if (code) {
    const where = conn ? ` at ${conn.endpoint}` : '';
    const hint = code === 'ECONNREFUSED' ? ": is 'kindling serve' running?" : '';
    return new CliError(`cannot reach Kindling${where} (${code})${hint}`);
  }
  const err = e as { name?: string; message?: string; $metadata?: unknown; cause?: unknown };
  if (e instanceof TypeError && err.message === 'fetch failed') {
    const why = (err.cause as Error | undefined)?.message ?? 'network error';
    return new CliError(`cannot reach Kindling${conn ? ` at ${conn.endpoint}` : ''} (${why})`);
  }
  if (err && typeof err === 'object' && err.$metadata !== undefined) {
    const name = err.name && err.name !== 'Error' ? `${err.name}: ` : '';
    const msg = (err.message || 'request failed').split('\n')[0];
    return new CliError(`${name}${msg}`);
  }
  if (e instanceof Error) return new CliError(e.message.split('\n')[0] ?? 'failed');
  return new CliError(String(e));
}

/** Awaits an SDK call, turning its failure into one CliError line. */
export async function sdk<T>(call: Promise<T>, client?: KindlingClient): Promise<T> {
  try {
    return await call;
  } catch (e) {
    throw toCliError(e, client?.conn);
  }
}

/** `K=V` pairs (repeatable flags such as --env) into an object; a pair without '=' is a usage mistake. */
export function parseKeyValues(pairs: readonly string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new CliError(`${flag} expects KEY=VALUE, got '${p}'`, USAGE);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

/** A non-negative integer flag value, or a usage error naming the flag. */
export function parseIntFlag(
  value: string | undefined,
  flag: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new CliError(`${flag} must be an integer from ${min} to ${max}, got '${value}'`, USAGE);
  }
  return n;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration such as `30s`, `10m`, `2h`, `1d` in ms; undefined when `value` is not one. */
export function durationMs(value: string): number | undefined {
  const m = /^(\d+)([smhd])$/.exec(value);
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : undefined;
}

/**
 * The first word of a command with subcommands (`kindling queue create ...`): answers the subcommand,
 * its usage line and the remaining arguments; prints the usage and answers undefined for help (exit code
 * 2 when nothing was given); one clear line for an unknown subcommand.
 */
export function subcommand<S extends string>(
  args: readonly string[],
  table: Readonly<Record<S, string>>,
  usageText: string,
  noun: string,
): { sub: S; usage: string; rest: string[] } | undefined {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(`usage: ${usageText}\n`);
    if (sub === undefined) process.exitCode = USAGE;
    return undefined;
  }
  if (!Object.hasOwn(table, sub))
    throw new CliError(`unknown ${noun} command '${sub}'\nusage: ${usageText}`, USAGE);
  return { sub: sub as S, usage: table[sub as S], rest };
}
