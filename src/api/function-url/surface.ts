// Function URLs (`<origin>/lambda_url/<url-id>/...`, or any request whose Host is `<url-id>.lambda-url.…`,
// e.g. `http://<url-id>.lambda-url.localhost:9000/`, as Lambda's own URLs are named): a plain HTTP request becomes the API Gateway HTTP
// API payload format 2.0 event, the function's answer becomes the HTTP response as Lambda shapes it
// (statusCode/headers/cookies/body/isBase64Encoded, or any other JSON value as a 200 JSON body). AuthType
// NONE passes every header, Authorization included, to the function; AWS_IAM verifies SigV4 (service
// `lambda`) by a key of the owning tenant. CORS, when configured, is answered here, as Lambda does.
// InvokeMode RESPONSE_STREAM answers chunked, the function's bytes passed on as it writes them.

import type { FunctionUrl, FunctionUrlCors, FunctionUrlStore } from '../../control/function-urls.js';
import type { FunctionRecord } from '../../control/functions.js';
import type { AccessKey } from '../../control/tenant-types.js';
import type { Tenant } from '../../control/tenants.js';
import { isDomainError, isKindlingError, KindlingError } from '../../errors.js';
import { requestId as newRequestId } from '../../ids.js';
import type { ResponseSink, SyncInvokeResult } from '../../invoke/types.js';
import { URL_PREFIX } from '../lambda/function-urls.js';
import { EMPTY_SHA256, parseSignature, sha256Hex, UNSIGNED_PAYLOAD, verifySignature } from '../sigv4.js';
import { SinkReadable } from '../stream-sink.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead } from '../surface.js';

export interface FunctionUrlSurfaceDeps {
  urls: FunctionUrlStore;
  tenant(id: string): Promise<Tenant | undefined>;
  resolveKey(accessKeyId: string): Promise<{ key: AccessKey; tenant: Tenant } | undefined>;
  /** Whether the function's resource policy lets another account call its AWS_IAM URL. */
  granted(functionId: string, account: string): Promise<boolean>;
  resolve(tenant: Tenant, name: string, qualifier: string): Promise<FunctionRecord>;
  /** With `stream`, a streaming handler's bytes go there as written (InvokeMode RESPONSE_STREAM). */
  execute(
    tenant: Tenant,
    rec: FunctionRecord,
    payload: Buffer,
    requestId: string,
    stream?: ResponseSink,
  ): Promise<SyncInvokeResult>;
}

