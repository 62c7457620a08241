// The seccomp filter: its program checked call by call, then loaded by the real kernel in a bubblewrap
// sandbox whose user holds every capability of its own user namespace, so that a denied call which would
// otherwise succeed (mount, unshare, sethostname, …) is seen failing only because of the filter.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { findBwrap } from '../../src/sandbox/bwrap-driver.js';
import { dropArgs, findSetpriv, HOST_ID_BASE } from '../../src/sandbox/host-user.js';
import {
  auditArch,
  buildFilter,
  CLONE_NAMESPACE_FLAGS,
  DENIED,
  deniedNumbers,
  ENOSYS,
  EPERM,
  encodeFilter,
  evaluateFilter,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  seccompSupported,
  syscallNumber,
} from '../../src/sandbox/seccomp.js';

const ARCH = auditArch();
const prog = seccompSupported() ? buildFilter() : [];

test('every call of every denied family is answered with an errno by the filter program', {
  skip: !seccompSupported(),
}, () => {
  for (const f of DENIED) {
    for (const call of f.calls) {
      if (call === 'clone with namespace flags') continue;
      const nr = syscallNumber(call);
      if (nr === undefined) continue;
      const r = evaluateFilter(prog, { arch: ARCH!, nr });
      const errno = call === 'clone3' ? ENOSYS : EPERM;
      assert.equal(r, SECCOMP_RET_ERRNO | errno, `${f.family}: ${call} (${nr})`);
    }
  }
  assert.ok(deniedNumbers().size >= 50);
});

test('the calls Node and ordinary programs need are allowed, clone without namespace flags included', {
  skip: !seccompSupported(),
}, () => {
  const allowed = [
    'read',
    'write',
    'openat',
    'mmap',
    'futex',
    'epoll_wait',
    'execve',
    'getpid',
    'socket',
    'connect',
  ];
  const nrs: Record<string, number> = {
    read: 0,
    write: 1,
    openat: 257,
    mmap: 9,
    futex: 202,
    epoll_wait: 232,
    execve: 59,
    getpid: 39,
    socket: 41,
    connect: 42,
  };
  if (process.arch === 'x64') {
    for (const c of allowed)
      assert.equal(evaluateFilter(prog, { arch: ARCH!, nr: nrs[c]! }), SECCOMP_RET_ALLOW, c);
  }
  const clone = syscallNumber('clone')!;
  // What fork() and pthread_create() pass.
  assert.equal(evaluateFilter(prog, { arch: ARCH!, nr: clone, arg0: 0x01200011 }), SECCOMP_RET_ALLOW);
  assert.equal(evaluateFilter(prog, { arch: ARCH!, nr: clone, arg0: 0x003d0f00 }), SECCOMP_RET_ALLOW);
  for (const flag of [
    0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x80,
  ]) {
    assert.ok((CLONE_NAMESPACE_FLAGS & flag) !== 0);
    assert.equal(
      evaluateFilter(prog, { arch: ARCH!, nr: clone, arg0: 0x01200011 | flag }),
      SECCOMP_RET_ERRNO | EPERM,
    );
  }
});

test('a foreign architecture is killed and x32 calls are refused, so no second syscall table is reachable', {
  skip: !seccompSupported(),
}, () => {
  assert.equal(evaluateFilter(prog, { arch: 0x40000003 /* i386 */, nr: 1 }), SECCOMP_RET_KILL_PROCESS);
  if (process.arch === 'x64')
    assert.equal(evaluateFilter(prog, { arch: ARCH!, nr: 0x40000000 | 250 }), SECCOMP_RET_ERRNO | EPERM);
});

// ---- the real kernel ----

const bwrap = findBwrap();
const setpriv = findSetpriv();
const canRun =
  seccompSupported() &&
  process.arch === 'x64' &&
  bwrap !== undefined &&
  process.getuid?.() === 0 &&
  setpriv !== undefined;

