// Framing of the private host ⇄ runtime channel (an inherited unix socketpair on fd 3):
// [u32 header length][u32 body length][JSON header][raw body]. Payloads travel as raw bytes, never
// re-escaped into JSON. Shared by the host (worker/) and the bootstrap inside the sandbox, so it may
// import node: builtins only at run time (type-only imports are erased).
import type { FunctionContext } from '../runtime.js';

type Creds = { accessKeyId: string; secretAccessKey: string; sessionToken: string };

/** Host → runtime. */
export type HostFrame =
  /** `cache`: where the version's compile cache is, when it has one (runtimes/compile-cache.ts). */
  | ({
      t: 'bind';
      handler: string;
      taskRoot: string;
      env: Record<string, string>;
      cache?: string;
    } & FunctionContext)
  /** `cc`: base64 client context; `creds` only when they changed; `tr`: the trace header. */
  | { t: 'invoke'; id: string; deadline: number; tr: string; cc?: string; creds?: Creds }
  /**
   * `esm`: also initialise the ES-module loader before answering (a pool sandbox, when ESM functions run here).
   * `trim`: the environment has been idle a while (it is frozen again after): give back memory it grew into while busy.
   */
  | { t: 'ping'; n: number; esm?: boolean; trim?: boolean }
  /** The environment is retired: extensions get SHUTDOWN and Lambda's grace, then the runtime exits. */
  | { t: 'shutdown'; reason: string };

/** Runtime → host. A log frame's body is the text; a result's or failed init's body is the answer. */
export type RuntimeFrame =
  | { t: 'ready'; relayPort: number; relayError?: string }
  /** `cc`: how many modules init loaded from the compile cache, and how many cache entries were refused. */
  /** `esm`: init used the ES-module loader (an ES-module handler). */
  | { t: 'init'; ok: boolean; errorType?: string; cc?: CompileCacheUse; ext?: number; esm?: boolean }
  | { t: 'result'; id: string; ok: boolean; errorType?: string; fatal?: boolean; rss?: number }
  /**
   * A runtime with extensions holds an invocation until they are done with the previous one (at most
   * until its deadline), then starts it and says so, with its deadline moved on by the hold: the hold was
   * the previous invocation's time, not this one's.
   */
  | { t: 'start'; id: string; deadline: number }
  /**
   * Bytes a streaming handler wrote (awslambda.streamifyResponse), in order, before its result frame.
   * The first carries the stream's content type (`ct`); an empty one only announces it.
   */
  | { t: 'chunk'; id: string; ct?: string }
  | { t: 'log'; id: string | null }
  | { t: 'pong'; n: number };

export type CompileCacheUse = { used: number; rejected: number };

export type Frame = HostFrame | RuntimeFrame;

/** A decoded header: its type is known, its other fields not yet checked. */
export type RawHeader = { t: string } & Record<string, unknown>;

export type FrameHandler = (header: RawHeader, body: Buffer) => void;

const opt = (v: unknown, type: string) => v === undefined || typeof v === type;
const count = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isCacheUse = (v: unknown) =>
  typeof v === 'object' &&
  v !== null &&
  count((v as CompileCacheUse).used) &&
  count((v as CompileCacheUse).rejected);

/**
 * Narrows a header from the runtime (which user code can write to) to a RuntimeFrame. Undefined for a
 * frame type the host does not know (ignored); throws ProtocolError for a known type with wrong fields.
 */
/**
 * A streamed response's content type becomes an HTTP header value on the host: visible ASCII and spaces
 * only (no CR or LF to split the head), at most 256 characters.
 */
export const isContentType = (v: unknown): v is string =>
  typeof v === 'string' && /^[\x20-\x7e]{1,256}$/.test(v);

export function runtimeFrame(h: RawHeader): RuntimeFrame | undefined {
  let ok: boolean;
  switch (h.t) {
    case 'ready':
      ok = typeof h.relayPort === 'number' && opt(h.relayError, 'string');
      break;
    case 'init':
      ok =
        typeof h.ok === 'boolean' &&
        opt(h.errorType, 'string') &&
        (h.cc === undefined || isCacheUse(h.cc)) &&
        (h.ext === undefined || count(h.ext)) &&
        opt(h.esm, 'boolean');
      break;
    case 'result':
      ok =
        typeof h.id === 'string' &&
        typeof h.ok === 'boolean' &&
        opt(h.errorType, 'string') &&
        opt(h.fatal, 'boolean') &&
        opt(h.rss, 'number');
      break;
    case 'start':
      ok = typeof h.id === 'string' && typeof h.deadline === 'number' && Number.isFinite(h.deadline);
      break;
    case 'chunk':
      ok = typeof h.id === 'string' && (h.ct === undefined || isContentType(h.ct));
      break;
    case 'log':
      ok = h.id === null || opt(h.id, 'string');
      break;
    case 'pong':
      ok = typeof h.n === 'number';
      break;
    default:
      return undefined;
  }
  if (!ok) throw new ProtocolError(`malformed ${h.t} frame`);
  return h as RuntimeFrame;
}

