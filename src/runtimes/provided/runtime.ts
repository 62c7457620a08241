// The custom runtimes (provided.al2023, provided.al2): the function's own `bootstrap` is the runtime, served
// the Lambda Runtime API by a small C shim that is each sandbox's first process (rapi-shim.c). The shim
// speaks the Node runtime's framed channel to the host, so the host side is NodeProcess/NodeEnvironment
// unchanged; everything that differs lives in the shim.
import fs from 'node:fs';
import path from 'node:path';
import type { SandboxDriver, SandboxImage, SandboxSpec } from '../../sandbox/driver.js';
import { NodeEnvironment } from '../node/environment.js';
import { NodeProcess } from '../node/process.js';
import type { ExecutionEnvironment, Runtime, RuntimeOptions } from '../runtime.js';
import { BUILT_SHIM, buildShim, SHIM_NAME } from './shim-build.js';

/** Lambda's LAMBDA_RUNTIME_DIR; here it holds only the shim. */
const RUNTIME_HOME = '/var/runtime';

/** Lambda's library path for custom runtimes (its entries a sandbox lacks are harmless). */
const LD_LIBRARY_PATH =
  '/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib';

export class ProvidedRuntime implements Runtime {
  readonly name = 'provided';
  readonly image: SandboxImage;

  constructor(opts: RuntimeOptions) {
    // A directory of its own holding only the shim, bound read-only (and executable) at /var/runtime.
    const dir = path.join(opts.cacheDir, 'provided');
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    fs.chmodSync(dir, 0o755);
    const shim = path.join(dir, SHIM_NAME);
    if (fs.existsSync(BUILT_SHIM)) {
      const fresh = !fs.existsSync(shim) || fs.statSync(shim).mtimeMs < fs.statSync(BUILT_SHIM).mtimeMs;
      if (fresh) {
        fs.copyFileSync(BUILT_SHIM, `${shim}.tmp`);
        fs.chmodSync(`${shim}.tmp`, 0o755);
        fs.renameSync(`${shim}.tmp`, shim);
      }
    } else {
      buildShim(shim);
    }
    this.image = {
      files: [],
      dirs: [{ path: dir, dest: RUNTIME_HOME }],
      links: [],
      hostPaths: [],
      command: [`${RUNTIME_HOME}/${SHIM_NAME}`],
    };
  }

  async start(driver: SandboxDriver, spec: Omit<SandboxSpec, 'image'>): Promise<ExecutionEnvironment> {
    const proc = await NodeProcess.start(driver, { ...spec, image: this.image });
    const home = proc.sandbox.resolve(RUNTIME_HOME) ?? RUNTIME_HOME;
    return new NodeEnvironment(proc, { LAMBDA_RUNTIME_DIR: home, LD_LIBRARY_PATH });
  }
}
