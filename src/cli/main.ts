// The `kindling` command: dispatches to one module per subcommand (src/cli/<command>.ts exporting
// `run(args)`). A command whose module has not landed yet answers "not available yet".
//
// Built as CommonJS only (tsconfig.cli.json → dist/cli-cjs), and so are the client commands: a start
// without Node's ES-module loader saves ~30 ms of a `kindling ls` that takes ~a Node start in all. The
// commands that run platform code (serve, doctor, ...) exist only in the ES-module build (dist/src) and are
// imported from there.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { toCliError } from './client.js';
import { CliError, HelpShown, USAGE } from './output.js';

type Command = (args: string[]) => Promise<void>;

const commands: Record<string, { module: string; summary: string }> = {
  serve: { module: './serve.js', summary: 'start the platform in this process' },
  deploy: { module: './deploy.js', summary: 'create or update a function from a directory or zip' },
  dev: { module: './dev.js', summary: 'deploy a directory and redeploy it on every change' },
  invoke: { module: './invoke.js', summary: 'invoke a function and print its result' },
  ls: { module: './ls.js', summary: 'list functions' },
  rm: { module: './rm.js', summary: 'delete a function' },
  logs: { module: './logs.js', summary: "show a function's recent invocation logs" },
  prewarm: { module: './prewarm.js', summary: 'warm N environments of a function ahead of a burst' },
  pool: { module: './pool.js', summary: 'show or set warming pool targets (admin)' },
  runtimes: {
    module: './runtimes.js',
    summary: 'runtime names, what each runs on this host, and their pools (admin)',
  },
  tenants: { module: './tenants.js', summary: 'manage tenants, keys and limits (admin)' },
  doctor: { module: './doctor.js', summary: 'report the isolation in effect on this machine' },
  billing: { module: './billing.js', summary: 'GB-seconds per tenant, function and hour' },
  storage: { module: './storage.js', summary: 'logical and physical bytes stored, and the dedup ratio' },
  queue: { module: './queue.js', summary: 'manage queues' },
  bucket: { module: './bucket.js', summary: 'manage buckets and objects' },
  trigger: { module: './trigger.js', summary: 'connect event sources to functions' },
  schedule: { module: './schedule.js', summary: 'run functions on a schedule' },
  events: { module: './events.js', summary: 'inspect async events' },
  nodes: { module: './nodes.js', summary: 'list the cluster nodes or drain one (admin)' },
};

function usage(): string {
  const w = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(w)}  ${c.summary}`);
  return (
    'usage: kindling [--json] [--endpoint URL] [--data-dir DIR] <command> [options]\n' +
    `       (kindling <command> --help for its options)\n\ncommands:\n${lines.join('\n')}`
  );
}

/** Common options that may come before the command too: `kindling --data-dir DIR deploy ...`. */
const GLOBAL_OPTIONS: Record<string, 'boolean' | 'string'> = {
  '--json': 'boolean',
  '--endpoint': 'string',
  '--data-dir': 'string',
};

/**
 * Takes the global options before the command name off `argv` and hands them to the command after its
 * own arguments (before a `--`), where its parser validates them as if written there.
 */
export function hoistGlobalOptions(argv: string[]): string[] {
  const globals: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-h' || arg === '--help' || arg === '--version') break;
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const kind = GLOBAL_OPTIONS[flag];
    if (kind === undefined) {
      throw new CliError(`unknown option '${flag}' (try: kindling --help)`, USAGE);
    }
    if (kind === 'boolean') {
      if (eq >= 0) throw new CliError(`option '${flag}' takes no value`, USAGE);
      globals.push(flag);
    } else if (eq >= 0) {
      globals.push(flag, arg.slice(eq + 1));
    } else {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) {
        throw new CliError(`option '${flag}' needs a value`, USAGE);
      }
      globals.push(flag, value);
      i++;
    }
  }
  const [name, ...rest] = argv.slice(i);
  if (globals.length === 0) return argv;
  if (name === undefined) throw new CliError('missing command (try: kindling --help)', USAGE);
  const end = rest.indexOf('--') < 0 ? rest.length : rest.indexOf('--');
  const own = rest.slice(0, end);
  for (let g = 0; g < globals.length; g++) {
    const flag = globals[g]!;
    if (!flag.startsWith('--')) continue;
    if (own.some((a) => a === flag || a.startsWith(`${flag}=`))) {
      throw new CliError(`${flag} is given both before and after '${name}'`, USAGE);
    }
  }
  return [name, ...own, ...globals, ...rest.slice(end)];
}

/** `import()` made at run time: tsc would turn one written here into `require()` in this CommonJS build. */
const importModule = new Function('u', 'return import(u)') as (url: string) => Promise<unknown>;

async function load(name: string, spec: string): Promise<Command> {
  const cjs = path.join(__dirname, spec);
  const esm = path.join(__dirname, '../../src/cli', spec);
  let mod: { run?: Command } | undefined;
  if (fs.existsSync(cjs)) mod = require(cjs) as { run?: Command };
  else if (fs.existsSync(esm)) mod = (await importModule(pathToFileURL(esm).href)) as { run?: Command };
  if (typeof mod?.run !== 'function') throw new CliError(`'${name}' is not available yet in this build`);
  return mod.run;
}

export async function main(argv: string[]): Promise<void> {
  // `kindling logs x | head`: a closed pipe ends the command quietly, not with a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  try {
    argv = hoistGlobalOptions(argv);
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    console.error(`kindling: ${e.message}`);
    process.exitCode = e.exitCode;
    return;
  }
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return;
  }
  if (name === '--version' || name === 'version') {
    console.log((require('../../../package.json') as { version: string }).version);
    return;
  }
  const entry = commands[name];
  if (!entry) {
    console.error(`kindling: unknown command '${name}' (try: kindling --help)`);
    process.exitCode = 2;
    return;
  }
  try {
    await (await load(name, entry.module))(rest);
  } catch (e) {
    if (e instanceof HelpShown) return;
    // Anything that escapes a command still ends as one line; KINDLING_DEBUG=1 shows the stack.
    const err = e instanceof CliError ? e : toCliError(e);
    if (process.env.KINDLING_DEBUG && !(e instanceof CliError)) console.error(e);
    console.error(`kindling ${name}: ${err.message}`);
    process.exitCode = err.exitCode;
  }
}
