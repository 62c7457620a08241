// The single HTTP origin: picks the API surface for each request (by SigV4 service, then path and
// headers), reads the body within the surface's limit, verifies the signature against the tenant's
// keys, and hands a typed request to the surface. Surfaces render their own error shapes.
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { DEFAULT_EDGE_LIMITS, type EdgeLimits } from '../config.js';
import type { Tenant, TenantStore } from '../control/tenants.js';
import { DomainError, KindlingError, LambdaErrors } from '../errors.js';
import { MalformedEscapeError, malformedQueryPart, tryDecode } from '../uri.js';
import { AuthErrors, EdgeErrors, QueryAuthError, WrongRegionError } from './edge-errors.js';
import { BodyRateWatch, PreAuthBudget, type PreAuthHold } from './edge-limits.js';
import { lambdaWireError, serviceWireError } from './lambda/errors.js';
import {
  EMPTY_SHA256,
  type ParsedSignature,
  parseSignature,
  SignatureError,
  sha256Hex,
  UNSIGNED_PAYLOAD,
  verifySignature,
} from './sigv4.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead, SignedPayloadInfo } from './surface.js';

export interface ApiServerDeps {
  tenants: TenantStore;
  /** In priority order; the first whose services include the request's service and that matches wins. */
  surfaces: ApiSurface[];
  onError?: (err: unknown) => void;
  /** One-line notes on what clients did wrong (a client that went away midway), for debugging. */
  onDebug?: (message: string) => void;
  /** The region credential scopes must name; unset accepts any (unit tests of single surfaces). */
  region?: string;
  /** Limits before authentication; DEFAULT_EDGE_LIMITS when unset. */
  limits?: EdgeLimits;
  /** Shared by every server of one platform, so the server-wide cap holds across them. */
  budget?: PreAuthBudget;
  /** The minimum body rate's watch; one per request handler when unset. */
  watch?: BodyRateWatch;
}

/** A surface-neutral error for requests no surface claims. */
const fallbackSurface: Pick<ApiSurface, 'errorResponse'> = {
  errorResponse(err) {
    const e = lambdaWireError(err) ?? serviceWireError();
    return {
      status: e.status,
      headers: { 'content-type': 'application/json', 'x-amzn-errortype': e.type },
      body: JSON.stringify({ __type: e.type, message: e.message, Message: e.message }),
    };
  },
};

export class BodyTooLargeError extends KindlingError {
  constructor(limit: number) {
    super(
      'RequestEntityTooLargeException',
      413,
      `Request must be smaller than ${limit} bytes for the operation`,
      {
        Type: 'User',
      },
    );
  }
}

export function pickSurface(surfaces: ApiSurface[], head: RequestHead): ApiSurface | undefined {
  // A surface that authenticates itself owns its paths whatever a signature claims (a function URL
  // signed for service lambda is not a Lambda API call).
  const own = surfaces.find((s) => s.authenticatesItself === true && s.matches(head));
  if (own) return own;
  if (head.service) {
    const byService = surfaces.find((s) => s.services.includes(head.service) && s.matches(head));
    if (byService) return byService;
  }
  return surfaces.find((s) => s.matches(head));
}

/**
 * The whole body, by 'data'/'end' events rather than the async iterator: a small body (the common
 * case) then costs no iterator objects or extra promise hops. Like the iterator, a body over the limit
 * or a connection lost midway rejects and destroys the request. With a hold, every byte is charged
 * to the pre-authentication budget first (the declared length up front): over a cap, it rejects.
 */
