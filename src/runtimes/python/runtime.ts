// The Python runtime: every python3.x name runs the host's Python 3 (interpreter.ts) with bootstrap.py,
// which speaks the Node runtime's framed channel, so the host side is NodeProcess and NodeEnvironment
// unchanged. A pool sandbox has the interpreter up and the bootstrap loaded (no code); bind imports the
// handler. Everything Python-specific lives in this folder.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SandboxDriver, SandboxImage, SandboxSpec } from '../../sandbox/driver.js';
import { CompileCache } from '../compile-cache.js';
import { NodeEnvironment } from '../node/environment.js';
import { NodeProcess } from '../node/process.js';
import type { BindOutcome, BindRequest, ExecutionEnvironment, Runtime, RuntimeOptions } from '../runtime.js';
import { type HostPython, hostPython, pythonRuntimeVersion, pythonRuntimeVersionArn } from './interpreter.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Where the runtime's own files appear inside a sandbox (LAMBDA_RUNTIME_DIR), as on Lambda. */
const RUNTIME_HOME = '/var/runtime';

/** The .py files are not compiled: beside this file in src/, or in src/ when this runs from dist/. */
function sourceFile(name: string): string {
  const beside = path.join(here, name);
  if (fs.existsSync(beside)) return beside;
  const inSrc = here.replace(`${path.sep}dist${path.sep}src${path.sep}`, `${path.sep}src${path.sep}`);
  return path.join(inSrc, name);
}
const bootstrapFile = () => sourceFile('bootstrap.py');

/**
 * -I: the pool sandbox's environment is not the function's (it is set at bind), and no user site.
 * -B: /var/task is read-only, so never try to write __pycache__ there (bytecode shipped in the zip is
 * still read; the function's own is compiled once per version by the host: compileCache).
 */
const PYTHON_FLAGS = ['-I', '-B'];

export class PythonRuntime implements Runtime {
  readonly name = 'python';
  readonly image: SandboxImage;
  readonly python: HostPython;
  /** Bytecode of functions' modules, per code digest, for this interpreter (compile-cache.ts). */
  readonly compileCache: CompileCache;

  constructor(opts: RuntimeOptions) {
    const py = hostPython();
    if (py === undefined)
      throw new Error('no Python 3 interpreter on this host: python3.x functions cannot run');
    this.python = py;
    const bootstrap = bootstrapFile();
    if (!fs.existsSync(bootstrap)) throw new Error(`the Python runtime's ${bootstrap} is missing`);
    opts.info?.(`python runtime: ${py.path} (Python ${py.version}) serves every python3.x name`);
    const builder = sourceFile('pycache_build.py');
    this.compileCache = new CompileCache(
      {
        flavour: `python-${py.version}`,
        extensions: ['.py'],
        command: (codeDir, outDir) => ({ file: py.path, args: ['-I', '-B', builder, codeDir, outDir] }),
      },
      opts.warn,
    );
    this.image = {
      files: [{ file: bootstrap, dest: `${RUNTIME_HOME}/bootstrap.py` }],
      dirs: [],
      links: [],
      hostPaths: py.path.startsWith('/usr/') ? [] : [path.dirname(path.dirname(py.path))],
      command: [py.path, ...PYTHON_FLAGS, `${RUNTIME_HOME}/bootstrap.py`],
    };
  }

  async start(driver: SandboxDriver, spec: Omit<SandboxSpec, 'image'>): Promise<ExecutionEnvironment> {
    const proc = await NodeProcess.start(driver, { ...spec, image: this.image });
    const home = proc.sandbox.resolve(RUNTIME_HOME) ?? path.dirname(bootstrapFile());
    return new PythonEnvironment(
      proc,
      this.python,
      {
        LAMBDA_RUNTIME_DIR: home,
        // As on Lambda; a `python3` the function starts finds the runtime's path too.
        PYTHONPATH: home,
        // Subprocesses must not try to write bytecode into the read-only /var/task either.
        PYTHONDONTWRITEBYTECODE: '1',
      },
      this.compileCache,
    );
  }
}

/** A NodeEnvironment whose init log opens with Lambda's INIT_START line, naming the real interpreter. */
class PythonEnvironment extends NodeEnvironment {
  constructor(
    proc: NodeProcess,
    private readonly python: HostPython,
    runtimeEnv: Record<string, string>,
    compileCache: CompileCache,
  ) {
    super(proc, runtimeEnv, compileCache);
  }

  override async bind(req: BindRequest): Promise<BindOutcome> {
    const out = await super.bind(req);
    const region = req.env.AWS_REGION ?? 'us-east-1';
    const line =
      `INIT_START Runtime Version: ${pythonRuntimeVersion(this.python)}\t` +
      `Runtime Version ARN: ${pythonRuntimeVersionArn(this.python, region)}\n`;
    return { ...out, log: line + out.log };
  }
}
