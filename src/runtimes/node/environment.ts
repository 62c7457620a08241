// One Node execution environment: a NodeProcess bound to one function version, serving one request at a
// time over the framed channel. States: see EnvState (runtime.ts).
import type { SandboxExit } from '../../sandbox/driver.js';
import type { CompileCache } from '../compile-cache.js';
import type {
  BindOutcome,
  BindRequest,
  EnvState,
  ExecutionEnvironment,
  InvokeOutcome,
  InvokeRequest,
  ResponseSink,
} from '../runtime.js';
import type { NodeProcess } from './process.js';
import type { HostFrame, RuntimeFrame } from './protocol.js';
import { StreamRelay } from './stream-relay.js';

type Answer = Extract<RuntimeFrame, { t: 'init' | 'result' }>;

interface Pending {
  id: string | undefined;
  logs: string[];
  logBytes: number;
  settle: (f: RuntimeFrame, body: Buffer) => void;
  exited: (exit: SandboxExit) => void;
}

type Chunk = Extract<RuntimeFrame, { t: 'chunk' }>;

interface Exchange {
  answer?: Answer;
  body: Buffer;
  logs: string[];
  timedOut?: boolean;
  exit?: SandboxExit;
  /** The deadline a held invocation ran to once the runtime started it ('start' frame). */
  movedDeadline?: number;
}

export class NodeEnvironment implements ExecutionEnvironment {
  state: EnvState = 'ready';
  private pending: Pending | undefined;
  /** Output written after an invocation answered; shown in the next invocation's log, as on Lambda. */
  private stray: string[] = [];
  private strayBytes = 0;
  private credsKey = '';
  private retiring: Promise<void> | undefined;
  /** Extensions the runtime started at bind (its init answer says): they get SHUTDOWN at retirement. */
  private extensionCount = 0;
  /** With extensions: the runtime holds the next invocation at most until then (the last one's deadline). */
  private holdUntil = 0;
  /** The running invocation's ResponseSink, and the relay of its streamed bytes once it streams. */
  private sink: ResponseSink | undefined;
  private relay: StreamRelay | undefined;
  /** Code whose compile cache is built once this environment's first invocation has answered. */
  private buildAfterInvoke: string | undefined;

  private exitInfo: SandboxExit | undefined;

  constructor(
    private readonly rt: NodeProcess,
    /** Variables this runtime sets for a bound function (NODE_PATH, LAMBDA_RUNTIME_DIR). */
    private readonly runtimeEnv: Record<string, string>,
    /** The runtime's compile caches: the version's is linked in when built, else built after this environment's first invocation. */
    private readonly compileCache?: CompileCache,
    /** Told when a bind's init used the ES-module loader. */
    private readonly onEsmBind?: () => void,
  ) {
    rt.onFrame((f, body) => this.onFrame(f, body));
    // One subscription for the environment's life, not one per request.
    void rt.sandbox.exited.then((exit) => {
      this.exitInfo = exit;
      this.pending?.exited(exit);
    });
  }

  get id(): string {
    return this.rt.id;
  }

  get relayPort(): number {
    return this.rt.relayPort;
  }

  get taskRoot(): string {
    return this.rt.sandbox.taskRoot;
  }

  get exited(): Promise<SandboxExit> {
    return this.rt.sandbox.exited;
  }

  alive(): boolean {
    return this.rt.sandbox.alive();
  }

  freeze(): boolean {
    return this.rt.sandbox.freeze();
  }

  thaw(): boolean {
    return this.rt.sandbox.thaw();
  }

  memoryPeakBytes(): number | undefined {
    return this.rt.sandbox.memoryPeakBytes();
  }

  private onFrame(f: RuntimeFrame, body: Buffer): void {
    if (f.t === 'log') {
      const p = this.pending;
      const logs = p !== undefined ? p.logs : this.stray;
      const used = p !== undefined ? p.logBytes : this.strayBytes;
      if (used < LOG_LIMIT) {
        logs.push(
          used + body.length <= LOG_LIMIT
            ? body.toString('utf8')
            : `${body.toString('utf8', 0, LOG_LIMIT - used)}\n[log truncated]\n`,
        );
      }
      if (p !== undefined) p.logBytes += body.length;
      else this.strayBytes += body.length;
      return;
    }
    if (f.t === 'chunk') {
      // Bytes of an invocation that already answered (or of none) are dropped.
      const p = this.pending;
      if (p?.id !== undefined && p.id === f.id) this.onChunk(f, body);
      return;
    }
    this.pending?.settle(f, body);
  }