function readBody(
  req: IncomingMessage,
  limit: number,
  hold?: PreAuthHold,
  watch?: BodyRateWatch,
): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) return Promise.reject(new BodyTooLargeError(limit));
  if (hold && !hold.reserve(declared)) return Promise.reject(EdgeErrors.busy());
  // A small body usually arrives with its head, and the parser has buffered all of it by the time a
  // caller gets here (after an await): take it at once instead of through the stream's resume, 'data'
  // and 'end' ticks (~20 µs at c=1 on the bench's VM). Content-Length framing: the declared bytes
  // buffered are the whole body, even before the parser marks the message complete. Anything else goes
  // the event way below.
  if (
    declared > 0 &&
    req.headers['transfer-encoding'] === undefined &&
    req.readableLength === declared &&
    !req.readableFlowing
  ) {
    // read() with no size hands over everything buffered: exactly the declared body.
    const whole = req.read() as Buffer | null;
    if (whole !== null) {
      watch?.done(req);
      return Promise.resolve(whole);
    }
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err: Error | undefined, refused = false) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      watch?.done(req);
      if (err === undefined) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      else {
        // A body we refuse (too large, over the budget) is answered, then closed lingering (answerAndClose):
        // destroying here would reset the connection before the client could read the 413 or 503.
        if (refused) req.pause();
        else req.destroy();
        reject(err);
      }
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) done(new BodyTooLargeError(limit), true);
      else if (hold && !hold.reserve(size)) done(EdgeErrors.busy(), true);
      else chunks.push(chunk);
    };
    const onEnd = () => done(undefined);
    const onError = (e: Error) => done(e);
    const onClose = () =>
      done(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** Requests that sent `Expect: 100-continue`: their client waits for our word before sending the body. */
const awaitingContinue = new WeakSet<IncomingMessage>();

/** Lets a client waiting on `Expect: 100-continue` send its body: only once the head has passed. */
function proceed(req: IncomingMessage, res: ServerResponse): IncomingMessage {
  if (awaitingContinue.delete(req)) res.writeContinue();
  return req;
}

/** A request that declares no body (no Content-Length or 0, no Transfer-Encoding): its hash is known. */
function hasNoBody(req: IncomingMessage): boolean {
  const te = req.headers['transfer-encoding'];
  const cl = req.headers['content-length'];
  return te === undefined && (cl === undefined || cl === '0');
}

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** The client went away (reset, closed midway): no fault of the server, not worth a stack trace. */
function isClientAbort(err: unknown, req: IncomingMessage): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ECONNABORTED' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE'
  )
    return true;
  if ((err as Error | null)?.message === 'aborted') return true;
  return req.destroyed && !req.complete;
}

const sha256Mismatch = () =>
  new KindlingError(
    'XAmzContentSHA256Mismatch',
    400,
    "The provided 'x-amz-content-sha256' header does not match what was computed.",
  );

function authError(e: SignatureError): KindlingError {
  switch (e.kind) {
    case 'missing':
      return AuthErrors.missingAuth();
    case 'incomplete':
      return AuthErrors.incompleteSignature(e.message);
    case 'expired':
      return AuthErrors.expiredSignature(e.message);
    case 'unknown-key':
      return AuthErrors.unrecognizedClient();
    case 'query':
      return new QueryAuthError(e.message);
    default:
      return AuthErrors.invalidSignature();
  }
}

export function writeResponse(res: ServerResponse, out: ApiResponse): void {
  const headers = out.headers ?? {};
  const body = out.body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    // The common answer: a whole body. One writeHead, its headers given at once.
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    // No prototype: a header a function answers (function URLs) may be named `__proto__`.
    const all: Record<string, string | number | string[]> = Object.create(null);
    let hasId = false;
    let hasLength = res.hasHeader('content-length');
    for (const k in headers) {
      all[k] = headers[k]!;
      const l = k.toLowerCase();
      if (l === 'content-length') hasLength = true;
      else if (l === 'x-amzn-requestid' || l === 'x-amz-request-id') hasId = true;
    }
    if (!hasId) all['x-amzn-RequestId'] = randomUUID();
    if (!hasLength) all['content-length'] = buf.length;
    res.writeHead(out.status, all);
    res.end(buf);
    return;
  }
  if (!('x-amzn-requestid' in headers) && !('x-amz-request-id' in headers)) {
    res.setHeader('x-amzn-RequestId', randomUUID());
  }
  for (const k in headers) res.setHeader(k, headers[k]!);
  res.statusCode = out.status;
  if (body instanceof Readable) {
    body.on('error', () => res.destroy());
    // pipe() leaves the source open when the client goes away midway: destroy it so its file closes.
    res.once('close', () => {
      if (!body.readableEnded) body.destroy();
    });
    body.pipe(res);
    return;
  }
  if (body === undefined) {
    if (!res.hasHeader('content-length') && out.status !== 204 && out.status !== 304)
      res.setHeader('content-length', 0);
    res.end();
    return;
  }
  res.end(body);
}

