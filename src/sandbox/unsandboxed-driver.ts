// Development-only driver: the runtime runs as a plain child process of the host with the host's view of
// everything. No isolation at all; the worker refuses to serve more than one tenant with it.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sandbox, SandboxDriver, SandboxDriverOptions, SandboxImage, SandboxSpec } from './driver.js';
import { CHANNEL, ProcessSandbox, spawnWithChannel } from './process-sandbox.js';

// The relay's CommonJS build (tsconfig.sandbox.json): the Node runtime requires it.
const RELAY_FILE = fileURLToPath(new URL('../../sandbox-cjs/sandbox/relay.js', import.meta.url));

/** The host path of an image path: the image's files and directories (and below them) only. */
export function hostPathOf(image: SandboxImage, dest: string): string | undefined {
  for (const f of image.files) if (f.dest === dest) return f.file;
  for (const d of image.dirs) {
    if (dest === d.dest) return d.path;
    if (dest.startsWith(`${d.dest}/`)) return path.join(d.path, dest.slice(d.dest.length + 1));
  }
  return undefined;
}

export class UnsandboxedDriver implements SandboxDriver {
  readonly name = 'unsandboxed';
  readonly isolatesTenants = false;

  constructor(private readonly opts: SandboxDriverOptions) {}

  async start(spec: SandboxSpec): Promise<Sandbox> {
    // Never the host path itself in place of a mount: without a mount namespace there is no /mnt/NAME.
    if (spec.volume !== undefined) throw new Error('the unsandboxed driver cannot mount volumes');
    const envDir = path.join(this.opts.envRoot, spec.id);
    const taskDir = path.join(envDir, 'task');
    await fsp.mkdir(taskDir, { recursive: true });
    const cacheDir = path.join(envDir, 'cache');
    await fsp.mkdir(cacheDir);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      TZ: ':UTC',
      LANG: 'en_US.UTF-8',
      KINDLING_API_SOCKET: this.opts.apiSocketPath,
      KINDLING_RELAY_PORT: '0',
      KINDLING_RELAY_MODULE: RELAY_FILE,
      KINDLING_CHANNEL: CHANNEL,
    };
    const resolve = (dest: string) => (dest === '/var/task' ? taskDir : hostPathOf(spec.image, dest));
    const [cmd, ...args] = spec.image.command.map((a) => hostPathOf(spec.image, a) ?? a);
    if (cmd === undefined) throw new Error('the runtime image has no command');
    const child = spawnWithChannel(cmd, args, env, taskDir);
    return new ProcessSandbox(
      spec.id,
      child,
      taskDir,
      taskDir,
      resolve,
      envDir,
      undefined,
      undefined,
      undefined,
      {
        dir: cacheDir,
        root: cacheDir,
      },
    );
  }

  async close(): Promise<void> {}
}
