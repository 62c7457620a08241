// Reads an S3 request body as the SDKs send it: plain, or `aws-chunked` (signed chunks chained from the
// seed signature, or unsigned with trailing checksums), and verifies every digest the client claimed
// (x-amz-content-sha256, Content-MD5, x-amz-checksum-*) once the body has streamed through.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import {
  algorithmOfHeader,
  type ChecksumAlgorithm,
  type Hasher,
  hasherFor,
  headerOfAlgorithm,
} from '../../events/objects/checksums.js';
import { S3Errors } from '../../events/objects/errors.js';
import type { Checksum } from '../../events/objects/store.js';
import { EMPTY_SHA256, sha256Hex } from '../sigv4.js';
import type { SignedPayloadInfo } from '../surface.js';

const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
/** A chunk header or trailer line longer than this is not aws-chunked. */
const MAX_LINE = 8 * 1024;
/** S3's largest single PUT (and part): 5 GiB. */
export const MAX_UPLOAD_BYTES = 5 * 1024 ** 3;
const CHECKSUM_BYTES: Record<ChecksumAlgorithm, number> = { CRC32: 4, CRC32C: 4, SHA1: 20, SHA256: 32 };

const header = (h: IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
};

export class S3RequestBody {
  readonly #source: AsyncIterable<Buffer>;
  readonly #headers: IncomingHttpHeaders;
  readonly #payload: SignedPayloadInfo | undefined;
  readonly #mode: 'plain' | 'signed-chunks' | 'unsigned-chunks';
  readonly #trailer: boolean;
  readonly #expectSha256: string | undefined;
  readonly #expectMd5: Buffer | undefined;
  readonly #algorithm: ChecksumAlgorithm | undefined;
  /** From the header, or (when the client sends it in the trailer) filled in once the body has ended. */
  #expectChecksum: string | undefined;
  readonly #checksumHasher: Hasher | undefined;
  readonly #sha256 = createHash('sha256');
  #consumed = false;
  #finished = false;

