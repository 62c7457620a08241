// Egress that cannot reach the host, proved with functions deployed through the public API. The test
// builds its own little world: a network namespace with a veth pair whose addresses exist only here
// (host side 10.231.0.1/30, namespace side 10.231.0.2/30, plus the link-local 169.254.231.2 routed to it),
// an HTTP-ish server inside it, services on the host's loopback, on the host's veth address and on a host
// abstract unix socket. Nothing is sent off this machine: denied destinations are either local ones the
// test created, or checked with a UDP connect(), which only asks the routing table.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  InvokeCommand,
  LambdaClient,
  TagResourceCommand,
} from '@aws-sdk/client-lambda';
import { KindlingClient } from '../../src/cli/client.js';
import { findBwrap } from '../../src/sandbox/bwrap-driver.js';
import { detectEgress } from '../../src/sandbox/egress.js';
import { probeBwrapSync } from '../../src/sandbox/isolation.js';
import { handlerZip } from '../api/lambda/zips.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../helpers/platform.js';

const NS = `kdl-egress-${process.pid}`;
const VETH_HOST = `kegh${process.pid % 100000}`;
const VETH_NS = `kegn${process.pid % 100000}`;
const HOST_SIDE = '10.231.0.1';
const NS_SIDE = '10.231.0.2';
const LINK_LOCAL = '169.254.231.2';
const NS_PORT = 8080;
const ABSTRACT = `\0kindling-egress-test-${process.pid}`;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
}

/** Why this machine cannot run these tests, or undefined when it can. */
function cannotRun(): string | undefined {
  const bwrap = findBwrap();
  if (bwrap === undefined) return 'bubblewrap is not installed';
  const failure = probeBwrapSync(bwrap);
  if (failure !== undefined) return `bubblewrap cannot create namespaces: ${failure}`;
  const egress = detectEgress();
  if (egress.problem !== undefined) return egress.problem;
  try {
    sh('ip', ['netns', 'add', NS]);
  } catch (e) {
    return `cannot create a network namespace (ip netns add): ${(e as Error).message.split('\n')[0]}`;
  }
  return undefined;
}

const skip = cannotRun();
if (skip !== undefined) process.stderr.write(`egress tests skipped: ${skip}\n`);
const eTest = (name: string, fn: () => Promise<void>) => test(name, skip ? { skip } : {}, fn);

interface Key {
  accessKeyId: string;
  secretAccessKey: string;
}

let p: TestPlatform;
let endpoint = '';
let platformPort = 0;
let admin: KindlingClient;
let nsServer: ChildProcess | undefined;
const hostServers: net.Server[] = [];
let loopbackPort = 0;
let hostAddrPort = 0;
const lambdas = new Map<string, LambdaClient>();

/** Connects and reports 'connected' (plus what the peer sent within a moment) or the error code. */
const PROBE = `
import net from 'node:net';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
const tcp = (opts) => new Promise((res) => {
  const c = net.connect(opts);
  let data = '';
  let connected = false;
  const finish = (r) => { clearTimeout(t); c.destroy(); res(r); };
  const t = setTimeout(() => finish(connected ? 'connected:' + data : 'timeout'), 3000);
  c.on('connect', () => { connected = true; setTimeout(() => finish('connected:' + data), 500); });
  c.on('data', (d) => { data += d; });
  c.on('end', () => finish('connected:' + data));
  c.on('error', (e) => finish(connected ? 'connected:' + data : e.code));
});
// connect() on UDP sends nothing: it only asks the routing table whether the destination is reachable.
const route = (host, port) => new Promise((res) => {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  s.on('error', (e) => { s.close(); res(e.code); });
  s.connect(port, host, (err) => { s.close(); res(err ? err.code : 'routable'); });
});
export const handler = async (e) => {
  const out = {};
  for (const [k, t] of Object.entries(e.tcp ?? {})) out[k] = await tcp(t);
  for (const [k, t] of Object.entries(e.route ?? {})) out[k] = await route(t.host, t.port);
  if (e.changeRoutes) {
    const ip = fs.existsSync('/usr/sbin/ip') ? '/usr/sbin/ip' : '/sbin/ip';
    try { execFileSync(ip, ['route', 'replace', 'default', 'via', '10.0.2.2'], { stdio: 'pipe' }); out.replace = 'changed'; }
    catch (err) { out.replace = String(err.stderr).trim(); }
    try { execFileSync(ip, ['route', 'del', '10.0.0.0/8'], { stdio: 'pipe' }); out.del = 'changed'; }
    catch (err) { out.del = String(err.stderr).trim(); }
    out.capEff = /CapEff:\\s*(\\S+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1];
  }
  if (e.resolv) out.resolv = fs.readFileSync('/etc/resolv.conf', 'utf8');
  return out;
};`;