/** What one request handler shares across requests. */
interface Edge {
  deps: ApiServerDeps;
  limits: EdgeLimits;
  budget: PreAuthBudget;
  watch: BodyRateWatch;
}

export function createRequestHandler(
  deps: ApiServerDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const limits = deps.limits ?? DEFAULT_EDGE_LIMITS;
  const edge: Edge = {
    deps,
    limits,
    budget: deps.budget ?? new PreAuthBudget(limits),
    watch: deps.watch ?? new BodyRateWatch(limits),
  };
  return (req, res) => {
    handle(edge, req, res).catch((err) => {
      if (isClientAbort(err, req)) deps.onDebug?.(`client went away: ${req.method} ${req.url}`);
      else deps.onError?.(err);
      if (!res.headersSent)
        writeResponse(res, fallbackSurface.errorResponse(LambdaErrors.service(), undefined as never));
      else res.destroy();
    });
  };
}

/** How long a connection closed under a still-arriving body keeps discarding what its peer sends. */
const LINGER_MS = 2_000;

/**
 * A lingering close: once the answer is written, shut our side and discard (never buffer) what the peer is
 * still sending, for a short while. Closing at once would make the kernel answer the peer's next bytes with
 * a reset, and a reset makes the peer's kernel drop the answer it has not read yet: the client would see
 * ECONNRESET instead of our error. Node's server calls destroySoon() when the response ends.
 */
function lingerOnClose(socket: import('node:net').Socket): void {
  socket.destroySoon = function lingering(this: import('node:net').Socket) {
    if (this.writable) this.end();
    this.removeAllListeners('data');
    this.on('data', () => {});
    this.once('end', () => this.destroy());
    this.resume();
    setTimeout(() => this.destroy(), LINGER_MS).unref();
  };
  // A peer that never reads the answer is cut all the same.
  setTimeout(() => socket.destroy(), LINGER_MS * 2).unref();
}

/**
 * Answers an error and, when the body has not all arrived, closes the connection instead of reading
 * the rest: an unauthenticated sender must not keep the server busy receiving.
 */
function answerAndClose(req: IncomingMessage, res: ServerResponse, out: ApiResponse): void {
  const pending = !req.complete;
  if (pending) {
    res.setHeader('connection', 'close');
    lingerOnClose(req.socket);
  }
  if (out.status === 503) res.setHeader('retry-after', '1');
  writeResponse(res, out);
}

