// The sandbox driver interface: starts one isolated process running a runtime's image and hands back a
// handle with its private channel and its resource limits. The driver, not its callers, decides how code
// gets in (bindCode), what the channel is, and where the image's paths appear (resolve). Drivers:
// bubblewrap (bwrap-driver.ts), unsandboxed development (unsandboxed-driver.ts); a microVM driver can slot
// in beside (select.ts picks one).
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import type { EgressSupport } from './egress.js';

/**
 * What a runtime needs inside each of its sandboxes, in the sandbox's own paths. The driver places it
 * (bubblewrap copies files in and binds directories read-only; the unsandboxed driver uses host paths).
 */
export interface SandboxImage {
  /** Host files the sandbox sees read-only at `dest` (the runtime's own code). */
  files: Array<{ file: string; dest: string }>;
  /** Host directories the sandbox sees read-only at `dest`. */
  dirs: Array<{ path: string; dest: string }>;
  /** Symlinks made inside: `at` points to `target`. */
  links: Array<{ target: string; at: string }>;
  /** Host paths bound read-only at the same path (an interpreter installed outside /usr). */
  hostPaths: string[];
  /** The program and its arguments, in the sandbox's paths (a dest above, or a host binary). */
  command: string[];
}

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
  /** The runtime's files and command. */
  image: SandboxImage;
  /** A shared volume mounted read-write (FileSystemConfigs); such a sandbox is never a pool sandbox. */
  volume?: SandboxVolume;
}

/**
 * A host directory the sandbox sees read-write at `dest`, its processes running as `uid`/`gid` inside,
 * mapped onto `hostUid` (the volume's owner) instead of a per-environment host uid.
 */
export interface SandboxVolume {
  dir: string;
  dest: string;
  uid: number;
  gid: number;
  hostUid: number;
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
  /** Path the runtime sees the function's code at (/var/task in a sandbox). */
  readonly taskRoot: string;
  /**
   * The host end of the runtime's private channel. Inside, the runtime finds its end through the
   * KINDLING_CHANNEL variable the driver sets (`fd:3` for a spawned process).
   */
  readonly channel: Duplex;
  /**
   * Places a version's code (a host directory) read-only at taskRoot, before the runtime loads it, and its
   * compile cache (a host directory the runtime built from that code) read-only at cacheRoot when given,
   * and its merged layers (a host directory) read-only at /opt when given.
   */
  bindCode(codeDir: string, compiledDir?: string, layersDir?: string): Promise<void>;
  /** Where the runtime sees the compile cache given to bindCode (read-only); undefined when it cannot. */
  readonly cacheRoot: string | undefined;
  /**
   * Where the runtime sees what its image placed at `dest` (or a sandbox path such as /var/task);
   * undefined when this sandbox does not provide that path.
   */
  resolve(dest: string): string | undefined;
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
  /** Shown by stats and doctor; nothing branches on it. */
  readonly name: string;
  /** Whether sandboxes are isolated from each other and the host; false: one tenant only (development). */
  readonly isolatesTenants: boolean;
  /** Whether the driver mounts SandboxSpec.volume (bubblewrap); others refuse such specs. */
  readonly mountsVolumes?: boolean;
  /** Whether outbound network can be given (drivers that isolate the network); undefined: host network. */
  readonly egress?: EgressSupport;
  start(spec: SandboxSpec): Promise<Sandbox>;
  /**
   * Starts a sandbox holding the image's files but running only a placeholder, for a runtime process made
   * elsewhere (a zygote's fork) to be moved into; drivers that cannot move a process in leave it out.
   */
  startShell?(spec: SandboxSpec): Promise<SandboxShell>;
  /** Checks, once per runtime when it is built, that sandboxes can hold its image; throws the reason. */
  accept?(image: SandboxImage): void;
  /** Removes what the driver created for itself. */
  close(): Promise<void>;
}

/**
 * A started sandbox waiting for its runtime process: everything a process needs to become exactly what the
 * driver's own start would have made (see runtimes/python/zygote.py).
 */
export interface SandboxShell {
  readonly id: string;
  /** Host pid of a process inside, set up: its /proc/<pid>/ns/* and root are the ones to join. */
  readonly nsPid: number;
  /** cgroup.procs files to enter before anything else (empty without cgroups). */
  readonly cgroupProcs: string[];
  /** The sandbox user and group, as its own user namespace numbers them. */
  readonly uid: number;
  readonly gid: number;
  /** Working directory and environment of a runtime the driver starts. */
  readonly cwd: string;
  readonly env: Record<string, string>;
  /** The classic-BPF seccomp program a started runtime runs under (installed last: it denies setns). */
  readonly seccomp: Buffer;
  /** The sandbox, around the process moved in: its channel, its output and its end. */
  adopt(proc: AdoptedProcess): Sandbox;
  /** Removes the shell when no process was adopted. */
  destroy(): Promise<void>;
}

export interface AdoptedProcess {
  /** Its host pid. */
  pid: number;
  channel: Socket;
  /** Its native stdout and stderr. */
  output: Readable;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
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
