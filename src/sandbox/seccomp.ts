// The seccomp filter every sandboxed environment runs under: a classic-BPF program, built here and handed
// to bubblewrap (`--seccomp FD`), that denies the kernel interfaces an ordinary function never needs and
// a hostile one would reach for first (in the spirit of Docker's and gVisor's default profiles). The
// denied families are listed in DENIED and documented in docs/security.md.
import { arch } from 'node:process';

/** One family of denied system calls: why it is denied, and the calls in it. */
export interface DeniedFamily {
  family: string;
  why: string;
  calls: string[];
}

export const DENIED: DeniedFamily[] = [
  {
    family: 'keyring',
    why: 'kernel keyrings are shared per uid and a long CVE history',
    calls: ['keyctl', 'add_key', 'request_key'],
  },
  {
    family: 'io_uring',
    why: 'bypasses syscall filtering and has a long CVE history',
    calls: ['io_uring_setup', 'io_uring_enter', 'io_uring_register'],
  },
  { family: 'bpf', why: 'kernel programs and maps', calls: ['bpf'] },
  { family: 'userfaultfd', why: 'used to win kernel races', calls: ['userfaultfd'] },
  { family: 'perf', why: 'kernel profiling interface, side channels', calls: ['perf_event_open'] },
  {
    family: 'ptrace',
    why: "tracing and reading other processes' memory",
    calls: ['ptrace', 'process_vm_readv', 'process_vm_writev', 'pidfd_getfd', 'process_madvise'],
  },
  {
    family: 'mount',
    why: 'changing the filesystem view',
    calls: [
      'mount',
      'umount2',
      'fsopen',
      'fsconfig',
      'fsmount',
      'fspick',
      'move_mount',
      'open_tree',
      'mount_setattr',
      'pivot_root',
      'chroot',
    ],
  },
  {
    family: 'namespaces',
    why: 'new or foreign namespaces (nested user namespaces reach kernel code as "root")',
    calls: ['unshare', 'setns', 'clone with namespace flags', 'clone3'],
  },
  { family: 'kexec', why: 'loading a new kernel', calls: ['kexec_load', 'kexec_file_load'] },
  {
    family: 'modules',
    why: 'loading kernel code',
    calls: [
      'init_module',
      'finit_module',
      'delete_module',
      'create_module',
      'query_module',
      'get_kernel_syms',
    ],
  },
  {
    family: 'file handles',
    why: 'opening host files by handle, past the mount view ("shocker")',
    calls: ['open_by_handle_at'],
  },
  { family: 'syslog', why: 'the kernel log', calls: ['syslog'] },
  { family: 'swap', why: 'host memory configuration', calls: ['swapon', 'swapoff'] },
  { family: 'reboot', why: 'host power state', calls: ['reboot'] },
  {
    family: 'clock',
    why: 'the host clock',
    calls: ['settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex'],
  },
  {
    family: 'accounting',
    why: 'host process accounting and quotas',
    calls: ['acct', 'quotactl', 'quotactl_fd'],
  },
  {
    family: 'host',
    why: 'host identity, I/O ports, terminals, NUMA placement of other processes, obsolete calls',
    calls: [
      'sethostname',
      'setdomainname',
      'iopl',
      'ioperm',
      'vhangup',
      'lookup_dcookie',
      'fanotify_init',
      'move_pages',
      'migrate_pages',
      'uselib',
      'nfsservctl',
      '_sysctl',
    ],
  },
];

/** The namespace flags of clone(2): a clone carrying any of them is denied like unshare. */
export const CLONE_NAMESPACE_FLAGS =
  0x00020000 /* NEWNS */ |
  0x02000000 /* NEWCGROUP */ |
  0x04000000 /* NEWUTS */ |
  0x08000000 /* NEWIPC */ |
  0x10000000 /* NEWUSER */ |
  0x20000000 /* NEWPID */ |
  0x40000000 /* NEWNET */ |
  0x00000080; /* NEWTIME */

interface ArchTable {
  /** AUDIT_ARCH_* value the kernel reports in seccomp_data.arch. */
  audit: number;
  /** x86_64 also accepts x32 calls (nr | 0x40000000) under the same audit arch: they are all denied. */
  x32Bit: boolean;
  nr: Record<string, number>;
}

