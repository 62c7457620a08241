// The bubblewrap driver: each environment is its own process tree in fresh mount, pid, ipc, uts, net, user
// and cgroup namespaces, with a minimal read-only view of the host, a private /tmp tmpfs, and its own
// cgroup entered before the first instruction of bwrap runs.
import { type ChildProcess, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { Socket } from 'node:net';
import path from 'node:path';
import { type CgroupSetup, EnvCgroup } from './cgroup.js';
import type { Sandbox, SandboxDriver, SandboxDriverOptions, SandboxSpec } from './driver.js';
import { detectEgress, Egress, type EgressSupport, SLIRP_DNS } from './egress.js';
import { ProcessSandbox, spawnWithChannel } from './process-sandbox.js';

export const SANDBOX_API_DIR = '/run/kindling';
export const SANDBOX_RELAY_PORT = 9001;
/** Lambda's sandbox user (sbx_user1051). */
const UID = '993';
const GID = '990';

// The few host /etc files a runtime needs: name resolution, TLS roots. Never all of /etc; users come from
// files of our own (sandboxUsers), not the host's passwd.
const ETC_FILES = [
  '/etc/resolv.conf',
  '/etc/hosts',
  '/etc/nsswitch.conf',
  '/etc/ld.so.cache',
  '/etc/localtime',
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
  // A node installed outside /usr (nvm, /opt) needs its own prefix.
  const node = fs.realpathSync(process.execPath);
  if (!node.startsWith('/usr/')) {
    const prefix = path.dirname(path.dirname(node));
    args.push('--ro-bind', prefix, prefix);
  }
  for (const f of ETC_FILES) args.push('--ro-bind-try', f, f);
  return args;
}

/** Small generated files the sandbox sees read-only: written once per driver under envRoot. */
function generatedFiles(envRoot: string): string[] {
  fs.mkdirSync(envRoot, { recursive: true });
  const write = (name: string, text: string) => {
    const file = path.join(envRoot, name);
    fs.writeFileSync(file, text, { mode: 0o644 });
    return file;
  };
  return [
    // The compiled bootstrap is ESM; /var/runtime has no project package.json above it, so it gets its own.
    '--ro-bind',
    write('.runtime-package.json', '{"type":"module"}\n'),
    '/var/runtime/package.json',
    // Lambda's sandbox user, so os.userInfo() and tools asking for the current user work.
    '--ro-bind',
    write(
      '.passwd',
      `root:x:0:0:root:/root:/sbin/nologin\nsbx_user1051:x:${UID}:${GID}::/tmp:/sbin/nologin\n`,
    ),
    '/etc/passwd',
    '--ro-bind',
    write('.group', `root:x:0:\nsbx_user1051:x:${GID}:\n`),
    '/etc/group',
  ];
}

/** Reads bwrap's --info-fd JSON ({"child-pid": N, ...}) from fd 4 of the spawned child. */
function sandboxPid(child: ChildProcess, timeoutMs = 10_000): Promise<number> {
  const info = child.stdio[4] as Socket | null | undefined;
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

export class BwrapDriver implements SandboxDriver {
  readonly name = 'bwrap';
  private readonly base: string[];
  private readonly node: string;
  /** Prefix that starts bwrap under SCHED_BATCH (empty when chrt is missing or refused). */
  private readonly sched = batchScheduling();
  readonly egress: EgressSupport;
  /** resolv.conf of sandboxes with outbound network: slirp's DNS forwarder, the host's resolver is denied. */
  private readonly egressResolv: string;

  constructor(
    private readonly opts: SandboxDriverOptions,
    private readonly cgroups: CgroupSetup,
    private readonly bwrap: string = findBwrap() ?? 'bwrap',
  ) {
    this.node = fs.realpathSync(process.execPath);
    fs.mkdirSync(path.dirname(opts.apiSocketPath), { recursive: true, mode: 0o700 });
    this.egress = detectEgress(opts.egressHelper);
    fs.mkdirSync(opts.envRoot, { recursive: true });
    this.egressResolv = path.join(opts.envRoot, '.resolv-egress.conf');
    fs.writeFileSync(this.egressResolv, `nameserver ${SLIRP_DNS}\n`, { mode: 0o644 });
    const rt = opts.runtimeDir;
    this.base = [
      '--die-with-parent',
      '--new-session',
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
      '--ro-bind',
      path.join(rt, 'bootstrap.js'),
      '/var/runtime/bootstrap.js',
      '--ro-bind',
      path.join(rt, 'protocol.js'),
      '/var/runtime/protocol.js',
      ...generatedFiles(opts.envRoot),
      ...(opts.nodeModulesDir !== undefined
        ? [
            '--ro-bind',
            opts.nodeModulesDir,
            '/var/runtime/node_modules',
            '--symlink',
            '/var/runtime/node_modules',
            '/node_modules',
          ]
        : []),
      // The socket's own directory, not the socket file: the API server (re)creates the socket after the
      // first sandboxes start, and a bound file would keep pointing at a stale or missing inode.
      '--ro-bind',
      path.dirname(opts.apiSocketPath),
      SANDBOX_API_DIR,
      '--setenv',
      'PATH',
      '/usr/local/bin:/usr/bin:/bin',
      '--setenv',
      'LANG',
      'en_US.UTF-8',
      '--setenv',
      'TZ',
      ':UTC',
      '--setenv',
      'HOME',
      '/tmp',
      '--setenv',
      'KINDLING_API_SOCKET',
      path.posix.join(SANDBOX_API_DIR, path.basename(opts.apiSocketPath)),
    ];
  }

  async start(spec: SandboxSpec): Promise<Sandbox> {
    // Never the host's network namespace: outbound network is user-mode networking attached below.
    const net = spec.networkOutbound;
    if (net && this.egress.problem !== undefined) throw new Error(this.egress.problem);
    const envDir = path.join(this.opts.envRoot, spec.id);
    const taskDir = path.join(envDir, 'task');
    await fsp.mkdir(taskDir, { recursive: true, mode: 0o755 });
    const cg =
      Object.keys(this.cgroups.parents).length > 0 ? new EnvCgroup(this.cgroups, spec.id) : undefined;
    await cg?.create();
    const args = [
      '--unshare-all',
      ...this.base,
      // bwrap reports the sandbox's first process (its pid in our namespace) on fd 4.
      ...(net ? ['--info-fd', '4', '--ro-bind', this.egressResolv, '/etc/resolv.conf'] : []),
      '--setenv',
      'KINDLING_RELAY_PORT',
      String(SANDBOX_RELAY_PORT),
      '--perms',
      '1777',
      '--size',
      String(spec.tmpSizeMB * 1024 * 1024),
      '--tmpfs',
      '/tmp',
      '--ro-bind',
      taskDir,
      '/var/task',
      '--remount-ro',
      '/',
      '--chdir',
      '/var/task',
      '--',
      this.node,
      ...this.opts.nodeFlags,
      '/var/runtime/bootstrap.js',
    ];
    const procs = cg?.procsFiles() ?? [];
    // The first process enters the cgroups itself, before exec'ing bwrap: nothing runs outside the limits.
    const script =
      'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 97; shift; n=$((n-1)); done; exec "$@"';
    const child = spawnWithChannel(
      '/bin/sh',
      ['-c', script, 'sh', String(procs.length), ...procs, ...this.sched, this.bwrap, ...args],
      {},
      envDir,
      net ? 1 : 0,
    );
    if (!net) return new ProcessSandbox(spec.id, child, taskDir, '/var/task', envDir, cg);
    let egress: Egress;
    try {
      egress = await Egress.attach(await sandboxPid(child), this.egress);
    } catch (e) {
      child.kill('SIGKILL');
      await cg?.destroy().catch(() => {});
      await fsp.rm(envDir, { recursive: true, force: true }).catch(() => {});
      throw e;
    }
    return new ProcessSandbox(spec.id, child, taskDir, '/var/task', envDir, cg, egress);
  }

  async close(): Promise<void> {}
}
