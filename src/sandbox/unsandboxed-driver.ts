// Development-only driver: the runtime runs as a plain child process of the host with the host's view of
// everything. No isolation at all; the worker refuses to serve more than one tenant with it.
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Sandbox, SandboxDriver, SandboxDriverOptions, SandboxSpec } from './driver.js';
import { ProcessSandbox, spawnWithChannel } from './process-sandbox.js';

export class UnsandboxedDriver implements SandboxDriver {
  readonly name = 'unsandboxed';

  constructor(private readonly opts: SandboxDriverOptions) {}

  async start(spec: SandboxSpec): Promise<Sandbox> {
    const envDir = path.join(this.opts.envRoot, spec.id);
    const taskDir = path.join(envDir, 'task');
    await fsp.mkdir(taskDir, { recursive: true });
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      TZ: ':UTC',
      LANG: 'en_US.UTF-8',
      KINDLING_API_SOCKET: this.opts.apiSocketPath,
      KINDLING_RELAY_PORT: '0',
      NODE_PATH: this.opts.nodeModulesDir ?? '',
    };
    const child = spawnWithChannel(
      process.execPath,
      [...this.opts.nodeFlags, path.join(this.opts.runtimeDir, 'bootstrap.js')],
      env,
      taskDir,
    );
    return new ProcessSandbox(spec.id, child, taskDir, taskDir, envDir, undefined);
  }

  async close(): Promise<void> {}
}
