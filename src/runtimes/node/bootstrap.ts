// The Node.js runtime that runs inside a sandbox. Started in the warming pool with no code; the host
// binds it to one function version (loads the handler, runs init once), then sends invocations one at a
// time over the channel the sandbox driver names in KINDLING_CHANNEL (`fd:3`). The platform API relay is
// the sandbox's (sandbox/relay.ts), imported from KINDLING_RELAY_MODULE. Self-contained: node: builtins
// and its siblings listed in runtime.ts (RUNTIME_FILES) only.
import fs from 'node:fs';
import Module, { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import util from 'node:util';
import { type CompileCacheStats, enableChecksums, useCompileCache } from './compile-cache-use.js';
import type { Extensions } from './extensions.js';
import { esmLoads, type Handler, InitError, loadHandler } from './handler-loader.js';
import {
  collectStartupGarbage,
  monotonicMs,
  nudgeGc,
  rssForReport,
  setMemoryLimit,
  trimIdleMemory,
} from './memory.js';
import { encodeFrame, FrameDecoder, type HostFrame, type RuntimeFrame } from './protocol.js';
import { highWaterMarkOf, installAwsLambdaGlobal, isStreaming, ResponseStream } from './response-stream.js';
import { installTraceEnv, setTraceId } from './trace-env.js';

// Before any code cache is read: the host builds them with checksums (compile-cache-use.ts).
enableChecksums();
installTraceEnv();
// Before any handler module loads: streaming handlers call awslambda.streamifyResponse at import time.
installAwsLambdaGlobal();

const channelFd = Number(/^fd:(\d+)$/.exec(process.env.KINDLING_CHANNEL ?? 'fd:3')?.[1] ?? 3);
const chan = new net.Socket({ fd: channelFd, readable: true, writable: true });
let corked = false;

function send(header: RuntimeFrame, body?: Buffer | string): void {
  if (!corked) {
    corked = true;
    chan.cork();
    process.nextTick(uncork);
  }
  for (const buf of encodeFrame(header, body)) chan.write(buf);
}

function uncork(): void {
  corked = false;
  chan.uncork();
}

/** A streaming handler's bytes; `done` waits while the host is not reading (its client is slow). */
function sendChunk(id: string, ct: string | undefined, body: Buffer, done: () => void): void {
  let room = true;
  for (const buf of encodeFrame(ct === undefined ? { t: 'chunk', id } : { t: 'chunk', id, ct }, body))
    room = chan.write(buf) && room;
  if (room) done();
  else chan.once('drain', done);
}

// ---- logging: console.* and process.stdout/stderr go over the channel, tagged with the request id ----

let currentId: string | undefined;
const rawWrite = (stream: NodeJS.WriteStream) =>
  function write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    send({ t: 'log', id: currentId ?? null }, clip(text));
    const done = typeof encoding === 'function' ? encoding : cb;
    if (typeof done === 'function') process.nextTick(done as () => void);
    void stream;
    return true;
  };
process.stdout.write = rawWrite(process.stdout) as typeof process.stdout.write;
process.stderr.write = rawWrite(process.stderr) as typeof process.stderr.write;

/** Lambda cuts log events at 256 KB; so do we (the host refuses oversized frames). */
const LOG_EVENT_LIMIT = 256 * 1024;
function clip(text: string): string {
  return text.length <= LOG_EVENT_LIMIT / 4 || Buffer.byteLength(text) <= LOG_EVENT_LIMIT
    ? text
    : `${Buffer.from(text).subarray(0, LOG_EVENT_LIMIT).toString('utf8')}[truncated]\n`;
}