// System call numbers are the kernel's stable ABI (asm/unistd_64.h, asm-generic/unistd.h).
const X86_64: ArchTable = {
  audit: 0xc000003e,
  x32Bit: true,
  nr: {
    keyctl: 250,
    add_key: 248,
    request_key: 249,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    bpf: 321,
    userfaultfd: 323,
    perf_event_open: 298,
    ptrace: 101,
    process_vm_readv: 310,
    process_vm_writev: 311,
    pidfd_getfd: 438,
    process_madvise: 440,
    mount: 165,
    umount2: 166,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
    fspick: 433,
    move_mount: 429,
    open_tree: 428,
    mount_setattr: 442,
    pivot_root: 155,
    chroot: 161,
    unshare: 272,
    setns: 308,
    clone: 56,
    clone3: 435,
    kexec_load: 246,
    kexec_file_load: 320,
    init_module: 175,
    finit_module: 313,
    delete_module: 176,
    create_module: 174,
    query_module: 178,
    get_kernel_syms: 177,
    open_by_handle_at: 304,
    syslog: 103,
    swapon: 167,
    swapoff: 168,
    reboot: 169,
    settimeofday: 164,
    clock_settime: 227,
    clock_adjtime: 305,
    adjtimex: 159,
    acct: 163,
    quotactl: 179,
    quotactl_fd: 443,
    sethostname: 170,
    setdomainname: 171,
    iopl: 172,
    ioperm: 173,
    vhangup: 153,
    lookup_dcookie: 212,
    fanotify_init: 300,
    move_pages: 279,
    migrate_pages: 256,
    uselib: 134,
    nfsservctl: 180,
    _sysctl: 156,
  },
};

const AARCH64: ArchTable = {
  audit: 0xc00000b7,
  x32Bit: false,
  nr: {
    keyctl: 219,
    add_key: 217,
    request_key: 218,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    bpf: 280,
    userfaultfd: 282,
    perf_event_open: 241,
    ptrace: 117,
    process_vm_readv: 270,
    process_vm_writev: 271,
    pidfd_getfd: 438,
    process_madvise: 440,
    mount: 40,
    umount2: 39,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
    fspick: 433,
    move_mount: 429,
    open_tree: 428,
    mount_setattr: 442,
    pivot_root: 41,
    chroot: 51,
    unshare: 97,
    setns: 268,
    clone: 220,
    clone3: 435,
    kexec_load: 104,
    kexec_file_load: 294,
    init_module: 105,
    finit_module: 273,
    delete_module: 106,
    open_by_handle_at: 265,
    syslog: 116,
    swapon: 224,
    swapoff: 225,
    reboot: 142,
    settimeofday: 170,
    clock_settime: 112,
    clock_adjtime: 266,
    adjtimex: 171,
    acct: 89,
    quotactl: 60,
    quotactl_fd: 443,
    sethostname: 161,
    setdomainname: 162,
    vhangup: 58,
    lookup_dcookie: 18,
    fanotify_init: 262,
    move_pages: 239,
    migrate_pages: 238,
    nfsservctl: 42,
  },
};

const TABLES: Record<string, ArchTable> = { x64: X86_64, arm64: AARCH64 };

export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const EPERM = 1;
export const ENOSYS = 38;

// Classic BPF opcodes (linux/filter.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;

/** seccomp_data offsets: nr, arch, then args[] (low 32 bits of args[0] at 16 on little-endian). */
const OFF_NR = 0;
const OFF_ARCH = 4;
const OFF_ARG0_LO = 16;

export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export function seccompSupported(a: string = arch): boolean {
  return TABLES[a] !== undefined;
}

/** The system call numbers denied outright on this architecture (clone is checked by its flags). */
export function deniedNumbers(a: string = arch): Map<number, number> {
  const table = TABLES[a];
  if (table === undefined) throw new Error(`no seccomp table for architecture ${a}`);
  const out = new Map<number, number>();
  for (const f of DENIED) {
    for (const call of f.calls) {
      if (call === 'clone with namespace flags') continue;
      const nr = table.nr[call];
      if (nr === undefined) continue; // not on this architecture
      // clone3 passes its flags in memory the filter cannot read: ENOSYS makes libc fall back to clone.
      out.set(nr, call === 'clone3' ? ENOSYS : EPERM);
    }
  }
  return out;
}

