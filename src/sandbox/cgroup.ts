// Per-environment cgroups: memory cap, process-count cap and CPU weight, nested under the cgroup Kindling
// itself runs in. Supports cgroup v1 (one hierarchy per controller) and v2 (unified), found by detection;
// when nothing is writable the sandbox runs without limits and doctor() says so.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const CGROOT = '/sys/fs/cgroup';
/** Enough for node's threads, bwrap and a few child processes; stops fork bombs. */
export const PIDS_MAX = 64;
/** Rounds of read-and-stop before giving up on freezing a cgroup whose processes keep forking. */
const FREEZE_ROUNDS = 8;
/** Lambda gives one vCPU at 1769 MB; CPU weight follows memory. */
const MB_PER_VCPU = 1769;

/** Limits (memory, pids, cpu) and the freezer, which stops idle environments as Lambda does. */
export type Controller = 'memory' | 'pids' | 'cpu' | 'freezer';

export interface CgroupSetup {
  version: 1 | 2 | null;
  /** Parent dir per controller under which each environment's cgroup is made (v2: the same dir for all). */
  parents: Partial<Record<Controller, string>>;
  warnings: string[];
}

function signal(pid: number, sig: 'SIGSTOP' | 'SIGCONT'): void {
  try {
    process.kill(pid, sig);
  } catch {
    // exited meanwhile
  }
}

function ownPaths(): Map<string, string> {
  const out = new Map<string, string>();
  try {
    for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
      const m = /^\d+:([^:]*):(.*)$/.exec(line);
      if (m === null) continue;
      for (const c of (m[1] ?? '').split(',')) out.set(c, m[2] ?? '/');
    }
  } catch {
    // not Linux, or /proc missing: no cgroups
  }
  return out;
}

/**
 * All sandboxes together form one scheduling entity beside the host's processes. Weigh the group like one
 * process per CPU, so a busy host does not starve every function at once; within the group, functions
 * share by memory size.
 */