/** The methods a function URL takes (Lambda's list). */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * Framing and hop-by-hop headers a function may not set: the server frames the response itself
 * (a function's Transfer-Encoding beside our Content-Length would let it split responses).
 */
const HOP_BY_HOP = new Set([
  'connection',
  'content-length',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Lambda's synchronous payload limit: the event (body included, base64 if binary) must fit. */
const MAX_EVENT_BYTES = 6 * 1024 * 1024;

/** An answer of the URL itself (not the function's), rendered as Lambda's URLs do: `{"Message": ...}`. */
class UrlError extends KindlingError {
  constructor(status: number, message: string) {
    super('FunctionUrlError', status, message);
  }
}

const forbidden = () => new UrlError(403, 'Forbidden');

/** Content types carried as text in the event; anything else is base64, as Lambda does. */
const TEXTUAL = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded)|[^;]*\+(json|xml))/i;

/** `<url-id>.lambda-url.<region>.on.aws` as Lambda names it, or any domain under `<url-id>.lambda-url.`. */
const URL_HOST = /^([a-z0-9]{32})\.lambda-url\./i;

/** Asked of every request the server gets (pickSurface): one regex test, no copy of the header. */
function hostId(head: RequestHead): string | undefined {
  const host = head.headers.host;
  return typeof host === 'string' ? URL_HOST.exec(host)?.[1]?.toLowerCase() : undefined;
}

/** The URL id and the path the function sees, by host (the whole path) or by path prefix. */
function parseUrl(head: RequestHead): { id: string; rest: string } | undefined {
  const byHost = hostId(head);
  if (byHost !== undefined) return { id: byHost, rest: head.rawPath === '' ? '/' : head.rawPath };
  const rawPath = head.rawPath;
  if (!rawPath.startsWith(URL_PREFIX)) return undefined;
  const after = rawPath.slice(URL_PREFIX.length);
  const slash = after.indexOf('/');
  const id = slash < 0 ? after : after.slice(0, slash);
  if (!/^[a-z0-9]{32}$/.test(id)) return undefined;
  return { id, rest: slash < 0 ? '/' : after.slice(slash) };
}

/** `12/Mar/2020:19:03:58 +0000`, as the event's requestContext.time. */
function clfTime(d: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function decodeQueryPart(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

export class FunctionUrlSurface implements ApiSurface {
  readonly name = 'function-url';
  readonly services = [] as const;
  readonly authenticatesItself = true;
  readonly #deps: FunctionUrlSurfaceDeps;

  constructor(deps: FunctionUrlSurfaceDeps) {
    this.#deps = deps;
  }

  matches(head: RequestHead): boolean {
    return head.rawPath.startsWith(URL_PREFIX) || hostId(head) !== undefined;
  }

  maxBodyBytes(): number {
    return MAX_EVENT_BYTES;
  }

  async handle(req: ApiRequest): Promise<ApiResponse> {
    const where = parseUrl(req);
    if (where === undefined) throw new UrlError(404, 'Not Found');
    if (!METHODS.has(req.method)) throw new UrlError(405, 'Method Not Allowed');
    const url = await this.#deps.urls.byId(where.id);
    if (url === undefined) throw forbidden();
    const owner = await this.#deps.tenant(url.tenantId);
    if (owner === undefined) throw forbidden();
    const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined;
    if (
      url.cors !== undefined &&
      req.method === 'OPTIONS' &&
      origin !== undefined &&
      req.headers['access-control-request-method'] !== undefined
    )
      return preflight(url.cors, origin, req);
    const body = req.readBody === undefined ? req.body : await req.readBody(MAX_EVENT_BYTES);
    const caller = url.authType === 'AWS_IAM' ? await this.#authorize(req, url, owner, body) : undefined;
    // The URL belongs to one function, by id: one deleted (and made again under the name) has no URL.
    let rec: FunctionRecord;
    try {
      rec = await this.#deps.resolve(owner, url.functionName, url.qualifier);
    } catch {
      throw forbidden();
    }
    if (rec.id !== url.functionId) throw forbidden();
    const requestId = newRequestId();
    const event = this.#event(req, url, owner, where.rest, body, requestId, caller);
    const payload = Buffer.from(JSON.stringify(event));
    if (payload.length > MAX_EVENT_BYTES) throw new UrlError(413, 'Request Entity Too Large');
    let response: ApiResponse;
    if (url.invokeMode === 'RESPONSE_STREAM') response = await this.#streamed(owner, rec, payload, requestId);
    else {
      let result: SyncInvokeResult;
      try {
        result = await this.#deps.execute(owner, rec, payload, requestId);
      } catch (e) {
        throw throttled(e);
      }
      response = buffered(result);
    }
    response.headers = { ...response.headers, 'x-amzn-RequestId': requestId };
    if (url.cors !== undefined && origin !== undefined) withCors(response, url.cors, origin);
    return response;
  }

  /**
   * InvokeMode RESPONSE_STREAM: the answer starts once the function's first bytes say its status and headers
   * (HttpResponseStream.from's prelude, or the stream's content type) and its body follows as written,
   * chunked. A handler that does not stream is answered as a buffered one, as Lambda does; one that fails
   * before its first byte gets the 502 a buffered one gets; one that fails later has its response cut off.
   */
  async #streamed(
    owner: Tenant,
    rec: FunctionRecord,
    payload: Buffer,
    requestId: string,
  ): Promise<ApiResponse> {
    const body = new UrlStreamBody();
    let result: SyncInvokeResult | undefined;
    const ran = this.#deps.execute(owner, rec, payload, requestId, body).then(
      (r) => {
        result = r;
      },
      (e: unknown) => {
        throw throttled(e);
      },
    );
    await Promise.race([body.head, ran]);
    if (body.started === undefined) {
      await ran;
      // Nothing streamed: the whole answer is the payload (or a failure before the first byte).
      const r = result!;
      return r.streamed === true ? INTERNAL_ERROR() : buffered(r);
    }
    const head = body.started;
    if (head === 'invalid') {
      body.destroy();
      return INTERNAL_ERROR();
    }
    void ran.then(
      () => {
        // The response is already under way: a failure can only cut it short, as Lambda's URLs do.
        if (result?.functionError !== undefined) body.fail();
        else body.end();
      },
      () => body.fail(),
    );
    return { status: head.status, headers: head.headers, body };
  }

  /**
   * AWS_IAM: a valid SigV4 signature (service lambda) by a key of the owning tenant, or of an account the
   * function's resource policy grants lambda:InvokeFunctionUrl (for AWS_IAM URLs).
   */
  async #authorize(
    req: ApiRequest,
    url: FunctionUrl,
    owner: Tenant,
    body: Buffer,
  ): Promise<{ key: AccessKey; account: string }> {
    let sig: ReturnType<typeof parseSignature>;
    try {
      sig = parseSignature(req.headers, req.query);
    } catch {
      throw forbidden();
    }
    if (sig === undefined || sig.service !== 'lambda') throw forbidden();
    const found = await this.#deps.resolveKey(sig.accessKeyId);
    if (found === undefined) throw forbidden();
    if (found.tenant.id !== owner.id && !(await this.#deps.granted(url.functionId, found.tenant.accountId)))
      throw forbidden();
    if (found.key.sessionToken !== null && found.key.sessionToken !== sig.securityToken) throw forbidden();
    const claimed = req.headers['x-amz-content-sha256'];
    const payloadHash =
      typeof claimed === 'string' && (claimed === UNSIGNED_PAYLOAD || claimed === sha256Hex(body))
        ? claimed
        : body.length === 0
          ? EMPTY_SHA256
          : sha256Hex(body);
    try {
      verifySignature(sig, {
        method: req.method,
        rawPath: req.rawPath,
        rawQuery: rawQueryOf(req),
        headers: req.headers,
        payloadHash,
        secret: found.key.secretAccessKey,
      });
    } catch {
      throw forbidden();
    }
    return { key: found.key, account: found.tenant.accountId };
  }

  #event(
    req: ApiRequest,
    url: FunctionUrl,
    owner: Tenant,
    rawPath: string,
    body: Buffer,
    requestId: string,
    caller: { key: AccessKey; account: string } | undefined,
  ): Record<string, unknown> {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || k === 'cookie') continue;
      headers[k] = Array.isArray(v) ? v.join(',') : v;
    }
    // As Lambda's front end adds them: who connected, over what.
    const ip = req.raw.socket.remoteAddress ?? '';
    headers['x-forwarded-for'] = headers['x-forwarded-for'] ? `${headers['x-forwarded-for']}, ${ip}` : ip;
    headers['x-forwarded-proto'] = 'http';
    headers['x-forwarded-port'] = String(req.raw.socket.localPort ?? '');
    const cookieHeader = req.headers.cookie;
    const cookies =
      typeof cookieHeader === 'string' && cookieHeader !== ''
        ? cookieHeader.split(/;\s*/).filter((c) => c !== '')
        : undefined;
    const rawQuery = rawQueryOf(req);
    let params: Record<string, string> | undefined;
    if (rawQuery !== '') {
      params = {};
      for (const part of rawQuery.split('&')) {
        if (part === '') continue;
        const eq = part.indexOf('=');
        const k = decodeQueryPart(eq < 0 ? part : part.slice(0, eq));
        const v = eq < 0 ? '' : decodeQueryPart(part.slice(eq + 1));
        params[k] = params[k] === undefined ? v : `${params[k]},${v}`;
      }
    }
    const now = new Date();
    const host = typeof req.headers.host === 'string' ? req.headers.host : '';
    const textual = TEXTUAL.test(String(req.headers['content-type'] ?? ''));
    let path = rawPath;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      // as sent
    }
    return {
      version: '2.0',
      routeKey: '$default',
      rawPath,
      rawQueryString: rawQuery,
      ...(cookies !== undefined && { cookies }),
      headers,
      ...(params !== undefined && { queryStringParameters: params }),
      requestContext: {
        accountId: owner.accountId,
        apiId: url.urlId,
        ...(caller !== undefined && {
          authorizer: {
            iam: {
              accessKey: caller.key.accessKeyId,
              accountId: caller.account,
              callerId: caller.key.accessKeyId,
              cognitoIdentity: null,
              principalOrgId: null,
              userArn: `arn:aws:iam::${caller.account}:root`,
              userId: caller.key.accessKeyId,
            },
          },
        }),
        domainName: host,
        domainPrefix: url.urlId,
        http: {
          method: req.method,
          path,
          protocol: `HTTP/${req.raw.httpVersion}`,
          sourceIp: req.raw.socket.remoteAddress ?? '',
          userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : '',
        },
        requestId,
        routeKey: '$default',
        stage: '$default',
        time: clfTime(now),
        timeEpoch: now.getTime(),
      },
      ...(body.length > 0 && { body: textual ? body.toString('utf8') : body.toString('base64') }),
      isBase64Encoded: body.length > 0 && !textual,
    };
  }

  errorResponse(err: unknown): ApiResponse {
    const status = err instanceof UrlError ? err.status : statusOf(err);
    const message =
      err instanceof UrlError
        ? err.message
        : status === 413
          ? 'Request Entity Too Large'
          : status < 500
            ? 'Bad Request'
            : 'Internal Server Error';
    return {
      status,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ Message: message }),
    };
  }
}

