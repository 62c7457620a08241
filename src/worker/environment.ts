// One execution environment: a runtime process bound to one tenant and one function version, serving one
// request at a time. States: starting → ready → bound → busy → bound … → retired (never reused after).
import type { RuntimeProcess } from '../pool/runtime-process.js';
import type { FrameHeader } from '../runtimes/node/protocol.js';
import type { SandboxExit } from '../sandbox/driver.js';
import { linkTree } from './code-link.js';
import type { FunctionVersionSpec } from './types.js';

export type EnvState = 'starting' | 'ready' | 'bound' | 'busy' | 'retired';

export interface BindOutcome {
  ok: boolean;
  initDurationMs: number;
  /** Output of init code (console during module load). */
  log: string;
  /** Lambda error body when init failed. */
  payload?: Buffer;
  errorType?: string;
  /** Init did not finish within the function's timeout; the environment was killed. */
  timedOut?: boolean;
  exit?: SandboxExit;
}

export interface InvokeOutcome {
  status: 'ok' | 'error' | 'timeout' | 'exit';
  payload?: Buffer;
  errorType?: string;
  /** An uncaught error ended the runtime's usefulness: retire after this answer. */
  fatal: boolean;
  rssBytes?: number;
  log: string;
  durationMs: number;
  exit?: SandboxExit;
}

interface Pending {
  id: string | undefined;
  logs: string[];
  logBytes: number;
  settle: (h: FrameHeader, body: Buffer) => void;
  exited: (exit: SandboxExit) => void;
}

type Creds = { accessKeyId: string; secretAccessKey: string; sessionToken: string };

/**
 * What the worker manager needs from an environment, whatever protocol its runtime speaks. The Node
 * runtime's framed channel is one implementation (Environment below); a runtime served the Lambda
 * Runtime API (Python, custom runtimes) would be another beside it.
 */
export interface ExecutionEnvironment {
  readonly id: string;
  state: EnvState;
  spec: FunctionVersionSpec | undefined;
  bind(
    spec: FunctionVersionSpec,
    env: Record<string, string>,
    info: Record<string, unknown>,
  ): Promise<BindOutcome>;
  invoke(
    requestId: string,
    payload: Buffer,
    deadline: number,
    clientContext: string | undefined,
    creds: Creds | undefined,
    traceId: string,
  ): Promise<InvokeOutcome>;
  ping(timeoutMs: number): Promise<boolean>;
  retire(): Promise<void>;
}

export class Environment implements ExecutionEnvironment {
  state: EnvState = 'ready';
  spec: FunctionVersionSpec | undefined;
  lastUsed = Date.now();
  idleTimer: NodeJS.Timeout | undefined;
  /** Its processes are stopped by the cgroup freezer (idle); thawed before the next request. */
  frozen = false;
  /** Retire as soon as the running request finishes (its version was replaced). */
  retireWhenIdle = false;
  private pending: Pending | undefined;
  /** Output written after an invocation answered; shown in the next invocation's log, as on Lambda. */
  private stray: string[] = [];
  private strayBytes = 0;
  private credsKey = '';
  private retiring: Promise<void> | undefined;

  private exitInfo: SandboxExit | undefined;

