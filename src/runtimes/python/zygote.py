"""Kindling's Python zygote (host side, trusted, stdlib only).

One interpreter per Python runtime with bootstrap.py loaded (load_runtime: imports, hooks; no function, no
tenant, a clean environment). Each request on stdin (one JSON line) names a sandbox "shell" the driver has
started (bubblewrap with only a placeholder inside); the zygote forks, and the fork moves into that
sandbox and serves as its runtime, exactly as a runtime bubblewrap started would:

  zygote --fork--> monitor (host pid namespace; reports the clone's host pid and exit on its own
                   connection, nothing else) --fork--> clone (inside the sandbox's pid namespace)

(one monitor is kept forked ahead, waiting on a pipe for its request).

The clone, before any of its code runs: is in the sandbox's cgroup (the monitor entered it before the
fork, so every page the clone touches is charged there), joins its cgroup, ipc, uts, net and mount
namespaces and its root, drops supplementary groups, joins its user namespace, becomes the sandbox user,
drops every capability (bounding and ambient sets too), sets no_new_privs, keeps only its channel (fd 3)
and output (fds 1, 2), takes the environment a started runtime gets, installs the sandbox's seccomp
program last (it denies setns), then runs bootstrap's serve() on fd 3.

The host's answers reach it on a unix socket it listens on: each fork connects there (before it enters
the sandbox) with the request's nonce and a role: "status" (monitor), "channel", "out".
"""

import ctypes
import fcntl
import gc
import json
import os
import select
import signal
import sys
import types

import _socket

SANDBOX_BOOTSTRAP = "/var/runtime/bootstrap.py"

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
# Joined in this order; the user namespace last among them (after it, the others' owners would be out of
# reach), pid only for the children (the monitor's setns).
NAMESPACES = [
    ("cgroup", CLONE_NEWCGROUP),
    ("ipc", CLONE_NEWIPC),
    ("uts", CLONE_NEWUTS),
    ("net", CLONE_NEWNET),
    ("mnt", CLONE_NEWNS),
]

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2
CAP_VERSION_3 = 0x20080522

libc = ctypes.CDLL(None, use_errno=True)


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))


libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def prctl(option, arg2=0, arg3=0, arg4=0, arg5=0):
    check(libc.prctl(option, arg2, arg3, arg4, arg5), "prctl(%d)" % option)


def setns(fd, nstype, name):
    check(libc.setns(fd, nstype), "setns(%s)" % name)


with open("/proc/sys/kernel/cap_last_cap") as f:
    CAP_LAST = int(f.read())


def drop_bounding_sets():
    for cap in range(CAP_LAST + 1):
        prctl(PR_CAPBSET_DROP, cap)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


def clear_capabilities():
    hdr = CapHeader(CAP_VERSION_3, 0)
    data = (CapData * 2)()
    check(libc.capset(ctypes.byref(hdr), data), "capset")


def install_seccomp(program):
    if len(program) == 0 or len(program) % 8 != 0:
        raise ValueError("bad seccomp program")
    buf = ctypes.create_string_buffer(program, len(program))
    prog = SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog))


def connect(path, nonce, role):
    """A raw descriptor connected to the host, introduced by nonce and role (never a socket object: the
    clone renumbers its descriptors, and an object would later close a number that is no longer its)."""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(("%s %s\n" % (nonce, role)).encode())
    return s.detach()


def write_all(fd, data):
    while data:
        n = os.write(fd, data)
        data = data[n:]


# ---- the bootstrap, loaded once under its sandbox path (tracebacks and __file__ show only that) ----

bootstrap = types.ModuleType("bootstrap")
bootstrap.__file__ = SANDBOX_BOOTSTRAP
with open(sys.argv[1], "rb") as f:
    exec(compile(f.read(), SANDBOX_BOOTSTRAP, "exec"), bootstrap.__dict__)
bootstrap.load_runtime()
# Everything loaded so far stays: the collector never walks it again, so neither the zygote nor a clone
# writes to (and so copies) those pages for its own bookkeeping.
gc.collect()
gc.freeze()
# Our own stdout is the control pipe, not a log: load_runtime replaced sys.stdout with its log stream.
control_out = 1


