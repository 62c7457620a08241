// A started sandbox with its language runtime up: the framed channel decoded, the runtime's "ready"
// awaited. This is what the warming pool keeps and what the worker binds to a function version.
import {
  encodeFrame,
  FrameDecoder,
  type FrameHandler,
  type FrameHeader,
  ProtocolError,
} from '../runtimes/node/protocol.js';
import type { Sandbox, SandboxDriver, SandboxSpec } from '../sandbox/driver.js';

/** Frames from a runtime: small JSON headers; bodies up to Lambda's 6 MB response plus slack. */
const MAX_HEADER = 64 * 1024;
const MAX_BODY = 7 * 1024 * 1024;

export class RuntimeProcess {
  /** Port of the platform API relay inside the sandbox (AWS_ENDPOINT_URL). */
  relayPort = 0;
  /** Time from spawn to the runtime's "ready". */
  bootMs = 0;
  private handler: FrameHandler | undefined;
  private pingSeq = 0;
  private pings = new Map<number, () => void>();

  private constructor(readonly sandbox: Sandbox) {
    const decoder = new FrameDecoder(
      (h, body) => {
        if (h.t === 'pong') {
          const n = h.n as number;
          this.pings.get(n)?.();
          this.pings.delete(n);
          return;
        }
        this.handler?.(h, body);
      },
      { maxHeader: MAX_HEADER, maxBody: MAX_BODY },
    );
    // User code can write to fd 3 too: anything that is not a well-formed frame ends the sandbox.
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
  static async start(driver: SandboxDriver, spec: SandboxSpec, timeoutMs = 15_000): Promise<RuntimeProcess> {
    const t0 = performance.now();
    const sandbox = await driver.start(spec);
    const rp = new RuntimeProcess(sandbox);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`runtime did not start within ${timeoutMs} ms`)),
          timeoutMs,
        );
        rp.onFrame((h) => {
          if (h.t !== 'ready') return;
          clearTimeout(timer);
          rp.relayPort = Number(h.relayPort ?? 0);
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

  onFrame(handler: FrameHandler | undefined): void {
    this.handler = handler;
  }

  send(header: FrameHeader, body?: Buffer | string): void {
    const bufs = encodeFrame(header, body);
    const ch = this.sandbox.channel;
    if (bufs.length === 1) ch.write(bufs[0]!);
    else {
      ch.cork();
      for (const b of bufs) ch.write(b);
      ch.uncork();
    }
  }

  /** Resolves true if the runtime answers within timeoutMs. */
  ping(timeoutMs: number): Promise<boolean> {
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
      this.send({ t: 'ping', n });
    });
  }

  destroy(): Promise<void> {
    return this.sandbox.destroy();
  }
}