/** A throttle is the URL's own 429; other errors pass as they are. */
function throttled(e: unknown): unknown {
  if ((isKindlingError(e) || isDomainError(e)) && (e as { status?: number }).status === 429)
    return new UrlError(429, 'Rate Exceeded.');
  return e;
}

const INTERNAL_ERROR = (): ApiResponse => ({
  status: 502,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ Message: 'Internal Server Error' }),
});

/** A buffered answer: the payload as HTTP, or a 502 for a failed or malformed one. */
function buffered(result: SyncInvokeResult): ApiResponse {
  const out = result.functionError !== undefined ? undefined : toHttp(result.payload);
  return out ?? INTERNAL_ERROR();
}

/** The largest prelude (status, headers, cookies) a streamed answer may start with. */
const MAX_PRELUDE = 64 * 1024;
const DELIMITER = Buffer.alloc(8);
const HTTP_INTEGRATION_TYPE = 'application/vnd.awslambda.http-integration-response';

type StreamHead = { status: number; headers: Record<string, string | string[]> };

/**
 * A streamed URL answer's body. With HttpResponseStream.from's content type the bytes start with a JSON
 * prelude and 8 NUL bytes: the prelude is the response's status, headers and cookies, the rest its body.
 * Any other content type is a 200 of that type.
 */