function logLine(level: string, args: unknown[]): void {
  const msg = util.format(...args).replace(/\n/g, '\r');
  send(
    { t: 'log', id: currentId ?? null },
    clip(`${new Date().toISOString()}\t${currentId ?? 'undefined'}\t${level}\t${msg}\n`),
  );
}
const levels: Array<[keyof Console, string]> = [
  ['log', 'INFO'],
  ['info', 'INFO'],
  ['warn', 'WARN'],
  ['error', 'ERROR'],
  ['debug', 'DEBUG'],
  ['trace', 'TRACE'],
];
for (const [name, level] of levels) {
  (console as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => logLine(level, args);
}

// ---- errors in Lambda's shape ----

function errorBody(
  err: unknown,
  typeOverride?: string,
): { errorType: string; errorMessage: string; stackTrace: string[] } {
  if (err instanceof Error) {
    const stack = typeof err.stack === 'string' ? err.stack.split('\n') : [];
    return { errorType: typeOverride ?? err.name ?? 'Error', errorMessage: err.message, stackTrace: stack };
  }
  return {
    errorType: typeOverride ?? typeof err,
    errorMessage: typeof err === 'string' ? err : (safeStringify(err) ?? String(err)),
    stackTrace: [],
  };
}

function safeStringify(v: unknown): string | undefined {
  try {
    return JSON.stringify(v);
  } catch {
    return undefined;
  }
}

// ---- bind: load the handler once, run init ----

/** What a bind frame says about the function (all but its environment, applied at once). */
type BindInfo = Omit<Extract<HostFrame, { t: 'bind' }>, 't' | 'env'>;

let handlerFn: Handler | undefined;
let info: BindInfo | undefined;
/** The function's extensions (/opt/extensions); undefined for most functions, which pay nothing. */
let extensions: Extensions | undefined;
/**
 * Settles when every extension is done with the last invocation (asked for its next event again), bounded
 * by that invocation's deadline: its extensions' time counts toward its timeout, as on Lambda.
 */
let extensionsSettled: Promise<boolean> | undefined;

async function bind(b: Extract<HostFrame, { t: 'bind' }>): Promise<void> {
  info = b;
  setMemoryLimit(b.memoryMB * 1024 * 1024);
  for (const k of Object.keys(process.env)) if (!(k in b.env)) delete process.env[k];
  Object.assign(process.env, b.env);
  // CommonJS reads NODE_PATH once at startup; the runtime started before it knew the function's.
  (Module as unknown as { _initPaths?: () => void })._initPaths?.();
  let cc: CompileCacheStats | undefined;
  try {
    if (b.cache !== undefined) cc = useCompileCache(b.taskRoot, b.cache);
    process.chdir(b.taskRoot);
    // Extensions start first and register before the handler's init runs, as on Lambda.
    // Loaded only when there are any: its HTTP server and child processes would cost every environment
    // memory otherwise (extensions.ts reads the same directory).
    if (fs.existsSync('/opt/extensions')) {
      const { Extensions } = await import('./extensions.js');
      extensions = await Extensions.start(
        { functionName: b.functionName, functionVersion: b.functionVersion, handler: b.handler },
        (line) => process.stdout.write(line),
      );
    }
    // This bind's own handler, not a warm-up's: the host keeps warming pool sandboxes for ES modules only
    // while ES-module functions bind.
    const esmBefore = esmLoads();
    handlerFn = await loadHandler(b.handler, b.taskRoot);
    const esm = esmLoads() > esmBefore;
    send({
      t: 'init',
      ok: true,
      ...(cc !== undefined && { cc }),
      ...(extensions && { ext: extensions.count }),
      ...(esm && { esm: true }),
    });
  } catch (e) {
    const body =
      e instanceof InitError
        ? { errorType: e.errorType, errorMessage: e.message, stackTrace: e.stackTrace }
        : errorBody(e);
    send({ t: 'init', ok: false, errorType: body.errorType }, JSON.stringify(body));
  }
}

// ---- invoke ----

const RESPONSE_LIMIT = 6_291_556;

let pending: ((err: unknown, result?: unknown, fatal?: boolean) => void) | undefined;

function invoke(h: Extract<HostFrame, { t: 'invoke' }>, body: Buffer): void {
  const id = h.id;
  const deadline = h.deadline;
  const fn = handlerFn;
  const bound = info;
  if (fn === undefined || bound === undefined) {
    send(
      { t: 'result', id, ok: false, errorType: 'Runtime.Unknown', rss: 0 },
      '{"errorType":"Runtime.Unknown"}',
    );
    return;
  }
  if (h.creds !== undefined) {
    const c = h.creds;
    process.env.AWS_ACCESS_KEY_ID = c.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = c.secretAccessKey;
    process.env.AWS_SESSION_TOKEN = c.sessionToken;
  }
  const startedAt = monotonicMs();
  // Lambda's runtime sets it from the Lambda-Runtime-Trace-Id of each invocation.
  setTraceId(typeof h.tr === 'string' ? h.tr : undefined);
  currentId = id;
  let done = false;
  let stream: ResponseStream | undefined;
  const finish = (err: unknown, result?: unknown, fatal = false) => {
    if (done) return;
    done = true;
    pending = undefined;
    let ok = err === undefined || err === null;
    let out: string | undefined;
    let errorType: string | undefined;
    if (stream !== undefined) {
      // The bytes went as chunks: the result only says how it ended. Later writes go nowhere.
      if (ok) out = '';
      else stream.destroy();
    } else if (ok) {
      try {
        out = result === undefined ? 'null' : JSON.stringify(result);
        if (out === undefined) out = 'null';
      } catch (e) {
        ok = false;
        err = e;
      }
    }
    if (ok && out !== undefined && Buffer.byteLength(out) > RESPONSE_LIMIT) {
      ok = false;
      errorType = 'Function.ResponseSizeTooLarge';
      out = JSON.stringify({
        errorType,
        errorMessage: `Response payload size exceeded maximum allowed payload size (${RESPONSE_LIMIT} bytes).`,
      });
    } else if (!ok) {
      const eb = errorBody(err);
      errorType = eb.errorType;
      out = JSON.stringify(eb);
    }
    const rss = rssForReport(startedAt);
    // An extension that crashed or never finished retires the environment after this answer.
    if (extensions?.problem !== undefined) fatal = true;
    send({ t: 'result', id, ok, errorType, fatal, rss }, out);
    if (extensions !== undefined) extensionsSettled = extensions.settled(deadline);
    nudgeGc(rss);
    currentId = undefined;
  };
  pending = finish;
  let event: unknown;
  try {
    event = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch (e) {
    finish(e);
    return;
  }
  let clientContext: unknown;
  if (typeof h.cc === 'string' && h.cc !== '') {
    try {
      clientContext = JSON.parse(Buffer.from(h.cc, 'base64').toString('utf8'));
    } catch {
      clientContext = undefined;
    }
  }
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: bound.functionName,
    functionVersion: bound.functionVersion,
    invokedFunctionArn: bound.invokedFunctionArn,
    memoryLimitInMB: String(bound.memoryMB),
    awsRequestId: id,
    logGroupName: bound.logGroupName,
    logStreamName: bound.logStreamName,
    identity: undefined,
    clientContext,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: (err: unknown, res: unknown) => finish(err, res),
    succeed: (res: unknown) => finish(undefined, res),
    fail: (err: unknown) => finish(err ?? 'handled'),
  };
  if (isStreaming(fn)) {
    stream = new ResponseStream((ct, b, next) => sendChunk(id, ct, b, next), highWaterMarkOf(fn));
    streamInvoke(fn, event, stream, context, finish);
    return;
  }
  try {
    const baseline = fn.length >= 3 ? process.getActiveResourcesInfo().length : 0;
    // As on Lambda, a callback's answer waits for the event loop to empty (timers, sockets the handler
    // opened) unless the handler set callbackWaitsForEmptyEventLoop = false.
    const callback = (err: unknown, res?: unknown) => {
      if (!context.callbackWaitsForEmptyEventLoop) {
        finish(err, res);
        return;
      }
      // Inside its own callback an Immediate is no longer counted, a Timeout still is.
      const checkTimer = () => {
        if (process.getActiveResourcesInfo().length <= baseline + 1) finish(err, res);
        else setTimeout(checkTimer, 1);
      };
      setImmediate(() => {
        if (process.getActiveResourcesInfo().length <= baseline) finish(err, res);
        else setTimeout(checkTimer, 1);
      });
    };
    const r = fn.length >= 3 ? fn(event, context, callback) : fn(event, context);
    if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') {
      (r as Promise<unknown>).then(
        (v) => finish(undefined, v),
        (e) => finish(e ?? new Error('Promise rejected')),
      );
    } else if (fn.length < 3) {
      finish(undefined, r);
    }
  } catch (e) {
    finish(e);
  }
}

