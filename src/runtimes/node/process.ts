// The host side of the Node runtime's channel: a started sandbox with the framed channel decoded, typed
// frames checked, the runtime's "ready" awaited, pings answered. NodeEnvironment builds on it.
import type { Sandbox, SandboxDriver, SandboxSpec } from '../../sandbox/driver.js';
import {
  encodeFrame,
  FrameDecoder,
  type HostFrame,
  ProtocolError,
  type RuntimeFrame,
  runtimeFrame,
} from './protocol.js';

/** Frames from a runtime: small JSON headers; bodies up to Lambda's 6 MB response plus slack. */
const MAX_HEADER = 64 * 1024;
const MAX_BODY = 7 * 1024 * 1024;

export type RuntimeFrameHandler = (frame: RuntimeFrame, body: Buffer) => void;

export class NodeProcess {
  /** Port of the platform API relay inside the sandbox (AWS_ENDPOINT_URL). */
  relayPort = 0;
  /** Time from spawn to the runtime's "ready". */
  bootMs = 0;
  private handler: RuntimeFrameHandler | undefined;
  private pingSeq = 0;
  private pings = new Map<number, () => void>();

  private constructor(readonly sandbox: Sandbox) {
    const decoder = new FrameDecoder(
      (h, body) => {
        const f = runtimeFrame(h);
        if (f === undefined) return;
        if (f.t === 'pong') {
          this.pings.get(f.n)?.();
          this.pings.delete(f.n);
          return;
        }
        this.handler?.(f, body);
      },
      { maxHeader: MAX_HEADER, maxBody: MAX_BODY },
    );
    // User code can write to the channel too: anything that is not a well-formed frame ends the sandbox.
    const channel = sandbox.channel;
    const onData = (c: Buffer) => {
      try {
        decoder.push(c);
      } catch (e) {
        channel.off('data', onData);
        if (!(e instanceof ProtocolError)) throw e;
        sandbox.kill();
      }
    };
    channel.on('data', onData);
    // A runtime that closed its channel can never answer again.
    // Not at once: when the runtime exits, its channel closes first and its exit status must still be seen.
    channel.on('close', () => setTimeout(() => sandbox.kill(), 500).unref());
  }

  /** Starts a sandbox and waits for its runtime to say it is ready (or fails, killing it). */
  /** `warmEsm`: the start's first ping also initialises the ES-module loader (bootstrap.ts, warmEsm). */
  static async start(
    driver: SandboxDriver,
    spec: SandboxSpec,
    opts: { timeoutMs?: number; warmEsm?: boolean } = {},
  ): Promise<NodeProcess> {
    const timeoutMs = opts.timeoutMs ?? 15_000;
    const t0 = performance.now();
    const sandbox = await driver.start(spec);
    const rp = new NodeProcess(sandbox);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`runtime did not start within ${timeoutMs} ms`)),
          timeoutMs,
        );
        rp.onFrame((f) => {
          if (f.t !== 'ready') return;
          clearTimeout(timer);
          rp.relayPort = f.relayPort;
          resolve();
        });
        void sandbox.exited.then((e) => {
          clearTimeout(timer);
          reject(
            new Error(
              `runtime exited while starting (code ${e.code}, signal ${e.signal}): ${e.stderrTail.trim()}`,
            ),
          );
        });
      });
      // The first frame a runtime reads pays one-time costs (Node: ~3 ms setting up and compiling its read
      // path); paid here, in the pool, rather than by the bind of a pool hit.
      const answered = await Promise.race([
        rp.ping(timeoutMs, { esm: opts.warmEsm === true }),
        sandbox.exited.then(() => false),
      ]);
      if (!answered) throw new Error('runtime did not answer its first ping');
    } catch (e) {
      await sandbox.destroy();
      throw e;
    }
    rp.onFrame(undefined);
    rp.bootMs = performance.now() - t0;
    return rp;
  }

  get id(): string {
    return this.sandbox.id;
  }

  onFrame(handler: RuntimeFrameHandler | undefined): void {
    this.handler = handler;
  }

  send(frame: HostFrame, body?: Buffer | string): void {
    const bufs = encodeFrame(frame, body);
    const ch = this.sandbox.channel;
    if (bufs.length === 1) ch.write(bufs[0]!);
    else {
      ch.cork();
      for (const b of bufs) ch.write(b);
      ch.uncork();
    }
  }

  /** Stops (and restarts) reading the channel: a streamed response's backpressure reaches the runtime. */
  pauseReading(): void {
    this.sandbox.channel.pause();
  }

  resumeReading(): void {
    this.sandbox.channel.resume();
  }

  /** Resolves true if the runtime answers within timeoutMs. */
  ping(timeoutMs: number, opts: { esm?: boolean; trim?: boolean } = {}): Promise<boolean> {
    if (!this.sandbox.alive()) return Promise.resolve(false);
    const n = ++this.pingSeq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pings.delete(n);
        resolve(false);
      }, timeoutMs);
      this.pings.set(n, () => {
        clearTimeout(timer);
        resolve(true);
      });
      this.send({
        t: 'ping',
        n,
        ...(opts.esm === true && { esm: true }),
        ...(opts.trim === true && { trim: true }),
      });
    });
  }

  destroy(): Promise<void> {
    return this.sandbox.destroy();
  }
}
