// The bubblewrap driver: each environment is its own process tree in fresh mount, pid, ipc, uts, net, user
// and cgroup namespaces, with a minimal read-only view of the host, a private /tmp tmpfs, and its own
// cgroup entered before the first instruction of bwrap runs.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { Socket } from 'node:net';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { type CgroupSetup, EnvCgroup } from './cgroup.js';
import type {
  AdoptedProcess,
  Sandbox,
  SandboxDriver,
  SandboxDriverOptions,
  SandboxImage,
  SandboxShell,
  SandboxSpec,
  SandboxVolume,
} from './driver.js';
import { waitExit } from './driver.js';
import { detectEgress, Egress, type EgressSupport, SLIRP_DNS } from './egress.js';
import { dropArgs, findSetpriv, HostIds } from './host-user.js';
import { sandboxHosts } from './hosts.js';
import { CHANNEL, ProcessSandbox, type SandboxProcess, spawnWithChannel } from './process-sandbox.js';
import { buildFilter, encodeFilter, seccompSupported } from './seccomp.js';

export const SANDBOX_API_DIR = '/run/kindling';
export const SANDBOX_RELAY_PORT = 9001;
/** Where a sandbox sees the compile cache of the version it is bound to (runtimes/compile-cache.ts). */
export const SANDBOX_CACHE_ROOT = '/var/kindling/cache';
/** Where every sandbox finds the platform API relay (relay.ts), whatever its runtime. */
export const SANDBOX_RELAY_MODULE = '/var/kindling/relay.cjs';
// The relay's CommonJS build (tsconfig.sandbox.json): the Node runtime requires it.
const RELAY_FILE = fileURLToPath(new URL('../../sandbox-cjs/sandbox/relay.js', import.meta.url));
/** Lambda's sandbox user (sbx_user1051). */
const UID = '993';
const GID = '990';

// The few host /etc files a runtime needs: name resolution, TLS roots. Never all of /etc; users come from
// files of our own (sandboxUsers), not the host's passwd; /etc/hosts is the host's plus names of our own
// (sandboxHosts).
const ETC_FILES = [
  '/etc/resolv.conf',
  '/etc/nsswitch.conf',
  '/etc/ld.so.cache',
  '/etc/localtime',
  // Debian's /usr/bin/awk, editor, … are symlinks through here: shell bootstraps of custom runtimes use them.
  '/etc/alternatives',
  '/etc/ssl',
  '/etc/ca-certificates',
  '/etc/pki',
  '/etc/crypto-policies',
];

export function findBwrap(): string | undefined {
  for (const p of ['/usr/bin/bwrap', '/usr/local/bin/bwrap', '/bin/bwrap']) if (fs.existsSync(p)) return p;
  return undefined;
}

export function bwrapVersion(bin: string): string | undefined {
  try {
    return execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 5000 })
      .trim()
      .replace(/^bubblewrap\s*/, '');
  } catch {
    return undefined;
  }
}

/**
 * `chrt --batch 0`, when it works on this host. Under SCHED_BATCH a woken runtime does not preempt the
 * task that woke it (CFS skips wake-up preemption for batch tasks), so the server finishes its turn —
 * answering, feeding other environments — instead of being switched out inside each write to a sandbox.
 * The CPU share is unchanged (nice 0, cgroup weights as before). User code may switch back to SCHED_OTHER;
 * that costs only the server's throughput, so this is tuning, not a boundary.
 */
export function batchScheduling(): string[] {
  for (const bin of ['/usr/bin/chrt', '/bin/chrt']) {
    if (!fs.existsSync(bin)) continue;
    try {
      execFileSync(bin, ['--batch', '0', '/bin/sh', '-c', ':'], { timeout: 5000, stdio: 'ignore' });
      return [bin, '--batch', '0'];
    } catch {
      return [];
    }
  }
  return [];
}

/** The host root-level entries a sandbox gets: symlinks recreated as symlinks, dirs bound read-only. */
function rootBinds(): string[] {
  const args: string[] = ['--ro-bind', '/usr', '/usr'];
  for (const name of ['/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32']) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(name);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) args.push('--symlink', fs.readlinkSync(name), name);
    else if (st.isDirectory()) args.push('--ro-bind', name, name);
  }
  for (const f of ETC_FILES) args.push('--ro-bind-try', f, f);
  return args;
}