function setGroupWeight(file: string, weight: number): void {
  try {
    fs.writeFileSync(file, String(weight));
  } catch {
    // not fatal: the default weight still works, only with less CPU under contention
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Removes parent cgroups left by Kindling processes that died without tearing down (SIGKILL). Their
 * sandboxes normally died with them, except frozen ones: a frozen task acts on its death signal only
 * once thawed, so thaw and kill what is left first.
 */
function removeStale(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^kindling-(?:probe-)?(\d+)(?:-\d+)?$/.exec(name);
    if (m === null || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    const parent = path.join(dir, name);
    try {
      for (const child of fs.readdirSync(parent, { withFileTypes: true })) {
        if (!child.isDirectory()) continue;
        const cg = path.join(parent, child.name);
        for (const [file, value] of [
          ['freezer.state', 'THAWED'],
          ['cgroup.freeze', '0'],
        ] as const) {
          try {
            fs.writeFileSync(path.join(cg, file), value);
          } catch {
            // not this kind of cgroup
          }
        }
        for (let i = 0; i < 50; i++) {
          let pids: string[] = [];
          try {
            pids = fs.readFileSync(path.join(cg, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
          } catch {
            break;
          }
          if (pids.length === 0) break;
          for (const pid of pids) {
            try {
              process.kill(Number(pid), 'SIGKILL');
            } catch {
              // gone
            }
          }
          sleepSync(10);
        }
        for (let i = 0; i < 20; i++) {
          try {
            fs.rmdirSync(cg);
            break;
          } catch {
            sleepSync(10);
          }
        }
      }
      fs.rmdirSync(parent);
    } catch {
      // still busy: the next start tries again
    }
  }
}

function tryMkdir(dir: string): boolean {
  try {
    fs.mkdirSync(dir, { recursive: true });
    return true;
  } catch {
    return false;
  }
}

/** Several managers may live in one process (tests): each gets its own parent cgroups. */
let setups = 0;

/**
 * Finds usable controllers and makes Kindling's parent cgroups (one per server process, so several servers
 * on one machine do not collide). Synchronous: runs once at start.
 */
export function setupCgroups(tag = `kindling-${process.pid}-${++setups}`, CG = CGROOT): CgroupSetup {
  const own = ownPaths();
  const warnings: string[] = [];
  const parents: Partial<Record<Controller, string>> = {};
  const v1Mounted = fs.existsSync(path.join(CG, 'memory', 'memory.limit_in_bytes'));
  const v2Pure = fs.existsSync(path.join(CG, 'cgroup.controllers'));
  if (v1Mounted) {
    // Freezer first: leftovers of a killed server are thawed (and so can die) before the rest is swept.
    const dirs: Record<Controller, [string, string]> = {
      freezer: ['freezer', 'freezer.state'],
      memory: ['memory', 'memory.limit_in_bytes'],
      pids: ['pids', 'pids.max'],
      cpu: ['cpu', 'cpu.shares'],
    };
    for (const [ctl, [mount, probe]] of Object.entries(dirs) as Array<[Controller, [string, string]]>) {
      if (ctl === 'freezer' && !fs.existsSync(path.join(CG, mount))) continue;
      const rel = own.get(mount) ?? '/';
      removeStale(path.join(CG, mount, rel));
      const parent = path.join(CG, mount, rel, tag);
      if (tryMkdir(parent) && fs.existsSync(path.join(parent, probe))) parents[ctl] = parent;
      else warnings.push(`cgroup v1 ${ctl} controller is not writable at ${path.join(CG, mount, rel)}`);
    }
    if (parents.cpu !== undefined)
      setGroupWeight(path.join(parents.cpu, 'cpu.shares'), 1024 * os.availableParallelism());
    return { version: 1, parents, warnings };
  }
  if (v2Pure) {
    const rel = own.get('') ?? '/';
    const mine = path.join(CG, rel);
    const parent = path.join(mine, tag);
    removeStale(mine);
    const want = ['memory', 'pids', 'cpu'];
    const enable = (dir: string) => {
      const available = fs.readFileSync(path.join(dir, 'cgroup.controllers'), 'utf8').split(/\s+/);
      const ctl = want.filter((c) => available.includes(c));
      if (ctl.length > 0)
        fs.writeFileSync(path.join(dir, 'cgroup.subtree_control'), ctl.map((c) => `+${c}`).join(' '));
    };
    try {
      try {
        enable(mine);
      } catch {
        // "No internal processes": move ourselves into a leaf so our cgroup may delegate controllers.
        const leaf = path.join(mine, 'kindling-host');
        fs.mkdirSync(leaf, { recursive: true });
        fs.writeFileSync(path.join(leaf, 'cgroup.procs'), String(process.pid));
        enable(mine);
      }
      fs.mkdirSync(parent, { recursive: true });
      enable(parent);
      const have = fs.readFileSync(path.join(parent, 'cgroup.subtree_control'), 'utf8').split(/\s+/);
      setGroupWeight(path.join(parent, 'cpu.weight'), Math.min(10000, 100 * os.availableParallelism()));
      for (const c of want as Controller[]) {
        if (have.includes(c)) parents[c] = parent;
        else warnings.push(`cgroup v2 ${c} controller is not available under ${mine}`);
      }
      // v2 freezes any non-root cgroup through its own cgroup.freeze file.
      if (fs.existsSync(path.join(parent, 'cgroup.freeze'))) parents.freezer = parent;
    } catch (e) {
      warnings.push(`cgroup v2 at ${mine} is not writable: ${(e as Error).message}`);
    }
    if (Object.keys(parents).length === 0) {
      try {
        fs.rmdirSync(parent);
      } catch {
        // never made
      }
    }
    return { version: 2, parents, warnings };
  }
  warnings.push('no cgroup filesystem found: memory, process and CPU limits are NOT enforced');
  return { version: null, parents, warnings };
}

/** Removes the parent cgroups (after every environment's cgroup is gone). */
export async function teardownCgroups(setup: CgroupSetup): Promise<void> {
  for (const dir of new Set(Object.values(setup.parents))) await fsp.rmdir(dir).catch(() => {});
}

/** One environment's cgroup(s). */
export class EnvCgroup {
  /** Distinct dirs (v1: one per controller; v2: one). */
  readonly dirs: string[];
  readonly memoryDir: string | undefined;
  readonly pidsDir: string | undefined;
  readonly cpuDir: string | undefined;
  readonly freezerDir: string | undefined;
  /** bwrap's outer process and, once read, its one child (the sandbox's pid 1): a freeze leaves them be. */
  #monitors: number[] = [];

  constructor(
    private readonly setup: CgroupSetup,
    id: string,
  ) {
    const p = setup.parents;
    this.memoryDir = p.memory && path.join(p.memory, id);
    this.pidsDir = p.pids && path.join(p.pids, id);
    this.cpuDir = p.cpu && path.join(p.cpu, id);
    this.freezerDir = p.freezer && path.join(p.freezer, id);
    this.dirs = [
      ...new Set(
        [this.memoryDir, this.pidsDir, this.cpuDir, this.freezerDir].filter(
          (d): d is string => d !== undefined,
        ),
      ),
    ];
  }

  /** Creates the cgroup and sets the limits that hold from the first instruction (process count). */
  async create(): Promise<void> {
    for (const d of this.dirs) await fsp.mkdir(d);
    if (this.pidsDir !== undefined)
      await fsp.writeFile(path.join(this.pidsDir, 'pids.max'), String(PIDS_MAX));
  }

  /** The cgroup.procs files the sandbox's first process writes itself into before it execs anything. */
  procsFiles(): string[] {
    return this.dirs.map((d) => path.join(d, 'cgroup.procs'));
  }

  /**
   * Names bwrap's outer process (the server's own child): a SIGSTOP freeze leaves it and its one child, the
   * sandbox's pid 1 (bwrap's init), running. Neither runs the tenant's code (they wait on their child; the
   * tenant's processes all descend from pid 1's child and are stopped), but a stopped or continued process
   * wakes its parent with SIGCHLD, and the server's event loop (libuv) answers each SIGCHLD with a waitpid
   * on every one of its children: at 300 idle environments, 300 system calls per freeze and per thaw, the
   * thaw's on the next request's path. By pid, never by name: a tenant's process can call itself bwrap.
   */
  spareMonitor(pid: number): void {
    this.#monitors = [pid];
  }

  /** The processes a freeze leaves running; pid 1 is read once, from its parent's list of children. */
  #spared(): number[] {
    const outer = this.#monitors[0];
    if (outer !== undefined && this.#monitors.length === 1) {
      try {
        const kids = fs.readFileSync(`/proc/${outer}/task/${outer}/children`, 'latin1').trim().split(' ');
        // bwrap forks once: anything else is not the layout this relies on, and pid 1 is stopped too.
        if (kids.length === 1 && /^\d+$/.test(kids[0]!)) this.#monitors.push(Number(kids[0]));
      } catch {
        // gone, or no children list on this kernel: only the outer process is spared
      }
    }
    return this.#monitors;
  }

  /** Synchronous writes: three tiny cgroup files cost less than thread-pool round trips on a pool hit. */
  setMemory(memoryMB: number): void {
    const bytes = String(memoryMB * 1024 * 1024);
    const tryWrite = (file: string, v: string) => {
      try {
        fs.writeFileSync(file, v);
      } catch {
        // optional knob (no swap accounting)
      }
    };
    if (this.memoryDir !== undefined) {
      if (this.setup.version === 1) {
        fs.writeFileSync(path.join(this.memoryDir, 'memory.limit_in_bytes'), bytes);
        // With swap accounting, also cap memory+swap so the limit cannot be dodged by swapping.
        tryWrite(path.join(this.memoryDir, 'memory.memsw.limit_in_bytes'), bytes);
      } else {
        fs.writeFileSync(path.join(this.memoryDir, 'memory.max'), bytes);
        tryWrite(path.join(this.memoryDir, 'memory.swap.max'), '0');
      }
    }
    if (this.cpuDir !== undefined) {
      if (this.setup.version === 1) {
        const shares = Math.max(2, Math.round((1024 * memoryMB) / MB_PER_VCPU));
        fs.writeFileSync(path.join(this.cpuDir, 'cpu.shares'), String(shares));
      } else {
        const weight = Math.min(10000, Math.max(1, Math.round((100 * memoryMB) / MB_PER_VCPU)));
        fs.writeFileSync(path.join(this.cpuDir, 'cpu.weight'), String(weight));
      }
    }
  }

  /**
   * Stops every process of the environment (idle between invocations); false when unsupported.
   * cgroup v1's freezer costs 2.5–7 ms per write here (freezing or thawing, measured), on the event
   * loop and on the next request's path; so v1 stops the cgroup's processes with SIGSTOP (tens of µs)
   * and resumes them with SIGCONT. SIGSTOP cannot be caught, blocked or ignored, and the sandbox
   * cannot ptrace (seccomp), so nothing in it can dodge it. v2's cgroup.freeze is used as it is.
   */
  freeze(): boolean {
    if (this.setup.version === 1) return this.#signalFreeze();
    return this.#writeFreeze('1');
  }

  thaw(): boolean {
    if (this.setup.version === 1) return this.#signalThaw();
    return this.#writeFreeze('0');
  }

  #writeFreeze(value: '0' | '1'): boolean {
    if (this.freezerDir === undefined) return false;
    try {
      fs.writeFileSync(path.join(this.freezerDir, 'cgroup.freeze'), value);
      return true;
    } catch {
      return false;
    }
  }

  /** The processes in the cgroup now (v1: every hierarchy holds the same ones). */
  #pids(): number[] | undefined {
    const dir = this.dirs[0];
    if (dir === undefined) return undefined;
    try {
      const text = fs.readFileSync(path.join(dir, 'cgroup.procs'), 'latin1');
      return text.length === 0 ? [] : text.trimEnd().split('\n').map(Number);
    } catch {
      return undefined;
    }
  }

  #signalFreeze(): boolean {
    const spared = this.#spared();
    // Counted as stopped without a signal: the loop below then neither signals nor continues them.
    const stopped = new Set<number>(spared);
    // A process caught in fork() as it is stopped may still leave a running child: read again until a
    // read finds nobody new (a stopped process cannot fork; the pids limit bounds the rounds).
    for (let round = 0; round < FREEZE_ROUNDS; round++) {
      const now = this.#pids();
      if (now === undefined) break;
      let fresh = false;
      for (const pid of now) {
        if (stopped.has(pid)) continue;
        stopped.add(pid);
        fresh = true;
        signal(pid, 'SIGSTOP');
      }
      if (!fresh) {
        // One signalled but gone from the cgroup exited meanwhile: its number may name another process
        // now, which must not stay stopped.
        const present = new Set(now);
        for (const pid of stopped) if (!present.has(pid) && !spared.includes(pid)) signal(pid, 'SIGCONT');
        return true;
      }
    }
    // Could not settle (or read): run rather than sit half-stopped.
    for (const pid of this.#pids() ?? []) signal(pid, 'SIGCONT');
    return false;
  }

  #signalThaw(): boolean {
    const pids = this.#pids();
    if (pids === undefined) return false;
    const spared = this.#monitors;
    for (const pid of pids) if (!spared.includes(pid)) signal(pid, 'SIGCONT');
    return true;
  }

  /** OOM kills recorded in this cgroup (v1 memory.oom_control, v2 memory.events). */
  oomKills(): number {
    if (this.memoryDir === undefined) return 0;
    try {
      const file = this.setup.version === 1 ? 'memory.oom_control' : 'memory.events';
      const m = /^oom_kill (\d+)$/m.exec(fs.readFileSync(path.join(this.memoryDir, file), 'utf8'));
      return m === null ? 0 : Number(m[1]);
    } catch {
      return 0;
    }
  }

  peakBytes(): number | undefined {
    if (this.memoryDir === undefined) return undefined;
    const file = this.setup.version === 1 ? 'memory.max_usage_in_bytes' : 'memory.peak';
    try {
      return Number(fs.readFileSync(path.join(this.memoryDir, file), 'utf8').trim());
    } catch {
      return undefined;
    }
  }

  private pids(): number[] {
    const out = new Set<number>();
    for (const d of this.dirs) {
      try {
        for (const l of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n'))
          if (l !== '') out.add(Number(l));
      } catch {
        // gone already
      }
    }
    return [...out];
  }

  /** Kills every process in the cgroup, then removes it. */
  async destroy(): Promise<void> {
    // A frozen task does not act on SIGKILL until thawed (v1).
    this.thaw();
    if (this.setup.version === 2 && this.dirs[0] !== undefined) {
      await fsp.writeFile(path.join(this.dirs[0], 'cgroup.kill'), '1').catch(() => {});
    }
    for (let i = 0; i < 100; i++) {
      const pids = this.pids();
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const d of this.dirs) {
      for (let i = 0; i < 50; i++) {
        try {
          await fsp.rmdir(d);
          break;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') break;
          // EBUSY while the kernel finishes reaping the last task.
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
  }
}
