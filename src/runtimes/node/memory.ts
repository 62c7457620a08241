// Memory of the Node runtime inside the sandbox: the resident set reported after each invoke (Max Memory
// Used), and a full collection between invocations when memory grew. node: builtins only.
import fs from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';

// V8's heap is sized for the largest memory size (any pool sandbox may become any function), so left
// alone it collects lazily and a small function's garbage piles up towards its cgroup limit. Between
// invocations, once memory has grown well past what the last full collection left, collect: the answer
// is already sent, so only idle time pays. gc() comes from a throwaway context: user code never sees it.
const fullGc = ((): (() => void) | undefined => {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    v8.setFlagsFromString('--no-expose-gc');
    return typeof gc === 'function' ? gc : undefined;
  } catch {
    return undefined;
  }
})();
/**
 * One full collection once the runtime has started and warmed up, while the sandbox waits in the pool:
 * what loading Node's own modules left behind would otherwise stay in the old generation until its first
 * major collection, which a small function may never reach before it idles (frozen).
 */
export function collectStartupGarbage(): void {
  fullGc?.();
}

// An environment that served many requests has grown V8's young generation to its cap (two 1 MB semi-spaces,
// both touched: ~1.5 MB more than a fresh one), and V8 shrinks it only in a collection that aims to reduce
// memory: none runs in a frozen environment, and neither a flag nor gc() asks for one. The inspector's
// HeapProfiler.collectGarbage runs exactly that collection (v8.queryObjects does too, but its reachability
// filter leaves ~2 MB of freed malloc memory that glibc keeps). The inspector module loads on first use only.
const newSpaceBytes = (): number =>
  v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
/** The young generation's size at start (V8's initial capacity). */
const initialNewSpace = newSpaceBytes();

/**
 * The environment has been idle a while (it is frozen again after): when the young generation grew past its
 * initial size, shrink it back with one memory-reducing collection. A few ms of CPU, paid once per growth (it regrows only
 * after thousands of requests), never on a request's path. Resolves true if it ran.
 */
export async function trimIdleMemory(): Promise<boolean> {
  if (initialNewSpace === 0 || newSpaceBytes() <= initialNewSpace) return false;
  try {
    const { Session } = await import('node:inspector');
    const session = new Session();
    session.connect();
    const ok = await new Promise<boolean>((resolve) =>
      session.post('HeapProfiler.collectGarbage', (err) => resolve(err === null)),
    );
    // Not from within the callback: disconnecting there leaves the event loop stuck (Node 20).
    await new Promise((r) => setImmediate(r));
    session.disconnect();
    return ok;
  } catch {
    return false;
  }
}

let limitBytes = 0;
/** The bound function's memory size: collections are judged against it. */
export function setMemoryLimit(bytes: number): void {
  limitBytes = bytes;
}
let afterGcBytes = 0;

export function nudgeGc(rss: number): void {
  if (fullGc === undefined || limitBytes === 0) return;
  if (rss < limitBytes * 0.5 || rss < afterGcBytes + limitBytes * 0.15) return;
  setImmediate(() => {
    fullGc();
    afterGcBytes = process.memoryUsage.rss();
  });
}

// Max Memory Used comes from the resident set after each invoke. process.memoryUsage.rss() opens, reads
// and closes /proc/self/stat (which also sums CPU times) every call; one pread() of /proc/self/statm on a
// descriptor opened once is a single cheap syscall. Page size is derived once from a paired reading.
const statmFd = ((): number => {
  try {
    return fs.openSync('/proc/self/statm', 'r');
  } catch {
    return -1;
  }
})();
const statmBuf = Buffer.alloc(256);
/** Resident pages (statm's second field), or -1. */
function residentPages(): number {
  if (statmFd < 0) return -1;
  try {
    const n = fs.readSync(statmFd, statmBuf, 0, statmBuf.length, 0);
    let i = statmBuf.indexOf(32);
    if (i < 0 || i >= n) return -1;
    let pages = 0;
    for (i++; i < n; i++) {
      const c = statmBuf[i]!;
      if (c < 48 || c > 57) break;
      pages = pages * 10 + (c - 48);
    }
    return i < n && statmBuf[i] === 32 ? pages : -1;
  } catch {
    return -1;
  }
}
const pageSize = ((): number => {
  const pages = residentPages();
  if (pages <= 0) return 0;
  return 2 ** Math.round(Math.log2(process.memoryUsage.rss() / pages));
})();
export function rssBytes(): number {
  const pages = pageSize > 0 ? residentPages() : -1;
  return pages > 0 ? pages * pageSize : process.memoryUsage.rss();
}

// Even that read is a syscall (~3 µs, more under seccomp) on every answer, and most warm invocations of a
// small handler neither run long nor move memory. V8's own figures (no syscall) say whether its heap,
// malloc use or buffers moved; an invocation that took under a millisecond, with those within 256 KiB of
// the last reading, taken less than 250 ms ago, reports that reading (the resident set cannot have grown
// by MBs in so little time without V8 seeing it; a native addon's malloc is caught by the next reading).
const REUSE_FOR_MS = 250;
const SHORT_INVOKE_MS = 1;
const V8_DRIFT_BYTES = 256 * 1024;
let lastRss = 0;
let lastAt = 0;
let lastV8 = 0;

function v8Bytes(): number {
  const h = v8.getHeapStatistics();
  return h.total_physical_size + h.malloced_memory + h.external_memory;
}

/** Milliseconds on a monotonic clock (not performance.now(): that global loads perf_hooks in every sandbox). */
export function monotonicMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

/** The resident set for an invocation's report; `startedAt` is when it began (monotonicMs()). */
export function rssForReport(startedAt: number): number {
  const now = monotonicMs();
  const v = v8Bytes();
  if (
    lastRss > 0 &&
    now - startedAt < SHORT_INVOKE_MS &&
    now - lastAt < REUSE_FOR_MS &&
    Math.abs(v - lastV8) < V8_DRIFT_BYTES
  ) {
    return lastRss;
  }
  lastRss = rssBytes();
  lastAt = now;
  lastV8 = v;
  return lastRss;
}
