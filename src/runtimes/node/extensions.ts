// Lambda extensions inside a Node sandbox: the executables in /opt/extensions (from the function's layers)
// start with the environment, in the same sandbox and cgroup, and are served a subset of Lambda's
// Extensions API on a loopback port (their AWS_LAMBDA_RUNTIME_API): register, event/next (INVOKE and
// SHUTDOWN), init/error and exit/error. Nothing of this runs for a function without /opt/extensions.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const DIR = '/opt/extensions';
const API = '/2020-01-01/extension';
/** How long init waits for every extension to register and ask for its first event (Kindling's bound). */
export const REGISTER_BOUND_MS = 2_000;
/** Lambda's grace for extensions after SHUTDOWN. */
export const SHUTDOWN_GRACE_MS = 2_000;

interface Ext {
  file: string;
  proc: ChildProcess;
  exited: boolean;
  id?: string;
  name?: string;
  events: Set<string>;
  /** Its /event/next request waiting for an event. */
  waiting?: http.ServerResponse;
  queued: unknown[];
  /** Asked for its next event since the last one was delivered (Lambda's "done with the invocation"). */
  idle: boolean;
}

export interface FunctionInfo {
  functionName: string;
  functionVersion: string;
  handler: string;
}

/** The environment's extensions and their API; `problem` says why the environment should be retired. */
export class Extensions {
  readonly #exts: Ext[] = [];
  readonly #server: http.Server;
  #problem: string | undefined;
  #log: (line: string) => void;

  private constructor(server: http.Server, log: (line: string) => void) {
    this.#server = server;
    this.#log = log;
  }