/** A probe per family: [nr, ...args] for perl's syscall(); strings are passed as pointers. */
const PROBES: Array<{ family: string; call: string; args: Array<number | string>; expect?: number }> = [
  { family: 'keyring', call: 'keyctl', args: [0, -3, 0] }, // KEYCTL_GET_KEYRING_ID of the session keyring
  { family: 'keyring', call: 'add_key', args: ['user', 'k', 'v', 1, -3] },
  { family: 'io_uring', call: 'io_uring_setup', args: [1, '\0'.repeat(120)] },
  { family: 'bpf', call: 'bpf', args: [0, 0, 0] },
  { family: 'userfaultfd', call: 'userfaultfd', args: [1] }, // UFFD_USER_MODE_ONLY: allowed unprivileged
  { family: 'perf', call: 'perf_event_open', args: [0, 0, -1, -1, 0] },
  { family: 'ptrace', call: 'ptrace', args: [2, 999999, 0, 0] }, // PEEKDATA of a pid that does not exist
  { family: 'mount', call: 'mount', args: ['none', '/mnt', 'tmpfs', 0, 0] },
  { family: 'mount', call: 'chroot', args: ['/nonexistent'] },
  { family: 'namespaces', call: 'unshare', args: [0x04000000] }, // a new UTS namespace
  { family: 'namespaces', call: 'setns', args: [-1, 0] },
  { family: 'namespaces', call: 'clone3', args: [0, 0], expect: ENOSYS },
  { family: 'kexec', call: 'kexec_load', args: [0, 0, 0, 0] },
  { family: 'modules', call: 'finit_module', args: [-1, '', 0] },
  { family: 'file handles', call: 'open_by_handle_at', args: [-1, 0, 0] },
  { family: 'syslog', call: 'syslog', args: [10, 0, 0] }, // SYSLOG_ACTION_SIZE_BUFFER
  { family: 'swap', call: 'swapoff', args: ['/nonexistent'] },
  { family: 'reboot', call: 'reboot', args: [0, 0, 0, 0] }, // bad magic: EINVAL where it is not denied
  { family: 'clock', call: 'clock_settime', args: [0, 0] },
  { family: 'accounting', call: 'acct', args: [0] },
  { family: 'host', call: 'sethostname', args: ['x', 1] },
];

/** Runs each probe in a sandbox whose user has every capability of its own user namespace. */
function runProbes(withFilter: boolean): Map<string, number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-seccomp-'));
  fs.chmodSync(dir, 0o755);
  const filterFile = path.join(dir, 'filter.bpf');
  fs.writeFileSync(filterFile, encodeFilter(prog), { mode: 0o644 });
  const lines = PROBES.map((p) => {
    const nr = syscallNumber(p.call)!;
    const args = p.args.map((a) => (typeof a === 'number' ? String(a) : JSON.stringify(a))).join(',');
    // Strings go through an array: perl passes a (writable) string as a pointer, a number as an integer.
    return `{ my @a = (${args}); my $r = syscall(${nr}, @a); print "${p.call} ", ($r < 0 ? $!+0 : 0), "\\n"; }`;
  });
  const fd = fs.openSync(filterFile, 'r');
  try {
    const r = spawnSync(
      setpriv!,
      [
        ...dropArgs(HOST_ID_BASE + 65_535),
        bwrap!,
        '--unshare-all',
        '--unshare-user',
        '--uid',
        '0',
        '--gid',
        '0',
        '--cap-add',
        'ALL',
        '--ro-bind',
        '/',
        '/',
        '--proc',
        '/proc',
        '--dev',
        '/dev',
        '--tmpfs',
        '/mnt',
        ...(withFilter ? ['--seccomp', '3'] : []),
        '/usr/bin/perl',
        '-e',
        lines.join('\n'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe', fd], encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const out = new Map<string, number>();
    for (const line of r.stdout.trim().split('\n')) {
      const [call, errno] = line.split(' ');
      out.set(call!, Number(errno));
    }
    return out;
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const SKIP = canRun ? false : 'needs root, bubblewrap, setpriv and x86_64';

test('under the filter, one call of each denied family fails with EPERM (clone3 with ENOSYS) in a real sandbox', {
  skip: SKIP,
}, () => {
  const withFilter = runProbes(true);
  for (const p of PROBES) assert.equal(withFilter.get(p.call), p.expect ?? EPERM, `${p.family}: ${p.call}`);
  assert.deepEqual(
    [...new Set(PROBES.map((p) => p.family))].sort(),
    DENIED.map((f) => f.family).sort(),
    'every documented family has a probe',
  );
});

test('without the filter the same sandbox can make those calls: the EPERMs above are the filter, not missing capabilities', {
  skip: SKIP,
}, () => {
  const without = runProbes(false);
  if (process.env.KINDLING_TEST_DEBUG) console.error(Object.fromEntries(without));
  // The calls a namespaced "root" (or any user) may make: each must get past the permission check here.
  for (const call of [
    'keyctl',
    'add_key',
    'io_uring_setup',
    'bpf',
    'userfaultfd',
    'perf_event_open',
    'ptrace',
    'mount',
    'chroot',
    'unshare',
    'setns',
    'clone3',
    'open_by_handle_at',
    'reboot',
    'clock_settime',
    'sethostname',
  ]) {
    assert.notEqual(
      without.get(call),
      EPERM,
      `${call} is refused even without the filter: the probe proves nothing`,
    );
  }
});
