// The single HTTP origin: picks the API surface for each request (by SigV4 service, then path and
// headers), reads the body within the surface's limit, verifies the signature against the tenant's
// keys, and hands a typed request to the surface. Surfaces render their own error shapes.
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Tenant, TenantStore } from '../control/tenants.js';
import { KindlingError, LambdaErrors } from '../errors.js';
import { type ParsedSignature, parseSignature, SignatureError, sha256Hex, verifySignature } from './sigv4.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead, SignedPayloadInfo } from './surface.js';

export interface ApiServerDeps {
  tenants: TenantStore;
  /** In priority order; the first whose services include the request's service and that matches wins. */
  surfaces: ApiSurface[];
  onError?: (err: unknown) => void;
}

/** A surface-neutral error for requests no surface claims. */
const fallbackSurface: Pick<ApiSurface, 'errorResponse'> = {
  errorResponse(err) {
    const e = err instanceof KindlingError ? err : LambdaErrors.service();
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
  if (head.service) {
    const byService = surfaces.find((s) => s.services.includes(head.service) && s.matches(head));
    if (byService) return byService;
  }
  return surfaces.find((s) => s.matches(head));
}

/**
 * The whole body, by 'data'/'end' events rather than the async iterator: a small body (the common
 * case) then costs no iterator objects or extra promise hops. Like the iterator, a body over the limit
 * or a connection lost midway rejects and destroys the request.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) return Promise.reject(new BodyTooLargeError(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err: Error | undefined) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err === undefined) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      else {
        req.destroy();
        reject(err);
      }
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) done(new BodyTooLargeError(limit));
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

function authError(e: SignatureError): KindlingError {
  switch (e.kind) {
    case 'missing':
      return LambdaErrors.missingAuth();
    case 'incomplete':
      return LambdaErrors.incompleteSignature(e.message);
    case 'expired':
      return LambdaErrors.expiredSignature(e.message);
    case 'unknown-key':
      return LambdaErrors.unrecognizedClient();
    default:
      return LambdaErrors.invalidSignature();
  }
}

export function writeResponse(res: ServerResponse, out: ApiResponse): void {
  const headers = out.headers ?? {};
  if (!('x-amzn-requestid' in headers) && !('x-amz-request-id' in headers)) {
    res.setHeader('x-amzn-RequestId', randomUUID());
  }
  for (const k in headers) res.setHeader(k, headers[k]!);
  res.statusCode = out.status;
  const body = out.body;
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
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  if (!res.hasHeader('content-length')) res.setHeader('content-length', buf.length);
  res.end(buf);
}

export function createRequestHandler(
  deps: ApiServerDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(deps, req, res).catch((err) => {
      deps.onError?.(err);
      if (!res.headersSent)
        writeResponse(res, fallbackSurface.errorResponse(LambdaErrors.service(), undefined as never));
      else res.destroy();
    });
  };
}

async function handle(deps: ApiServerDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? '' : url.slice(q + 1);
  const query = new URLSearchParams(rawQuery);
  let path = rawPath;
  if (rawPath.includes('%')) {
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      path = rawPath;
    }
  }
  const head: RequestHead = {
    method: req.method ?? 'GET',
    rawPath,
    path,
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
  const fail = (err: unknown) => {
    const out = (surface ?? fallbackSurface).errorResponse(err, head);
    // A rejected body may still be arriving: close the connection rather than read it all.
    if (err instanceof BodyTooLargeError) res.setHeader('connection', 'close');
    writeResponse(res, out);
    if (!req.complete) req.resume();
  };
  if (!surface) return fail(LambdaErrors.notFound(`No API matches ${head.method} ${rawPath}`));

  try {
    if (sigError) throw authError(sigError);
    let tenant: Tenant | undefined;
    let accessKeyId = '';
    let body: Buffer = Buffer.alloc(0);
    let signedPayload: SignedPayloadInfo | undefined;
    if (!sig) {
      if (!surface.allowAnonymous?.(head)) throw LambdaErrors.missingAuth();
    } else {
      const found = deps.tenants.resolveKey(sig.accessKeyId);
      if (!found) throw authError(new SignatureError('unknown-key', 'unknown key'));
      if (found.key.sessionToken !== null && found.key.sessionToken !== sig.securityToken) {
        throw LambdaErrors.unrecognizedClient();
      }
      const claimed = (req.headers['x-amz-content-sha256'] as string | undefined) ?? undefined;
      let payloadHash: string;
      if (surface.streaming) {
        payloadHash = claimed ?? (sig.presigned ? 'UNSIGNED-PAYLOAD' : '');
        if (!payloadHash)
          throw new KindlingError(
            'InvalidRequest',
            400,
            'Missing required header for this request: x-amz-content-sha256',
          );
      } else {
        body = await readBody(req, surface.maxBodyBytes(head));
        payloadHash = sha256Hex(body);
        if (claimed && claimed !== payloadHash && claimed !== 'UNSIGNED-PAYLOAD') {
          throw new KindlingError(
            'XAmzContentSHA256Mismatch',
            400,
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
          );
        }
        if (claimed === 'UNSIGNED-PAYLOAD') payloadHash = claimed;
      }
      let signingKey: Buffer;
      try {
        signingKey = verifySignature(sig, {
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
      if (surface.streaming) {
        signedPayload = {
          contentSha256: payloadHash,
          seedSignature: sig.signature,
          signingKey,
          amzDate: sig.amzDate,
          scope: `${sig.date}/${sig.region}/${sig.service}/aws4_request`,
        };
      }
      tenant = found.tenant;
      accessKeyId = sig.accessKeyId;
    }
    if (!sig && !surface.streaming) body = await readBody(req, surface.maxBodyBytes(head));
    const apiReq: ApiRequest = {
      method: head.method,
      rawPath,
      path,
      query,
      headers: head.headers,
      service: head.service,
      tenant: tenant as Tenant, // anonymous routes must not read it
      accessKeyId,
      body,
      raw: req,
      signedPayload,
    };
    writeResponse(res, await surface.handle(apiReq));
  } catch (err) {
    if (!(err instanceof KindlingError)) deps.onError?.(err);
    if (res.headersSent) res.destroy();
    else fail(err);
  }
}

export function createApiServer(deps: ApiServerDeps): http.Server {
  const server = http.createServer(
    { keepAliveTimeout: 65_000, requestTimeout: 0 },
    createRequestHandler(deps),
  );
  server.headersTimeout = 60_000;
  return server;
}
