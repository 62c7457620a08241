// Lambda's response streaming inside the Node runtime: the `awslambda` global (streamifyResponse,
// HttpResponseStream.from) and the Writable a streaming handler writes to. Bytes leave as `chunk` frames
// the moment they are written; a full channel (the host stopped reading: its client is slow) holds the
// writer back through the Writable's own backpressure. Runs inside the sandbox: node: builtins only.
import { Writable } from 'node:stream';
import { isContentType } from './protocol.js';

/** The mark Lambda's runtime puts on a streaming handler (value 'response'); libraries test for it. */
export const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HIGH_WATER_MARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
/** The content type HttpResponseStream.from sets: a JSON prelude, 8 NUL bytes, then the body. */
export const HTTP_INTEGRATION_TYPE = 'application/vnd.awslambda.http-integration-response';
const DEFAULT_TYPE = 'application/octet-stream';
const DELIMITER = Buffer.alloc(8);
/** Frames stay far below the host's frame limit: a larger write leaves in pieces. */
const MAX_FRAME = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

/** Sends one chunk frame (`ct` on the first); `done` runs once the channel can take more. */
export type ChunkWriter = (ct: string | undefined, body: Buffer, done: () => void) => void;

type Marked = { [STREAMING]?: unknown; [HIGH_WATER_MARK]?: unknown };

/** Whether a loaded handler was wrapped by awslambda.streamifyResponse. */
export function isStreaming(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as Marked)[STREAMING] === 'response';
}

export function highWaterMarkOf(fn: unknown): number | undefined {
  const v = (fn as Marked)[HIGH_WATER_MARK];
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

export class ResponseStream extends Writable {
  #contentType = DEFAULT_TYPE;
  #started = false;
  #prelude: Buffer | undefined;
  readonly #out: ChunkWriter;

  constructor(out: ChunkWriter, highWaterMark?: number) {
    super(highWaterMark !== undefined ? { highWaterMark } : {});
    this.#out = out;
  }

  /** As on Lambda: only before the first byte, which fixes the stream's content type. */
  setContentType(type: string): void {
    if (this.#started) throw new Error('Content type cannot be set after the first write.');
    const ct: string = String(type);
    // Refused here, where the handler can catch it; the host refuses such a frame too.
    if (!isContentType(ct))
      throw new TypeError(`Invalid content type: ${JSON.stringify(String(type).slice(0, 64))}`);
    this.#contentType = ct;
  }

  /** HttpResponseStream.from's prelude: sent with the first bytes (or at the end when none follow). */
  setPrelude(prelude: unknown): void {
    if (this.#started) throw new Error('The HTTP response metadata must be set before the first write.');
    this.setContentType(HTTP_INTEGRATION_TYPE);
    this.#prelude = Buffer.concat([Buffer.from(JSON.stringify(prelude ?? {})), DELIMITER]);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#emit(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    // Nothing written: the content type (and a prelude's status and headers) must still reach the host.
    if (!this.#started) this.#emit(EMPTY, cb);
    else cb();
  }

  #emit(data: Buffer, cb: () => void): void {
    let ct: string | undefined;
    let chunk = data;
    if (!this.#started) {
      this.#started = true;
      ct = this.#contentType;
      if (this.#prelude !== undefined) chunk = Buffer.concat([this.#prelude, data]);
    }
    if (chunk.length <= MAX_FRAME) {
      this.#out(ct, chunk, cb);
      return;
    }
    let off = 0;
    const next = () => {
      if (off >= chunk.length) {
        cb();
        return;
      }
      const first = off === 0;
      const piece = chunk.subarray(off, off + MAX_FRAME);
      off += piece.length;
      this.#out(first ? ct : undefined, piece, next);
    };
    next();
  }
}

/** `globalThis.awslambda`, as Lambda's Node runtime provides it (no import needed in handlers). */
export function installAwsLambdaGlobal(): void {
  const HttpResponseStream = {
    from(stream: ResponseStream, prelude: unknown): ResponseStream {
      if (!(stream instanceof ResponseStream))
        throw new TypeError(
          'HttpResponseStream.from expects the response stream a streaming handler was given.',
        );
      stream.setPrelude(prelude);
      return stream;
    },
  };
  (globalThis as Record<string, unknown>).awslambda = {
    streamifyResponse<T extends object>(handler: T, options?: { highWaterMark?: number }): T {
      if (typeof handler !== 'function') throw new TypeError('streamifyResponse expects a function.');
      const marked = handler as T & Marked;
      marked[STREAMING] = 'response';
      if (options?.highWaterMark !== undefined) marked[HIGH_WATER_MARK] = options.highWaterMark;
      return handler;
    },
    HttpResponseStream,
  };
}
