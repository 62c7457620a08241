// Outbound network for a sandbox whose tenant an admin granted it: the sandbox keeps its own network
// namespace, slirp4netns attaches user-mode networking to it (a tap device whose traffic slirp replays as
// ordinary sockets of the host), and the namespace's routing table refuses every destination that is the
// host or inside it: the host's addresses, link-local, private and other special ranges. An admin's
// egressAllow ranges get more specific routes, added when the environment is bound to the tenant.
//
// Why the routing table is the filter: every packet the sandbox sends leaves through tap0 only if a route
// sends it there, and the sandbox cannot change its routes: its processes have no capabilities in the user
// namespace that owns its network namespace (bwrap --cap-drop ALL), so no CAP_NET_ADMIN (routes,
// addresses, links) and no CAP_NET_RAW (packet sockets that would write frames to tap0 directly). A
// nested user namespace would own none of this network namespace either. A `prohibit` route answers
// EACCES at connect()/send(), so nothing reaches slirp. slirp's own gateway (10.0.2.2) would be the host's
// loopback; --disable-host-loopback turns that off. Its DNS forwarder (10.0.2.3, port 53 only, by policy
// rules) is the one path to the host's resolver. Other addresses of slirp's subnet get no ARP answer. No IPv6: slirp runs without --enable-ipv6, so the sandbox has no IPv6 route out.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import type { Socket } from 'node:net';
import os from 'node:os';

/** slirp4netns' fixed addressing (its default --cidr): the sandbox is 10.0.2.100. */
export const SLIRP_GATEWAY = '10.0.2.2';
export const SLIRP_DNS = '10.0.2.3';
const SLIRP_GUEST = '10.0.2.100/24';
const TAP = 'tap0';
const MTU = 65520;

/** Unreachable from a sandbox unless an admin's egressAllow names (part of) the range. */
export const DENIED_RANGES: readonly string[] = [
  '0.0.0.0/8', // "this network"; 0.0.0.0 itself reaches the host's own services
  '10.0.0.0/8', // private (the slirp subnet 10.0.2.0/24 stays reachable: its connected route is more specific)
  '100.64.0.0/10', // carrier-grade NAT, often a cloud's internal network
  '127.0.0.0/8', // the sandbox's own loopback is local; nothing of this range may go to slirp
  '169.254.0.0/16', // link-local: cloud metadata services (169.254.169.254)
  '172.16.0.0/12', // private
  '192.168.0.0/16', // private
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved and broadcast
];

export interface EgressSupport {
  /** The user-mode networking helper in use, when there is one. */
  helper?: string;
  version?: string;
  /** Why outbound network cannot be given on this machine; granted tenants get this at invoke. */
  problem?: string;
}

function findBin(names: string[]): string | undefined {
  for (const dir of ['/usr/bin', '/usr/sbin', '/bin', '/sbin', '/usr/local/bin', '/usr/local/sbin']) {
    for (const n of names) {
      const p = `${dir}/${n}`;
      if (fs.existsSync(p)) return p;
    }
  }
  return undefined;
}

/**
 * Whether outbound network can be given here: slirp4netns (Debian package slirp4netns), unshare and
 * nsenter (util-linux) to start it and reach the sandbox's namespace, ip (iproute2) for the routes. `helper` overrides where slirp4netns is looked for.
 */
export function detectEgress(helper?: string): EgressSupport {
  const slirp = helper ?? findBin(['slirp4netns']);
  if (slirp === undefined || !fs.existsSync(slirp)) {
    return {
      problem:
        'slirp4netns is not installed (apt-get install slirp4netns): tenants granted outbound network cannot run functions',
    };
  }
  let version: string | undefined;
  try {
    const out = execFileSync(slirp, ['--version'], { encoding: 'utf8', timeout: 5000 });
    version = /slirp4netns version (\S+)/.exec(out)?.[1];
  } catch (e) {
    return { helper: slirp, problem: `${slirp} does not run: ${(e as Error).message}` };
  }
  for (const [bin, pkg] of [
    ['nsenter', 'util-linux'],
    ['unshare', 'util-linux'],
    ['ip', 'iproute2'],
  ] as const) {
    if (findBin([bin]) === undefined) {
      return { helper: slirp, ...(version && { version }), problem: `${bin} is not installed (${pkg})` };
    }
  }
  return { helper: slirp, ...(version && { version }) };
}

/** The host's own IPv4 addresses (not loopback): reachable through slirp, so each gets its own denial. */
export function hostAddresses(): string[] {
  const out = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('127.')) out.add(a.address);
    }
  }
  return [...out].sort();
}

/**
 * `ip -batch` lines that deny the default ranges and each host address, and everything but DNS to slirp's
 * forwarder: libslirp before 4.8 sends any port of 10.0.2.3 to the host's resolver address (a loopback
 * stub resolver would make it the host's loopback), so policy rules keep it to port 53.
 */
