// The host side of the Python zygote (zygote.py): one pre-initialised interpreter per Python runtime,
// spawned by the server with a clean environment, that forks into sandbox shells the driver starts. A pool
// miss then costs a fork and a few system calls instead of an interpreter start. The zygote and its forks
// reach us on a unix socket of our own (0600, in the runtime's cache dir): each fork connects with the
// request's nonce and a role (status, channel, out). Killed or dead, the zygote is started again in the
// background; clones fail meanwhile and the runtime starts environments the normal way.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { AdoptedProcess, SandboxShell } from '../../sandbox/driver.js';
import type { CloneStats } from '../runtime.js';

export interface ZygoteOptions {
  python: string;
  /** zygote.py and bootstrap.py on the host. */
  program: string;
  bootstrap: string;
  /** Directory for the unix socket the forks connect to (short: socket paths are limited to 107 bytes). */
  dir: string;
  warn(msg: string): void;
  /** How long a zygote may take to load; a clone, to report in. */
  startTimeoutMs?: number;
  cloneTimeoutMs?: number;
}

type Role = 'status' | 'channel' | 'out';

interface Pending {
  sockets: Partial<Record<Role, net.Socket>>;
  pid?: number;
  done: (e: Error | undefined) => void;
  exit: (e: { code: number | null; signal: NodeJS.Signals | null }) => void;
}

/** The hello line a fork sends first: 32 hex digits, a role. */
const HELLO = /^([0-9a-f]{32}) (status|channel|out)\n/;
const HELLO_MAX = 64;

/** The environment the zygote starts with: a sandbox's, so what Python derives from it at start matches. */
const ZYGOTE_ENV = { PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'en_US.UTF-8', TZ: ':UTC', HOME: '/tmp' };

