// The Python runtime: every python3.x name runs the host's Python 3 (interpreter.ts) with bootstrap.py,
// which speaks the Node runtime's framed channel, so the host side is NodeProcess and NodeEnvironment
// unchanged. A pool sandbox has the interpreter up and the bootstrap loaded (no code); bind imports the
// handler. Everything Python-specific lives in this folder.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  Sandbox,
  SandboxDriver,
  SandboxImage,
  SandboxShell,
  SandboxSpec,
} from '../../sandbox/driver.js';
import { CompileCache } from '../compile-cache.js';
import { NodeEnvironment } from '../node/environment.js';
import { NodeProcess } from '../node/process.js';
import type {
  BindOutcome,
  BindRequest,
  CloneStats,
  ExecutionEnvironment,
  Runtime,
  RuntimeOptions,
  StartOptions,
} from '../runtime.js';
import { type HostPython, hostPython, pythonRuntimeVersion, pythonRuntimeVersionArn } from './interpreter.js';
import { Zygote, type ZygoteOptions } from './zygote.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Where the runtime's own files appear inside a sandbox (LAMBDA_RUNTIME_DIR), as on Lambda. */
const RUNTIME_HOME = '/var/runtime';

/** The .py files are not compiled: beside this file in src/, or in src/ when this runs from dist/. */
function pythonFile(name: string): string {
  const beside = path.join(here, name);
  if (fs.existsSync(beside)) return beside;
  const inSrc = here.replace(`${path.sep}dist${path.sep}src${path.sep}`, `${path.sep}src${path.sep}`);
  return path.join(inSrc, name);
}

const bootstrapFile = () => pythonFile('bootstrap.py');

/**
 * -I: the pool sandbox's environment is not the function's (it is set at bind), and no user site.
 * -B: /var/task is read-only, so never try to write __pycache__ there (bytecode shipped in the zip is
 * still read; the function's own is compiled once per version by the host: compileCache).
 */
const PYTHON_FLAGS = ['-I', '-B'];
/** Zygotes kept at once (one per tenant with recent misses; ~2 MB PSS each), and how long one idles. */
const MAX_ZYGOTES = 16;
const ZYGOTE_IDLE_MS = 10 * 60_000;
const ZYGOTE_SWEEP_MS = 60_000;

export class PythonRuntime implements Runtime {
  readonly name = 'python';
  readonly image: SandboxImage;
  readonly python: HostPython;
  /** Bytecode of functions' modules, per code digest, for this interpreter (compile-cache.ts). */
  readonly compileCache: CompileCache;
  /**
   * Forks a tenant's new environments (pool misses) from a pre-initialised interpreter of that tenant's
   * own, where the driver can move a process into a sandbox (bubblewrap). One per tenant because clones
   * share their zygote's memory layout and string hash secret: a tenant may read both in its own clone,
   * and must learn nothing that holds in another tenant's. Off with KINDLING_PYTHON_ZYGOTE=0.
   */
  private readonly zygotes = new Map<string, { zygote: Zygote; lastUsed: number }>();
  private readonly zygotesEnabled: boolean;
  private readonly zygoteOptions: Omit<ZygoteOptions, 'warn'>;
  /** Counters of zygotes closed since (idle or evicted), so the totals never go back. */
  private readonly retiredStats = { clones: 0, cloneFailures: 0, restarts: 0 };
  private readonly idleSweep: NodeJS.Timeout;
  private readonly warn: (msg: string) => void;
  /**
   * One bwrap shell started ahead per network mode and /tmp size (~1 MB: bwrap and a placeholder `sh`), so
   * a miss does not wait for bubblewrap's set-up; taken by the next clone of that kind.
   */
  private readonly spareShells = new Map<string, Promise<SandboxShell>>();
  private closed = false;

  constructor(opts: RuntimeOptions) {
    const py = hostPython();
    if (py === undefined)
      throw new Error('no Python 3 interpreter on this host: python3.x functions cannot run');
    this.python = py;
    const bootstrap = bootstrapFile();
    if (!fs.existsSync(bootstrap)) throw new Error(`the Python runtime's ${bootstrap} is missing`);
    opts.info?.(`python runtime: ${py.path} (Python ${py.version}) serves every python3.x name`);
    const builder = pythonFile('pycache_build.py');
    this.compileCache = new CompileCache(
      {
        flavour: `python-${py.version}`,
        extensions: ['.py'],
        command: (codeDir, outDir) => ({ file: py.path, args: ['-I', '-B', builder, codeDir, outDir] }),
      },
      opts.warn,
    );
    this.image = {
      files: [
        { file: bootstrap, dest: `${RUNTIME_HOME}/bootstrap.py` },
        // Loaded by the bootstrap only for a function whose layers hold extensions.
        { file: pythonFile('extensions.py'), dest: `${RUNTIME_HOME}/extensions.py` },
      ],
      dirs: [],
      links: [],
      hostPaths: py.path.startsWith('/usr/') ? [] : [path.dirname(path.dirname(py.path))],
      command: [py.path, ...PYTHON_FLAGS, `${RUNTIME_HOME}/bootstrap.py`],
    };
    this.warn = opts.warn;
    this.zygotesEnabled = process.env.KINDLING_PYTHON_ZYGOTE !== '0';
    this.zygoteOptions = { python: py.path, program: pythonFile('zygote.py'), bootstrap, dir: opts.cacheDir };
    this.idleSweep = setInterval(() => this.closeIdleZygotes(), ZYGOTE_SWEEP_MS);
    this.idleSweep.unref();
  }

