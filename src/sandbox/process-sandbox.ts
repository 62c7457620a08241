// A sandbox that is one spawned host process (bwrap, or plain node when unsandboxed) with an inherited
// socketpair on fd 3, an optional per-environment cgroup and its own host dir. Shared by both drivers.
// Code gets in by hard-linking into a host dir the sandbox already sees read-only at its task root.
import { type ChildProcess, spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { EnvCgroup } from './cgroup.js';
import { linkTree } from './code-link.js';
import type { Limits, Sandbox, SandboxExit } from './driver.js';
import type { Egress } from './egress.js';

const TAIL = 4096;

/** How the runtime inside finds its end of the channel (KINDLING_CHANNEL): the first fd after stdio. */
export const CHANNEL = 'fd:3';

/** What a ProcessSandbox uses of its process: a spawned child, or a process moved into a shell (adopt). */
export interface SandboxProcess {
  readonly pid?: number | undefined;
  /** fd 3 is the channel. */
  readonly stdio: ReadonlyArray<unknown>;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  kill(signal: NodeJS.Signals): boolean;
}

export class ProcessSandbox implements Sandbox {
  readonly pid: number;
  readonly channel: Socket;
  readonly exited: Promise<SandboxExit>;
  private tail = '';
  private destroyed: Promise<void> | undefined;
  private running = true;

  constructor(
    readonly id: string,
    private readonly child: SandboxProcess,
    /** Host dir the sandbox sees read-only at taskRoot. */
    private readonly taskDir: string,
    readonly taskRoot: string,
    /** Where the runtime sees an image path (see Sandbox.resolve). */
    private readonly resolvePath: (dest: string) => string | undefined,
    private readonly envDir: string,
    private readonly cgroup: EnvCgroup | undefined,
    /** Runs once the sandbox is gone (the driver takes back what it lent it, such as its host uid). */
    private readonly onDestroyed: () => void = () => {},
    /** The sandbox's user-mode network, when it has outbound network: it lives and dies with the sandbox. */
    private readonly egress?: Egress,
    /** Host dir the sandbox sees read-only at `root`, for a version's compile cache. */
    private readonly cache?: { dir: string; root: string },
    /** Host dir the sandbox sees read-only at /opt, for the bound function's layers. */
    private readonly opt?: string,
  ) {
    this.pid = child.pid ?? -1;
    if (egress !== undefined) {
      child.once('exit', () => egress.stop());
      // Without its network helper the sandbox is not what it was started as: end it (it is then retired).
      void egress.exited.then(() => this.kill());
    }
    const ch = child.stdio[3];
    if (ch === null || ch === undefined) throw new Error('sandbox channel (fd 3) missing');
    this.channel = ch as Socket;
    // The channel is a stream we read frames from; errors surface as the process' exit.
    this.channel.on('error', () => {});
    for (const s of [child.stdout, child.stderr]) {
      s?.setEncoding('utf8');
      s?.on('data', (d: string) => {
        this.tail = (this.tail + d).slice(-TAIL);
      });
    }
    const channelClosed = new Promise<void>((resolve) => this.channel.once('close', () => resolve()));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.running = false;
        // Let the last frames and stderr bytes drain before reporting (bounded: a stray process that
        // inherited the channel must not hold the answer back).
        const drained = new Promise((r) => setTimeout(r, 200).unref());
        void Promise.race([channelClosed, drained]).then(() =>
          setImmediate(() =>
            resolve({
              code,
              signal,
              oomKilled: (this.cgroup?.oomKills() ?? 0) > 0 || /heap out of memory/i.test(this.tail),
              stderrTail: this.tail,
            }),
          ),
        );
      });
    });
  }

  alive(): boolean {
    return this.running;
  }

  get cacheRoot(): string | undefined {
    return this.cache?.root;
  }

  async bindCode(codeDir: string, compiledDir?: string, layersDir?: string): Promise<void> {
    if (layersDir !== undefined) {
      // Without a private /opt the layers would be missing where the function looks: refuse, never half-run.
      if (this.opt === undefined) throw new Error('this sandbox cannot hold layers (no private /opt)');
      await linkTree(layersDir, this.opt);
    }
    await linkTree(codeDir, this.taskDir);
    if (compiledDir !== undefined && this.cache !== undefined) await linkTree(compiledDir, this.cache.dir);
  }

  resolve(dest: string): string | undefined {
    return this.resolvePath(dest);
  }

  async applyLimits(limits: Limits): Promise<void> {
    this.cgroup?.setMemory(limits.memoryMB);
    if (limits.egressAllow !== undefined && limits.egressAllow.length > 0) {
      if (this.egress === undefined)
        throw new Error('egress ranges given for a sandbox without outbound network');
      await this.egress.allow(limits.egressAllow);
    }
  }

  memoryPeakBytes(): number | undefined {
    return this.cgroup?.peakBytes();
  }

  freeze(): boolean {
    return this.running && (this.cgroup?.freeze() ?? false);
  }

  thaw(): boolean {
    return this.cgroup?.thaw() ?? false;
  }

  kill(): void {
    if (!this.running) return;
    // A frozen process would not act on the signal.
    this.cgroup?.thaw();
    // SIGKILL to bwrap's monitor ends its pid-1 (die-with-parent), and with pid 1 the whole pid namespace.
    try {
      this.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }

  destroy(): Promise<void> {
    this.destroyed ??= (async () => {
      this.kill();
      this.egress?.stop();
      this.channel.destroy();
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, 2000))]);
      await this.cgroup?.destroy();
      this.onDestroyed();
      await fsp.rm(this.envDir, { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
    })();
    return this.destroyed;
  }
}

/**
 * Spawns with fd 3 as a duplex unix socket (Node creates a socketpair for 'pipe' stdio); `extra` become the
 * child's fds 4, 5, … in order: open descriptors of ours, or 'pipe' for one more pipe (bwrap's --info-fd).
 */
export function spawnWithChannel(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  extra: Array<number | 'pipe'> = [],
): ChildProcess {
  // A session (and process group) of its own: an idle environment stopped by SIGSTOP (cgroup v1) must not
  // sit in the server's group, which a parent shell's exit can orphan, and the kernel then sends an
  // orphaned group holding a stopped process SIGHUP (it killed every frozen sandbox). Nor do a terminal's
  // signals reach it: the server ends its environments itself, and they still die with it (bwrap's
  // --die-with-parent; a runtime exits when its channel closes).
  return spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe', ...extra], env, cwd, detached: true });
}
