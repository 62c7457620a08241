// The Node.js runtime: each nodejsNN.x name runs on Node NN (versions.ts finds the binary) with the bootstrap
// beside this file, the SDK-only node_modules (sdk-modules.ts) at /var/runtime/node_modules, and the framed
// protocol (protocol.ts) on the channel the driver provides. Everything Node-specific lives in this folder.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SandboxDriver, SandboxImage, SandboxSpec } from '../../sandbox/driver.js';
import { CompileCache } from '../compile-cache.js';
import type { ExecutionEnvironment, Runtime, RuntimeOptions } from '../runtime.js';
import { NodeEnvironment } from './environment.js';
import { NodeProcess } from './process.js';
import { prepareSdkModules } from './sdk-modules.js';
import type { NodeBinary } from './versions.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/**
 * The in-sandbox program's CommonJS build (tsconfig.sandbox.json): an ES-module entry point would make
 * every environment initialise Node's ESM loader, whatever its function is.
 */
const SANDBOX_BUILD = path.resolve(here, '../../../sandbox-cjs/runtimes/node');
/** Where the runtime's own files appear inside a sandbox (LAMBDA_RUNTIME_DIR). */
const RUNTIME_HOME = '/var/runtime';
const SDK_DEST = '/var/runtime/node_modules';
/** Where a packaged Node appears inside a sandbox (Lambda's own place for it). */
const LANG_NODE = '/var/lang/bin/node';
/** The compiled files of the runtime's in-sandbox program (bootstrap.js and what it loads), CommonJS. */
const RUNTIME_FILES = [
  'bootstrap.js',
  'protocol.js',
  'handler-loader.js',
  'memory.js',
  'compile-cache-use.js',
  'trace-env.js',
  'extensions.js',
  'response-stream.js',
];
/** Lambda's NODE_PATH for Node `major`, in sandbox paths; entries a sandbox does not provide are left out. */
const nodePath = (major: number) => [
  `/opt/nodejs/node${major}/node_modules`,
  '/opt/nodejs/node_modules',
  SDK_DEST,
  RUNTIME_HOME,
  '/var/task',
];

/**
 * A pool sandbox serves any memory size, so V8's heap is sized for the largest (90% of Lambda's 10240 MB,
 * as Lambda sizes it) and the cgroup is the real limit (DESIGN.md). Measured: V8 then collects garbage
 * lazily; the runtime collects between invocations when memory grows (bootstrap.ts, nudgeGc), but within
 * one invocation a 128 MB function can peak higher than on Lambda.
 */
const HEAP_FLAGS = ['--max-old-space-size=9216'];
/**
 * Memory per idle environment (measured with bench/env.ts, 16 environments after 1,000 requests each):
 * sized for 9 GB, V8 lets each young-generation semi-space grow to 16 MB, and an environment that once
 * allocated fast keeps them touched while it idles (frozen); 1 MB semi-spaces hold that to 2 MB (request
 * garbage is short-lived: a scavenge per few hundred trivial requests). --single-threaded: no V8 helper
 * threads compiling or collecting beside the function; their malloc arenas and zones were ~0.7 MB of each
 * idle environment, and the CPU they use is the environment's anyway (its cgroup's share).
 */
const IDLE_FLAGS = ['--max-semi-space-size=1', '--single-threaded'];
const NODE_FLAGS = [...HEAP_FLAGS, ...IDLE_FLAGS, '--no-warnings=ExperimentalWarning'];
/**
 * Pool sandboxes initialise the ES-module loader while they wait only if an ES-module function was bound
 * on this node within this window: the loader costs every environment memory (~0.6 MB) that a CommonJS
 * function never uses, and an ES-module function's pool hit ~17 ms of CPU without it.
 */
const ESM_WARM_WINDOW_MS = 15 * 60_000;

/** Kindling's own node_modules, the source of the SDK-only tree functions see. */
function findNodeModules(): string | undefined {
  for (let d = here; d !== path.dirname(d); d = path.dirname(d)) {
    const nm = path.join(d, 'node_modules');
    if (fs.existsSync(path.join(nm, '@aws-sdk'))) return nm;
  }
  return undefined;
}

export interface NodeRuntimeOptions extends RuntimeOptions {
  /** Build the SDK-only node_modules (default true; false: functions cannot import the SDK). */
  sdk?: boolean;
  /** The Node it runs on (default: the host's own). */
  node?: NodeBinary;
}

export class NodeRuntime implements Runtime {
  readonly name = 'node';
  readonly image: SandboxImage;
  /** Host path of the SDK-only node_modules (undefined: none). */
  readonly sdkModulesDir: string | undefined;
  /** The Node binary its sandboxes run. */
  readonly node: NodeBinary;
  private readonly nodePath: string[];
  /** V8 code caches of functions' CommonJS modules, per code digest, for this Node (compile-cache.ts). */
  readonly compileCache: CompileCache;

