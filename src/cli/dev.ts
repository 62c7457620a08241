// `kindling dev <dir> --name N`: deploys the directory, then watches it and deploys its code again on
// every change (within a second of the last write); the next request runs the new code, no restart of
// anything. A failed deploy (a bad file, the server away) is printed and the watch goes on.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { connect } from './client.js';
import { deploy, parseDeployArgs, zipDirectory } from './deploy.js';
import { CliError, USAGE } from './output.js';

const USAGE_TEXT = `kindling dev <dir> --name NAME [--runtime R] [--handler H] [--memory MB] [--timeout SEC] [--env K=V]...
  deploys <dir>, then deploys it again whenever a file in it changes (Ctrl-C stops)`;

/** Writes come in bursts (an editor's save, a build): deploy once they have been quiet this long. */
const SETTLE_MS = 150;

/** Changes under these do not change the function. */
const IGNORED = /(^|\/)(\.git|\.kindling)(\/|$)|(~|\.swp|\.tmp)$/;

export async function run(args: string[]): Promise<void> {
  const { source, settings, common } = parseDeployArgs(args, USAGE_TEXT);
  const dir = path.resolve(source);
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory())
    throw new CliError(`${source} is not a directory`, USAGE);
  const k = connect(common);
  const say = (event: Record<string, unknown>, human: string) =>
    process.stdout.write(common.json ? `${JSON.stringify(event)}\n` : `${human}\n`);

  let deployed = '';
  /** Zips and deploys the directory unless its zip is what was deployed last. */
  const deployDir = async (first: boolean): Promise<void> => {
    const t0 = performance.now();
    const zip = await zipDirectory(dir);
    const sha = createHash('sha256').update(zip).digest('hex');
    if (sha === deployed) return;
    // The first deploy applies --runtime, --memory...; later ones change the code only.
    const { action, config } = await deploy(k, settings, zip, first);
    deployed = sha;
    const ms = Math.round(performance.now() - t0);
    say(
      {
        event: first ? action : 'redeployed',
        functionName: settings.name,
        codeSha256: config.CodeSha256,
        ms,
      },
      `${first ? (action === 'created' ? 'Created' : 'Updated') : 'Redeployed'} ${settings.name} in ${ms} ms (${zip.length} bytes of code)`,
    );
  };

  await deployDir(true);
  say({ event: 'watching', dir }, `Watching ${dir} for changes (Ctrl-C stops)`);

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      // One deploy at a time; a change during one is picked up by the next.
      running = running.then(() =>
        deployDir(false).catch((e: unknown) => {
          say({ event: 'error', message: (e as Error).message }, `Deploy failed: ${(e as Error).message}`);
        }),
      );
    }, SETTLE_MS);
  };
  const watcher = fs.watch(dir, { recursive: true }, (_event, file) => {
    if (file !== null && IGNORED.test(file.toString())) return;
    schedule();
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    watcher.once('error', (e) => {
      say({ event: 'error', message: e.message }, `Watching stopped: ${e.message}`);
      resolve();
    });
  });
  watcher.close();
  clearTimeout(timer);
  await running;
  k.destroy();
}