/** /dev/shm inside: POSIX shared memory for runtimes that want it; its pages count toward the memory cap. */
const SHM_BYTES = 64 * 1024 * 1024;

/**
 * Files the sandbox sees read-only whose contents bwrap copies in from a descriptor (`--ro-bind-data`), so no
 * host path of ours shows in the sandbox's mount table. Written once per driver under envRoot. The
 * runtime's own files come with each start (its image) and are copied in the same way.
 */
function dataFiles(envRoot: string): Array<{ file: string; dest: string }> {
  fs.mkdirSync(envRoot, { recursive: true, mode: 0o711 });
  const write = (name: string, text: string) => {
    const file = path.join(envRoot, name);
    fs.writeFileSync(file, text, { mode: 0o600 });
    return file;
  };
  return [
    { file: RELAY_FILE, dest: SANDBOX_RELAY_MODULE },
    // Lambda's sandbox user, so os.userInfo() and tools asking for the current user work.
    {
      file: write(
        '.passwd',
        `root:x:0:0:root:/root:/sbin/nologin\nsbx_user1051:x:${UID}:${GID}::/tmp:/sbin/nologin\n`,
      ),
      dest: '/etc/passwd',
    },
    { file: write('.group', `root:x:0:\nsbx_user1051:x:${GID}:\n`), dest: '/etc/group' },
    { file: write('.hosts', sandboxHosts()), dest: '/etc/hosts' },
  ];
}

/** /etc/passwd and /etc/group naming the volume's user as Lambda's sandbox user, written per environment. */
async function volumeUser(
  envDir: string,
  vol: SandboxVolume,
  shared: Array<{ file: string; dest: string }>,
): Promise<Array<{ file: string; dest: string }>> {
  const passwd = path.join(envDir, '.passwd');
  const group = path.join(envDir, '.group');
  await fsp.writeFile(
    passwd,
    `root:x:0:0:root:/root:/sbin/nologin\nsbx_user1051:x:${vol.uid}:${vol.gid}::/tmp:/sbin/nologin\n`,
    { mode: 0o600 },
  );
  await fsp.writeFile(group, `root:x:0:\nsbx_user1051:x:${vol.gid}:\n`, { mode: 0o600 });
  return [
    ...shared.filter((d) => d.dest !== '/etc/passwd' && d.dest !== '/etc/group'),
    { file: passwd, dest: '/etc/passwd' },
    { file: group, dest: '/etc/group' },
  ];
}

/**
 * bubblewrap, running as the sandbox's unprivileged uid, resolves the directories it binds by path: every
 * directory above them must let others through (execute), though not list them. Says which one does not.
 */
function requireTraversable(dir: string): void {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if ((fs.statSync(d).mode & 0o001) === 0)
      throw new Error(`sandboxes cannot reach ${dir}: ${d} must be traversable by others (chmod o+x ${d})`);
    if (d === path.dirname(d)) return;
  }
}

/** Reads bwrap's --info-fd JSON ({"child-pid": N, ...}) from the given stdio slot of the spawned child. */
function sandboxPid(child: ChildProcess, slot: number, timeoutMs = 10_000): Promise<number> {
  const info = child.stdio[slot] as Socket | null | undefined;
  if (info === null || info === undefined) return Promise.reject(new Error('bwrap info fd missing'));
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => done(new Error('bwrap did not report its child pid')), timeoutMs);
    const done = (e?: Error) => {
      clearTimeout(timer);
      info.destroy();
      const pid = Number(/"child-pid"\s*:\s*(\d+)/.exec(text)?.[1]);
      if (e === undefined && Number.isInteger(pid) && pid > 0) resolve(pid);
      else reject(e ?? new Error(`bwrap reported no child pid: ${text.trim() || 'nothing'}`));
    };
    info.setEncoding('utf8');
    info.on('data', (d: string) => {
      text += d;
      if (text.includes('}')) done();
    });
    info.on('error', (e) => done(e));
    info.on('end', () => done());
  });
}