class UrlStreamBody extends SinkReadable {
  /** Set once the head is known ('invalid': a prelude that is not one). */
  started: StreamHead | 'invalid' | undefined;
  readonly head: Promise<void>;
  #resolve!: () => void;
  #prelude: Buffer[] | undefined;
  #preludeBytes = 0;

  constructor() {
    super();
    this.head = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  protected accept(chunk: Buffer, contentType: string): boolean {
    if (this.started === undefined && this.#prelude === undefined) {
      if (contentType !== HTTP_INTEGRATION_TYPE)
        return this.#start({ status: 200, headers: { 'content-type': contentType } }, chunk);
      this.#prelude = [];
    }
    if (this.started !== undefined)
      return this.started === 'invalid' || chunk.length === 0 || this.push(chunk);
    // Still reading the prelude: up to its delimiter.
    this.#prelude!.push(chunk);
    this.#preludeBytes += chunk.length;
    const all = Buffer.concat(this.#prelude!, this.#preludeBytes);
    const at = all.indexOf(DELIMITER);
    if (at < 0) {
      if (this.#preludeBytes > MAX_PRELUDE) this.#settle('invalid');
      return true;
    }
    const head = preludeHead(all.subarray(0, at));
    if (head === undefined) {
      this.#settle('invalid');
      return true;
    }
    return this.#start(head, all.subarray(at + DELIMITER.length));
  }

  #start(head: StreamHead, rest: Buffer): boolean {
    this.#settle(head);
    this.#prelude = undefined;
    return rest.length === 0 || this.push(rest);
  }

  #settle(head: StreamHead | 'invalid'): void {
    this.started = head;
    this.#resolve();
  }

  end(): void {
    if (!this.destroyed) this.push(null);
  }

  /**
   * Cut short: what was written still reaches the client (the server has taken every pushed byte), then
   * the connection closes without the final chunk, so no client takes the body for complete.
   */
  fail(): void {
    const abort = () => {
      if (this.destroyed || this.readableLength > 0) return;
      this.off('data', abort);
      setImmediate(() => this.destroy(new Error('the function failed mid-stream')));
    };
    this.on('data', abort);
    abort();
  }
}

/** The prelude's statusCode (default 200), headers and cookies, checked as a buffered answer's are. */
function preludeHead(json: Buffer): StreamHead | undefined {
  let v: unknown;
  try {
    v = JSON.parse(json.toString('utf8'));
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const r = v as { statusCode?: unknown; headers?: unknown; cookies?: unknown };
  const status = r.statusCode ?? 200;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599)
    return undefined;
  const headers = httpHeaders(r);
  if (headers === undefined) return undefined;
  headers['content-type'] ??= 'application/octet-stream';
  return { status, headers };
}

function statusOf(err: unknown): number {
  const s = (err as { status?: unknown } | null)?.status;
  return typeof s === 'number' && s >= 400 && s < 600 ? s : 500;
}

function rawQueryOf(req: ApiRequest): string {
  const url = req.raw.url ?? '';
  const q = url.indexOf('?');
  return q < 0 ? '' : url.slice(q + 1);
}

/**
 * The function's answer as HTTP: a JSON object with a statusCode is a response (headers, cookies, body,
 * isBase64Encoded); any other JSON value is a 200 application/json body as returned. Undefined: the
 * answer is not a valid response (a 502, as Lambda gives).
 */
export function toHttp(payload: Buffer): ApiResponse | undefined {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || !('statusCode' in v))
    return { status: 200, headers: { 'content-type': 'application/json' }, body: payload };
  const r = v as {
    statusCode: unknown;
    headers?: unknown;
    cookies?: unknown;
    body?: unknown;
    isBase64Encoded?: unknown;
  };
  if (
    typeof r.statusCode !== 'number' ||
    !Number.isInteger(r.statusCode) ||
    r.statusCode < 100 ||
    r.statusCode > 599
  )
    return undefined;
  const headers = httpHeaders(r);
  if (headers === undefined) return undefined;
  let body: Buffer;
  if (r.body === undefined || r.body === null) body = Buffer.alloc(0);
  else if (typeof r.body === 'string')
    body = r.isBase64Encoded === true ? Buffer.from(r.body, 'base64') : Buffer.from(r.body);
  else body = Buffer.from(JSON.stringify(r.body));
  if (headers['content-type'] === undefined && body.length > 0) headers['content-type'] = 'application/json';
  headers['content-length'] = String(body.length);
  return { status: r.statusCode, headers, body };
}