  constructor(private readonly opts: NodeRuntimeOptions) {
    this.sdkModulesDir = opts.sdk === false ? undefined : this.prepareSdk(opts.cacheDir);
    fs.mkdirSync(opts.cacheDir, { recursive: true, mode: 0o711 });
    // The compiled bootstrap is CommonJS; /var/runtime has no project package.json above it, so it gets its
    // own (Node's default would do, but a function's NODE_OPTIONS may change the default type).
    const pkg = path.join(opts.cacheDir, '.node-runtime-package.json');
    fs.writeFileSync(pkg, '{"type":"commonjs"}\n', { mode: 0o600 });
    this.node = opts.node ?? {
      path: fs.realpathSync(process.execPath),
      version: process.versions.node,
      source: 'host',
    };
    this.nodePath = nodePath(Number(this.node.version.split('.')[0]));
    const hostNode = this.node.path;
    this.compileCache = new CompileCache(
      {
        flavour: `node-${this.node.version}`,
        extensions: ['.js', '.cjs'],
        // The sandboxes' Node and V8 flags: a cache made under others is refused.
        command: (codeDir, outDir) => ({
          file: hostNode,
          args: [...NODE_FLAGS, path.join(here, 'compile-cache-build.js'), codeDir, outDir],
        }),
      },
      opts.warn,
    );
    const host = this.node.source === 'host';
    // A packaged Node (versions.ts) is bound by descriptor where Lambda keeps its node: no host path of
    // ours appears inside, and the driver checks that sandboxes can reach it.
    const node = host ? this.node.path : LANG_NODE;
    const sdk = this.sdkModulesDir !== undefined ? [{ path: this.sdkModulesDir, dest: SDK_DEST }] : [];
    this.image = {
      files: [
        ...RUNTIME_FILES.map((f) => ({ file: path.join(SANDBOX_BUILD, f), dest: `${RUNTIME_HOME}/${f}` })),
        { file: pkg, dest: `${RUNTIME_HOME}/package.json` },
      ],
      dirs: host ? sdk : [...sdk, { path: path.dirname(this.node.path), dest: path.dirname(LANG_NODE) }],
      // At the root too, for ESM lookups (which ignore NODE_PATH).
      links: this.sdkModulesDir !== undefined ? [{ target: SDK_DEST, at: '/node_modules' }] : [],
      // A host node installed outside /usr (nvm, /opt) needs its own prefix.
      hostPaths: !host || node.startsWith('/usr/') ? [] : [path.dirname(path.dirname(node))],
      command: [node, ...NODE_FLAGS, `${RUNTIME_HOME}/bootstrap.js`],
    };
  }

  /** When an ES-module function was last bound here (monotonic ms; 0: never). */
  #esmBoundAt = 0;

  async start(driver: SandboxDriver, spec: Omit<SandboxSpec, 'image'>): Promise<ExecutionEnvironment> {
    const warmEsm = this.#esmBoundAt > 0 && performance.now() - this.#esmBoundAt < ESM_WARM_WINDOW_MS;
    const proc = await NodeProcess.start(driver, { ...spec, image: this.image }, { warmEsm });
    const sb = proc.sandbox;
    const nodePath = this.nodePath.map((p) => sb.resolve(p)).filter((p) => p !== undefined);
    return new NodeEnvironment(
      proc,
      {
        NODE_PATH: nodePath.join(':'),
        // A sandbox that shows its own paths has the runtime at home; otherwise it runs from this folder.
        LAMBDA_RUNTIME_DIR: sb.resolve(RUNTIME_HOME) ?? here,
      },
      this.compileCache,
      () => {
        this.#esmBoundAt = performance.now();
      },
    );
  }

  /**
   * Functions import the AWS SDK v3 as on Lambda, never Kindling's own dependencies: they see a tree
   * holding only the SDK's closure, hard-linked (or copied) from ours once per SDK content.
   */
  private prepareSdk(cacheDir: string): string | undefined {
    const source = findNodeModules();
    if (source === undefined) {
      this.opts.warn('no node_modules with @aws-sdk found: functions cannot import the AWS SDK');
      return undefined;
    }
    try {
      const sdk = prepareSdkModules(source, cacheDir);
      this.opts.info?.(
        `runtime node_modules: ${sdk.packages} packages, ${sdk.files} files, ${(sdk.bytes / 1048576).toFixed(1)} MB ` +
          `(${sdk.cached ? 'reused' : sdk.linked ? 'hard-linked' : 'copied'} in ${sdk.ms.toFixed(0)} ms)`,
      );
      return sdk.dir;
    } catch (e) {
      this.opts.warn(`could not prepare the AWS SDK for functions: ${(e as Error).message}`);
      return undefined;
    }
  }
}