function listen(server: net.Server, opts: net.ListenOptions): Promise<number> {
  hostServers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts, () => {
      const a = server.address();
      resolve(typeof a === 'object' && a !== null ? a.port : 0);
    });
  });
}

/** Connects from the test process itself: the positive control that a destination is really there. */
function hostReach(opts: net.NetConnectOpts): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect(opts);
    let data = '';
    const t = setTimeout(() => {
      c.destroy();
      resolve(`connected:${data}`);
    }, 500);
    c.on('data', (d) => {
      data += d;
    });
    c.on('end', () => {
      clearTimeout(t);
      c.destroy();
      resolve(`connected:${data}`);
    });
    c.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      resolve(e.code ?? 'error');
    });
  });
}

async function newTenant(name: string): Promise<LambdaClient> {
  const res = await admin.signedFetch('POST', '/kindling/v1/tenants', { name });
  assert.equal(res.status, 201);
  const key = ((await res.json()) as { accessKey: Key }).accessKey;
  const lambda = new LambdaClient(sdkConfig({ endpoint, credentials: key }));
  lambdas.set(name, lambda);
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'probe',
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::000000000000:role/x',
      Timeout: 30,
      Code: { ZipFile: await handlerZip(PROBE) },
    }),
  );
  return lambda;
}

async function grant(name: string, body: unknown): Promise<void> {
  const res =
    body === null
      ? await admin.signedFetch('DELETE', `/kindling/v1/tenants/${name}/network`)
      : await admin.signedFetch('PUT', `/kindling/v1/tenants/${name}/network`, body);
  assert.equal(res.status, 200, await res.clone().text());
}

async function probe(tenant: string, event: unknown): Promise<Record<string, string>> {
  const lambda = lambdas.get(tenant);
  if (lambda === undefined) throw new Error(`no tenant ${tenant}`);
  const r = await lambda.send(
    new InvokeCommand({ FunctionName: 'probe', Payload: Buffer.from(JSON.stringify(event)) }),
  );
  const text = Buffer.from(r.Payload ?? []).toString('utf8');
  assert.equal(r.FunctionError, undefined, text);
  return JSON.parse(text) as Record<string, string>;
}

const refused = (v: string | undefined) => v !== undefined && !v.startsWith('connected');
const nsTarget = { host: NS_SIDE, port: NS_PORT };

before(async () => {
  if (skip !== undefined) return;
  sh('ip', ['link', 'add', VETH_HOST, 'type', 'veth', 'peer', 'name', VETH_NS]);
  sh('ip', ['link', 'set', VETH_NS, 'netns', NS]);
  sh('ip', ['addr', 'add', `${HOST_SIDE}/30`, 'dev', VETH_HOST]);
  sh('ip', ['link', 'set', VETH_HOST, 'up']);
  sh('ip', ['-n', NS, 'addr', 'add', `${NS_SIDE}/30`, 'dev', VETH_NS]);
  sh('ip', ['-n', NS, 'addr', 'add', `${LINK_LOCAL}/32`, 'dev', VETH_NS]);
  sh('ip', ['-n', NS, 'link', 'set', VETH_NS, 'up']);
  sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  // The link-local test host is reached through the veth (a host route the test removes with the veth).
  sh('ip', ['route', 'add', `${LINK_LOCAL}/32`, 'dev', VETH_HOST]);
  nsServer = spawn(
    'ip',
    [
      'netns',
      'exec',
      NS,
      process.execPath,
      '-e',
      `require('net').createServer((s) => s.end('egress-ok\\n')).listen(${NS_PORT}, '0.0.0.0', () => console.log('listening'))`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    nsServer?.stdout?.once('data', () => resolve());
    nsServer?.once('exit', (c) => reject(new Error(`namespace server exited (${c})`)));
  });
  loopbackPort = await listen(
    net.createServer((s) => s.end('host-loopback-secret\n')),
    { host: '127.0.0.1', port: 0 },
  );
  hostAddrPort = await listen(
    net.createServer((s) => s.end('host-address-secret\n')),
    { host: HOST_SIDE, port: 0 },
  );
  await listen(
    net.createServer((s) => s.end('host-abstract-secret\n')),
    { path: ABSTRACT },
  );
  // On every address, so the platform's port is there to be (not) reached through the host's addresses.
  p = await startPlatform({ host: '0.0.0.0' });
  platformPort = Number(new URL(p.endpoint).port);
  endpoint = `http://127.0.0.1:${platformPort}`;
  admin = new KindlingClient({
    endpoint,
    region: p.region,
    credentials: p.credentials,
    dataDir: p.platform.config.dataDir,
  });
  await newTenant('plain');
  await newTenant('granted');
  await newTenant('switcher');
  await newTenant('wide');
  await grant('granted', { networkOutbound: true, egressAllow: [`${NS_SIDE}/32`] });
});