/** A response's headers and cookies (lower-cased, framing headers dropped); undefined when malformed. */
function httpHeaders(r: {
  headers?: unknown;
  cookies?: unknown;
}): Record<string, string | string[]> | undefined {
  // No prototype: a function may answer a header named `__proto__`, which is a header like any other.
  const headers: Record<string, string | string[]> = Object.create(null);
  if (r.headers !== undefined) {
    if (r.headers === null || typeof r.headers !== 'object') return undefined;
    for (const [k, hv] of Object.entries(r.headers)) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) return undefined;
      const s =
        typeof hv === 'string'
          ? hv
          : typeof hv === 'number' || typeof hv === 'boolean'
            ? String(hv)
            : undefined;
      if (s === undefined || /[\r\n\0]/.test(s)) return undefined;
      if (HOP_BY_HOP.has(k.toLowerCase())) continue;
      headers[k.toLowerCase()] = s;
    }
  }
  if (r.cookies !== undefined) {
    if (!Array.isArray(r.cookies) || r.cookies.some((c) => typeof c !== 'string' || /[\r\n\0]/.test(c)))
      return undefined;
    if (r.cookies.length > 0) headers['set-cookie'] = r.cookies as string[];
  }
  return headers;
}

function allowedOrigin(cors: FunctionUrlCors, origin: string): string | undefined {
  const list = cors.AllowOrigins ?? [];
  if (list.includes('*')) return cors.AllowCredentials === true ? origin : '*';
  return list.includes(origin) ? origin : undefined;
}

function preflight(cors: FunctionUrlCors, origin: string, req: ApiRequest): ApiResponse {
  const allow = allowedOrigin(cors, origin);
  const method = String(req.headers['access-control-request-method']).toUpperCase();
  const methods = cors.AllowMethods ?? [];
  // A disallowed origin or method gets no permission: the browser then refuses the request itself.
  if (allow === undefined || !(methods.includes('*') || methods.includes(method)))
    return { status: 200, headers: { vary: 'Origin' } };
  return {
    status: 200,
    headers: {
      'access-control-allow-origin': allow,
      'access-control-allow-methods': methods.join(','),
      ...(cors.AllowHeaders !== undefined && { 'access-control-allow-headers': cors.AllowHeaders.join(',') }),
      ...(cors.MaxAge !== undefined && { 'access-control-max-age': String(cors.MaxAge) }),
      ...(cors.AllowCredentials === true && { 'access-control-allow-credentials': 'true' }),
      vary: 'Origin',
    },
  };
}

function withCors(r: ApiResponse, cors: FunctionUrlCors, origin: string): void {
  const headers = { ...(r.headers ?? {}) };
  // The URL's CORS configuration decides; the function's own access-control headers give way to it.
  for (const k of Object.keys(headers)) if (k.toLowerCase().startsWith('access-control-')) delete headers[k];
  const allow = allowedOrigin(cors, origin);
  if (allow !== undefined) {
    headers['access-control-allow-origin'] = allow;
    if (cors.ExposeHeaders !== undefined)
      headers['access-control-expose-headers'] = cors.ExposeHeaders.join(',');
    if (cors.AllowCredentials === true) headers['access-control-allow-credentials'] = 'true';
  }
  headers.vary = 'Origin';
  r.headers = headers;
}
