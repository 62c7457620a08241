// A response body fed by a streaming function: the worker writes the function's bytes into it (the
// ResponseSink side) and the HTTP server reads it (the Readable side). Backpressure runs end to end: a full
// Readable asks the runtime to wait, and reading again lets it go on. A client that went away drops the rest
// and never holds the function back. Surfaces shape the bytes (event-stream messages, an HTTP body).
import { Readable } from 'node:stream';
import type { ResponseSink } from '../invoke/types.js';

export abstract class SinkReadable extends Readable implements ResponseSink {
  #resume: (() => void) | undefined;

  /** Shapes and pushes one chunk; the result of push() (false: full). */
  protected abstract accept(chunk: Buffer, contentType: string): boolean;

  write(chunk: Buffer, contentType: string): boolean {
    if (this.destroyed || this.readableEnded) return true;
    return this.accept(chunk, contentType);
  }

  onRoom(resume: () => void): void {
    this.#resume = resume;
  }

  override _read(): void {
    this.#resume?.();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Nobody reads any more: the function runs to its end, its bytes dropped.
    this.#resume?.();
    cb(err);
  }
}