/**
 * The filter program. Layout: a foreign architecture is killed (no 32-bit or x32 entry points to a
 * second, unfiltered table); each denied number returns its errno; clone returns EPERM when any
 * namespace flag is set; everything else is allowed.
 */
export function buildFilter(a: string = arch): BpfInsn[] {
  const table = TABLES[a];
  if (table === undefined) throw new Error(`no seccomp table for architecture ${a}`);
  const denied = [...deniedNumbers(a)];
  const prog: BpfInsn[] = [];
  const ins = (code: number, k: number, jt = 0, jf = 0) => prog.push({ code, jt, jf, k });
  const ret = (k: number) => ins(RET_K, k);

  ins(LD_W_ABS, OFF_ARCH);
  ins(JEQ_K, table.audit, 1, 0);
  ret(SECCOMP_RET_KILL_PROCESS);
  ins(LD_W_ABS, OFF_NR);
  if (table.x32Bit) {
    ins(JGE_K, 0x40000000, 0, 1);
    ret(SECCOMP_RET_ERRNO | EPERM);
  }
  // Each check jumps to a return right after it when it matches, so no offset ever exceeds 255.
  for (const [nr, errno] of denied) {
    ins(JEQ_K, nr, 0, 1);
    ret(SECCOMP_RET_ERRNO | errno);
  }
  const clone = table.nr.clone;
  if (clone !== undefined) {
    ins(JEQ_K, clone, 0, 3);
    ins(LD_W_ABS, OFF_ARG0_LO);
    ins(JSET_K, CLONE_NAMESPACE_FLAGS, 0, 1);
    ret(SECCOMP_RET_ERRNO | EPERM);
  }
  ret(SECCOMP_RET_ALLOW);
  return prog;
}

/** The program as the kernel takes it (struct sock_filter[], native little-endian). */
export function encodeFilter(prog: BpfInsn[]): Buffer {
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((p, i) => {
    buf.writeUInt16LE(p.code, i * 8);
    buf.writeUInt8(p.jt, i * 8 + 2);
    buf.writeUInt8(p.jf, i * 8 + 3);
    buf.writeUInt32LE(p.k >>> 0, i * 8 + 4);
  });
  return buf;
}

/**
 * Runs the program over one system call as the kernel would: what it returns for (arch, nr, arg0).
 * Used by the tests to check every denied number, and by `kindling doctor` to describe the filter.
 */
export function evaluateFilter(prog: BpfInsn[], data: { arch: number; nr: number; arg0?: number }): number {
  let acc = 0;
  let pc = 0;
  const load = (off: number): number => {
    if (off === OFF_NR) return data.nr >>> 0;
    if (off === OFF_ARCH) return data.arch >>> 0;
    if (off === OFF_ARG0_LO) return (data.arg0 ?? 0) >>> 0;
    throw new Error(`unexpected load at offset ${off}`);
  };
  for (let steps = 0; steps < 4096; steps++) {
    const p = prog[pc];
    if (p === undefined) throw new Error(`fell off the program at ${pc}`);
    switch (p.code) {
      case LD_W_ABS:
        acc = load(p.k);
        pc++;
        break;
      case JEQ_K:
        pc += 1 + (acc === p.k >>> 0 ? p.jt : p.jf);
        break;
      case JGE_K:
        pc += 1 + (acc >= p.k >>> 0 ? p.jt : p.jf);
        break;
      case JSET_K:
        pc += 1 + ((acc & p.k) !== 0 ? p.jt : p.jf);
        break;
      case RET_K:
        return p.k >>> 0;
      default:
        throw new Error(`unknown opcode ${p.code}`);
    }
  }
  throw new Error('program did not return');
}

export function auditArch(a: string = arch): number | undefined {
  return TABLES[a]?.audit;
}

export function syscallNumber(name: string, a: string = arch): number | undefined {
  return TABLES[a]?.nr[name];
}
