#!/usr/bin/env node
// A throwaway PostgreSQL cluster for tests, benchmarks and the cluster demo: initdb into a fresh
// directory, run as an ordinary user (PostgreSQL refuses root; as root we run it as `nobody`), on a free
// loopback port, with durability settings relaxed (the data is thrown away; a SIGKILLed Kindling node
// still loses nothing PostgreSQL acknowledged, since PostgreSQL itself keeps running).
//
//   node scripts/postgres-cluster.js start DIR   prints the URL (postgres://…) once it accepts connections
//   node scripts/postgres-cluster.js stop DIR    stops the cluster started in DIR
//
// Imported, `startCluster(dir)` does the same and returns { url, stop() }.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function binDir() {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
  const majors = fs.readdirSync(root).filter((d) => fs.existsSync(path.join(root, d, 'bin/initdb')));
  if (majors.length === 0)
    throw new Error('PostgreSQL is not installed (no initdb under /usr/lib/postgresql)');
  majors.sort((a, b) => Number(b) - Number(a));
  return path.join(root, majors[0], 'bin');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Runs a command as the cluster's owner: ourselves, or `nobody` when we are root. */
function asOwner(cmd, args) {
  if (process.getuid?.() !== 0) return [cmd, args];
  return ['setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', cmd, ...args]];
}

async function waitReady(bin, port, socketDir, child, deadlineMs) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}`);
    try {
      execFileSync(path.join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q'], {
        stdio: 'ignore',
      });
      return;
    } catch {
      if (Date.now() > deadline) throw new Error('postgres did not become ready in time');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function startCluster(dir) {
  const bin = binDir();
  fs.mkdirSync(dir, { recursive: true });
  const data = path.join(dir, 'data');
  const sock = path.join(dir, 'sock');
  fs.mkdirSync(sock, { recursive: true });
  const root = process.getuid?.() === 0;
  if (root) {
    // nobody must own what the cluster writes, and reach it through the parents.
    for (let p = dir; p !== path.dirname(p); p = path.dirname(p)) {
      const mode = fs.statSync(p).mode;
      if ((mode & 0o001) === 0) fs.chmodSync(p, mode | 0o001);
      if (p === '/tmp' || p === '/') break;
    }
    execFileSync('chown', ['-R', 'nobody:nogroup', dir]);
  }
  if (!fs.existsSync(path.join(data, 'PG_VERSION'))) {
    const [cmd, args] = asOwner(path.join(bin, 'initdb'), [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=trust',
      '--locale=C',
      '--encoding=UTF8',
      '--no-sync',
    ]);
    execFileSync(cmd, args, { stdio: 'ignore' });
  }
  const port = await freePort();
  const [cmd, args] = asOwner(path.join(bin, 'postgres'), [
    '-D',
    data,
    '-p',
    String(port),
    '-k',
    sock,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'fsync=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'max_connections=400',
    '-c',
    'shared_buffers=128MB',
  ]);
  const log = fs.openSync(path.join(dir, 'postgres.log'), 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', log, log], detached: true });
  fs.closeSync(log);
  child.unref();
  fs.writeFileSync(path.join(dir, 'pid'), String(child.pid));
  await waitReady(bin, port, sock, child, 30_000);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  fs.writeFileSync(path.join(dir, 'url'), url);
  return {
    url,
    pid: child.pid,
    stop: () => stopCluster(dir),
  };
}

export function stopCluster(dir) {
  const pidFile = path.join(dir, 'pid');
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  try {
    // SIGINT: PostgreSQL's fast shutdown (ends sessions, then exits).
    process.kill(pid, 'SIGINT');
  } catch {
    /* already gone */
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      break;
    }
    execFileSync('sleep', ['0.1']);
  }
  fs.rmSync(pidFile, { force: true });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const [cmd, dir] = process.argv.slice(2);
  if (!dir || (cmd !== 'start' && cmd !== 'stop')) {
    console.error('usage: node scripts/postgres-cluster.js start|stop DIR');
    process.exit(2);
  }
  if (cmd === 'start') {
    startCluster(path.resolve(dir)).then(
      (c) => console.log(c.url),
      (e) => {
        console.error(`postgres-cluster: ${e.message}`);
        process.exit(1);
      },
    );
  } else stopCluster(path.resolve(dir));
}
