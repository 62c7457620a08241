// The one list of runtimes: the names CreateFunction accepts (control/), the names the worker serves, and
// which runtime (a folder under runtimes/) serves each. Adding a runtime: its folder, plus one entry here.
import { NodeRuntime } from './node/runtime.js';
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
  /** The version that actually runs (`3.11.2`); undefined when not installed or not applicable. */
  version?: string;
  /** Host path of the interpreter or binary that runs; undefined when not installed or not applicable. */
  binary?: string;
  /** Where it came from (`host`, a Debian package). */
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
  create(opts: RuntimeOptions): Runtime;
  /**
   * What really runs these names where that is not what they say (python3.x: the host's Python 3), as
   * Lambda's runtime version string and ARN: GetFunction's RuntimeVersionConfig shows the ARN.
   */
  readonly runtimeVersion?: (region: string) => { version: string; arn: string } | undefined;
  /** What it runs on this host, cheap after the first call; `missing` refuses its names for new functions. */
  describe?(): RuntimeDescription;
}

const NODE = {
  id: 'node',
  poolName: 'nodejs20.x',
  // Every Node name runs on the host's own Node.
  names: ['nodejs20.x', 'nodejs18.x', 'nodejs22.x'] as const,
  aliases: ['nodejs24.x', 'nodejs'],
  deprecated: { 'nodejs18.x': '2025-09-01' },
  create: (opts: RuntimeOptions) => new NodeRuntime(opts),
} satisfies RuntimeEntry;

const PYTHON = {
  id: 'python',
  // Every python3.x name runs the host's one Python 3, so they share one pool, named for what it is.
  poolName: 'python3',
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

export const RUNTIMES: readonly RuntimeEntry[] = [NODE, PYTHON];

/** Names accepted for new functions (a literal tuple, for the API's schema). */
export const SUPPORTED_RUNTIMES = [...NODE.names, ...PYTHON.names] as const;
export type RuntimeName = (typeof SUPPORTED_RUNTIMES)[number];

/** The entry serving a runtime name or alias; undefined when no runtime serves it. */
export function runtimeEntry(name: string): RuntimeEntry | undefined {
  return RUNTIMES.find((r) => r.names.includes(name) || r.aliases.includes(name));
}

/** The entry whose pools carry `poolName` (an admin's runtime key). */
export function runtimeByPoolName(poolName: string): RuntimeEntry | undefined {
  return RUNTIMES.find((r) => r.poolName === poolName) ?? runtimeEntry(poolName);
}

/** The runtime whose default pool is kept warm from the start. */
export const DEFAULT_RUNTIME: RuntimeEntry = NODE;