async function handle(edge: Edge, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { deps } = edge;
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? '' : url.slice(q + 1);
  const query = new URLSearchParams(rawQuery);
  const decodedPath = tryDecode(rawPath);
  const head: RequestHead = {
    method: req.method ?? 'GET',
    rawPath,
    // Routing still needs a path when it does not decode; the request is refused below.
    path: decodedPath ?? rawPath,
    query,
    headers: req.headers,
    service: '',
  };

  let sig: ParsedSignature | undefined;
  let sigError: SignatureError | undefined;
  try {
    sig = parseSignature(req.headers, query);
    if (sig) head.service = sig.service;
  } catch (e) {
    if (!(e instanceof SignatureError)) throw e;
    sigError = e;
  }
  const surface = pickSurface(deps.surfaces, head);
  const fail = (err: unknown) =>
    answerAndClose(req, res, (surface ?? fallbackSurface).errorResponse(err, head));
  if (!surface) return fail(LambdaErrors.notFound(`No API matches ${head.method} ${rawPath}`));
  // A bearer token is not SigV4: routes that take one (GET /metrics) check it themselves.
  if (sigError && isBearer(req.headers.authorization) && surface.allowAnonymous?.(head)) sigError = undefined;
  // A browser's CORS preflight carries no credentials, even to a presigned URL (the query it repeats signs
  // the actual request): surfaces that answer preflights take it unauthenticated.
  if (head.method === 'OPTIONS' && surface.unsignedPreflight === true) {
    sig = undefined;
    sigError = undefined;
  }

  let hold: PreAuthHold | undefined;
  try {
    if (decodedPath === undefined) throw new MalformedEscapeError('path', rawPath);
    const badQuery = malformedQueryPart(rawQuery);
    if (badQuery !== undefined) throw new MalformedEscapeError('query', badQuery);
    if (surface.authenticatesItself === true) {
      if (!hasNoBody(req)) {
        edge.watch.watch(req, () => {
          if (res.headersSent) req.socket.destroy();
          else fail(EdgeErrors.bodyTooSlow(edge.limits.bodyMinBytesPerSec));
        });
      }
      const selfAuthenticated: ApiRequest = Object.assign(head, {
        tenant: undefined as unknown as Tenant,
        accessKeyId: '',
        body: Buffer.alloc(0),
        raw: req,
        readBody: async (limit: number) => {
          if (hasNoBody(req)) return Buffer.alloc(0);
          hold = holdFor(req, res, edge.budget);
          const b = await readBody(proceed(req, res), limit, hold, edge.watch);
          hold.release();
          return b;
        },
      });
      writeResponse(res, await surface.handle(selfAuthenticated));
      return;
    }
    if (sigError) throw authError(sigError);
    // From here on a body that trickles in is cut; the surface's own reads (S3 streaming) included.
    if (!hasNoBody(req)) {
      edge.watch.watch(req, () => {
        // Whatever is still reading the body ends when the connection closes after this answer.
        if (res.headersSent) req.socket.destroy();
        else fail(EdgeErrors.bodyTooSlow(edge.limits.bodyMinBytesPerSec));
      });
    }
    let tenant: Tenant | undefined;
    let accessKeyId = '';
    let body: Buffer = Buffer.alloc(0);
    let signedPayload: SignedPayloadInfo | undefined;
    if (!sig) {
      if (!surface.allowAnonymous?.(head)) throw AuthErrors.missingAuth();
      if (!surface.streaming && !hasNoBody(req)) {
        hold = holdFor(req, res, edge.budget);
        body = await readBody(proceed(req, res), surface.maxBodyBytes(head), hold, edge.watch);
        hold.release();
      }
    } else {
      if (deps.region !== undefined && sig.region !== deps.region)
        throw new WrongRegionError(sig.region, deps.region, sig.presigned);
      // Warm keys resolve from memory; a cold one waits for the store, still before any body byte is read.
      const found = await deps.tenants.resolveKey(sig.accessKeyId);
      if (!found) throw authError(new SignatureError('unknown-key', 'unknown key'));
      if (found.key.sessionToken !== null && found.key.sessionToken !== sig.securityToken) {
        throw AuthErrors.unrecognizedClient();
      }
      const verify = (payloadHash: string): Buffer => {
        try {
          return verifySignature(sig, {
            method: head.method,
            rawPath,
            rawQuery,
            headers: req.headers,
            payloadHash,
            secret: found.key.secretAccessKey,
          });
        } catch (e) {
          if (e instanceof SignatureError) throw authError(e);
          throw e;
        }
      };
      const claimedHeader = req.headers['x-amz-content-sha256'];
      const claimed = typeof claimedHeader === 'string' ? claimedHeader : undefined;
      if (surface.streaming) {
        // The surface reads (and checks) the body itself, after the signature of the head.
        const payloadHash = claimed ?? (sig.presigned ? UNSIGNED_PAYLOAD : '');
        if (!payloadHash)
          throw new KindlingError(
            'InvalidRequest',
            400,
            'Missing required header for this request: x-amz-content-sha256',
          );
        const signingKey = verify(payloadHash);
        signedPayload = {
          contentSha256: payloadHash,
          seedSignature: sig.signature,
          signingKey,
          amzDate: sig.amzDate,
          scope: `${sig.date}/${sig.region}/${sig.service}/aws4_request`,
        };
      } else if (claimed !== undefined) {
        // The hash is declared: the head's signature is checked before a byte of the body is read.
        if (!HEX_SHA256.test(claimed) && claimed !== UNSIGNED_PAYLOAD && !claimed.startsWith('STREAMING-'))
          throw sha256Mismatch();
        verify(claimed);
        // aws-chunked bodies are for the S3 API only.
        if (claimed.startsWith('STREAMING-')) throw sha256Mismatch();
        body = await readBody(proceed(req, res), surface.maxBodyBytes(head), undefined, edge.watch);
        if (claimed !== UNSIGNED_PAYLOAD && sha256Hex(body) !== claimed) throw sha256Mismatch();
      } else if (hasNoBody(req)) {
        verify(EMPTY_SHA256);
      } else {
        // The client signed the body's hash without declaring it (SQS, Lambda and JSON clients do):
        // the body must be read to verify, within the budget for unauthenticated bytes.
        hold = holdFor(req, res, edge.budget);
        body = await readBody(proceed(req, res), surface.maxBodyBytes(head), hold, edge.watch);
        verify(sha256Hex(body));
      }
      hold?.release();
      tenant = found.tenant;
      accessKeyId = sig.accessKeyId;
    }
    // The request is the head completed, the same object, so what a surface found when it claimed
    // the head (its route) is still found by it.
    const apiReq: ApiRequest = Object.assign(head, {
      tenant: tenant as Tenant, // anonymous routes must not read it
      accessKeyId,
      body,
      raw: req,
      signedPayload,
    });
    proceed(req, res);
    writeResponse(res, await surface.handle(apiReq));
  } catch (err) {
    hold?.release();
    if (isClientAbort(err, req)) {
      deps.onDebug?.(`client went away: ${head.method} ${rawPath}`);
      // Nobody is left to read an answer (and the error is no server fault to report as a 500).
      if (!res.headersSent || !res.writableEnded) res.destroy();
      return;
    }
    if (!(err instanceof KindlingError || err instanceof DomainError)) deps.onError?.(err);
    if (res.headersSent) res.destroy();
    else fail(err);
  }
}