  /** The tenant's zygote (tests kill it), undefined when it has none. */
  zygoteOf(tenantId: string): Zygote | undefined {
    return this.zygotes.get(tenantId)?.zygote;
  }

  cloneStats(): CloneStats | undefined {
    if (!this.zygotesEnabled) return undefined;
    const total: CloneStats = { ...this.retiredStats, up: false };
    for (const { zygote } of this.zygotes.values()) {
      total.clones += zygote.stats.clones;
      total.cloneFailures += zygote.stats.cloneFailures;
      total.restarts += zygote.stats.restarts;
      total.up ||= zygote.stats.up;
    }
    return total;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.idleSweep);
    const spares = [...this.spareShells.values()];
    this.spareShells.clear();
    await Promise.all(spares.map((p) => p.then((s) => s.destroy()).catch(() => {})));
    const all = [...this.zygotes.keys()];
    await Promise.all(all.map((t) => this.closeZygote(t)));
  }

  /** The tenant's zygote, started at its first miss; the least recently used one goes past the limit. */
  private zygoteFor(tenantId: string): Zygote {
    const now = Date.now();
    let entry = this.zygotes.get(tenantId);
    if (entry === undefined) {
      if (this.zygotes.size >= MAX_ZYGOTES) {
        let oldest: string | undefined;
        for (const [t, e] of this.zygotes)
          if (oldest === undefined || e.lastUsed < this.zygotes.get(oldest)!.lastUsed) oldest = t;
        if (oldest !== undefined) void this.closeZygote(oldest);
      }
      entry = { zygote: new Zygote({ ...this.zygoteOptions, warn: this.warn }), lastUsed: now };
      this.zygotes.set(tenantId, entry);
    }
    entry.lastUsed = now;
    return entry.zygote;
  }

  private closeIdleZygotes(): void {
    const now = Date.now();
    for (const [t, e] of this.zygotes) if (now - e.lastUsed > ZYGOTE_IDLE_MS) void this.closeZygote(t);
  }

  private async closeZygote(tenantId: string): Promise<void> {
    const entry = this.zygotes.get(tenantId);
    if (entry === undefined) return;
    this.zygotes.delete(tenantId);
    this.retiredStats.clones += entry.zygote.stats.clones;
    this.retiredStats.cloneFailures += entry.zygote.stats.cloneFailures;
    this.retiredStats.restarts += entry.zygote.stats.restarts;
    await entry.zygote.close();
  }

  async start(
    driver: SandboxDriver,
    spec: Omit<SandboxSpec, 'image'>,
    opts: StartOptions = {},
  ): Promise<ExecutionEnvironment> {
    const full = { ...spec, image: this.image };
    let proc: NodeProcess | undefined;
    // Only a miss has a tenant: a pool fill (no tenant yet) starts normally. So does an environment with a
    // volume: spare shells are made without one.
    if (
      this.zygotesEnabled &&
      opts.tenantId !== undefined &&
      driver.startShell !== undefined &&
      spec.volume === undefined
    ) {
      try {
        proc = await this.startClone(driver, full, this.zygoteFor(opts.tenantId));
      } catch (e) {
        // The zygote is down, restarting, or the host could not fork: start the normal way.
        this.warn(`python clone failed, starting normally: ${(e as Error).message}`);
      }
    }
    proc ??= await NodeProcess.start(driver, full);
    return this.environment(proc);
  }

  /** A zygote's fork moved into a fresh sandbox shell, then the same channel handshake as a start. */
  private async startClone(driver: SandboxDriver, spec: SandboxSpec, zygote: Zygote): Promise<NodeProcess> {
    const startShell = driver.startShell?.bind(driver);
    if (startShell === undefined) throw new Error('the sandbox driver cannot clone');
    const key = `${spec.networkOutbound}:${spec.tmpSizeMB}`;
    const spare = this.spareShells.get(key);
    this.spareShells.delete(key);
    const shell = (spare && (await spare.catch(() => undefined))) ?? (await startShell(spec));
    let sandbox: Sandbox;
    try {
      sandbox = shell.adopt(await zygote.clone(shell));
    } catch (e) {
      await shell.destroy();
      throw e;
    }
    const adopted: SandboxDriver = {
      name: driver.name,
      isolatesTenants: driver.isolatesTenants,
      start: async () => sandbox,
      close: async () => {},
    };
    const proc = await NodeProcess.start(adopted, spec);
    // The next shell of this kind starts now, after this one is served: the next miss pays only the clone.
    if (!this.closed && !this.spareShells.has(key)) {
      const next = startShell({ ...spec, id: `env-${randomBytes(8).toString('hex')}` });
      next.catch((e: Error) => this.warn(`python: a spare sandbox shell failed to start: ${e.message}`));
      this.spareShells.set(key, next);
    }
    return proc;
  }

  private environment(proc: NodeProcess): ExecutionEnvironment {
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