export class Zygote {
  readonly stats: CloneStats = { clones: 0, cloneFailures: 0, restarts: 0, up: false };
  private proc: ChildProcess | undefined;
  private starting: Promise<ChildProcess> | undefined;
  private started = 0;
  private wasUp = false;
  private lastDeath = 0;
  private readonly pending = new Map<string, Pending>();
  private readonly socketPath: string;
  private server: net.Server | undefined;
  private listening: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly opts: ZygoteOptions) {
    this.socketPath = path.join(opts.dir, `zygote-${process.pid}-${randomBytes(3).toString('hex')}.sock`);
  }

  /** The zygote's host pid while it is up (tests kill it). */
  get pid(): number | undefined {
    return this.stats.up ? this.proc?.pid : undefined;
  }

  /**
   * Forks the zygote into `shell`: resolves once the fork has its host pid and its channel, rejecting (the
   * caller then starts the normal way) when no zygote is up, the fork fails, or it does not report in time.
   */
  async clone(shell: SandboxShell): Promise<AdoptedProcess> {
    try {
      const proc = await this.ready();
      const out = await this.request(proc, shell);
      this.stats.clones++;
      return out;
    } catch (e) {
      this.stats.cloneFailures++;
      throw e;
    }
  }

  /** Starts the zygote ahead of the first clone. */
  warm(): void {
    this.ready().catch(() => {});
  }

  async close(): Promise<void> {
    this.closed = true;
    this.proc?.kill('SIGKILL');
    for (const p of this.pending.values()) p.done(new Error('zygote closed'));
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    fs.rmSync(this.socketPath, { force: true });
  }

  /**
   * The running zygote. The first one is waited for; a replacement starts in the background and this
   * rejects meanwhile, so a pool miss is never held up by a zygote restart.
   */
  private ready(): Promise<ChildProcess> {
    if (this.closed) return Promise.reject(new Error('zygote closed'));
    if (this.proc !== undefined && this.stats.up) return Promise.resolve(this.proc);
    // Until a first zygote is up, callers wait for it (it costs what a normal start costs).
    const first = !this.wasUp;
    if (this.starting === undefined) {
      // A zygote that keeps dying is not restarted more than once a second.
      const wait = Math.max(0, this.lastDeath + 1000 - Date.now());
      this.starting = new Promise((r) => setTimeout(r, wait)).then(() => this.spawn());
      this.starting.then(
        () => {
          this.starting = undefined;
        },
        (e: Error) => {
          this.starting = undefined;
          this.lastDeath = Date.now();
          this.opts.warn(`python zygote failed to start: ${e.message}`);
        },
      );
    }
    if (first) return this.starting;
    return Promise.reject(new Error('the python zygote is restarting'));
  }

  private async spawn(): Promise<ChildProcess> {
    try {
      await this.listen();
    } catch (e) {
      // Without its socket no fork can reach us: clones stay off (said once), starts are normal.
      this.closed = true;
      throw new Error(`cannot listen on ${this.socketPath} (${(e as Error).message}); python clones are off`);
    }
    if (this.started++ > 0) this.stats.restarts++;
    const proc = spawn(this.opts.python, ['-I', '-B', this.opts.program, this.opts.bootstrap], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: ZYGOTE_ENV,
      cwd: '/',
    });
    // The zygote never keeps the server alive: it ends by itself when its stdin closes.
    proc.unref();
    for (const s of [proc.stdin, proc.stdout, proc.stderr]) (s as net.Socket | null)?.unref?.();
    let stderr = '';
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (d: string) => {
      stderr = (stderr + d).slice(-2000);
    });
    proc.stdin?.on('error', () => {});
    let buf = '';
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('did not load in time')),
        this.opts.startTimeoutMs ?? 30_000,
      );
      proc.stdout?.setEncoding('utf8');
      proc.stdout?.on('data', (d: string) => {
        buf += d;
        if (buf.length > 1 << 20) buf = '';
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          let msg: { t?: string; nonce?: string; error?: string };
          try {
            msg = JSON.parse(line) as typeof msg;
          } catch {
            continue;
          }
          if (msg.t === 'ready') {
            clearTimeout(timer);
            resolve();
          } else if (msg.t === 'error' && typeof msg.nonce === 'string') {
            this.pending.get(msg.nonce)?.done(new Error(`python zygote: ${msg.error ?? 'clone failed'}`));
          }
        }
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (this.proc === proc) {
          this.stats.up = false;
          this.lastDeath = Date.now();
          if (!this.closed) this.opts.warn(`python zygote exited (code ${code}, signal ${signal})`);
        }
        reject(new Error(`exited (code ${code}, signal ${signal}): ${stderr.trim()}`));
      });
    });
    try {
      await ready;
    } catch (e) {
      proc.kill('SIGKILL');
      throw e;
    }
    this.proc = proc;
    this.stats.up = true;
    this.wasUp = true;
    return proc;
  }

  private listen(): Promise<void> {
    this.listening ??= new Promise((resolve, reject) => {
      fs.mkdirSync(this.opts.dir, { recursive: true, mode: 0o700 });
      fs.rmSync(this.socketPath, { force: true });
      const server = net.createServer((s) => this.accept(s));
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        // Only root (the zygote's forks before they drop) may connect.
        fs.chmodSync(this.socketPath, 0o600);
        server.unref();
        resolve();
      });
      this.server = server;
    });
    return this.listening;
  }

  /**
   * A fork's connection: its hello line says which clone and what it is. Read in paused mode, so what
   * follows it stays buffered until the channel's or output's reader attaches.
   */
  private accept(s: net.Socket): void {
    s.on('error', () => {});
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => s.destroy(), 10_000);
    const onReadable = () => {
      for (let d = s.read() as Buffer | null; d !== null; d = s.read() as Buffer | null) {
        head = Buffer.concat([head, d]);
        const nl = head.indexOf(10);
        if (nl < 0) {
          if (head.length > HELLO_MAX) s.destroy();
          continue;
        }
        clearTimeout(timer);
        s.off('readable', onReadable);
        const m = HELLO.exec(head.subarray(0, nl + 1).toString('latin1'));
        const p = m ? this.pending.get(m[1]!) : undefined;
        const role = m?.[2] as Role | undefined;
        if (p === undefined || role === undefined || p.sockets[role] !== undefined) {
          s.destroy();
          return;
        }
        const rest = head.subarray(nl + 1);
        if (rest.length > 0) s.unshift(rest);
        p.sockets[role] = s;
        if (role === 'status') this.watchStatus(p, s);
        this.check(p);
        return;
      }
    };
    s.on('readable', onReadable);
  }

  /** The monitor's lines: `pid N`, then `exit CODE SIGNAL` (`-` for none), or `error MSG`. */
  private watchStatus(p: Pending, s: net.Socket): void {
    let buf = '';
    let exited = false;
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      if (buf.length > 4096) s.destroy();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const [word, a, b] = line.split(' ');
        if (word === 'pid' && p.pid === undefined && /^\d+$/.test(a ?? '')) {
          p.pid = Number(a);
          this.check(p);
        } else if (word === 'exit' && !exited) {
          exited = true;
          const code = a !== undefined && /^\d+$/.test(a) ? Number(a) : null;
          const signal = b !== undefined && /^SIG[A-Z0-9]+$/.test(b) ? (b as NodeJS.Signals) : null;
          p.exit({ code, signal: code === null && signal === null ? 'SIGKILL' : signal });
        } else if (word === 'error') {
          p.done(new Error(`python clone: ${line.slice(6)}`));
        }
      }
    });
    // The monitor gone without a word (killed with its cgroup): the clone is gone too (it dies with it).
    s.once('close', () => {
      if (!exited) {
        exited = true;
        p.exit({ code: null, signal: 'SIGKILL' });
      }
      p.done(new Error('python clone ended while starting'));
    });
  }

  private check(p: Pending): void {
    if (p.pid !== undefined && p.sockets.channel && p.sockets.out && p.sockets.status) p.done(undefined);
  }

  private request(proc: ChildProcess, shell: SandboxShell): Promise<AdoptedProcess> {
    const nonce = randomBytes(16).toString('hex');
    let exit!: Pending['exit'];
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => {
      exit = r;
    });
    return new Promise<AdoptedProcess>((resolve, reject) => {
      const timer = setTimeout(
        () => p.done(new Error('python clone did not report in time')),
        this.opts.cloneTimeoutMs ?? 10_000,
      );
      const onExit = () => p.done(new Error('python zygote exited'));
      proc.once('exit', onExit);
      const p: Pending = {
        sockets: {},
        exit,
        done: (e) => {
          if (!this.pending.has(nonce)) return;
          this.pending.delete(nonce);
          clearTimeout(timer);
          proc.off('exit', onExit);
          const { status, channel, out } = p.sockets;
          if (e === undefined && status && channel && out && p.pid !== undefined) {
            resolve({ pid: p.pid, channel, output: out, exited });
            return;
          }
          // Ending the monitor's connection does not end the clone: the shell's destroy does.
          for (const s of Object.values(p.sockets)) s.destroy();
          reject(e ?? new Error('python clone failed'));
        },
      };
      this.pending.set(nonce, p);
      const req = {
        nonce,
        socket: this.socketPath,
        pid: shell.nsPid,
        cgroupProcs: shell.cgroupProcs,
        uid: shell.uid,
        gid: shell.gid,
        cwd: shell.cwd,
        env: shell.env,
        seccomp: shell.seccomp.toString('hex'),
      };
      proc.stdin?.write(`${JSON.stringify(req)}\n`);
    });
  }
}
