// Which isolation is in effect on this machine (for `kindling doctor` and for choosing a driver).
import { execFile, spawnSync } from 'node:child_process';
import { bwrapVersion, findBwrap } from './bwrap-driver.js';
import { type CgroupSetup, type Controller, setupCgroups, teardownCgroups } from './cgroup.js';
import { DENIED_RANGES, detectEgress, type EgressSupport } from './egress.js';
import { findSetpriv, HOST_ID_BASE, HOST_ID_COUNT, unprivilegedUserns } from './host-user.js';
import { DENIED, seccompSupported } from './seccomp.js';

export interface IsolationReport {
  driver: 'bwrap' | 'unsandboxed';
  sandboxed: boolean;
  bwrapVersion?: string;
  /** Namespaces each environment gets. */
  namespaces: string[];
  cgroup: {
    version: 1 | 2 | null;
    /** Which limits can be enforced. */
    controllers: Record<Controller, boolean>;
  };
  /** Whom the sandbox user is to the host kernel. */
  userMapping: {
    mode: 'per-environment-uid' | 'invoking-user' | 'none';
    detail: string;
  };
  /** The seccomp filter every environment runs under. */
  seccomp: { enabled: boolean; deniedFamilies: string[] };
  /** How a tenant an admin granted outbound network reaches out (others reach nothing). */
  egress: EgressReport;
  warnings: string[];
}

export interface EgressReport {
  /** 'slirp4netns': own network namespace with filtered user-mode networking; 'unavailable': granted
   * tenants get an error at invoke; 'host': unsandboxed, every function has the host's network. */
  mode: 'slirp4netns' | 'unavailable' | 'host';
  version?: string;
  /** Ranges denied by default (plus each of the host's own addresses), unless an admin allows a range. */
  denied: string[];
  detail: string;
}

export function describeEgress(support: EgressSupport): EgressReport {
  if (support.problem !== undefined) {
    return { mode: 'unavailable', denied: [], detail: support.problem };
  }
  return {
    mode: 'slirp4netns',
    ...(support.version !== undefined && { version: support.version }),
    denied: [...DENIED_RANGES, 'host addresses'],
    detail:
      'granted tenants only: own network namespace, slirp4netns with host loopback disabled; host, link-local and private ranges refused by routes',
  };
}

const UNSANDBOXED_EGRESS: EgressReport = {
  mode: 'host',
  denied: [],
  detail: 'unsandboxed: functions use the host network (not isolated)',
};

const NAMESPACES = ['mount', 'pid', 'ipc', 'uts', 'net', 'user', 'cgroup'];

const PROBE_ARGS = [
  '--unshare-all',
  '--die-with-parent',
  '--cap-drop',
  'ALL',
  '--ro-bind',
  '/usr',
  '/usr',
  '--symlink',
  'usr/bin',
  '/bin',
  '--symlink',
  'usr/lib',
  '/lib',
  '--symlink',
  'usr/lib64',
  '/lib64',
  '--proc',
  '/proc',
  '--dev',
  '/dev',
  '/usr/bin/true',
];

/** Runs a trivial command under bwrap with every namespace unshared: proves bwrap works here. */
export function probeBwrap(bin: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(bin, PROBE_ARGS, { timeout: 10_000 }, (err, _stdout, stderr) =>
      resolve(err ? `${err.message} ${stderr}`.trim() : undefined),
    );
  });
}

/** probeBwrap, blocking: for choosing a driver once at start. */
export function probeBwrapSync(bin: string): string | undefined {
  const r = spawnSync(bin, PROBE_ARGS, { timeout: 10_000, encoding: 'utf8' });
  if (r.error !== undefined) return r.error.message;
  return r.status === 0 ? undefined : `bwrap exited with ${r.status ?? r.signal}: ${r.stderr.trim()}`;
}

export function describeCgroups(setup: CgroupSetup): IsolationReport['cgroup'] {
  return {
    version: setup.version,
    controllers: {
      memory: setup.parents.memory !== undefined,
      pids: setup.parents.pids !== undefined,
      cpu: setup.parents.cpu !== undefined,
      freezer: setup.parents.freezer !== undefined,
    },
  };
}

/**
 * Detects the isolation Kindling would use for `mode` ('auto' = bwrap when it works). Creates and removes
 * a probe cgroup parent unless one is passed in.
 */
export async function detectIsolation(
  mode: 'auto' | 'bwrap' | 'none' = 'auto',
  cgroups?: CgroupSetup,
): Promise<IsolationReport> {
  const warnings: string[] = [];
  const bin = findBwrap();
  let version: string | undefined;
  let usable = false;
  if (mode !== 'none') {
    if (bin === undefined) warnings.push('bubblewrap (bwrap) is not installed');
    else {
      version = bwrapVersion(bin);
      const failure = await probeBwrap(bin);
      if (failure === undefined) usable = true;
      else warnings.push(`bubblewrap cannot create namespaces here: ${failure}`);
    }
  }
  const setup = cgroups ?? setupCgroups(`kindling-probe-${process.pid}`);
  if (cgroups === undefined) await teardownCgroups(setup);
  const sandboxed = usable;
  if (!sandboxed) {
    warnings.push(
      'UNSANDBOXED: functions run as plain host processes with full access to this machine; development only',
    );
  }
  if (sandboxed) warnings.push(...setup.warnings);
  const asRoot = process.getuid?.() === 0;
  const setpriv = findSetpriv();
  let userMapping: IsolationReport['userMapping'];
  if (!sandboxed) userMapping = { mode: 'none', detail: "functions run as this process's own user" };
  else if (!asRoot)
    userMapping = {
      mode: 'invoking-user',
      detail: `sandbox user maps to the server's own unprivileged uid ${process.getuid?.() ?? '?'}`,
    };
  else {
    userMapping = {
      mode: 'per-environment-uid',
      detail: `sandbox user maps to its own unprivileged host uid (${HOST_ID_BASE}–${HOST_ID_BASE + HOST_ID_COUNT - 1}), one per environment`,
    };
    if (setpriv === undefined)
      warnings.push('setpriv (util-linux) is missing: sandboxes cannot start as root');
    else if (!unprivilegedUserns(setpriv))
      warnings.push(
        'unprivileged user namespaces are disabled: sandboxes cannot drop to an unprivileged uid',
      );
  }
  const seccomp = {
    enabled: sandboxed && seccompSupported(),
    deniedFamilies: sandboxed && seccompSupported() ? DENIED.map((f) => f.family) : [],
  };
  if (sandboxed && !seccomp.enabled) warnings.push(`no seccomp filter for architecture ${process.arch}`);
  const egress = describeEgress(detectEgress());
  if (sandboxed && egress.mode === 'unavailable')
    warnings.push(`outbound network unavailable: ${egress.detail}`);
  return {
    driver: sandboxed ? 'bwrap' : 'unsandboxed',
    sandboxed,
    ...(version !== undefined ? { bwrapVersion: version } : {}),
    namespaces: sandboxed ? NAMESPACES : [],
    cgroup: sandboxed
      ? describeCgroups(setup)
      : { version: null, controllers: { memory: false, pids: false, cpu: false, freezer: false } },
    userMapping,
    seccomp,
    egress: sandboxed ? egress : UNSANDBOXED_EGRESS,
    warnings,
  };
}