/**
 * A streamifyResponse handler: (event, responseStream, context). It has answered once its promise settled
 * and the stream finished (ended for it when it returned without ending it), or, for a handler that
 * returns no promise, once the stream finished. A stream destroyed with an error fails the invocation.
 */
function streamInvoke(
  fn: Handler,
  event: unknown,
  stream: ResponseStream,
  context: object,
  finish: (err: unknown, result?: unknown) => void,
): void {
  const finished = new Promise<void>((resolve) => {
    stream.once('finish', resolve);
    // Destroyed without an error: what was written stands, as when it ends.
    stream.once('close', resolve);
  });
  // `on`, not `once`: a write after the end errors again, and no error may go unheard.
  stream.on('error', (e) => finish(e));
  try {
    const r = (fn as (...a: unknown[]) => unknown)(event, stream, context);
    if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') {
      (r as Promise<unknown>).then(
        () => {
          if (!stream.writableEnded && !stream.destroyed) stream.end();
          void finished.then(() => finish(undefined));
        },
        (e) => finish(e ?? new Error('Promise rejected')),
      );
    } else void finished.then(() => finish(undefined));
  } catch (e) {
    finish(e);
  }
}

// An uncaught error during an invoke fails that invoke (and the host retires the environment, as Lambda
// restarts its runtime); outside an invoke it ends the runtime.
process.on('uncaughtException', (e) => {
  if (pending !== undefined) pending(e, undefined, true);
  else {
    logLine('ERROR', ['Uncaught Exception', e]);
    uncork();
    process.exitCode = 129;
    chan.end(() => process.exit(129));
  }
});
process.on('unhandledRejection', (reason) => {
  if (pending !== undefined) {
    const err = new Error(reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason));
    err.name = 'Runtime.UnhandledPromiseRejection';
    if (reason instanceof Error && reason.stack !== undefined) err.stack = reason.stack;
    pending(err, undefined, true);
  } else {
    logLine('ERROR', ['Unhandled Promise Rejection', reason]);
  }
});
// Flush what is corked when user code calls process.exit().
process.on('exit', () => {
  if (corked) uncork();
});

