// Hostile functions against real bubblewrap sandboxes: what an environment must not be able to see or do.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { detectEgress } from '../../src/sandbox/egress.js';
import { detectIsolation } from '../../src/worker/worker-manager.js';
import { fn, type Harness, harness, invoke, json } from '../worker/helpers.js';

let h: Harness;
let hostServer: net.Server;
let hostPort = 0;
before(async () => {
  h = await harness();
  // A service on the host's loopback that sandboxes must not reach (unless opted into the network).
  hostServer = net.createServer((s) => s.end('host-secret\n'));
  await new Promise<void>((r) => hostServer.listen(0, '127.0.0.1', r));
  hostPort = (hostServer.address() as net.AddressInfo).port;
});
after(async () => {
  hostServer.close();
  await h.close();
});

const tryRead = `
import fs from 'node:fs';
export const handler = async (e) => {
  const out = {};
  for (const p of e.paths) {
    try { fs.statSync(p); out[p] = fs.statSync(p).isDirectory() ? fs.readdirSync(p) : fs.readFileSync(p, 'utf8').slice(0, 20); }
    catch (err) { out[p] = err.code; }
  }
  return out;
};`;

test('a function cannot read the data dir, the host /etc/shadow or /root', async () => {
  const r = await invoke(h, fn(h, tryRead), {
    paths: [h.dir, '/etc/shadow', '/root', path.join(h.dir, 'envs')],
  });
  assert.deepEqual(json(r), {
    [h.dir]: 'ENOENT',
    '/etc/shadow': 'ENOENT',
    '/root': 'ENOENT',
    [path.join(h.dir, 'envs')]: 'ENOENT',
  });
});

test("a function cannot read another function's code", async () => {
  const other = fn(h, 'export const handler = async () => "secret-code-of-b";');
  await invoke(h, other);
  const otherFile = path.join(other.codeDir, 'index.mjs');
  const envTasks = fs
    .readdirSync(path.join(h.dir, 'envs'))
    .map((d) => path.join(h.dir, 'envs', d, 'task', 'index.mjs'));
  const r = await invoke(h, fn(h, tryRead), { paths: [otherFile, ...envTasks] });
  for (const [p, v] of Object.entries(json(r) as Record<string, string>)) assert.equal(v, 'ENOENT', p);
});

test('a function sees only its own processes in /proc', async () => {
  const s = fn(
    h,
    `import fs from 'node:fs';
     export const handler = async () => fs.readdirSync('/proc').filter((x) => /^\\d+$/.test(x))
       .map((p) => { try { return fs.readFileSync('/proc/' + p + '/cmdline', 'utf8').split('\\0')[0]; } catch { return '?'; } });`,
  );
  const cmds = json(await invoke(h, s)) as string[];
  assert.ok(cmds.length <= 3, JSON.stringify(cmds));
  for (const c of cmds) assert.match(c, /bwrap|node|^\?$/);
});

test('a function has no network: no host loopback service, no outside address, no DNS', async () => {
  const s = fn(
    h,
    `import net from 'node:net'; import dns from 'node:dns/promises';
     const tryConnect = (host, port) => new Promise((res) => { const c = net.connect({ host, port, timeout: 500 });
       c.on('connect', () => { c.destroy(); res('connected'); }); c.on('error', (e) => res(e.code)); c.on('timeout', () => { c.destroy(); res('timeout'); }); });
     export const handler = async (e) => ({
       host: await tryConnect('127.0.0.1', e.port),
       outside: await tryConnect('1.1.1.1', 80),
       dns: await dns.lookup('example.com').then(() => 'resolved', (err) => err.code),
     });`,
  );
  const v = json(await invoke(h, s, { port: hostPort })) as Record<string, string>;
  assert.notEqual(v.host, 'connected');
  assert.notEqual(v.outside, 'connected');
  assert.notEqual(v.dns, 'resolved');
});

test("a function with outbound network keeps its own network namespace: the host's loopback stays out of reach", {
  skip: detectEgress().problem,
}, async () => {
  const s = fn(
    h,
    `import net from 'node:net';
     export const handler = async (e) => new Promise((res) => { const c = net.connect({ host: '127.0.0.1', port: e.port });
       let d = ''; c.on('data', (x) => d += x); c.on('end', () => res(d)); c.on('error', (err) => res(err.code)); });`,
    { networkOutbound: true },
  );
  const r = await invoke(h, s, { port: hostPort });
  assert.equal(json(r), 'ECONNREFUSED');
});