def become(req, fds):
    """In the clone, right after the monitor's fork: enter the sandbox (serving follows at top level)."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # Its parent (the monitor) is outside its pid namespace: 0 here, unless the monitor already died.
    if os.getppid() != 0:
        os._exit(1)
    for name, flag in NAMESPACES:
        setns(fds[name], flag, name)
    os.fchdir(fds["root"])
    os.chroot(".")
    os.setgroups([])
    setns(fds["user"], CLONE_NEWUSER, "user")
    uid, gid = int(req["uid"]), int(req["gid"])
    drop_bounding_sets()
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    # Root is not mapped in the sandbox's user namespace, so the uid change did not clear them.
    clear_capabilities()
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    # A started runtime is dumpable (its /proc files are its own); the uid change above cleared that.
    prctl(PR_SET_DUMPABLE, 1)
    os.setsid()
    # Descriptors: 0 /dev/null (the sandbox's), 1 and 2 the output, 3 the channel, nothing else.
    channel = fcntl.fcntl(fds["channel"], fcntl.F_DUPFD, 10)
    out = fcntl.fcntl(fds["out"], fcntl.F_DUPFD, 10)
    os.dup2(channel, 3)
    os.dup2(out, 1)
    os.dup2(out, 2)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.closerange(4, 1 << 20)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    sys.argv = [SANDBOX_BOOTSTRAP]
    sys.orig_argv = [sys.executable, "-I", "-B", SANDBOX_BOOTSTRAP]
    sys.modules["__main__"] = bootstrap
    sys.modules.pop("bootstrap", None)
    # Forks share the zygote's random state: each clone draws its own (random re-seeds at fork too).
    random = sys.modules.get("random")
    if random is not None:
        random.seed()
    install_seccomp(bytes.fromhex(req["seccomp"]))


def monitor(req):
    """
    The zygote's child: clones into the sandbox, reports the clone's host pid and its end. Returns only in
    the clone, once it is in the sandbox.
    """
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        status = connect(req["socket"], req["nonce"], "status")
    except OSError:
        os._exit(1)
    fds = {}
    try:
        # Into the sandbox's cgroup before anything of the clone exists: its pages are charged there.
        for procs in req["cgroupProcs"]:
            with open(procs, "w") as f:
                f.write("0")
        pid = int(req["pid"])
        for name in ["cgroup", "ipc", "uts", "net", "mnt", "user", "pid"]:
            fds[name] = os.open("/proc/%d/ns/%s" % (pid, name), os.O_RDONLY | os.O_CLOEXEC)
        fds["root"] = os.open("/proc/%d/root" % pid, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fds["channel"] = connect(req["socket"], req["nonce"], "channel")
        fds["out"] = connect(req["socket"], req["nonce"], "out")
        # The zygote's control pipes stay with the zygote (its end is seen when it ends, not ours).
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        setns(fds["pid"], CLONE_NEWPID, "pid")
        child = os.fork()
    except Exception as e:
        write_all(status, ("error %s\n" % str(e).replace("\n", " ")).encode())
        os._exit(1)
    if child == 0:
        try:
            os.close(status)
            become(req, fds)
            return
        except BaseException as e:
            try:
                write_all(fds["out"], ("kindling clone: %s\n" % e).encode())
            finally:
                os._exit(126)
    for fd in fds.values():
        os.close(fd)
    # Nothing more needs privilege: the monitor only waits.
    try:
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
        prctl(PR_SET_NO_NEW_PRIVS, 1)
    except OSError:
        pass
    try:
        write_all(status, ("pid %d\n" % child).encode())
    except OSError:
        pass
    while True:
        try:
            _, st = os.waitpid(child, 0)
            break
        except ChildProcessError:
            st = None
            break
        except InterruptedError:
            continue
    if st is None:
        line = "exit - SIGKILL\n"
    elif os.WIFSIGNALED(st):
        line = "exit - %s\n" % signal.Signals(os.WTERMSIG(st)).name
    else:
        line = "exit %d -\n" % os.WEXITSTATUS(st)
    try:
        write_all(status, line.encode())
    except OSError:
        pass
    os._exit(0)


def reply(obj):
    write_all(control_out, (json.dumps(obj) + "\n").encode())


def await_request(r):
    """A monitor forked ahead of its request (off the clone's critical path) waits for it on its pipe."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(r, 65536)
        if not chunk:
            os._exit(0)
        data += chunk
    os.close(r)
    return json.loads(data)


def main():
    """
    Serves requests; returns only in a clone. One monitor is kept forked ahead (once the zygote has been
    idle 20 ms): a request is handed to it through its pipe, so the zygote's own fork (~4 ms here) is not
    paid while a caller waits. Without one (just used, or the fork failed), the zygote forks on the spot.
    """
    # As the driver starts sandboxes (chrt --batch, bwrap-driver.ts): a woken runtime does not preempt the
    # server. Inherited by every clone.
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):
        pass
    # Monitors are reaped by the kernel (they report on their own connections).
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    reply({"t": "ready", "pid": os.getpid()})
    buf = b""
    spare = None
    want_spare = True
    while True:
        readable, _, _ = select.select([0], [], [], 0.02 if want_spare and spare is None else None)
        if not readable:
            want_spare = False
            r, w = os.pipe()
            try:
                pid = os.fork()
            except OSError:
                os.close(r)
                os.close(w)
                continue
            if pid == 0:
                os.close(w)
                req = await_request(r)
                try:
                    monitor(req)
                except BaseException:
                    os._exit(1)
                return
            os.close(r)
            spare = w
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            os._exit(0)
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            try:
                req = json.loads(line)
            except ValueError:
                continue
            want_spare = True
            if spare is not None:
                w, spare = spare, None
                try:
                    write_all(w, line + b"\n")
                    continue
                except OSError:
                    pass  # that monitor is gone: fork on the spot
                finally:
                    os.close(w)
            try:
                pid = os.fork()
            except OSError as e:
                reply({"t": "error", "nonce": req.get("nonce"), "error": "fork: %s" % e})
                continue
            if pid == 0:
                try:
                    monitor(req)
                except BaseException:
                    os._exit(1)
                return


main()
# Only a clone gets here, inside its sandbox: from now on it is a runtime bubblewrap started, at the top
# level as bootstrap's own main (SystemExit, uncaught errors, atexit and thread joins work the same).
bootstrap.serve(3)