// The host is trusted: its frames are read as what they say they are.
const decoder = new FrameDecoder((raw, body) => {
  const h = raw as HostFrame;
  switch (h.t) {
    case 'invoke':
      if (extensions === undefined) invoke(h, body);
      else {
        // The previous invocation ends when every extension asked for its next event again (at most at its
        // deadline). That hold was its time, not this one's: this deadline moves on by it, and the host,
        // told so, sets its timer to match.
        const ext = extensions;
        const arrived = Date.now();
        void (extensionsSettled ?? Promise.resolve(true)).then(() => {
          h.deadline += Date.now() - arrived;
          send({ t: 'start', id: h.id, deadline: h.deadline });
          ext.invoke(h.id, h.deadline, info?.invokedFunctionArn ?? '', h.tr);
          invoke(h, body);
        });
      }
      break;
    case 'shutdown':
      void (extensions?.shutdown(h.reason) ?? Promise.resolve()).then(() => {
        uncork();
        process.exit(0);
      });
      break;
    case 'bind':
      void bind(h);
      break;
    case 'ping': {
      // Each flag's work, in turn, before the answer (a ping with both did only the first).
      let work: Promise<unknown> | undefined;
      if (h.esm === true && esmLoads() === 0) work = warmEsm();
      if (h.trim === true) work = (work ?? Promise.resolve()).then(trimIdleMemory);
      if (work === undefined) send({ t: 'pong', n: h.n });
      else void work.then(() => send({ t: 'pong', n: h.n }));
      break;
    }
    default:
      break;
  }
});
chan.on('data', (c: Buffer) => decoder.push(c));
// The host is gone: nothing left to serve.
chan.on('end', () => process.exit(0));
chan.on('error', () => process.exit(0));

/**
 * Runs the CommonJS loader once while the sandbox waits in the pool, so a pool hit does not pay for
 * compiling the loader's own code. Not the ES-module loader: initialised, it stays in every environment
 * (~0.6 MB each, bench/env.ts) whatever its function is; an ES-module handler initialises it at its bind.
 * /tmp is this sandbox's private tmpfs; the file is removed again.
 */
async function warmUp(): Promise<void> {
  try {
    // A CommonJS handler loaded the way a bind loads one, so the loader's own code is compiled too.
    await loadWarmHandler('index.js', 'exports.handler = async (e) => JSON.parse(JSON.stringify(e));');
    // The invoke path's own helpers.
    encodeFrame(
      { t: 'result', id: 'warm', ok: true, rss: process.memoryUsage.rss() },
      JSON.stringify({ ok: 1 }),
    );
    util.format('%s', new Date().toISOString(), { warm: true });
    errorBody(new Error('warm'));
  } catch {
    // warming is an optimisation only
  }
  collectStartupGarbage();
}

/**
 * Loads an ES-module handler the way a bind loads one, so that a pool hit of an ES-module function does
 * not pay for initialising the ES-module loader (~17 ms of CPU on Node 20). Asked for by the host only
 * while ES-module functions run on this node: initialised, the loader stays in the environment.
 */
async function warmEsm(): Promise<void> {
  try {
    await loadWarmHandler('index.mjs', 'export const handler = async (e) => JSON.parse(JSON.stringify(e));');
  } catch {
    // warming is an optimisation only
  }
  collectStartupGarbage();
}

/** Writes a handler into a directory of this sandbox's private /tmp, loads and calls it as a bind would. */
async function loadWarmHandler(file: string, source: string): Promise<void> {
  const dir = `/tmp/.kindling-warm-${process.pid}-${path.extname(file).slice(1)}`;
  const f = path.join(dir, file);
  fs.mkdirSync(dir);
  try {
    fs.writeFileSync(f, source);
    await (await loadHandler('index.handler', dir))({ warm: true }, {});
    delete createRequire(f).cache[f];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function startRelay(): Promise<number> {
  const relay = (await import(process.env.KINDLING_RELAY_MODULE ?? '/var/kindling/relay.cjs')) as {
    startRelay(port: number): Promise<number>;
  };
  return relay.startRelay(Number(process.env.KINDLING_RELAY_PORT ?? '9001'));
}

startRelay().then(
  (relayPort) => warmUp().then(() => send({ t: 'ready', relayPort })),
  (e: unknown) => send({ t: 'ready', relayPort: 0, relayError: String(e) }),
);