  async bind(req: BindRequest): Promise<BindOutcome> {
    this.state = 'starting';
    const t0 = performance.now();
    const sb = this.rt.sandbox;
    const compiled = sb.cacheRoot !== undefined ? this.compileCache?.lookup(req.codeDir) : undefined;
    await Promise.all([
      sb.bindCode(req.codeDir, compiled, req.layersDir),
      sb.applyLimits({
        memoryMB: req.memoryMB,
        // The admin's extra ranges for this tenant: routed before the code loads.
        ...(req.egressAllow?.length ? { egressAllow: req.egressAllow } : {}),
      }),
    ]);
    // Lambda gives on-demand init up to 10 s, or the function's timeout when that is longer.
    const timeoutMs = Math.max(INIT_TIMEOUT_MS, req.timeoutSec * 1000);
    const { answer, body, logs, timedOut, exit } = await this.exchange(
      {
        t: 'bind',
        handler: req.handler,
        taskRoot: sb.taskRoot,
        env: { ...req.env, ...this.runtimeEnv },
        ...(compiled !== undefined && { cache: sb.cacheRoot }),
        ...req.context,
      },
      undefined,
      'init',
      timeoutMs,
      undefined,
    );
    const initDurationMs = performance.now() - t0;
    const log = logs.join('');
    if (answer?.ok) {
      this.state = 'bound';
      if (answer.t === 'init') {
        this.extensionCount = answer.ext ?? 0;
        if (answer.esm === true) this.onEsmBind?.();
      }
      // The first environment of this code pays for compiling; later ones start from what it built.
      if (compiled === undefined && sb.cacheRoot !== undefined) this.buildAfterInvoke = req.codeDir;
      return {
        ok: true,
        initDurationMs,
        log,
        ...(answer.t === 'init' && answer.cc !== undefined && { compileCache: answer.cc }),
        ...(answer.t === 'init' && answer.esm === true && { esm: true }),
      };
    }
    if (answer !== undefined) {
      return {
        ok: false,
        initDurationMs,
        log,
        payload: Buffer.from(body),
        errorType: String(answer.errorType),
      };
    }
    return {
      ok: false,
      initDurationMs,
      log,
      ...(timedOut ? { timedOut: true } : {}),
      ...(exit ? { exit } : {}),
    };
  }

  async invoke(req: InvokeRequest): Promise<InvokeOutcome> {
    this.state = 'busy';
    const { requestId, deadline, credentials: creds } = req;
    const frame: Extract<HostFrame, { t: 'invoke' }> = {
      t: 'invoke',
      id: requestId,
      deadline,
      tr: req.traceId,
    };
    if (req.clientContext !== undefined) frame.cc = req.clientContext;
    if (creds !== undefined) {
      // Credentials change rarely; send them only when they did.
      const key = creds.accessKeyId + creds.sessionToken;
      if (key !== this.credsKey) {
        frame.creds = creds;
        this.credsKey = key;
      }
    }
    this.sink = req.stream;
    // With extensions the runtime may hold this invocation until they are done with the last one, at most
    // until its deadline: that wait is not taken from this invocation's timeout (on Lambda it is the last
    // invocation's phase), so the timer covers the hold and moves to this invocation's own deadline when
    // the runtime starts it ('start' frame). Its duration still counts from here, the hold included: the
    // runtime's word moves only the timer, within bounds, never what is billed.
    const hold = this.extensionCount > 0 ? Math.max(0, this.holdUntil - Date.now()) : 0;
    const timeoutMs = deadline - Date.now();
    const t0 = performance.now();
    const r = await this.exchange(frame, req.payload, 'result', timeoutMs, requestId, hold);
    const durationMs = performance.now() - t0;
    // The next hold ends at this invocation's deadline, and never more than a timeout after its answer: a
    // moved deadline is the runtime's word, and taken alone each could stretch the next one's bound
    // further (a forged 'start' per invocation would add a timeout to the bound every time).
    if (this.extensionCount > 0)
      this.holdUntil = Math.min(r.movedDeadline ?? deadline, Date.now() + timeoutMs);
    const relay = this.relay;
    this.relay = undefined;
    this.sink = undefined;
    if (this.buildAfterInvoke !== undefined) {
      // Not during the first invocation, which a caller waits for: starting the build forks this process.
      const codeDir = this.buildAfterInvoke;
      this.buildAfterInvoke = undefined;
      setTimeout(() => void this.compileCache?.build(codeDir), BUILD_DELAY_MS).unref();
    }
    const log = r.logs.join('');
    const a = r.answer;
    if (relay !== undefined) return this.streamedOutcome(relay, r, req.stream !== undefined, log, durationMs);
    if (a !== undefined && a.t === 'result') {
      if (!a.fatal) this.state = 'bound';
      return {
        status: a.ok ? 'ok' : 'error',
        payload: r.body,
        ...(a.ok ? {} : { errorType: String(a.errorType) }),
        fatal: a.fatal === true,
        rssBytes: a.rss ?? 0,
        log,
        durationMs,
      };
    }
    return {
      status: r.timedOut ? 'timeout' : 'exit',
      fatal: true,
      log,
      durationMs,
      ...(r.exit ? { exit: r.exit } : {}),
    };
  }