/** Opens `paths` (files or directories) read-only and hands the descriptors to `use`, closing them after. */
function withOpen<T>(paths: string[], use: (fds: number[]) => T): T {
  const fds: number[] = [];
  try {
    for (const p of paths) fds.push(fs.openSync(p, 'r'));
    return use(fds);
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
}

interface Launched {
  child: ChildProcess;
  taskDir: string;
  envDir: string;
  cg: EnvCgroup | undefined;
  release: () => void;
  resolve: (dest: string) => string;
  /** Kills and removes what the launch made. */
  abort: () => Promise<void>;
  relayPort: number;
  /** Host dir the sandbox sees read-only at SANDBOX_CACHE_ROOT (a version's compile cache). */
  cache: { dir: string; root: string };
  /** Host dir the sandbox sees read-only at /opt (the bound function's layers); undefined when the image uses /opt. */
  opt: string | undefined;
  /** Host pid of the sandbox's first process (bwrap's pid 1 inside), when asked for or with egress. */
  nsPid?: number;
  egress?: Egress;
}

/** The sandbox a launch made, around its process (bwrap's child, or a clone adopted into a shell). */
function sandboxOf(spec: SandboxSpec, l: Launched, proc: SandboxProcess): Sandbox {
  return new ProcessSandbox(
    spec.id,
    proc,
    l.taskDir,
    '/var/task',
    l.resolve,
    l.envDir,
    l.cg,
    l.release,
    l.egress,
    l.cache,
    l.opt,
  );
}

/** The placeholder says "ready" once bwrap has set the sandbox up (mounts, user namespace, seccomp). */
function placeholderReady(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const out = child.stdout;
    const timer = setTimeout(() => done(new Error('sandbox shell did not start')), timeoutMs);
    const onData = (d: Buffer) => {
      text += d.toString('utf8');
      if (text.includes('ready\n')) done();
    };
    const onExit = () => done(new Error(`sandbox shell exited while starting: ${text.trim()}`));
    const done = (e?: Error) => {
      clearTimeout(timer);
      out?.off('data', onData);
      child.off('exit', onExit);
      if (e === undefined) resolve();
      else reject(e);
    };
    out?.on('data', onData);
    child.once('exit', onExit);
  });
}

/**
 * The process moved into a shell, seen as a ProcessSandbox sees its child: fd 3 is its channel, its output
 * is stdout, it exits when it ends, and killing it kills the shell (the sandbox's pid 1 dies and the kernel
 * ends every process of its pid namespace).
 */
class AdoptedChild extends EventEmitter implements SandboxProcess {
  readonly pid: number;
  readonly stdio: unknown[];
  readonly stdout: Readable;
  readonly stderr = null;

  constructor(
    proc: AdoptedProcess,
    private readonly shell: ChildProcess,
  ) {
    super();
    this.pid = proc.pid;
    this.stdio = [null, null, null, proc.channel];
    this.stdout = proc.output;
    void proc.exited.then(({ code, signal }) => {
      this.kill('SIGKILL');
      this.emit('exit', code, signal);
    });
  }

  kill(signal: NodeJS.Signals): boolean {
    try {
      return this.shell.kill(signal);
    } catch {
      return false;
    }
  }
}

export class BwrapDriver implements SandboxDriver {
  readonly name = 'bwrap';
  readonly isolatesTenants = true;
  readonly mountsVolumes = true;
  private readonly base: string[];
  /** Image directories already checked to be reachable by the sandbox users. */
  private readonly traversable = new Set<string>();
  /** Prefix that starts bwrap under SCHED_BATCH (empty when chrt is missing or refused). */
  private readonly sched = batchScheduling();
  /** Files copied in through descriptors (see dataFiles). */
  private readonly data: Array<{ file: string; dest: string }>;
  /** The compiled seccomp program, handed to bwrap through a descriptor at each start. */
  private readonly seccompFile: string | undefined;
  /** Set when Kindling runs as root: each sandbox then drops to its own unprivileged host uid. */
  private readonly drop: { setpriv: string; ids: HostIds } | undefined;
  readonly egress: EgressSupport;
  /** resolv.conf of sandboxes with outbound network: slirp's DNS forwarder, the host's resolver is denied. */
  private readonly egressResolv: string;
  /** The environment every runtime starts with (plus KINDLING_RELAY_PORT per start). */
  private readonly env: Record<string, string>;
  /** The seccomp program's bytes (what a process moved into a shell installs). */
  private readonly seccompProgram: Buffer;