test('/var/task refuses writes after the code is bound (and the code cache is untouched)', async () => {
  const s = fn(
    h,
    `import fs from 'node:fs';
     const tryIt = (f) => { try { f(); return 'wrote'; } catch (e) { return e.code; } };
     export const handler = async () => ({
       overwrite: tryIt(() => fs.writeFileSync('/var/task/index.mjs', 'pwned')),
       append: tryIt(() => fs.appendFileSync('/var/task/index.mjs', 'pwned')),
       create: tryIt(() => fs.writeFileSync('/var/task/new.js', 'x')),
       mkdir: tryIt(() => fs.mkdirSync('/var/task/d')),
       chmod: tryIt(() => fs.chmodSync('/var/task/index.mjs', 0o777)),
       unlink: tryIt(() => fs.unlinkSync('/var/task/index.mjs')),
       runtime: tryIt(() => fs.writeFileSync('/var/runtime/bootstrap.js', 'x')),
       root: tryIt(() => fs.writeFileSync('/evil', 'x')),
       tmp: tryIt(() => fs.writeFileSync('/tmp/ok', 'x')),
       taskMount: fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\\n')
         .map((l) => l.split(' ')).find((f) => f[4] === '/var/task')?.[5],
     });`,
  );
  const before = fs.readFileSync(path.join(s.codeDir, 'index.mjs'), 'utf8');
  const v = json(await invoke(h, s)) as Record<string, string>;
  // The sandbox user owns none of these files (EACCES), and the mounts are read-only besides (EROFS).
  for (const k of ['overwrite', 'append', 'create', 'mkdir', 'chmod', 'unlink', 'runtime', 'root']) {
    assert.ok(v[k] === 'EROFS' || v[k] === 'EACCES' || v[k] === 'EPERM', `${k}: ${v[k]}`);
  }
  assert.match(v.taskMount ?? '', /^ro(,|$)/, 'the /var/task mount is read-only');
  assert.equal(v.tmp, 'wrote');
  assert.equal(fs.readFileSync(path.join(s.codeDir, 'index.mjs'), 'utf8'), before);
});

test("/tmp is private to each environment: one function cannot see another's files", async () => {
  const writer = fn(
    h,
    "import fs from 'node:fs'; export const handler = async () => { fs.writeFileSync('/tmp/mine', 'a'); return fs.readdirSync('/tmp'); };",
  );
  const reader = fn(
    h,
    "import fs from 'node:fs'; export const handler = async () => fs.readdirSync('/tmp');",
  );
  assert.deepEqual(json(await invoke(h, writer)), ['mine']);
  assert.deepEqual(json(await invoke(h, reader)), []);
});

test('detectIsolation reports bubblewrap, the namespaces and usable cgroup controllers', async () => {
  const r = await detectIsolation('auto');
  assert.equal(r.driver, 'bwrap');
  assert.equal(r.sandboxed, true);
  assert.match(r.bwrapVersion ?? '', /^\d+\.\d+/);
  for (const ns of ['mount', 'pid', 'ipc', 'uts', 'net', 'user', 'cgroup'])
    assert.ok(r.namespaces.includes(ns));
  assert.ok(r.cgroup.version === 1 || r.cgroup.version === 2);
  const d = await h.wm.doctor();
  assert.equal(d.driver, 'bwrap');
  // As root every controller must be usable; unprivileged, doctor says what is missing.
  if (process.getuid?.() === 0)
    assert.deepEqual(d.cgroup.controllers, { memory: true, pids: true, cpu: true, freezer: true });
  else assert.ok(d.cgroup.controllers.memory || d.warnings.some((w) => /memory/.test(w)));
});

test("garbage written to the runtime's channel ends that environment, not the host", async () => {
  const s = fn(
    h,
    `import fs from 'node:fs';
     export const handler = async (e) => { if (!e.evil) return 'ok';
       const b = Buffer.alloc(16, 0xff); fs.writeSync(3, b); await new Promise((r) => setTimeout(r, 1000)); return 'survived'; };`,
  );
  const r = await invoke(h, s, { evil: true });
  assert.equal(r.functionError, 'Unhandled');
  assert.equal(r.errorType, 'Runtime.ExitError');
  assert.equal(json(await invoke(h, s, {})), 'ok');
});

test("a function closing the runtime's channel gets a clean error and the next invoke a fresh environment", async () => {
  const s = fn(
    h,
    `import fs from 'node:fs';
     export const handler = async (e) => { if (e.close) { fs.closeSync(3); await new Promise((r) => setTimeout(r, 1000)); } return 'ok'; };`,
  );
  const r = await invoke(h, s, { close: true });
  assert.equal(r.functionError, 'Unhandled');
  const next = await invoke(h, s, {});
  assert.equal(json(next), 'ok');
});
