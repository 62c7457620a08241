// Chooses and builds the sandbox driver for this host, once, at composition: bubblewrap with its cgroups
// when it works here, else the unsandboxed development driver (or a refusal when bwrap was demanded).
// The worker is handed the result and never branches on which driver it got.

import fs from 'node:fs';
import path from 'node:path';
import { BwrapDriver, findBwrap } from './bwrap-driver.js';
import { type CgroupSetup, setupCgroups, teardownCgroups } from './cgroup.js';
import type { SandboxDriver, SandboxDriverOptions } from './driver.js';
import { closeInheritedDescriptors } from './inherited-fds.js';
import {
  describeCgroups,
  describeEgress,
  detectIsolation,
  type IsolationReport,
  probeBwrapSync,
} from './isolation.js';
import { UnsandboxedDriver } from './unsandboxed-driver.js';

export interface SandboxSetup {
  readonly driver: SandboxDriver;
  /** The isolation in effect (kindling doctor). */
  describe(): Promise<IsolationReport>;
  /** Closes the driver and removes what the setup created (parent cgroups). After every sandbox is gone. */
  close(): Promise<void>;
}

export interface SandboxSelection extends SandboxDriverOptions {
  /** 'auto': bubblewrap when it works here, else unsandboxed; 'bwrap': bubblewrap or fail; 'none'. */
  mode: 'auto' | 'bwrap' | 'none';
  warn(msg: string): void;
}

const NO_CGROUPS: CgroupSetup = { version: null, parents: {}, warnings: [] };

/** Creates the per-environment directory root, removing environments a killed process left behind. */
function prepareEnvRoot(envRoot: string): void {
  fs.mkdirSync(envRoot, { recursive: true, mode: 0o711 });
  // Environments never outlive the process (they die with it); their dirs may, after a SIGKILL.
  for (const d of fs.readdirSync(envRoot)) {
    if (d.startsWith('env-')) fs.rmSync(path.join(envRoot, d), { recursive: true, force: true });
  }
}

export function createSandbox(sel: SandboxSelection): SandboxSetup {
  prepareEnvRoot(sel.envRoot);
  // Before any sandbox exists: nothing this process inherited may reach one.
  const closed = closeInheritedDescriptors();
  if (closed.length > 0)
    sel.warn(`closed descriptors inherited from the parent process: ${closed.join(', ')}`);
  const { mode, warn, ...driverOpts } = sel;
  let bwrap = mode === 'none' ? undefined : findBwrap();
  if (bwrap !== undefined && mode === 'auto') {
    // Installed is not enough: user namespaces may be disabled (sysctl, AppArmor, a container's seccomp).
    const failure = probeBwrapSync(bwrap);
    if (failure !== undefined) {
      warn(`bubblewrap cannot create namespaces here (${failure}); falling back to unsandboxed`);
      bwrap = undefined;
    }
  }
  if (bwrap !== undefined) {
    const cgroups = setupCgroups();
    for (const w of cgroups.warnings) warn(w);
    const driver = new BwrapDriver(driverOpts, cgroups, bwrap);
    if (driver.egress.problem !== undefined) warn(`outbound network unavailable: ${driver.egress.problem}`);
    return withDriver(driver, mode, cgroups);
  }
  if (mode === 'bwrap') throw new Error('sandbox=bwrap but bubblewrap (bwrap) is not installed');
  warn('UNSANDBOXED: bubblewrap not in use; functions run as plain host processes (development only)');
  return withDriver(new UnsandboxedDriver(driverOpts), mode);
}

/** A setup around a driver built elsewhere (tests, a future microVM driver). */
export function withDriver(
  driver: SandboxDriver,
  mode: 'auto' | 'bwrap' | 'none' = 'auto',
  cgroups: CgroupSetup = NO_CGROUPS,
): SandboxSetup {
  return {
    driver,
    async describe() {
      if (!driver.isolatesTenants) return detectIsolation('none');
      const report = await detectIsolation(mode, cgroups);
      report.cgroup = describeCgroups(cgroups);
      if (driver.egress !== undefined) report.egress = describeEgress(driver.egress);
      return report;
    },
    async close() {
      await driver.close();
      await teardownCgroups(cgroups);
    },
  };
}
