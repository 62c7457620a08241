// The host side of one streamed response: a streaming handler's `chunk` frames, passed on to the caller's
// ResponseSink as they arrive (the channel paused while the sink is full, so a slow client slows the
// handler, not the host's memory), or collected into the payload for a caller that did not ask to stream.
// Past the limit the environment is killed: a runaway writer must stop, and the caller is told why.
import type { ResponseSink } from '../runtime.js';

/** Lambda's limit for a streamed response (a soft limit there, bandwidth-limited past 6 MB; a hard cap here). */
export const STREAM_LIMIT = 20 * 1024 * 1024;
/** Lambda's synchronous response limit, as its error message states it. */
export const BUFFERED_LIMIT = 6_291_556;

export interface RelayChannel {
  pause(): void;
  resume(): void;
  kill(): void;
}

export class StreamRelay {
  contentType = 'application/octet-stream';
  bytes = 0;
  overLimit = false;
  private paused = false;
  private readonly parts: Buffer[] = [];

  constructor(
    private readonly channel: RelayChannel,
    private readonly sink: ResponseSink | undefined,
  ) {
    sink?.onRoom(() => {
      if (!this.paused) return;
      this.paused = false;
      channel.resume();
    });
  }

  get limit(): number {
    return this.sink !== undefined ? STREAM_LIMIT : BUFFERED_LIMIT;
  }

  push(ct: string | undefined, body: Buffer): void {
    if (this.overLimit) return;
    if (ct !== undefined && this.bytes === 0) this.contentType = ct;
    this.bytes += body.length;
    if (this.bytes > this.limit) {
      this.overLimit = true;
      this.end();
      this.channel.kill();
      return;
    }
    if (this.sink === undefined) {
      this.parts.push(body);
      return;
    }
    if (!this.sink.write(body, this.contentType) && !this.paused) {
      this.paused = true;
      this.channel.pause();
    }
  }

  /** The collected bytes, for a caller that did not stream. */
  payload(): Buffer {
    return Buffer.concat(this.parts, this.bytes);
  }

  /** The invocation is over: the channel reads again whatever the sink's state. */
  end(): void {
    if (!this.paused) return;
    this.paused = false;
    this.channel.resume();
  }

  /** Lambda's error body for a response past the limit. */
  tooLarge(): Buffer {
    return Buffer.from(
      JSON.stringify({
        errorType: 'Function.ResponseSizeTooLarge',
        errorMessage: `Response payload size exceeded maximum allowed payload size (${this.limit} bytes).`,
      }),
    );
  }
}
