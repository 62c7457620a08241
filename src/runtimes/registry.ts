// The one list of runtimes: the names CreateFunction accepts (control/), the names the worker serves, and
// which runtime (a folder under runtimes/) serves each. Adding a runtime: its folder, plus one entry here.

import fs from 'node:fs';
import { NodeRuntime } from './node/runtime.js';
import { findNode } from './node/versions.js';
import { ProvidedRuntime } from './provided/runtime.js';
import { BUILT_SHIM, findCompiler } from './provided/shim-build.js';
import {
  hostPython,
  pythonMissing,
  pythonRuntimeVersion,
  pythonRuntimeVersionArn,
} from './python/interpreter.js';
import { PythonRuntime } from './python/runtime.js';
import type { Runtime, RuntimeOptions } from './runtime.js';

/** What a runtime name runs on this host (`kindling runtimes`, and the check at CreateFunction). */
export interface RuntimeDescription {
  /** The language or kind (`Node.js`, `Python`, `custom runtime`). */
  language: string;
  /** The version that actually runs (`22.23.5`); undefined when not installed or not applicable. */
  version?: string;
  /** Host path of the interpreter or binary that runs; undefined when not installed or not applicable. */
  binary?: string;
  /** Where it came from (`host`, `npm:node22-linux-x64`, a Debian package). */
  source?: string;
  /** Why it cannot run on this host; set exactly when it is not installed (names refused, never substituted). */
  missing?: string;
}

export interface RuntimeEntry {
  /** The runtime's folder under runtimes/. */
  readonly id: string;
  /** The name its warming pools and stats show (`nodejs20.x`, `nodejs20.x+net`). */
  readonly poolName: string;
  /** Names CreateFunction and UpdateFunctionConfiguration accept, in the order Lambda lists them. */
  readonly names: readonly [string, ...string[]];
  /** Names still served (admin pool keys, older records) but refused for new functions. */
  readonly aliases: readonly string[];
  /** Names Lambda has deprecated, with the date: shown, not enforced (existing functions keep working). */
  readonly deprecated: Readonly<Record<string, string>>;
  /** What it runs on this host, cheap after the first call; `missing` refuses its names for new functions. */
  describe(): RuntimeDescription;
  create(opts: RuntimeOptions): Runtime;
  /**
   * What really runs these names where that is not what they say (python3.x: the host's Python 3), as
   * Lambda's runtime version string and ARN: GetFunction's RuntimeVersionConfig shows the ARN.
   */
  readonly runtimeVersion?: (region: string) => { version: string; arn: string } | undefined;
  /**
   * The runtime writes its own error lines to the log (Python's `[ERROR]` record, a custom bootstrap's
   * output); the platform adds Lambda's Node-style `Invoke Error` / `Uncaught Exception` lines otherwise.
   */
  readonly logsOwnErrors?: boolean;
}

/** Node `major`: its own pool, on exactly that Node (runtimes/node/versions.ts), or not installed. */
function nodeEntry(
  major: number,
  more: { aliases?: string[]; deprecated?: Record<string, string> } = {},
): RuntimeEntry {
  const name = `nodejs${major}.x`;
  return {
    id: 'node',
    poolName: name,
    names: [name],
    aliases: more.aliases ?? [],
    deprecated: more.deprecated ?? {},
    describe() {
      const n = findNode(major);
      return n.ok
        ? { language: 'Node.js', version: n.binary.version, binary: n.binary.path, source: n.binary.source }
        : { language: 'Node.js', missing: n.missing };
    },
    create(opts: RuntimeOptions) {
      const n = findNode(major);
      if (!n.ok) throw new Error(n.missing);
      return new NodeRuntime({ ...opts, node: n.binary });
    },
  };
}

// Node 22 and 24 come from the npm packages package.json installs; 18 is not installed (Lambda deprecated
// it), so its name is refused as such, never run on another Node. Adding `node18-linux-x64` brings it back.
const NODE20 = nodeEntry(20, { aliases: ['nodejs'] });
const NODE22 = nodeEntry(22);
const NODE24 = nodeEntry(24);
const NODE18 = nodeEntry(18, { deprecated: { 'nodejs18.x': '2025-09-01' } });

// The function's own bootstrap, served the Runtime API. Both names run on the host's own userland (its /usr),
// not Amazon Linux: a bootstrap linked against glibc runs if the host's glibc is as new as it needs.
const PROVIDED = {
  id: 'provided',
  poolName: 'provided.al2023',
  logsOwnErrors: true,
  names: ['provided.al2023', 'provided.al2'] as const,
  aliases: [],
  deprecated: {},
  describe() {
    // The Runtime API shim is built by `npm run build`, or by the runtime itself with the host's cc.
    const built = fs.existsSync(BUILT_SHIM);
    return built || findCompiler() !== undefined
      ? {
          language: 'custom runtime',
          version: 'host userland',
          binary: built ? BUILT_SHIM : undefined,
          source: 'bootstrap',
        }
      : {
          language: 'custom runtime',
          missing: 'the Runtime API shim is not built and no C compiler (cc) is installed',
        };
  },
  create: (opts: RuntimeOptions) => new ProvidedRuntime(opts),
} satisfies RuntimeEntry;

const PYTHON = {
  id: 'python',
  // Every python3.x name runs the host's one Python 3, so they share one pool, named for what it is.
  poolName: 'python3',
  logsOwnErrors: true,
  names: ['python3.13', 'python3.12', 'python3.11', 'python3.10', 'python3.9'] as const,
  aliases: [],
  deprecated: { 'python3.9': '2025-12-15' },
  create: (opts: RuntimeOptions) => new PythonRuntime(opts),
  runtimeVersion: (region: string) => {
    const py = hostPython();
    return py && { version: pythonRuntimeVersion(py), arn: pythonRuntimeVersionArn(py, region) };
  },
  describe: (): RuntimeDescription => {
    const py = hostPython();
    return py
      ? { language: 'Python', version: py.version, binary: py.path, source: 'host' }
      : { language: 'Python', missing: pythonMissing() };
  },
} satisfies RuntimeEntry;

export const RUNTIMES: readonly RuntimeEntry[] = [NODE20, NODE22, NODE24, NODE18, PYTHON, PROVIDED];

/**
 * Names known for new functions (the API's schema). A known name whose runtime is not installed here is
 * refused at CreateFunction with its own message (control/function-rules.ts checkRuntime), not by the schema.
 */
export const SUPPORTED_RUNTIMES = RUNTIMES.flatMap((r) => r.names) as [string, ...string[]];
export type RuntimeName = string;

/** The entry serving a runtime name or alias; undefined when no runtime serves it. */
export function runtimeEntry(name: string): RuntimeEntry | undefined {
  return RUNTIMES.find((r) => r.names.includes(name) || r.aliases.includes(name));
}

/** The entry whose pools carry `poolName` (an admin's runtime key). */
export function runtimeByPoolName(poolName: string): RuntimeEntry | undefined {
  return RUNTIMES.find((r) => r.poolName === poolName) ?? runtimeEntry(poolName);
}

/** The runtime whose default pool is kept warm from the start: the host's own Node (nodejs20.x by design). */
export const DEFAULT_RUNTIME: RuntimeEntry =
  RUNTIMES.find((r) => r.id === 'node' && r.poolName === `nodejs${process.versions.node.split('.')[0]}.x`) ??
  NODE20;
