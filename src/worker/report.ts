// Turns an invocation's outcome into Lambda's answer and its log: the payload (the handler's, or Lambda's
// error body for timeouts, crashes, memory kills and oversized responses), and the START/END/REPORT
// lines with durations and memory. Pure: no environment is touched here.
import { runtimeEntry } from '../runtimes/registry.js';
import type { InvokeOutcome } from '../runtimes/runtime.js';
import type { SandboxExit } from '../sandbox/driver.js';
import type { FunctionVersionSpec, InvocationResult, StartKind } from './types.js';

const BILLING_MS = 1;
/** Lambda's synchronous response limit, in bytes, as its error message states it. */
export const RESPONSE_LIMIT = 6_291_556;

export interface ReportInput {
  spec: FunctionVersionSpec;
  requestId: string;
  start: StartKind;
  outcome: InvokeOutcome;
  initDurationMs: number | undefined;
  /** Output of init code, logged before START. */
  initLog: string;
  /** Init failed: the outcome is the init's. */
  initFailed: boolean;
  /** The sandbox's peak memory, asked only when the runtime did not report its own. */
  memoryPeakBytes: () => number | undefined;
}

export function report(r: ReportInput): InvocationResult {
  const { spec, requestId, outcome: o, initDurationMs, initFailed } = r;
  // Python's runtime and custom bootstraps log their own errors; Node's lines are added for Node only.
  const ownErrors = runtimeEntry(spec.runtime)?.logsOwnErrors === true;
  let initLog = r.initLog;
  let payload: Buffer;
  let errorType: string | undefined;
  let extraLog = '';
  let status = '';
  const memLimitMB = spec.memoryMB;
  let maxMemMB = o.rssBytes !== undefined && o.rssBytes > 0 ? Math.ceil(o.rssBytes / 1048576) : 0;
  if (o.status === 'ok' && o.payload!.length > RESPONSE_LIMIT) {
    errorType = 'Function.ResponseSizeTooLarge';
    const errorMessage = `Response payload size exceeded maximum allowed payload size (${RESPONSE_LIMIT} bytes).`;
    payload = Buffer.from(JSON.stringify({ errorMessage, errorType }));
  } else if (o.status === 'ok') {
    payload = o.payload!;
  } else if (o.status === 'error') {
    payload = o.payload!;
    errorType = o.errorType;
    if (initFailed) {
      // Lambda logs an init failure in the init phase, before START.
      if (!ownErrors)
        initLog += `${new Date().toISOString()}\tundefined\tERROR\tUncaught Exception \t${payload.toString('utf8')}\n`;
      initLog += `INIT_REPORT Init Duration: ${(initDurationMs ?? 0).toFixed(2)} ms\tPhase: init\tStatus: error\tError Type: ${errorType}\n`;
    } else if (!ownErrors) {
      extraLog = `${new Date().toISOString()}\t${requestId}\tERROR\tInvoke Error \t${payload.toString('utf8')}\n`;
    }
  } else if (o.status === 'timeout') {
    const msg = `${new Date().toISOString()} ${requestId} Task timed out after ${spec.timeoutSec.toFixed(2)} seconds`;
    errorType = 'Sandbox.Timedout';
    payload = Buffer.from(JSON.stringify({ errorMessage: msg, errorType }));
    extraLog = `${msg}\n`;
    status = '\tStatus: timeout';
  } else {
    const exit = o.exit;
    const oom = exit?.oomKilled === true;
    errorType = oom ? 'Runtime.OutOfMemory' : 'Runtime.ExitError';
    const how = describeExit(exit);
    const errorMessage = `RequestId: ${requestId} Error: Runtime exited with error: ${how}`;
    payload = Buffer.from(JSON.stringify({ errorType, errorMessage }));
    extraLog = `${errorMessage}\n${exit?.stderrTail && !oom ? exit.stderrTail.slice(-1024) : ''}`;
    status = oom
      ? '\tStatus: error\tError Type: Runtime.OutOfMemory'
      : '\tStatus: error\tError Type: Runtime.ExitError';
    if (oom) maxMemMB = memLimitMB;
  }
  // RSS counts shared pages the cgroup does not; like Lambda, never report more than the memory size.
  maxMemMB = Math.min(maxMemMB, memLimitMB);
  if (maxMemMB === 0) {
    const peak = r.memoryPeakBytes();
    maxMemMB = peak !== undefined ? Math.min(memLimitMB, Math.ceil(peak / 1048576)) : 0;
  }
  const durationMs = o.durationMs;
  const billed = Math.max(BILLING_MS, Math.ceil(durationMs / BILLING_MS) * BILLING_MS);
  const init = initDurationMs !== undefined ? `\tInit Duration: ${initDurationMs.toFixed(2)} ms` : '';
  const log =
    `${initLog}START RequestId: ${requestId} Version: ${spec.version}\n${o.log}${extraLog}` +
    `END RequestId: ${requestId}\n` +
    `REPORT RequestId: ${requestId}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${billed} ms\t` +
    `Memory Size: ${spec.memoryMB} MB\tMax Memory Used: ${maxMemMB} MB${init}${status}\t\n`;
  return {
    requestId,
    payload,
    log,
    durationMs,
    billedDurationMs: billed,
    maxMemoryUsedMB: maxMemMB,
    start: r.start,
    ...(o.streamed === true && { streamed: true }),
    ...(errorType !== undefined ? { functionError: 'Unhandled' as const, errorType } : {}),
    ...(initDurationMs !== undefined ? { initDurationMs } : {}),
  };
}

function describeExit(exit: SandboxExit | undefined): string {
  if (exit === undefined) return 'signal: killed';
  if (exit.signal !== null) return `signal: ${signalName(exit.signal)}`;
  const code = exit.code ?? 0;
  // bwrap reports a command killed by a signal as 128 + signal number.
  if (code > 128 && code < 128 + 65) return `signal: ${signalName(code - 128)}`;
  return `exit status ${code}`;
}

function signalName(sig: NodeJS.Signals | number): string {
  const n = typeof sig === 'number' ? sig : undefined;
  if (sig === 'SIGKILL' || n === 9) return 'killed';
  if (sig === 'SIGABRT' || n === 6) return 'aborted';
  if (sig === 'SIGSEGV' || n === 11) return 'segmentation fault';
  if (sig === 'SIGTERM' || n === 15) return 'terminated';
  return typeof sig === 'string' ? sig.toLowerCase().replace(/^sig/, '') : `signal ${sig}`;
}