  /** A streaming handler's bytes; the relay is made at the first, so a handler that does not stream costs nothing. */
  private onChunk(f: Chunk, body: Buffer): void {
    this.relay ??= new StreamRelay(
      {
        pause: () => this.rt.pauseReading(),
        resume: () => this.rt.resumeReading(),
        kill: () => this.rt.sandbox.kill(),
      },
      this.sink,
    );
    this.relay.push(f.ct, body);
  }

  /** The outcome of an invocation whose handler streamed: to the caller's sink, or collected as the payload. */
  private streamedOutcome(
    relay: StreamRelay,
    r: Exchange,
    toSink: boolean,
    log: string,
    durationMs: number,
  ): InvokeOutcome {
    relay.end();
    const streamed = toSink ? { streamed: true } : {};
    if (relay.overLimit) {
      // The environment was killed to stop the writer.
      return {
        status: 'error',
        payload: relay.tooLarge(),
        errorType: 'Function.ResponseSizeTooLarge',
        fatal: true,
        log,
        durationMs,
        ...streamed,
      };
    }
    const a = r.answer;
    if (a === undefined || a.t !== 'result') {
      return {
        status: r.timedOut ? 'timeout' : 'exit',
        fatal: true,
        log,
        durationMs,
        ...(r.exit ? { exit: r.exit } : {}),
        ...streamed,
      };
    }
    if (!a.fatal) this.state = 'bound';
    return {
      status: a.ok ? 'ok' : 'error',
      payload: a.ok && !toSink ? relay.payload() : r.body,
      ...(a.ok ? {} : { errorType: String(a.errorType) }),
      fatal: a.fatal === true,
      rssBytes: a.rss ?? 0,
      log,
      durationMs,
      ...streamed,
    };
  }

  /**
   * One request/answer over the channel, raced against the runtime's exit and a timer. On timeout the
   * environment is killed at once: a runaway handler must not keep its CPU.
   */
  private exchange(
    frame: HostFrame,
    body: Buffer | undefined,
    answer: Answer['t'],
    timeoutMs: number,
    id: string | undefined,
    holdMs = 0,
  ): Promise<Exchange> {
    return new Promise((resolve) => {
      const logs = this.stray.length > 0 ? this.stray.splice(0) : [];
      const logBytes = this.strayBytes;
      this.strayBytes = 0;
      let done = false;
      let movedDeadline: number | undefined;
      const finish = (r: Omit<Exchange, 'logs'>) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending = undefined;
        resolve({ ...r, logs, movedDeadline });
      };
      const expire = () => {
        this.rt.sandbox.kill();
        finish({ body: EMPTY, timedOut: true });
      };
      const latest = Date.now() + holdMs + timeoutMs;
      let timer = setTimeout(expire, Math.max(1, timeoutMs + holdMs));
      this.pending = {
        id,
        logs,
        logBytes,
        settle: (f, b) => {
          if (f.t === answer) finish({ answer: f as Answer, body: b });
          else if (f.t === 'start' && holdMs > 0 && f.id === id) {
            // The runtime's word, and user code can write to the channel too (a forged frame can even
            // arrive before the runtime's own): never past the hold's bound plus this invocation's own
            // time, and a later word can only bring the deadline nearer.
            const now = Date.now();
            movedDeadline = Math.min(Math.max(f.deadline, now), movedDeadline ?? latest);
            clearTimeout(timer);
            timer = setTimeout(expire, Math.max(1, movedDeadline - now));
          }
        },
        exited: (exit) => finish({ body: EMPTY, exit }),
      };
      if (this.exitInfo !== undefined) finish({ body: EMPTY, exit: this.exitInfo });
      else this.rt.send(frame, body);
    });
  }

  ping(timeoutMs: number): Promise<boolean> {
    return this.rt.ping(timeoutMs);
  }

  trimMemory(timeoutMs: number): Promise<boolean> {
    return this.rt.ping(timeoutMs, { trim: true });
  }

  retire(): Promise<void> {
    this.state = 'retired';
    this.retiring ??= this.extensionCount > 0 ? this.shutdown() : this.rt.destroy();
    return this.retiring;
  }

  /** Lambda's Shutdown phase: extensions get SHUTDOWN and 2 s to finish (the runtime then exits), then kill. */
  private async shutdown(): Promise<void> {
    const sb = this.rt.sandbox;
    if (sb.alive()) {
      sb.thaw();
      this.rt.send({ t: 'shutdown', reason: 'spindown' });
      await Promise.race([sb.exited, new Promise((r) => setTimeout(r, SHUTDOWN_WAIT_MS).unref())]);
    }
    await this.rt.destroy();
  }
}

const EMPTY = Buffer.alloc(0);
const INIT_TIMEOUT_MS = 10_000;
/** Lambda's 2 s for extensions after SHUTDOWN, and a little for the runtime to exit. */
const SHUTDOWN_WAIT_MS = 2_500;
/** After the first invocation's answer, how long before its compile cache's build starts. */
const BUILD_DELAY_MS = 100;
/** Log bytes kept per invocation; a function printing without end must not exhaust the host's memory. */
export const LOG_LIMIT = 1024 * 1024;