after(async () => {
  for (const l of lambdas.values()) l.destroy();
  await p?.close();
  for (const s of hostServers) s.close();
  if (nsServer?.pid !== undefined && nsServer.exitCode === null) process.kill(nsServer.pid, 'SIGKILL');
  if (skip !== undefined) return;
  for (const args of [
    ['link', 'del', VETH_HOST],
    ['netns', 'del', NS],
  ]) {
    try {
      sh('ip', args);
    } catch {
      // already gone
    }
  }
});

eTest('the test host in its own network namespace answers the host (positive control)', async () => {
  assert.equal(await hostReach(nsTarget), 'connected:egress-ok\n');
  assert.equal(await hostReach({ host: LINK_LOCAL, port: NS_PORT }), 'connected:egress-ok\n');
});

eTest('a tenant without the grant reaches nothing: its connect to the test host fails', async () => {
  const v = await probe('plain', {
    tcp: { ns: nsTarget },
    route: { anywhere: { host: '192.0.2.77', port: 80 } },
  });
  assert.ok(refused(v.ns), `ns: ${v.ns}`);
  assert.equal(v.anywhere, 'ENETUNREACH');
});

eTest('a granted tenant with egressAllow 10.231.0.2/32 reaches the test server', async () => {
  const v = await probe('granted', { tcp: { ns: nsTarget } });
  assert.equal(v.ns, 'connected:egress-ok\n');
});

eTest(
  "a granted tenant cannot reach a service on the host's 127.0.0.1, directly or through slirp's gateway",
  async () => {
    assert.equal(
      await hostReach({ host: '127.0.0.1', port: loopbackPort }),
      'connected:host-loopback-secret\n',
    );
    const v = await probe('granted', {
      tcp: {
        loopback: { host: '127.0.0.1', port: loopbackPort },
        gateway: { host: '10.0.2.2', port: loopbackPort },
      },
    });
    assert.ok(refused(v.loopback), `loopback: ${v.loopback}`);
    assert.ok(refused(v.gateway), `gateway: ${v.gateway}`);
  },
);

eTest(
  "a granted tenant cannot reach the host's own address 10.231.0.1 (not in its egressAllow)",
  async () => {
    assert.equal(await hostReach({ host: HOST_SIDE, port: hostAddrPort }), 'connected:host-address-secret\n');
    const v = await probe('granted', { tcp: { host: { host: HOST_SIDE, port: hostAddrPort } } });
    assert.equal(v.host, 'EACCES');
  },
);

eTest(
  'a granted tenant cannot reach link-local addresses: not the test host, not 169.254.169.254',
  async () => {
    const v = await probe('granted', {
      tcp: { linkLocal: { host: LINK_LOCAL, port: NS_PORT } },
      route: { metadata: { host: '169.254.169.254', port: 80 } },
    });
    assert.equal(v.linkLocal, 'EACCES');
    assert.equal(v.metadata, 'EACCES');
  },
);

eTest(
  'a granted tenant has no route to private ranges, 0/8, multicast or IPv6 outside its egressAllow',
  async () => {
    const v = await probe('granted', {
      route: {
        ten: { host: '10.231.0.3', port: 80 },
        cgnat: { host: '100.64.1.1', port: 80 },
        p172: { host: '172.16.5.5', port: 80 },
        p192: { host: '192.168.1.1', port: 80 },
        zero: { host: '0.1.2.3', port: 80 },
        multicast: { host: '239.1.1.1', port: 80 },
        v6: { host: 'fd00::2', port: 80 },
        public: { host: '192.0.2.77', port: 80 },
      },
    });
    for (const k of ['ten', 'cgnat', 'p172', 'p192', 'zero', 'multicast'])
      assert.equal(v[k], 'EACCES', `${k}: ${v[k]}`);
    assert.equal(v.v6, 'ENETUNREACH');
    // A public address stays routable (the positive control for the routing check itself; nothing is sent).
    assert.equal(v.public, 'routable');
  },
);

eTest(
  "a granted tenant cannot reach the platform's own port through any of the host's addresses",
  async () => {
    const addrs: string[] = [];
    for (const list of Object.values(os.networkInterfaces()))
      for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) addrs.push(a.address);
    assert.ok(addrs.includes(HOST_SIDE));
    assert.match(await hostReach({ host: HOST_SIDE, port: platformPort }), /^connected/);
    const tcp = Object.fromEntries(addrs.map((a) => [a, { host: a, port: platformPort }]));
    const v = await probe('granted', { tcp });
    for (const a of addrs) assert.ok(refused(v[a]), `${a}: ${v[a]}`);
  },
);

eTest('a granted tenant cannot reach a host abstract unix socket', async () => {
  assert.equal(await hostReach({ path: ABSTRACT }), 'connected:host-abstract-secret\n');
  const v = await probe('granted', { tcp: { abstract: { path: ABSTRACT } } });
  assert.ok(refused(v.abstract), `abstract: ${v.abstract}`);
});

