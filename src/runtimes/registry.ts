// The one list of runtimes: the names CreateFunction accepts (control/), the names the worker serves, and
// which runtime (a folder under runtimes/) serves each. Adding a runtime: its folder, plus one entry here.
import { NodeRuntime } from './node/runtime.js';
import { ProvidedRuntime } from './provided/runtime.js';
import type { Runtime, RuntimeOptions } from './runtime.js';

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

// The function's own bootstrap, served the Runtime API. Both names run on the host's own userland (its /usr),
// not Amazon Linux: a bootstrap linked against glibc runs if the host's glibc is as new as it needs.
const PROVIDED = {
  id: 'provided',
  poolName: 'provided.al2023',
  names: ['provided.al2023', 'provided.al2'] as const,
  aliases: [],
  deprecated: {},
  create: (opts: RuntimeOptions) => new ProvidedRuntime(opts),
} satisfies RuntimeEntry;

export const RUNTIMES: readonly RuntimeEntry[] = [NODE, PROVIDED];

/** Names accepted for new functions (a literal tuple, for the API's schema). */
export const SUPPORTED_RUNTIMES = [...NODE.names, ...PROVIDED.names] as const;
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