  constructor(
    private readonly opts: SandboxDriverOptions,
    private readonly cgroups: CgroupSetup,
    private readonly bwrap: string = findBwrap() ?? 'bwrap',
  ) {
    // Traversable (not listable) by the sandbox users, who reach the socket in it; the socket is 0666 and
    // every request through it is signed like any other.
    fs.mkdirSync(path.dirname(opts.apiSocketPath), { recursive: true, mode: 0o711 });
    fs.chmodSync(path.dirname(opts.apiSocketPath), 0o711);
    this.data = dataFiles(opts.envRoot);
    this.egress = detectEgress(opts.egressHelper);
    this.egressResolv = path.join(opts.envRoot, '.resolv-egress.conf');
    fs.writeFileSync(this.egressResolv, `nameserver ${SLIRP_DNS}\n`, { mode: 0o600 });
    if (process.getuid?.() === 0) {
      requireTraversable(opts.envRoot);
      requireTraversable(path.dirname(opts.apiSocketPath));
    }
    if (seccompSupported()) {
      this.seccompFile = path.join(opts.envRoot, '.seccomp.bpf');
      this.seccompProgram = encodeFilter(buildFilter());
      fs.writeFileSync(this.seccompFile, this.seccompProgram, { mode: 0o600 });
    } else {
      throw new Error(`no seccomp filter for architecture ${process.arch}: refusing to start sandboxes`);
    }
    if (process.getuid?.() === 0) {
      const setpriv = findSetpriv();
      if (setpriv === undefined)
        throw new Error(
          'running as root needs setpriv (util-linux) to start sandboxes as an unprivileged uid',
        );
      this.drop = { setpriv, ids: new HostIds() };
    }
    this.env = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      LANG: 'en_US.UTF-8',
      TZ: ':UTC',
      HOME: '/tmp',
      KINDLING_API_SOCKET: path.posix.join(SANDBOX_API_DIR, path.basename(opts.apiSocketPath)),
      KINDLING_RELAY_MODULE: SANDBOX_RELAY_MODULE,
      KINDLING_CHANNEL: CHANNEL,
    };
    this.base = [
      '--die-with-parent',
      '--new-session',
      '--unshare-all',
      '--unshare-user',
      // bwrap nests the sandbox in a second user namespace and caps the count there: no user namespace can
      // be made inside (the seccomp filter denies unshare/clone with namespace flags too).
      '--disable-userns',
      '--cap-drop',
      'ALL',
      '--clearenv',
      '--uid',
      UID,
      '--gid',
      GID,
      '--hostname',
      'localhost',
      ...rootBinds(),
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--perms',
      '1777',
      '--size',
      String(SHM_BYTES),
      '--tmpfs',
      '/dev/shm',
      ...Object.entries(this.env).flatMap(([k, v]) => ['--setenv', k, v]),
    ];
  }

  /** As root, bwrap runs as the sandbox's uid: every directory of the image must be reachable by it. */
  accept(image: SandboxImage): void {
    if (process.getuid?.() !== 0) return;
    for (const d of image.dirs) {
      if (this.traversable.has(d.path)) continue;
      requireTraversable(d.path);
      this.traversable.add(d.path);
    }
  }

  async start(spec: SandboxSpec): Promise<Sandbox> {
    const l = await this.launch(spec, spec.image.command, false);
    return sandboxOf(spec, l, l.child);
  }

  /**
   * A sandbox like start's, whose only process is a placeholder shell holding its end of the channel (it
   * ends, and with it the sandbox, when the host closes that): a zygote's fork moves in and is adopted.
   */
  async startShell(spec: SandboxSpec): Promise<SandboxShell> {
    const l = await this.launch(spec, ['/bin/sh', '-c', 'echo ready; read x <&3'], true);
    const child = l.child;
    try {
      await placeholderReady(child);
    } catch (e) {
      await l.abort();
      throw e;
    }
    // Whatever bwrap or the placeholder still writes is drained, never left to fill a pipe.
    child.stdout?.resume();
    child.stderr?.resume();
    const nsPid = l.nsPid;
    if (nsPid === undefined) {
      await l.abort();
      throw new Error('bwrap reported no child pid');
    }
    let adopted = false;
    return {
      id: spec.id,
      nsPid,
      cgroupProcs: l.cg?.procsFiles() ?? [],
      uid: spec.volume?.uid ?? Number(UID),
      gid: spec.volume?.gid ?? Number(GID),
      cwd: '/var/task',
      env: { ...this.env, KINDLING_RELAY_PORT: String(l.relayPort) },
      seccomp: this.seccompProgram,
      adopt: (proc) => {
        adopted = true;
        return sandboxOf(spec, l, new AdoptedChild(proc, child));
      },
      destroy: async () => {
        if (!adopted) await l.abort();
      },
    };
  }

  /** Starts bwrap running `command`; with `info`, learns the host pid of the sandbox's first process. */
  private async launch(spec: SandboxSpec, command: string[], info: boolean): Promise<Launched> {
    // Never the host's network namespace: outbound network is user-mode networking attached below.
    const net = spec.networkOutbound;
    if (net && this.egress.problem !== undefined) throw new Error(this.egress.problem);
    const image = spec.image;
    this.accept(image);
    // The API's own port: free in the sandbox's own network namespace, so handed-out URLs work inside.
    const relayPort = await (this.opts.relayPort ?? SANDBOX_RELAY_PORT);
    const envDir = path.join(this.opts.envRoot, spec.id);
    const taskDir = path.join(envDir, 'task');
    await fsp.mkdir(taskDir, { recursive: true, mode: 0o755 });
    // Filled like the task dir at bind; read-only inside, so no sandbox can write a cache.
    const cacheDir = path.join(envDir, 'cache');
    await fsp.mkdir(cacheDir, { mode: 0o755 });
    const cache = { dir: cacheDir, root: SANDBOX_CACHE_ROOT };
    // Layers are linked in at bind like code. An interpreter the image binds under /opt keeps that path.
    const optDir = image.hostPaths.some((p) => p === '/opt' || p.startsWith('/opt/'))
      ? undefined
      : path.join(envDir, 'opt');
    if (optDir !== undefined) await fsp.mkdir(optDir, { mode: 0o755 });
    const cg =
      Object.keys(this.cgroups.parents).length > 0 ? new EnvCgroup(this.cgroups, spec.id) : undefined;
    await cg?.create();
    // A volume's files belong to its own host uid: every environment mounting it runs as that uid.
    const vol = spec.volume;
    const hostId = vol !== undefined ? vol.hostUid : this.drop?.ids.acquire();
    const ownId = vol === undefined;
    // Descriptors the child gets as fds 4, 5, …: bwrap binds directories and copies files from them, so it
    // needs no access to our (0700) data dir, and no host path of ours appears in its arguments.
    const FD0 = 4;
    const dirs: Array<{ path: string; dest: string }> = [
      { path: taskDir, dest: '/var/task' },
      { path: cacheDir, dest: SANDBOX_CACHE_ROOT },
      ...(optDir !== undefined ? [{ path: optDir, dest: '/opt' }] : []),
      // The socket's own directory, not the socket file: the API server (re)creates the socket after the
      // first sandboxes start, and a bound file would keep pointing at a stale or missing inode.
      { path: path.dirname(this.opts.apiSocketPath), dest: SANDBOX_API_DIR },
      ...image.dirs,
    ];
    const data = [
      ...image.files,
      ...(vol !== undefined ? await volumeUser(envDir, vol, this.data) : this.data),
      ...(net ? [{ file: this.egressResolv, dest: '/etc/resolv.conf' }] : []),
    ];
    const files = [...dirs.map((d) => d.path), ...data.map((d) => d.file)];
    // Read-write, after the read-only binds; its descriptor is checked to be that very directory (below).
    const volFd = vol !== undefined ? FD0 + files.length : -1;
    if (vol !== undefined) files.push(vol.dir);
    if (this.seccompFile !== undefined) files.push(this.seccompFile);
    const args = [
      ...this.base,
      ...image.hostPaths.flatMap((p) => ['--ro-bind', p, p]),
      ...image.links.flatMap((l) => ['--symlink', l.target, l.at]),
      '--setenv',
      'KINDLING_RELAY_PORT',
      String(relayPort),
      '--perms',
      '1777',
      '--size',
      String(spec.tmpSizeMB * 1024 * 1024),
      '--tmpfs',
      '/tmp',
      ...dirs.flatMap((d, i) => ['--ro-bind-fd', String(FD0 + i), d.dest]),
      ...data.flatMap((d, i) => ['--ro-bind-data', String(FD0 + dirs.length + i), d.dest]),
      ...(vol !== undefined
        ? ['--bind-fd', String(volFd), vol.dest, '--uid', String(vol.uid), '--gid', String(vol.gid)]
        : []),
      ...(this.seccompFile !== undefined ? ['--seccomp', String(FD0 + files.length - 1)] : []),
      '--remount-ro',
      '/',
      '--chdir',
      '/var/task',
    ];
    // bwrap reads its options from a descriptor, so the sandbox's /proc/1/cmdline is only `bwrap --args N`
    // and the runtime's command line (bwrap takes the command itself only from its real argv).
    const argv = ['--', ...command];
    const argsFile = path.join(envDir, '.args');
    await fsp.writeFile(argsFile, `${args.join('\0')}\0`, { mode: 0o600 });
    files.push(argsFile);
    const argsFd = FD0 + files.length - 1;
    // With outbound network, bwrap reports the sandbox's first process (its pid in our namespace) on a pipe
    // after the descriptors above, for slirp4netns to attach to.
    const infoFd = FD0 + files.length;
    const wantInfo = net || info;
    const infoArgs = wantInfo ? ['--info-fd', String(infoFd)] : [];
    const procs = cg?.procsFiles() ?? [];
    // The first process enters the cgroups itself while still privileged, then drops to the sandbox's host
    // uid before exec'ing bwrap: nothing runs outside the limits, and nothing in the sandbox is host root.
    const script =
      'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 97; shift; n=$((n-1)); done; exec "$@"';
    const drop =
      this.drop !== undefined && hostId !== undefined ? [this.drop.setpriv, ...dropArgs(hostId)] : [];
    let child: ReturnType<typeof spawnWithChannel>;
    try {
      child = withOpen(files, (fds) => {
        // A tenant may swap a directory of its volume for a symlink between the check and the open.
        if (vol !== undefined && fs.readlinkSync(`/proc/self/fd/${fds[volFd - FD0]}`) !== vol.dir)
          throw new Error(`the volume directory ${vol.dest} moved while it was being mounted`);
        return spawnWithChannel(
          '/bin/sh',
          [
            '-c',
            script,
            'sh',
            String(procs.length),
            ...procs,
            ...this.sched,
            ...drop,
            this.bwrap,
            '--args',
            String(argsFd),
            ...infoArgs,
            ...argv,
          ],
          {},
          // Not the env dir: the shell exports its cwd as PWD, which bwrap's /proc/1/environ would show.
          '/',
          wantInfo ? [...fds, 'pipe'] : fds,
        );
      });
    } catch (e) {
      if (hostId !== undefined && ownId) this.drop?.ids.release(hostId);
      await cg?.destroy();
      throw e;
    }
    // The shell execs setpriv, which execs bwrap: this pid is bwrap's outer process.
    if (child.pid !== undefined) cg?.spareMonitor(child.pid);
    const release = () => {
      if (hostId !== undefined && ownId) this.drop?.ids.release(hostId);
    };
    const abort = async () => {
      launched.egress?.stop();
      child.kill('SIGKILL');
      await waitExit(child);
      await cg?.destroy().catch(() => {});
      release();
      await fsp.rm(envDir, { recursive: true, force: true }).catch(() => {});
    };
    // Its own mount namespace: every path of the image is where the image put it.
    const resolve = (dest: string) => dest;
    const launched: Launched = {
      child,
      taskDir,
      envDir,
      cg,
      release,
      resolve,
      abort,
      relayPort,
      cache,
      opt: optDir,
    };
    if (!wantInfo) return launched;
    try {
      launched.nsPid = await sandboxPid(child, infoFd);
      if (net) launched.egress = await Egress.attach(launched.nsPid, this.egress);
    } catch (e) {
      await abort();
      throw e;
    }
    return launched;
  }

  async close(): Promise<void> {}
}