const EMPTY = Buffer.alloc(0);

/** Bodies up to this size are copied into the header's buffer: one write() beats a writev() of two. */
const INLINE_BODY = 64 * 1024;

/** Encodes a frame as one buffer, or two (prefix+header, body) so a large body is not copied. */
export function encodeFrame(header: Frame, body?: Buffer | string): Buffer[] {
  const json = JSON.stringify(header);
  const hlen = Buffer.byteLength(json);
  const blen = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  if (blen <= INLINE_BODY) {
    const out = Buffer.allocUnsafe(8 + hlen + blen);
    out.writeUInt32LE(hlen, 0);
    out.writeUInt32LE(blen, 4);
    out.write(json, 8);
    if (typeof body === 'string') out.write(body, 8 + hlen);
    else if (body !== undefined) body.copy(out, 8 + hlen);
    return [out];
  }
  const b = typeof body === 'string' ? Buffer.from(body) : (body ?? EMPTY);
  const head = Buffer.allocUnsafe(8 + hlen);
  head.writeUInt32LE(hlen, 0);
  head.writeUInt32LE(blen, 4);
  head.write(json, 8);
  return [head, b];
}

/** Frames larger than the decoder's limits; the peer broke the protocol (or is hostile). */
export class ProtocolError extends Error {}

export interface DecoderLimits {
  maxHeader: number;
  maxBody: number;
}

/** Incremental decoder: push socket chunks, get whole frames. Throws ProtocolError on oversized frames. */
export class FrameDecoder {
  private pending: Buffer = EMPTY;
  /**
   * A frame larger than one chunk arrives in many (64 KB reads): its chunks are kept apart and joined
   * once, when the frame is whole. Joining at every chunk copied a 6 MB payload ~100 times (seconds).
   */
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private frameBytes = 0;

  constructor(
    private readonly onFrame: FrameHandler,
    private readonly limits: DecoderLimits = { maxHeader: 1 << 30, maxBody: 1 << 30 },
  ) {}

  push(chunk: Buffer): void {
    if (this.frameBytes > 0) {
      this.parts.push(chunk);
      this.partsBytes += chunk.length;
      if (this.partsBytes < this.frameBytes) return;
      chunk = Buffer.concat(this.parts, this.partsBytes);
      this.parts = [];
      this.partsBytes = 0;
      this.frameBytes = 0;
    }
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let off = 0;
    while (buf.length - off >= 8) {
      const hlen = buf.readUInt32LE(off);
      const blen = buf.readUInt32LE(off + 4);
      if (hlen > this.limits.maxHeader || blen > this.limits.maxBody) {
        throw new ProtocolError(`frame too large (header ${hlen}, body ${blen})`);
      }
      const end = off + 8 + hlen + blen;
      if (buf.length < end) break;
      let header: RawHeader;
      try {
        header = JSON.parse(buf.toString('utf8', off + 8, off + 8 + hlen)) as RawHeader;
      } catch {
        throw new ProtocolError('frame header is not JSON');
      }
      if (header === null || typeof header !== 'object' || typeof header.t !== 'string') {
        throw new ProtocolError('frame header has no type');
      }
      const body = buf.subarray(off + 8 + hlen, end);
      off = end;
      this.onFrame(header, body);
    }
    if (off === buf.length) this.pending = EMPTY;
    else {
      // Keep only the unread tail; copy it so a large consumed chunk is not retained.
      buf = buf.subarray(off);
      const tail = off === 0 ? buf : Buffer.from(buf);
      // The size of the frame it starts is known (and within limits): collect the rest apart.
      const size = tail.length >= 8 ? 8 + tail.readUInt32LE(0) + tail.readUInt32LE(4) : 0;
      if (size > tail.length * 2) {
        this.pending = EMPTY;
        this.parts = [tail];
        this.partsBytes = tail.length;
        this.frameBytes = size;
      } else this.pending = tail;
    }
  }
}