  constructor(readonly rt: RuntimeProcess) {
    rt.onFrame((h, body) => this.onFrame(h, body));
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

  private onFrame(h: FrameHeader, body: Buffer): void {
    if (h.t === 'log') {
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
    this.pending?.settle(h, body);
  }

  /** Links the code in, applies the function's limits, loads the handler and runs init once. */
  async bind(
    spec: FunctionVersionSpec,
    env: Record<string, string>,
    info: Record<string, unknown>,
  ): Promise<BindOutcome> {
    this.spec = spec;
    this.state = 'starting';
    const t0 = performance.now();
    const sb = this.rt.sandbox;
    await Promise.all([
      linkTree(spec.codeDir, sb.taskDir),
      sb.applyLimits({
        memoryMB: spec.memoryMB,
        // The admin's extra ranges for this tenant: routed before the code loads.
        ...(spec.networkOutbound && spec.egressAllow?.length ? { egressAllow: spec.egressAllow } : {}),
      }),
    ]);
    // Lambda gives on-demand init up to 10 s, or the function's timeout when that is longer.
    const timeoutMs = Math.max(INIT_TIMEOUT_MS, spec.timeoutSec * 1000);
    const { header, body, logs, timedOut, exit } = await this.exchange(
      { t: 'bind', handler: spec.handler, taskRoot: sb.taskRoot, env, ...info },
      undefined,
      'init',
      timeoutMs,
      undefined,
    );
    const initDurationMs = performance.now() - t0;
    const log = logs.join('');
    if (header !== undefined && header.ok === true) {
      this.state = 'bound';
      return { ok: true, initDurationMs, log };
    }
    if (header !== undefined) {
      return {
        ok: false,
        initDurationMs,
        log,
        payload: Buffer.from(body),
        errorType: String(header.errorType),
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

  /** Sends one invocation and waits for its answer, the runtime's death, or the deadline. */
  async invoke(
    requestId: string,
    payload: Buffer,
    deadline: number,
    clientContext: string | undefined,
    creds: Creds | undefined,
    traceId: string,
  ): Promise<InvokeOutcome> {
    this.state = 'busy';
    const header: FrameHeader = { t: 'invoke', id: requestId, deadline, tr: traceId };
    if (clientContext !== undefined) header.cc = clientContext;
    if (creds !== undefined) {
      // Credentials change rarely; send them only when they did.
      const key = creds.accessKeyId + creds.sessionToken;
      if (key !== this.credsKey) {
        header.creds = creds;
        this.credsKey = key;
      }
    }
    const t0 = performance.now();
    const r = await this.exchange(header, payload, 'result', deadline - Date.now(), requestId);
    const durationMs = performance.now() - t0;
    const log = r.logs.join('');
    if (r.header !== undefined) {
      const ok = r.header.ok === true;
      if (!r.header.fatal) this.state = 'bound';
      return {
        status: ok ? 'ok' : 'error',
        payload: r.body,
        ...(ok ? {} : { errorType: String(r.header.errorType) }),
        fatal: r.header.fatal === true,
        rssBytes: Number(r.header.rss ?? 0),
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

  /**
   * One request/answer over the channel, raced against the runtime's exit and a timer. On timeout the
   * environment is killed at once: a runaway handler must not keep its CPU.
   */
  private exchange(
    header: FrameHeader,
    body: Buffer | undefined,
    answer: string,
    timeoutMs: number,
    id: string | undefined,
  ): Promise<{ header?: FrameHeader; body: Buffer; logs: string[]; timedOut?: boolean; exit?: SandboxExit }> {
    return new Promise((resolve) => {
      const logs = this.stray.length > 0 ? this.stray.splice(0) : [];
      const logBytes = this.strayBytes;
      this.strayBytes = 0;
      let done = false;
      const finish = (r: { header?: FrameHeader; body: Buffer; timedOut?: boolean; exit?: SandboxExit }) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending = undefined;
        resolve({ ...r, logs });
      };
      const timer = setTimeout(
        () => {
          this.rt.sandbox.kill();
          finish({ body: EMPTY, timedOut: true });
        },
        Math.max(1, timeoutMs),
      );
      this.pending = {
        id,
        logs,
        logBytes,
        settle: (h, b) => {
          if (h.t === answer) finish({ header: h, body: b });
        },
        exited: (exit) => finish({ body: EMPTY, exit }),
      };
      if (this.exitInfo !== undefined) finish({ body: EMPTY, exit: this.exitInfo });
      else this.rt.send(header, body);
    });
  }

  ping(timeoutMs: number): Promise<boolean> {
    return this.rt.ping(timeoutMs);
  }

  retire(): Promise<void> {
    this.state = 'retired';
    clearTimeout(this.idleTimer);
    this.retiring ??= this.rt.destroy();
    return this.retiring;
  }
}

const EMPTY = Buffer.alloc(0);
const INIT_TIMEOUT_MS = 10_000;
/** Log bytes kept per invocation; a function printing without end must not exhaust the host's memory. */
export const LOG_LIMIT = 1024 * 1024;