  /** Starts the API and the extensions when /opt/extensions has any; undefined (no cost) otherwise. */
  static async start(info: FunctionInfo, log: (line: string) => void): Promise<Extensions | undefined> {
    let names: string[];
    try {
      names = fs.readdirSync(DIR).sort();
    } catch {
      return undefined;
    }
    const files = names.map((n) => path.join(DIR, n)).filter((f) => fs.statSync(f).isFile());
    if (files.length === 0) return undefined;
    const server = http.createServer();
    const self = new Extensions(server, log);
    server.on('request', (req, res) => self.#serve(info, req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    for (const file of files) {
      const proc = spawn(file, [], {
        env: { ...process.env, AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${port}` },
        stdio: ['ignore', 'pipe', 'pipe'],
        cwd: '/',
      });
      const ext: Ext = { file, proc, exited: false, events: new Set(), queued: [], idle: false };
      // Their output is the function's log, as on Lambda.
      proc.stdout?.on('data', (d: Buffer) => process.stdout.write(d));
      proc.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
      proc.on('error', (e) => self.#fail(ext, `could not start: ${e.message}`));
      proc.on('exit', (code, signal) => {
        ext.exited = true;
        if (!self.#shuttingDown) self.#fail(ext, `exited (${signal ?? code})`);
      });
      self.#exts.push(ext);
    }
    // Init waits until every extension registered and asked for its first event, within a bound.
    const ready = await self.#until(
      () => self.#exts.every((e) => e.exited || (e.id !== undefined && e.idle)),
      REGISTER_BOUND_MS,
    );
    if (!ready) {
      for (const e of self.#exts)
        if (e.id === undefined && !e.exited) self.#fail(e, 'did not register');
        else if (!e.idle && !e.exited) self.#fail(e, 'did not call /event/next');
    }
    return self;
  }

  get count(): number {
    return this.#exts.length;
  }

  /** Why this environment cannot go on (an extension crashed, never registered, or never finished). */
  get problem(): string | undefined {
    return this.#problem;
  }

  /** Delivers INVOKE to the extensions that asked for it. */
  invoke(requestId: string, deadlineMs: number, arn: string, trace: string | undefined): void {
    const ev = {
      eventType: 'INVOKE',
      deadlineMs,
      requestId,
      invokedFunctionArn: arn,
      tracing: { type: 'X-Amzn-Trace-Id', value: trace ?? '' },
    };
    for (const e of this.#exts)
      if (e.events.has('INVOKE') && e.id !== undefined && !e.exited) this.#deliver(e, ev);
  }

  /**
   * Waits until every registered extension asked for its next event again (done with the invocation), up
   * to the deadline; false (and the environment marked for retirement) when one did not.
   */
  async settled(deadlineMs: number): Promise<boolean> {
    const ok = await this.#until(
      () => this.#exts.every((e) => e.exited || e.id === undefined || e.idle),
      Math.max(1, deadlineMs - Date.now()),
    );
    if (!ok)
      for (const e of this.#exts)
        if (!e.idle && !e.exited && e.id !== undefined) this.#fail(e, 'did not call /event/next');
    return ok;
  }

  #shuttingDown = false;

  /** SHUTDOWN to those that asked for it, then up to Lambda's 2 s grace for all to exit, then kill. */
  async shutdown(reason: string): Promise<void> {
    this.#shuttingDown = true;
    const deadlineMs = Date.now() + SHUTDOWN_GRACE_MS;
    for (const e of this.#exts)
      if (e.events.has('SHUTDOWN') && e.id !== undefined && !e.exited)
        this.#deliver(e, { eventType: 'SHUTDOWN', shutdownReason: reason, deadlineMs });
    await this.#until(() => this.#exts.every((e) => e.exited), SHUTDOWN_GRACE_MS);
    for (const e of this.#exts) if (!e.exited) e.proc.kill('SIGKILL');
    this.#server.close();
  }

  #fail(e: Ext, why: string): void {
    const name = e.name ?? path.basename(e.file);
    this.#log(`EXTENSION\tName: ${name}\tState: Failed\tReason: ${why}\n`);
    this.#problem ??= `extension ${name} ${why}`;
  }

  #deliver(e: Ext, ev: unknown): void {
    e.idle = false;
    if (e.waiting !== undefined) {
      const res = e.waiting;
      e.waiting = undefined;
      this.#answerEvent(e, res, ev);
    } else e.queued.push(ev);
  }

  #answerEvent(e: Ext, res: http.ServerResponse, ev: unknown): void {
    res.writeHead(200, {
      'content-type': 'application/json',
      'lambda-extension-event-identifier': randomUUID(),
    });
    res.end(JSON.stringify(ev));
    void e;
  }

  #until(cond: () => boolean, ms: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const end = Date.now() + ms;
      const tick = () => {
        if (cond()) resolve(true);
        else if (Date.now() >= end) resolve(false);
        else setTimeout(tick, 5);
      };
      setTimeout(tick, 5);
    });
  }

  #serve(info: FunctionInfo, req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 1 << 20) chunks.push(c);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const error = (status: number, type: string, message: string) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errorMessage: message, errorType: type }));
      };
      const idHeader = req.headers['lambda-extension-identifier'];
      const byId = typeof idHeader === 'string' ? this.#exts.find((e) => e.id === idHeader) : undefined;
      const url = req.url ?? '';
      if (req.method === 'POST' && url === `${API}/register`) {
        const name = req.headers['lambda-extension-name'];
        if (typeof name !== 'string' || name === '')
          return error(400, 'InvalidRequest', 'Lambda-Extension-Name header is required.');
        let events: unknown;
        try {
          events = (JSON.parse(body || '{}') as { events?: unknown }).events ?? [];
        } catch {
          return error(400, 'InvalidRequest', 'The body is not JSON.');
        }
        if (!Array.isArray(events) || !events.every((v) => v === 'INVOKE' || v === 'SHUTDOWN'))
          return error(400, 'InvalidRequest', 'events may hold INVOKE and SHUTDOWN only.');
        // Lambda matches an external extension by its file name.
        const ext = this.#exts.find((e) => e.id === undefined && path.basename(e.file) === name);
        if (ext === undefined)
          return error(403, 'Extension.Unknown', `No unregistered extension named ${name}.`);
        ext.id = randomUUID();
        ext.name = name;
        ext.events = new Set(events as string[]);
        res.writeHead(200, { 'content-type': 'application/json', 'lambda-extension-identifier': ext.id });
        res.end(JSON.stringify(info));
        return;
      }
      if (byId === undefined) return error(403, 'Extension.Unknown', 'Unknown Lambda-Extension-Identifier.');
      if (req.method === 'GET' && url === `${API}/event/next`) {
        byId.idle = true;
        // A newer /event/next replaces the waiting one (answered, as by the Python and custom runtimes).
        if (byId.waiting !== undefined && !byId.waiting.headersSent) {
          byId.waiting.writeHead(409, { 'content-type': 'application/json' });
          byId.waiting.end(
            JSON.stringify({
              errorMessage: 'A newer /event/next of this extension replaced this one.',
              errorType: 'InvalidRequest',
            }),
          );
        }
        const ev = byId.queued.shift();
        if (ev !== undefined) {
          byId.idle = false;
          this.#answerEvent(byId, res, ev);
        } else byId.waiting = res;
        return;
      }
      if (req.method === 'POST' && (url === `${API}/init/error` || url === `${API}/exit/error`)) {
        const type = req.headers['lambda-extension-function-error-type'];
        this.#fail(
          byId,
          `reported ${url.endsWith('init/error') ? 'an init' : 'an exit'} error ${String(type ?? '')}`,
        );
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end('{"status":"OK"}');
        return;
      }
      error(404, 'InvalidRequest', `No such operation: ${req.method} ${url}`);
    });
  }
}
