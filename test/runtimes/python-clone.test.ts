// Python environments as clones of a zygote (runtimes/python/zygote.py), in real bubblewrap sandboxes.
// Each cloned environment is compared with one the same runtime starts normally (KINDLING_PYTHON_ZYGOTE=0):
// same identity, capabilities, seccomp, mounts, descriptors and environment; its own pid, network and
// cgroup namespaces; nothing of the host, the data dir or the zygote in reach; its own randomness. And the
// bad inputs: a zygote killed, a fork the host refuses, a function whose init opens sockets.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CreateFunctionCommand, InvokeCommand, waitUntilFunctionActiveV2 } from '@aws-sdk/client-lambda';
import type { FunctionVersionSpec, RuntimeCloneStats } from '../../src/worker/types.js';
import { zipOf } from '../api/lambda/zips.js';
import { lambdaClient } from '../helpers/functions.js';
import { startPlatform } from '../helpers/platform.js';
import { type Harness, harness, invoke, json, spec, writeCode } from '../worker/helpers.js';

let cloned: Harness;
let normal: Harness;
before(async () => {
  cloned = await harness({ poolTarget: 0 });
  normal = await harness({ poolTarget: 0 });
  // Each harness builds its Python runtime at its first Python function: the zygote is switched off for
  // the second one only.
  assert.equal(json(await invoke(cloned, py(cloned, 'def handler(e, c):\n    return 0\n'))), 0);
  process.env.KINDLING_PYTHON_ZYGOTE = '0';
  try {
    assert.equal(json(await invoke(normal, py(normal, 'def handler(e, c):\n    return 0\n'))), 0);
  } finally {
    delete process.env.KINDLING_PYTHON_ZYGOTE;
  }
});
after(async () => {
  await cloned.close();
  await normal.close();
});

function py(h: Harness, body: string, over: Partial<FunctionVersionSpec> = {}): FunctionVersionSpec {
  return spec(writeCode(h, { 'app.py': body }), { runtime: 'python3.12', handler: 'app.handler', ...over });
}

function cloneStats(h: Harness): RuntimeCloneStats {
  const s = h.wm.stats().clones?.find((c) => c.runtime.startsWith('python'));
  assert.ok(s, 'the python runtime reports clone counters');
  return s;
}

/** Host pids of the zygotes this test process started (python running zygote.py, our children). */
function zygotePids(): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (ppid === process.pid && cmd.includes('zygote.py')) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