export function denyRoutes(hostAddrs: readonly string[]): string[] {
  return [
    ...[...DENIED_RANGES, ...hostAddrs.map((a) => `${a}/32`)].map((c) => `route add prohibit ${c}`),
    `rule add pref 100 to ${SLIRP_DNS}/32 ipproto udp dport 53 lookup main`,
    `rule add pref 101 to ${SLIRP_DNS}/32 ipproto tcp dport 53 lookup main`,
    `rule add pref 102 to ${SLIRP_DNS}/32 prohibit`,
  ];
}

/** `ip -batch` lines that configure slirp's tap as its --configure would, the loopback left alone. */
export function tapRoutes(): string[] {
  return [
    `link set ${TAP} mtu ${MTU} up`,
    `addr add ${SLIRP_GUEST} dev ${TAP}`,
    `route add default via ${SLIRP_GATEWAY} dev ${TAP}`,
  ];
}

/**
 * `ip -batch` lines that open an admin's ranges: more specific than the denials, so they win. A host
 * address stays denied (its /32 is more specific) unless the admin named exactly that address.
 */
export function allowRoutes(allow: readonly string[]): string[] {
  return allow.map((c) => `route replace ${c} via ${SLIRP_GATEWAY} dev ${TAP}`);
}

/** Runs `ip -batch -` inside the network namespace of `pid` (the server is root there). */
function ipBatch(pid: number, lines: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('nsenter', [`--target=${pid}`, '--net', '--', 'ip', '-batch', '-'], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (d: string) => {
      err += d;
    });
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`routes in the sandbox: ${err.trim() || `exit ${code}`}`)),
    );
    // nsenter that fails before reading (the sandbox already gone) closes the pipe: EPIPE here would be an
    // uncaught exception; its exit code above already rejects.
    p.stdin.on('error', () => {});
    p.stdin.end(`${lines.join('\n')}\n`);
  });
}

/** The user-mode network of one sandbox: its slirp4netns process and its routes. */
export class Egress {
  /** Resolves when slirp4netns has ended (stopped, or died: the sandbox must then be retired). */
  readonly exited: Promise<void>;
  private stopped = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly pid: number,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  }

  /**
   * Attaches slirp4netns to the network namespace of `pid` (a process inside the sandbox) and installs
   * the denials. Resolves once both are in place; the caller reports the sandbox ready only after that.
   */
  static async attach(pid: number, support: EgressSupport, timeoutMs = 10_000): Promise<Egress> {
    if (support.problem !== undefined || support.helper === undefined)
      throw new Error(support.problem ?? 'no user-mode networking helper');
    // In a private mount namespace of its own: slirp4netns' --enable-sandbox remounts only "/" private
    // before it pivots and detaches the old root, and run as root that detach propagates through shared
    // mounts to the host (it unmounted every /run/netns/* here). unshare(1) execs it: same pid, same fds.
    const child = spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        '--',
        support.helper,
        // Not --configure: that also brings the namespace's loopback up, and the kernel gives an up `lo`
        // 127.0.0.1 by itself; bwrap, still setting the sandbox up (it reports the pid we attach to before
        // its child configures anything), then fails adding that address (EEXIST: "loopback: Failed
        // RTM_NEWADDR") and the sandbox never starts. The tap is configured below; `lo` is bwrap's alone.
        `--mtu=${MTU}`,
        '--disable-host-loopback',
        '--enable-sandbox',
        '--enable-seccomp',
        // Stay in the host's user namespace, whose root owns every network namespace: slirp4netns would
        // otherwise join the sandbox's (nested) user namespace, which does not own the sandbox's network.
        '--userns-path=/proc/self/ns/user',
        '--ready-fd=3',
        // slirp4netns ends when this socket closes: with the server, even when it is SIGKILLed.
        '--exit-fd=4',
        String(pid),
        TAP,
      ],
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
    );
    const egress = new Egress(child, pid);
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      stderr = (stderr + d).slice(-2048);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const ready = child.stdio[3] as Socket;
        const timer = setTimeout(
          () => reject(new Error(`slirp4netns not ready within ${timeoutMs} ms`)),
          timeoutMs,
        );
        ready.once('data', () => {
          clearTimeout(timer);
          resolve();
        });
        child.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        void egress.exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`slirp4netns exited while starting: ${stderr.trim()}`));
        });
      });
      // Denials first: the tap carries nothing before they are in place (ip -batch stops at a failing line).
      await ipBatch(pid, [...denyRoutes(hostAddresses()), ...tapRoutes()]);
    } catch (e) {
      egress.stop();
      throw e;
    }
    return egress;
  }

  get slirpPid(): number | undefined {
    return this.child.pid;
  }

  /** Opens an admin's ranges for the tenant this sandbox is bound to (before its code loads). */
  async allow(ranges: readonly string[]): Promise<void> {
    if (ranges.length > 0) await ipBatch(this.pid, allowRoutes(ranges));
  }

  /** Ends slirp4netns (idempotent): the sandbox ended, or it is being retired. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    try {
      this.child.kill('SIGKILL');
    } catch {
      // already gone
    }
    (this.child.stdio[4] as Socket | null)?.destroy();
  }
}
