// Compile caches carried across environments: what a runtime compiles from a version's code (V8's code
// cache of Node's CommonJS modules, Python's bytecode) is built once per code digest and runtime flavour,
// stored read-only beside the extracted code (`<code cache>/<digest>.compiled/<flavour>/`), and linked
// into every later environment of that code (sandbox/ shows it read-only at the sandbox's cacheRoot).
// Built by a trusted host process that compiles and never runs the code, never by a sandbox: a sandbox
// that ran tenant code could plant bytecode its later environments would run (V8 executes a code cache
// that passes its header checks as given; Python unmarshals a .pyc as given).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface CompileCacheBuilder {
  /** What the cache is valid for, naming its directory (`node-20.20.2`, `python-cpython-311`). */
  flavour: string;
  /** The host command that compiles `codeDir` into the empty private dir `outDir` without running it. */
  command(codeDir: string, outDir: string): { file: string; args: string[] };
  /** Names of the files it compiles end so (`.js`, `.py`); code with few of them is not worth a build. */
  extensions: string[];
}

/**
 * Code with less source than this (in files the builder compiles) gets no cache: compiling it costs less
 * than the build's own process start, which every version would pay on a host busy with requests.
 */
export const MIN_SOURCE_BYTES = 32 * 1024;

/**
 * Builds waiting at most: past this, code goes without a cache (it runs as well, only its inits compile
 * from source) rather than queueing without bound behind one tenant's stream of new versions.
 */
const MAX_WAITING_BUILDS = 32;

/** A build that takes longer is given up (the code is up to 250 MB; compiling is far faster). */
const BUILD_TIMEOUT_MS = 120_000;

/** The compile caches of one runtime flavour: looked up at each bind, built in the background once. */
export class CompileCache {
  readonly #ready = new Set<string>();
  readonly #builds = new Map<string, Promise<string | undefined>>();
  /** One build at a time: they are background work, and must not take the host's cores from requests. */
  #queue: Promise<unknown> = Promise.resolve();
  #waiting = 0;

  constructor(
    private readonly builder: CompileCacheBuilder,
    private readonly warn: (msg: string) => void,
    private readonly minSourceBytes = MIN_SOURCE_BYTES,
    private readonly maxWaiting = MAX_WAITING_BUILDS,
  ) {}

  get flavour(): string {
    return this.builder.flavour;
  }

  /** Where the cache of the code extracted at `codeDir` lives (built or not). */
  dirOf(codeDir: string): string {
    return path.join(`${codeDir}.compiled`, this.builder.flavour);
  }

  /** The built cache of this code, or undefined. Complete when present: it is renamed into place. */
  lookup(codeDir: string): string | undefined {
    const dir = this.dirOf(codeDir);
    if (this.#ready.has(dir)) return dir;
    if (!fs.existsSync(dir)) return undefined;
    this.#ready.add(dir);
    return dir;
  }

  /**
   * Builds the cache of this code once (later calls share the first build, a failed build is not
   * retried by this process). Resolves to its dir, or undefined when it could not be built.
   */
  build(codeDir: string): Promise<string | undefined> {
    const dir = this.dirOf(codeDir);
    let job = this.#builds.get(dir);
    if (job === undefined) {
      if (this.#waiting >= this.maxWaiting) return Promise.resolve(undefined);
      this.#waiting++;
      job = this.#queue.then(() => {
        this.#waiting--;
        return this.#build(codeDir, dir);
      });
      this.#queue = job;
      this.#builds.set(dir, job);
      // Settled builds are remembered by #ready (built) or the map entry (failed, not retried); a
      // successful one's entry is dropped so the map holds failures and work in progress only.
      void job.then((d) => {
        if (d !== undefined) this.#builds.delete(dir);
      });
    }
    return job;
  }

  async #build(codeDir: string, dir: string): Promise<string | undefined> {
    if (this.lookup(codeDir) !== undefined) return dir;
    if (!(await hasSource(codeDir, this.builder.extensions, this.minSourceBytes))) return undefined;
    const parent = path.dirname(dir);
    const tmp = path.join(parent, `.tmp-${this.builder.flavour}-${randomBytes(6).toString('hex')}`);
    try {
      await fsp.mkdir(parent, { recursive: true, mode: 0o755 });
      await fsp.mkdir(tmp, { mode: 0o700 });
      const { file, args } = this.builder.command(codeDir, tmp);
      await run(file, args);
      await makeReadOnly(tmp);
      try {
        await fsp.rename(tmp, dir);
      } catch (e) {
        // Built meanwhile by another process sharing this code cache: theirs is the same.
        if (!fs.existsSync(dir)) throw e;
        await removeTree(tmp);
      }
      this.#ready.add(dir);
      return dir;
    } catch (e) {
      await removeTree(tmp);
      this.warn(
        `compile cache (${this.builder.flavour}) of ${path.basename(codeDir)}: ${(e as Error).message}`,
      );
      return undefined;
    }
  }
}

/** Whether `dir` holds at least `min` bytes in files ending in one of `extensions` (stops when it does). */
async function hasSource(dir: string, extensions: string[], min: number): Promise<boolean> {
  let bytes = 0;
  const walk = async (d: string): Promise<boolean> => {
    for (const e of await fsp.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (await walk(p)) return true;
      } else if (e.isFile() && extensions.some((x) => e.name.endsWith(x))) {
        bytes += (await fsp.stat(p)).size;
        if (bytes >= min) return true;
      }
    }
    return false;
  };
  return walk(dir).catch(() => false);
}

function run(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: '/usr/bin:/bin' } });
    } catch (e) {
      reject(e);
      return;
    }
    let err = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      err = (err + d).slice(-2000);
    });
    try {
      // Background work: requests come first.
      if (child.pid !== undefined) os.setPriority(child.pid, 19);
    } catch {
      // best effort
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), BUILD_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          new Error(`build failed (${signal ?? `exit ${code}`}): ${err.trim().split('\n').pop() ?? ''}`),
        );
    });
  });
}

/** Files 0444, directories 0555, as the extracted code: sandboxes read them, nobody writes them. */
async function makeReadOnly(dir: string): Promise<void> {
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await makeReadOnly(p);
    else await fsp.chmod(p, 0o444);
  }
  await fsp.chmod(dir, 0o555);
}

async function removeTree(dir: string): Promise<void> {
  const unlock = async (d: string): Promise<void> => {
    await fsp.chmod(d, 0o700).catch(() => {});
    for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => []))
      if (e.isDirectory()) await unlock(path.join(d, e.name));
  };
  await unlock(dir);
  await fsp.rm(dir, { recursive: true, force: true }).catch(() => {});
}