async function eventually(check: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Everything an environment can tell about itself that must be the same, cloned or started. */
const PROBE = `import ctypes, errno, json, os, re, resource, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
ZYGOTES = []
def status():
    keep = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs",
            "Seccomp", "Seccomp_filters")
    out = {}
    for line in open("/proc/self/status"):
        k, _, v = line.partition(":")
        if k in keep:
            out[k] = v.strip()
    return out
def mounts():
    out = []
    for line in open("/proc/self/mountinfo"):
        f = line.split()
        sep = f.index("-")
        line = " ".join([f[3], f[4], f[5], f[sep + 1], f[sep + 3]])
        # Per environment: its host uid, its dirs, bwrap's temporary file names.
        for pattern, same in ((r"env-[0-9a-f]+", "env-X"), (r"(uid|gid)=\\d+", r"\\1=N"),
                              (r"kindling-worker-\\w+", "DATA"), (r"bindfile\\w+", "bindfile")):
            line = re.sub(pattern, same, line)
        out.append(line)
    return out
def try_call(fn):
    r = fn()
    return "ok" if r == 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
def fds():
    out = []
    # What is open, not the numbers (a clone opens its statm file a few numbers later).
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(re.sub(r"/proc/\\d+/", "/proc/N/", re.sub(r"\\[\\d+\\]", "[N]", os.readlink("/proc/self/fd/" + fd))))
        except OSError:
            pass
    return sorted(out)
def reach(pid, data_dir):
    out = {"dataDir": os.path.exists(data_dir), "procEntry": os.path.exists("/proc/%d" % pid)}
    try:
        os.kill(pid, 0)
        out["signal"] = "delivered"
    except OSError as e:
        out["signal"] = errno.errorcode[e.errno]
    try:
        os.listdir("/proc/%d/root" % pid)
        out["root"] = "listed"
    except OSError as e:
        out["root"] = errno.errorcode[e.errno]
    return out
def handler(event, context):
    me = open("/proc/self/ns/net", "rb")
    return {
        "status": status(),
        "mounts": mounts(),
        "cgroup": open("/proc/self/cgroup").read(),
        "root": sorted(os.listdir("/")),
        "fds": fds(),
        "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups()],
        "cwd": os.getcwd(),
        "env": sorted(k for k in os.environ if not k.startswith("AWS_") and k != "_X_AMZN_TRACE_ID"),
        "kindlingEnv": {k: v for k, v in os.environ.items() if k.startswith("KINDLING_") or k in ("PATH", "LANG", "TZ", "HOME")},
        "argv": sys.argv, "origArgv": sys.orig_argv, "path": sys.path, "flags": str(sys.flags),
        "hostname": socket.gethostname(),
        "rlimits": [resource.getrlimit(getattr(resource, n)) for n in dir(resource) if n.startswith("RLIMIT_")],
        "sched": os.sched_getscheduler(0), "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "dumpable": libc.prctl(3, 0, 0, 0, 0),
        "sessionLeader": os.getsid(0) == os.getpid(),
        "umask": os.umask(0o022),
        "unshareUser": try_call(lambda: libc.unshare(0x10000000)),
        "unshareNet": try_call(lambda: libc.unshare(0x40000000)),
        "setnsNet": try_call(lambda: libc.setns(me.fileno(), 0)),
        "zygote": [reach(p, event["dataDir"]) for p in event["zygotes"]],
        "processes": sorted(open("/proc/%s/cmdline" % p, "rb").read().split(b"\\0")[0].decode()
                            for p in os.listdir("/proc") if p.isdigit()),
        "mainFile": sys.modules["__main__"].__file__,
    }
`;

test('a cloned environment is what a started one is: identity, capabilities, seccomp, mounts, fds, env', async () => {
  const before = cloneStats(cloned).clones;
  const zygotes = zygotePids();
  assert.equal(zygotes.length, 1, 'one zygote runs');
  const event = (h: Harness) => ({ zygotes, dataDir: h.dir });
  const a = await invoke(cloned, py(cloned, PROBE), event(cloned));
  const b = await invoke(normal, py(normal, PROBE), event(normal));
  assert.equal(a.functionError, undefined, a.payload.toString());
  assert.equal(b.functionError, undefined, b.payload.toString());
  assert.ok(cloneStats(cloned).clones > before, 'the environment was a clone');
  assert.equal(normal.wm.stats().clones?.length ?? 0, 0, 'the other harness starts normally');
  const ca = json(a) as Record<string, unknown>;
  const cb = json(b) as Record<string, unknown>;
  // The one expected difference: the clone's sandbox holds the placeholder that kept it while it was made.
  const processes = ca.processes as string[];
  assert.ok(!processes.some((p) => /zygote/.test(p)), JSON.stringify(processes));
  assert.deepEqual(
    processes.filter((p) => p !== '/bin/sh'),
    cb.processes,
  );
  // A clone leads a session of its own (no terminal of the host's can be reached); a started runtime is
  // in bwrap's new session.
  assert.equal(ca.sessionLeader, true);
  for (const k of Object.keys(cb)) {
    if (k === 'processes' || k === 'sessionLeader') continue;
    assert.deepEqual(
      ca[k],
      cb[k],
      `${k} differs: clone ${JSON.stringify(ca[k])} / started ${JSON.stringify(cb[k])}`,
    );
  }
  const st = ca.status as Record<string, string>;
  assert.equal(st.CapEff, '0000000000000000');
  assert.equal(st.CapBnd, '0000000000000000');
  assert.equal(st.NoNewPrivs, '1');
  assert.equal(st.Seccomp, '2');
  assert.equal(ca.unshareUser, 'EPERM');
  assert.equal(ca.setnsNet, 'EPERM');
  for (const z of ca.zygote as Array<Record<string, unknown>>)
    assert.deepEqual(z, { dataDir: false, procEntry: false, signal: 'ESRCH', root: 'ENOENT' });
});

test('a clone in a sandbox with outbound network has its user-mode network and the platform relay', async () => {
  const before = cloneStats(cloned).clones;
  const s = py(
    cloned,
    `import json, os, urllib.request
def handler(e, c):
    ifaces = sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:])
    with urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/probe", timeout=5) as r:
        return {"ifaces": ifaces, "relay": json.loads(r.read())}
`,
    { networkOutbound: true },
  );
  const r = await invoke(cloned, s);
  assert.equal(r.functionError, undefined, r.payload.toString());
  assert.ok(cloneStats(cloned).clones > before, 'the environment was a clone');
  const v = json(r) as { ifaces: string[]; relay: { via: string } };
  assert.equal(v.relay.via, 'unix-socket');
  assert.ok(v.ifaces.includes('lo') && v.ifaces.length >= 2, JSON.stringify(v.ifaces));
});

test('clones draw their own randomness: uuid4 and random differ across concurrent clones', async () => {
  const s = py(
    cloned,
    'import os, random, time, uuid\ndef handler(e, c):\n    time.sleep(0.5)\n    return [str(uuid.uuid4()), random.random(), os.getpid(), os.readlink("/proc/self/ns/net")]\n',
  );
  const before = cloneStats(cloned).clones;
  const rs = await Promise.all([invoke(cloned, s), invoke(cloned, s), invoke(cloned, s)]);
  const vals = rs.map((r) => {
    assert.equal(r.functionError, undefined, r.payload.toString());
    return json(r) as [string, number, number, string];
  });
  assert.ok(cloneStats(cloned).clones >= before + 3, 'three clones served them');
  assert.equal(new Set(vals.map((v) => v[0])).size, 3, 'uuid4 differs');
  assert.equal(new Set(vals.map((v) => v[1])).size, 3, 'random differs');
  assert.equal(new Set(vals.map((v) => v[3])).size, 3, 'each has its own network namespace');
});

test('each clone has its own network namespace: a port bound in one is free in another', async () => {
  const s = py(
    cloned,
    `import socket, time
held = []
def handler(e, c):
    s = socket.socket()
    s.bind(("127.0.0.1", 5555))
    s.listen(1)
    held.append(s)
    time.sleep(0.5)
    return "bound"
`,
  );
  const rs = await Promise.all([invoke(cloned, s), invoke(cloned, s)]);
  for (const r of rs) assert.equal(json(r), 'bound', r.payload.toString());
});

test("a clone's memory hog is OOM-killed in its own cgroup; other clones and the zygote live on", async () => {
  const hog = py(
    cloned,
    'def handler(e, c):\n    b = []\n    while True:\n        b.append(bytearray(16 << 20))\n',
    {
      memoryMB: 128,
      timeoutSec: 20,
    },
  );
  const ok = py(cloned, 'def handler(e, c):\n    return "alive"\n');
  const zygotes = zygotePids();
  const r = await invoke(cloned, hog);
  assert.equal(r.errorType, 'Runtime.OutOfMemory', r.payload.toString());
  assert.equal(json(await invoke(cloned, ok)), 'alive');
  assert.deepEqual(zygotePids(), zygotes, 'the zygote was not touched');
});

test("a function whose init opens sockets runs in a clone, and sees none of the zygote's descriptors", async () => {
  const body = `import os, re, socket
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
peer = socket.create_connection(listener.getsockname())
pair = socket.socketpair()
def handler(e, c):
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(re.sub(r"^/proc/\\d+/", "/proc/N/", os.readlink("/proc/self/fd/" + fd).split(":")[0]))
        except OSError:
            pass  # the listing's own descriptor
    return sorted(out)
`;
  const before = cloneStats(cloned).clones;
  const a = await invoke(cloned, py(cloned, body));
  const b = await invoke(normal, py(normal, body));
  assert.equal(a.functionError, undefined, a.payload.toString());
  assert.ok(cloneStats(cloned).clones > before);
  assert.deepEqual(json(a), json(b));
});

test('a fork the host refuses fails the clone with a reason; the environment starts normally and it is counted', async () => {
  const [z] = zygotePids();
  assert.ok(z !== undefined);
  // A pids cgroup that already holds as many tasks as it allows: the zygote's next fork gets EAGAIN.
  const pidsRoot = '/sys/fs/cgroup/pids';
  const own = /^\d+:pids:(.*)$/m.exec(fs.readFileSync(`/proc/${z}/cgroup`, 'utf8'))?.[1] ?? '/';
  const jail = path.join(pidsRoot, own, `kindling-test-nofork-${process.pid}`);
  fs.mkdirSync(jail);
  try {
    fs.writeFileSync(path.join(jail, 'cgroup.procs'), String(z));
    fs.writeFileSync(path.join(jail, 'pids.max'), '1');
    const before = cloneStats(cloned);
    // The monitor the zygote forked ahead may serve one more; after it, every fork is refused. Each
    // environment is still served (started the normal way).
    for (let i = 0; i < 3; i++) {
      const r = await invoke(cloned, py(cloned, `def handler(e, c):\n    return "served ${i}"\n`));
      assert.equal(json(r), `served ${i}`, r.payload.toString());
    }
    const after = cloneStats(cloned);
    assert.ok(after.cloneFailures >= before.cloneFailures + 2, 'the failed clones are counted');
    assert.ok(after.clones <= before.clones + 1);
  } finally {
    fs.writeFileSync(path.join(pidsRoot, own, 'cgroup.procs'), String(z));
    fs.rmdirSync(jail);
  }
  const before = cloneStats(cloned).clones;
  assert.equal(json(await invoke(cloned, py(cloned, 'def handler(e, c):\n    return 1\n'))), 1);
  assert.ok(cloneStats(cloned).clones > before, 'clones again once forks work');
});

test('a zygote killed with SIGKILL: the next miss still gets an environment, the restart is counted', async () => {
  const [z] = zygotePids();
  assert.ok(z !== undefined);
  const before = cloneStats(cloned);
  process.kill(z, 'SIGKILL');
  await eventually(() => !cloneStats(cloned).up);
  const r = await invoke(cloned, py(cloned, 'def handler(e, c):\n    return "served"\n'));
  assert.equal(json(r), 'served', r.payload.toString());
  await eventually(() => cloneStats(cloned).up);
  const mid = cloneStats(cloned);
  assert.equal(mid.restarts, before.restarts + 1);
  assert.ok(!zygotePids().includes(z));
  assert.equal(json(await invoke(cloned, py(cloned, 'def handler(e, c):\n    return 2\n'))), 2);
  assert.ok(cloneStats(cloned).clones > mid.clones, 'the new zygote clones');
});

test('through the platform: a python function created and invoked with the AWS SDK runs in a clone', async () => {
  const p = await startPlatform({ sandbox: 'bwrap' });
  const lambda = lambdaClient(p);
  try {
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'py-clone',
        Runtime: 'python3.12',
        Handler: 'app.handler',
        Role: 'arn:aws:iam::123456789012:role/x',
        Code: {
          ZipFile: await zipOf([
            {
              name: 'app.py',
              data: 'import os\ndef handler(e, c):\n    return {"twice": e["n"] * 2, "ppid": os.getppid()}\n',
            },
          ]),
        },
      }),
    );
    await waitUntilFunctionActiveV2({ client: lambda, maxWaitTime: 60 }, { FunctionName: 'py-clone' });
    const out = await lambda.send(
      new InvokeCommand({ FunctionName: 'py-clone', Payload: Buffer.from(JSON.stringify({ n: 21 })) }),
    );
    assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
    // A clone's parent (its monitor) is outside its pid namespace: 0, where a started runtime sees bwrap's 1.
    assert.deepEqual(JSON.parse(Buffer.from(out.Payload ?? []).toString()), { twice: 42, ppid: 0 });
    const s = p.platform.components.worker.stats().clones?.find((c) => c.runtime.startsWith('python'));
    assert.ok(s !== undefined && s.clones >= 1, JSON.stringify(s));
  } finally {
    lambda.destroy();
    await p.close();
  }
});

test("each tenant's misses clone its own zygote: one tenant's clones share a string hash secret, another tenant's do not", async () => {
  const HASH = 'def handler(e, c):\n    return hash("kindling: the same string in every process")\n';
  const before = zygotePids().length;
  const a1 = json(await invoke(cloned, py(cloned, HASH, { tenantId: 'tenant-a' })));
  const a2 = json(await invoke(cloned, py(cloned, HASH, { tenantId: 'tenant-a' })));
  const b = json(await invoke(cloned, py(cloned, HASH, { tenantId: 'tenant-other' })));
  // Started normally, every environment would have its own secret: the first equality shows the clones.
  assert.equal(a1, a2, 'two clones of one zygote');
  assert.notEqual(a1, b, 'another tenant learns nothing that holds in tenant-a’s clones');
  assert.equal(zygotePids().length, before + 1, 'a second zygote, for the other tenant');
});