/** A pre-authentication hold for the request's body, given back at the latest when the exchange ends. */
function holdFor(req: IncomingMessage, res: ServerResponse, budget: PreAuthBudget): PreAuthHold {
  const hold = budget.hold(req.socket.remoteAddress);
  res.once('close', () => hold.release());
  return hold;
}

const isBearer = (auth: string | undefined): boolean => auth !== undefined && /^Bearer\s/i.test(auth);

export function createApiServer(deps: ApiServerDeps): http.Server {
  const limits = deps.limits ?? DEFAULT_EDGE_LIMITS;
  const handler = createRequestHandler({ ...deps, limits });
  const server = http.createServer(
    {
      keepAliveTimeout: 65_000,
      // Bodies are bounded by the minimum rate instead: a large S3 upload may take long but not idle.
      requestTimeout: 0,
      headersTimeout: limits.headersTimeoutMs,
      // Node checks the header timeout on this interval (30 s by default, far too coarse).
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, limits.headersTimeoutMs / 4)),
    },
    handler,
  );
  // Answer 100 Continue only after the head is checked: a refused client never sends its body.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    awaitingContinue.add(req);
    handler(req, res);
  });
  // Node answers 417 to any Expect other than 100-continue, an empty one included; S3 ignores an empty
  // Expect (clients that blank the header out still expect their upload to go through).
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    if (String(req.headers.expect ?? '').trim() === '') return handler(req, res);
    res.writeHead(417).end();
  });
  return server;
}