eTest(
  'a granted sandbox cannot change its routes (no capabilities) and resolves names through slirp',
  async () => {
    const v = await probe('granted', {
      changeRoutes: true,
      resolv: true,
      tcp: { host: { host: HOST_SIDE, port: hostAddrPort } },
    });
    assert.notEqual(v.replace, 'changed');
    assert.notEqual(v.del, 'changed');
    assert.match(v.del ?? '', /Operation not permitted/);
    assert.equal(v.capEff, '0000000000000000');
    assert.equal(v.resolv, 'nameserver 10.0.2.3\n');
    const again = await probe('granted', { tcp: { host: { host: HOST_SIDE, port: hostAddrPort } } });
    assert.equal(again.host, 'EACCES');
  },
);

eTest("an allowed range around the host's own address opens the range but never the host", async () => {
  await grant('wide', { networkOutbound: true, egressAllow: ['10.231.0.0/30'] });
  const v = await probe('wide', {
    tcp: { ns: nsTarget, host: { host: HOST_SIDE, port: hostAddrPort } },
    route: { dns: { host: '10.0.2.3', port: 53 }, dnsOtherPort: { host: '10.0.2.3', port: 80 } },
  });
  assert.equal(v.ns, 'connected:egress-ok\n');
  assert.equal(v.host, 'EACCES');
  // slirp's DNS forwarder stays routable (only the routing table is asked; no query is sent).
  assert.equal(v.dns, 'routable');
  // Any other port of the forwarder would reach the host's resolver address (older libslirp): refused.
  assert.equal(v.dnsOtherPort, 'EACCES');
});

eTest('a function cannot grant itself: TagResource with its own session credentials is refused', async () => {
  const lambda = lambdas.get('plain');
  assert.ok(lambda);
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'selfgrant',
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::000000000000:role/x',
      Timeout: 30,
      Code: {
        ZipFile: await handlerZip(`
import { LambdaClient, TagResourceCommand } from '@aws-sdk/client-lambda';
export const handler = async (e, ctx) => {
  const c = new LambdaClient({});
  try { await c.send(new TagResourceCommand({ Resource: ctx.invokedFunctionArn, Tags: { 'kindling:network': 'outbound' } })); return 'tagged'; }
  catch (err) { return err.name + ': ' + err.message; }
};`),
      },
    }),
  );
  const r = await lambda.send(new InvokeCommand({ FunctionName: 'selfgrant' }));
  const answer = JSON.parse(Buffer.from(r.Payload ?? []).toString('utf8')) as string;
  assert.match(answer, /^InvalidParameterValueException: .*granted per tenant by an administrator/);
  const v = await probe('plain', { tcp: { ns: nsTarget } });
  assert.ok(refused(v.ns), `ns: ${v.ns}`);
});

eTest("a tenant's own key cannot grant itself on the admin route nor through the tag", async () => {
  const lambda = lambdas.get('plain');
  assert.ok(lambda);
  const arn = (await p.platform.tenants.get('plain'))?.accountId;
  await assert.rejects(
    lambda.send(
      new TagResourceCommand({
        Resource: `arn:aws:lambda:${p.region}:${arn}:function:probe`,
        Tags: { 'kindling:network': 'outbound' },
      }),
    ),
    { name: 'InvalidParameterValueException' },
  );
  const creds = await lambda.config.credentials();
  const own = new KindlingClient({
    endpoint,
    region: p.region,
    credentials: creds,
    dataDir: p.platform.config.dataDir,
  });
  const res = await own.signedFetch('PUT', '/kindling/v1/tenants/plain/network', { networkOutbound: true });
  assert.equal(res.status, 403);
  const v = await probe('plain', { tcp: { ns: nsTarget } });
  assert.ok(refused(v.ns), `ns: ${v.ns}`);
});

eTest('changing the grant takes effect for the next invocation, both ways', async () => {
  const before = await probe('switcher', { tcp: { ns: nsTarget } });
  assert.ok(refused(before.ns), `before: ${before.ns}`);
  await grant('switcher', { networkOutbound: true, egressAllow: [`${NS_SIDE}/32`] });
  assert.equal((await probe('switcher', { tcp: { ns: nsTarget } })).ns, 'connected:egress-ok\n');
  // Outbound kept, the range withdrawn: the private address is denied again.
  await grant('switcher', { networkOutbound: true });
  assert.equal((await probe('switcher', { tcp: { ns: nsTarget } })).ns, 'EACCES');
  await grant('switcher', null);
  const after = await probe('switcher', { tcp: { ns: nsTarget } });
  assert.ok(refused(after.ns), `after: ${after.ns}`);
});