  /** Validates the digest headers up front; the body is read later through `stream()`. */
  constructor(
    source: AsyncIterable<Buffer>,
    headers: IncomingHttpHeaders,
    payload: SignedPayloadInfo | undefined,
  ) {
    this.#source = source;
    this.#headers = headers;
    this.#payload = payload;
    const claimed = payload?.contentSha256 ?? header(headers, 'x-amz-content-sha256') ?? 'UNSIGNED-PAYLOAD';
    if (claimed === STREAMING_SIGNED || claimed === STREAMING_SIGNED_TRAILER) {
      if (!payload) throw S3Errors.invalidRequest('Streaming signed payloads need a signed request');
      this.#mode = 'signed-chunks';
    } else if (claimed === STREAMING_UNSIGNED_TRAILER) this.#mode = 'unsigned-chunks';
    else this.#mode = 'plain';
    this.#trailer = claimed.endsWith('-TRAILER');
    if (/^[0-9a-f]{64}$/i.test(claimed)) this.#expectSha256 = claimed.toLowerCase();
    else if (this.#mode === 'plain' && claimed !== 'UNSIGNED-PAYLOAD') {
      throw S3Errors.invalidArgument(
        'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.',
        'x-amz-content-sha256',
        claimed,
      );
    }
    const md5 = header(headers, 'content-md5');
    if (md5 !== undefined) {
      const raw = Buffer.from(md5, 'base64');
      if (raw.length !== 16 || raw.toString('base64') !== md5.trim()) throw S3Errors.invalidDigest();
      this.#expectMd5 = raw;
    }
    let algorithm: ChecksumAlgorithm | undefined;
    for (const name of Object.keys(headers)) {
      const a = algorithmOfHeader(name);
      if (!a) continue;
      if (algorithm)
        throw S3Errors.invalidRequest(
          'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.',
        );
      algorithm = a;
      this.#expectChecksum = header(headers, name)!.trim();
      validChecksum(a, this.#expectChecksum);
    }
    const trailer = header(headers, 'x-amz-trailer');
    if (trailer !== undefined) {
      if (!this.#trailer)
        throw S3Errors.invalidRequest('x-amz-trailer is only allowed with a streaming trailer payload');
      const a = algorithmOfHeader(trailer);
      if (!a)
        throw S3Errors.invalidRequest(
          `The value specified in the x-amz-trailer header is not supported: ${trailer}`,
        );
      if (algorithm)
        throw S3Errors.invalidRequest(
          'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.',
        );
      algorithm = a;
    }
    const sdkAlgorithm =
      header(headers, 'x-amz-sdk-checksum-algorithm') ?? header(headers, 'x-amz-checksum-algorithm');
    if (!algorithm && sdkAlgorithm) {
      const a = algorithmOfHeader(`x-amz-checksum-${sdkAlgorithm.toLowerCase()}`);
      if (!a)
        throw S3Errors.invalidArgument(
          'Invalid checksum algorithm',
          'x-amz-sdk-checksum-algorithm',
          sdkAlgorithm,
        );
      algorithm = a;
    }
    this.#algorithm = algorithm;
    this.#checksumHasher = algorithm ? hasherFor(algorithm) : undefined;
  }

  /** The decoded body. Throws (and so aborts the write) on a malformed chunk or a bad chunk signature. */
  async *stream(): AsyncGenerator<Buffer> {
    if (this.#consumed) throw new Error('request body read twice');
    this.#consumed = true;
    const announced = Number(
      header(this.#headers, 'x-amz-decoded-content-length') ?? header(this.#headers, 'content-length') ?? 0,
    );
    if (announced > MAX_UPLOAD_BYTES) throw S3Errors.entityTooLarge();
    const decoded = this.#mode === 'plain' ? this.#plain() : this.#chunks();
    let size = 0;
    try {
      for await (const chunk of decoded) {
        size += chunk.length;
        if (size > MAX_UPLOAD_BYTES) throw S3Errors.entityTooLarge();
        if (this.#expectSha256) this.#sha256.update(chunk);
        this.#checksumHasher?.update(chunk);
        yield chunk;
      }
    } catch (e) {
      // The client went away mid-body: an ordinary incomplete upload, not a server fault.
      if (
        e instanceof Error &&
        ((e as NodeJS.ErrnoException).code === 'ECONNRESET' || e.message === 'aborted')
      ) {
        throw S3Errors.incompleteBody();
      }
      throw e;
    }
    const declared = header(this.#headers, 'x-amz-decoded-content-length');
    if (this.#mode !== 'plain' && declared !== undefined && Number(declared) !== size)
      throw S3Errors.incompleteBody();
    this.#finished = true;
  }

  /**
   * After the body has been read: throws on any digest mismatch, returns the flexible checksum to store
   * (and answer in `x-amz-checksum-*`), if the client asked for one.
   */
  verify(computed: { md5: Buffer }): Checksum | undefined {
    if (!this.#finished) throw S3Errors.incompleteBody();
    if (this.#expectSha256 && this.#sha256.digest('hex') !== this.#expectSha256)
      throw S3Errors.contentSha256Mismatch();
    if (this.#expectMd5 && !this.#expectMd5.equals(computed.md5)) throw S3Errors.badDigest();
    if (!this.#algorithm || !this.#checksumHasher) return undefined;
    const value = this.#checksumHasher.digest().toString('base64');
    if (
      this.#trailer &&
      this.#expectChecksum === undefined &&
      header(this.#headers, 'x-amz-trailer') !== undefined
    ) {
      throw S3Errors.invalidRequest('The trailing checksum named by x-amz-trailer was not sent');
    }
    if (this.#expectChecksum !== undefined && this.#expectChecksum !== value)
      throw S3Errors.checksumMismatch(this.#algorithm);
    return { algorithm: this.#algorithm, value };
  }

  /** Reads a small body whole (XML requests), verifying it like any other. */
  async readAll(limit: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    const md5 = createHash('md5');
    for await (const c of this.stream()) {
      size += c.length;
      if (size > limit) throw S3Errors.entityTooLarge('Your request was too big.');
      md5.update(c);
      chunks.push(c);
    }
    this.verify({ md5: md5.digest() });
    return Buffer.concat(chunks, size);
  }

  async *#plain(): AsyncGenerator<Buffer> {
    const length = header(this.#headers, 'content-length');
    let size = 0;
    for await (const chunk of this.#source) {
      size += chunk.length;
      yield chunk;
    }
    if (length !== undefined && Number(length) !== size) throw S3Errors.incompleteBody();
  }

  async *#chunks(): AsyncGenerator<Buffer> {
    const it = this.#source[Symbol.asyncIterator]();
    let buf: Buffer = Buffer.alloc(0);
    const more = async (): Promise<boolean> => {
      const r = await it.next();
      if (r.done) return false;
      buf = buf.length ? Buffer.concat([buf, r.value]) : r.value;
      return true;
    };
    const line = async (eofOk = false): Promise<string | undefined> => {
      for (;;) {
        const i = buf.indexOf('\r\n');
        if (i >= 0) {
          const l = buf.subarray(0, i).toString('latin1');
          buf = buf.subarray(i + 2);
          return l;
        }
        if (buf.length > MAX_LINE) throw S3Errors.invalidChunk('Invalid chunk header');
        if (!(await more())) {
          if (eofOk && buf.length === 0) return undefined;
          throw S3Errors.incompleteBody();
        }
      }
    };
    const signed = this.#mode === 'signed-chunks' ? this.#payload : undefined;
    let previous = signed?.seedSignature ?? '';
    for (;;) {
      const head = (await line())!;
      const [sizeHex = '', ...ext] = head.split(';');
      if (!/^[0-9a-fA-F]{1,16}$/.test(sizeHex.trim())) throw S3Errors.invalidChunk('Invalid chunk size');
      const size = Number.parseInt(sizeHex.trim(), 16);
      const chunkSignature = ext
        .map((e) => /^\s*chunk-signature=([0-9a-f]{64})\s*$/.exec(e)?.[1])
        .find((x) => x);
      if (signed && !chunkSignature) throw S3Errors.invalidChunk('Missing chunk signature');
      const hash = signed ? createHash('sha256') : undefined;
      let remaining = size;
      while (remaining > 0) {
        if (buf.length === 0 && !(await more())) throw S3Errors.incompleteBody();
        const take = buf.subarray(0, Math.min(remaining, buf.length));
        buf = buf.subarray(take.length);
        remaining -= take.length;
        hash?.update(take);
        // Bytes reach the temp file before their chunk's signature is checked; a bad signature throws
        // before anything commits, so they never become visible.
        yield take;
      }
      if (signed) {
        const toSign = `AWS4-HMAC-SHA256-PAYLOAD\n${signed.amzDate}\n${signed.scope}\n${previous}\n${EMPTY_SHA256}\n${hash!.digest('hex')}`;
        previous = verifyHmac(signed.signingKey, toSign, chunkSignature!);
      }
      if (size > 0) {
        if ((await line()) !== '') throw S3Errors.invalidChunk('Chunk data not followed by CRLF');
        continue;
      }
      // The last chunk: trailer lines, if any, up to an empty line (or the end of the stream).
      const trailers: string[] = [];
      for (;;) {
        const l = await line(true);
        if (l === undefined || l === '') break;
        trailers.push(l);
      }
      this.#takeTrailers(trailers, signed, previous);
      return;
    }
  }

  #takeTrailers(lines: string[], signed: SignedPayloadInfo | undefined, previous: string): void {
    let trailerSignature: string | undefined;
    const signedLines: string[] = [];
    for (const l of lines) {
      const colon = l.indexOf(':');
      if (colon < 0) throw S3Errors.invalidChunk('Malformed trailer');
      const name = l.slice(0, colon).trim().toLowerCase();
      const value = l.slice(colon + 1).trim();
      if (name === 'x-amz-trailer-signature') {
        trailerSignature = value;
        continue;
      }
      signedLines.push(`${name}:${value}\n`);
      const a = algorithmOfHeader(name);
      if (a && a === this.#algorithm) {
        validChecksum(a, value);
        this.#expectChecksum = value;
      }
    }
    if (signed && this.#trailer) {
      if (!trailerSignature) throw S3Errors.invalidChunk('Missing trailer signature');
      const toSign = `AWS4-HMAC-SHA256-TRAILER\n${signed.amzDate}\n${signed.scope}\n${previous}\n${sha256Hex(signedLines.join(''))}`;
      verifyHmac(signed.signingKey, toSign, trailerSignature);
    }
  }
}

function verifyHmac(key: Buffer, toSign: string, given: string): string {
  const expected = createHmac('sha256', key).update(toSign).digest();
  const g = Buffer.from(given, 'hex');
  if (g.length !== expected.length || !timingSafeEqual(g, expected)) throw S3Errors.chunkSignatureMismatch();
  return given;
}

function validChecksum(a: ChecksumAlgorithm, value: string): void {
  const raw = Buffer.from(value, 'base64');
  if (raw.length !== CHECKSUM_BYTES[a] || raw.toString('base64') !== value)
    throw S3Errors.invalidChecksum(headerOfAlgorithm(a));
}
