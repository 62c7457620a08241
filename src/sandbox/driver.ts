// The sandbox driver interface: starts one isolated process running a language runtime's bootstrap and
// hands back a handle with its private channel and its resource limits. Drivers: bubblewrap
// (bwrap-driver.ts), unsandboxed development (unsandboxed-driver.ts); a microVM driver can slot in beside.
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { EgressSupport } from './egress.js';

export interface SandboxSpec {
  /** Unique id; names the per-environment host dir and cgroup. */
  id: string;
  /**
   * Outbound network (an admin's grant to the tenant): user-mode networking attached to the sandbox's own
   * network namespace, host and private ranges denied (egress.ts). Otherwise only its own loopback.
   */
  networkOutbound: boolean;
  /** /tmp size in MB (a private tmpfs). */
  tmpSizeMB: number;
}

export interface SandboxExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The kernel's OOM killer ended a process in the sandbox's memory cgroup. */
  oomKilled: boolean;
  /** Last bytes the sandbox wrote to its native stdout/stderr (not through the channel). */
  stderrTail: string;
}

export interface Limits {
  memoryMB: number;
  /** IPv4 ranges an admin opened for the bound tenant (sandboxes with outbound network only). */
  egressAllow?: string[];
}

export interface Sandbox {
  readonly id: string;
  readonly pid: number;
  /** Host path of the directory the sandbox sees read-only at its task root; code is hard-linked into it. */
  readonly taskDir: string;
  /** Path the runtime sees the task dir at (/var/task in a sandbox). */
  readonly taskRoot: string;
  /** The inherited duplex channel (fd 3 inside). */
  readonly channel: Socket;
  readonly exited: Promise<SandboxExit>;
  /** Whether the process is still running. */
  alive(): boolean;
  /** Applies the function's limits (memory cap, CPU weight) when it is bound. */
  applyLimits(limits: Limits): Promise<void>;
  /** Peak memory of the sandbox in bytes, when the driver can tell; otherwise undefined. */
  memoryPeakBytes(): number | undefined;
  /**
   * Stops (freeze) or resumes (thaw) every process of the sandbox, as Lambda freezes an idle environment.
   * Returns false when the driver cannot.
   */
  freeze(): boolean;
  thaw(): boolean;
  /** Kills every process of the sandbox at once. */
  kill(): void;
  /** Kills, then removes its cgroup and host dir. Idempotent. */
  destroy(): Promise<void>;
}

export interface SandboxDriver {
  readonly name: 'bwrap' | 'unsandboxed';
  /** Whether outbound network can be given (drivers that isolate the network); undefined: host network. */
  readonly egress?: EgressSupport;
  start(spec: SandboxSpec): Promise<Sandbox>;
  /** Removes what the driver created for itself (parent cgroups). */
  close(): Promise<void>;
}

export interface SandboxDriverOptions {
  /** Directory under the data dir holding one dir per environment. */
  envRoot: string;
  /** The platform API's unix socket, reachable inside through a relay. */
  apiSocketPath: string;
  /**
   * The relay's port inside a sandbox with its own network: the API's own TCP port, so the platform
   * answers inside on the origin clients use outside. Known once the server listens; default 9001.
   */
  relayPort?: Promise<number> | undefined;
  /** Directory holding the runtime bootstrap (dist/src/runtimes/node). */
  runtimeDir: string;
  /** node_modules exposed at /var/runtime/node_modules: the AWS SDK only, as on Lambda. */
  nodeModulesDir: string | undefined;
  /** Extra flags for the runtime's node process. */
  nodeFlags: string[];
  /** Path of slirp4netns for outbound network (default: found on the usual paths). */
  egressHelper?: string;
}

/** Thin shared helpers for drivers built on a spawned child process. */
export function waitExit(
  child: ChildProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}
