// The web console at `/console`: static pages (./static) and their JSON API (`/console/api/...`). It
// authenticates itself: a session cookie (HttpOnly, SameSite=Strict, Path=/console) opened by signing in
// with an access key pair (./sessions.ts), never SigV4, so a signed request to `/console/...` is not its
// (it is S3's, path-style, for a bucket named `console`). State-changing calls must come from the
// console's own origin (Origin, Sec-Fetch-Site) and carry the session's CSRF token; every answer
// carries a strict Content-Security-Policy (no inline script) and refuses framing.
import { timingSafeEqual } from 'node:crypto';
import { isDomainError, isKindlingError, KindlingError } from '../../errors.js';
import { decodeOrThrow } from '../../uri.js';
import { addressKey } from '../edge-limits.js';
import { lambdaWireError, serviceWireError } from '../lambda/errors.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead } from '../surface.js';
import { type Asset, loadAssets } from './assets.js';
import {
  type ResolveKey,
  type Session,
  type SessionOptions,
  SessionStore,
  SignInLimiter,
  type SignInLimitOptions,
} from './sessions.js';
import * as views from './views.js';

export const CONSOLE_PREFIX = '/console';
const API = '/console/api/';
const COOKIE = 'kindling_console';

export interface ConsoleSurfaceDeps extends views.ConsoleViewDeps {
  resolveKey: ResolveKey;
  sessions?: SessionOptions;
  signInLimit?: SignInLimitOptions;
}

/** Sent with every answer of the console, pages, API and errors alike. */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

const MAX_SIGNIN_BODY = 4096;

const ConsoleErrors = {
  notSignedIn: () => new KindlingError('NotSignedIn', 401, 'Sign in with an access key pair.'),
  signInFailed: () =>
    new KindlingError('SignInFailed', 401, 'The access key ID or secret access key is not valid.'),
  tooManySignIns: (retryAfter: number) =>
    new KindlingError(
      'TooManySignInAttempts',
      429,
      'Too many failed sign-ins from this address; try again later.',
      {
        retryAfter,
      },
    ),
  crossOrigin: () =>
    new KindlingError(
      'CrossOriginRequestRefused',
      403,
      'State-changing requests must come from the console itself.',
    ),
  badCsrf: () =>
    new KindlingError('InvalidCsrfToken', 403, 'The request does not carry this session’s CSRF token.'),
  notFound: (path: string) => new KindlingError('NotFound', 404, `Nothing at ${path}`),
  methodNotAllowed: (method: string, path: string) =>
    new KindlingError('MethodNotAllowed', 405, `${method} is not allowed on ${path}`),
  contentType: () => new KindlingError('UnsupportedMediaType', 415, 'Send application/json.'),
  badRequest: views.ConsoleErrors.badRequest,
};

const json = (
  status: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): ApiResponse => ({
  status,
  headers: { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', ...headers },
  body: JSON.stringify(body),
});

function cookieOf(head: RequestHead): string | undefined {
  const raw = head.headers.cookie;
  if (typeof raw !== 'string') return undefined;
  for (const part of raw.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The client a failed sign-in is counted against: its address, IPv6 by its /64 (as the edge counts). */
function clientAddress(req: ApiRequest): string {
  // No address: a sandbox's relayed call over the unix socket (all of them share one count).
  return addressKey(req.raw.socket.remoteAddress) ?? 'unix-socket';
}

export class ConsoleSurface implements ApiSurface {
  readonly name = 'console';
  readonly services = [] as const;
  readonly authenticatesItself = true;
  readonly #deps: ConsoleSurfaceDeps;
  readonly #assets: Map<string, Asset>;
  readonly #sessions: SessionStore;
  readonly #limiter: SignInLimiter;

  constructor(deps: ConsoleSurfaceDeps) {
    this.#deps = deps;
    this.#assets = loadAssets();
    this.#sessions = new SessionStore(deps.resolveKey, deps.sessions);
    this.#limiter = new SignInLimiter(deps.signInLimit);
  }

  matches(head: RequestHead): boolean {
    // A SigV4-signed request is an API call (S3 path-style to a bucket named `console`), never the console.
    if (head.service !== '') return false;
    return head.rawPath === CONSOLE_PREFIX || head.rawPath.startsWith(`${CONSOLE_PREFIX}/`);
  }

  maxBodyBytes(): number {
    return views.MAX_INVOKE_PAYLOAD;
  }

  async handle(req: ApiRequest): Promise<ApiResponse> {
    if (req.rawPath.startsWith(API)) return this.#api(req);
    if (req.method !== 'GET' && req.method !== 'HEAD')
      throw ConsoleErrors.methodNotAllowed(req.method, req.path);
    const rest = req.rawPath.slice(CONSOLE_PREFIX.length + 1);
    const asset = this.#assets.get(rest === '' ? 'index.html' : rest);
    if (!asset) throw ConsoleErrors.notFound(req.path);
    const headers = {
      ...SECURITY_HEADERS,
      'content-type': asset.type,
      etag: asset.etag,
      'cache-control': 'no-cache',
    };
    if (req.headers['if-none-match'] === asset.etag) return { status: 304, headers };
    return { status: 200, headers, body: req.method === 'HEAD' ? undefined : asset.body };
  }

  errorResponse(err: unknown, head: RequestHead): ApiResponse {
    const e =
      isKindlingError(err) || isDomainError(err)
        ? (lambdaWireError(err) ?? serviceWireError())
        : serviceWireError();
    const retryAfter = e.fields.retryAfter;
    const extra: Record<string, string> =
      typeof retryAfter === 'number' ? { 'retry-after': String(retryAfter) } : {};
    if (head !== undefined && !head.rawPath.startsWith(API)) {
      return {
        status: e.status,
        headers: { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', ...extra },
        body: `${e.status} ${e.message}\n`,
      };
    }
    return json(e.status, { error: { type: e.type, message: e.message } }, extra);
  }

  async #api(req: ApiRequest): Promise<ApiResponse> {
    const segs = req.rawPath
      .slice(API.length)
      .split('/')
      .map((s) => decodeOrThrow(s, 'path'));
    const m = req.method;
    const route = segs[0];
    if (route === 'signin' && segs.length === 1)
      return m === 'POST' ? this.#signIn(req) : this.#notAllowed(req);
    const cookie = cookieOf(req);
    const current = await this.#sessions.current(cookie);
    if (route === 'signout' && segs.length === 1) {
      if (m !== 'POST') return this.#notAllowed(req);
      // Signing out needs the same proof as any change: a page of another origin must not end a session.
      if (current) this.#checkChange(req, current.session);
      else this.#checkOrigin(req);
      this.#sessions.close(cookie);
      return json(200, { signedOut: true }, { 'set-cookie': this.#cookie('', req, 0) });
    }
    if (!current) throw ConsoleErrors.notSignedIn();
    const { tenant, session } = current;
    const d = this.#deps;
    const get = async (f: () => Promise<unknown>): Promise<ApiResponse> =>
      m === 'GET' ? json(200, await f()) : this.#notAllowed(req);
    switch (route) {
      case 'session':
        if (segs.length === 1)
          return get(async () => ({
            tenant: { name: tenant.name, accountId: tenant.accountId, isAdmin: tenant.isAdmin },
            accessKeyId: session.accessKeyId,
            csrf: session.csrf,
            idleSeconds: Math.round(this.#sessions.idleMs / 1000),
          }));
        break;
      case 'functions': {
        if (segs.length === 1) return get(() => views.listFunctions(d, tenant));
        const ref = segs[1]!;
        if (ref === '' || ref.length > 256) break;
        if (segs.length === 2) return get(() => views.functionDetail(d, tenant, ref, hostOf(req)));
        if (segs.length === 3 && segs[2] === 'logs') return get(() => views.logs(d, tenant, ref, req.query));
        if (segs.length === 3 && segs[2] === 'invoke') {
          if (m !== 'POST') return this.#notAllowed(req);
          this.#checkChange(req, session);
          const body = await req.readBody!(views.MAX_INVOKE_PAYLOAD);
          return json(200, await views.invoke(d, tenant, ref, body));
        }
        break;
      }
      case 'queues':
        if (segs.length === 1) return get(() => views.queues(d, tenant));
        break;
      case 'buckets':
        if (segs.length === 1) return get(() => views.buckets(d, tenant));
        if (segs.length === 3 && segs[2] === 'objects' && segs[1] !== '')
          return get(() => views.bucketObjects(d, tenant, segs[1]!, req.query));
        break;
      case 'environments':
        if (segs.length === 1) return get(() => views.environments(d, tenant));
        break;
      case 'billing':
        if (segs.length === 1) return get(() => views.billing(d, tenant, req.query));
        break;
    }
    throw ConsoleErrors.notFound(req.path);
  }

  #notAllowed(req: ApiRequest): never {
    throw ConsoleErrors.methodNotAllowed(req.method, req.path);
  }

  async #signIn(req: ApiRequest): Promise<ApiResponse> {
    this.#checkOrigin(req);
    const address = clientAddress(req);
    const wait = this.#limiter.retryAfter(address);
    if (wait > 0) throw ConsoleErrors.tooManySignIns(wait);
    const body = await req.readBody!(MAX_SIGNIN_BODY);
    const { accessKeyId, secretAccessKey } = parseSignIn(body);
    const found = await this.#sessions.verify(accessKeyId, secretAccessKey);
    if (!found) {
      this.#limiter.failed(address);
      throw ConsoleErrors.signInFailed();
    }
    const { id, session } = this.#sessions.open(found.key);
    const idleSeconds = Math.round(this.#sessions.idleMs / 1000);
    return json(
      200,
      {
        tenant: { name: found.tenant.name, accountId: found.tenant.accountId, isAdmin: found.tenant.isAdmin },
        accessKeyId: session.accessKeyId,
        csrf: session.csrf,
        idleSeconds,
      },
      { 'set-cookie': this.#cookie(id, req) },
    );
  }

  /**
   * A browser-session cookie (no Max-Age: gone when the browser closes); the server ends the session
   * itself on idle or age, so an active page is never cut by a cookie expiring under it. `maxAge` 0 clears it.
   */
  #cookie(value: string, req: ApiRequest, maxAge?: number): string {
    // Secure when the browser is on https (behind a TLS proxy); plain http on loopback could not keep it.
    const secure = typeof req.headers.origin === 'string' && req.headers.origin.startsWith('https:');
    const age = maxAge === undefined ? '' : `; Max-Age=${maxAge}`;
    return `${COOKIE}=${value}; Path=${CONSOLE_PREFIX}; HttpOnly; SameSite=Strict${age}${secure ? '; Secure' : ''}`;
  }

  /**
   * A change must come from a page of the console's own origin: the browser's Origin (and Sec-Fetch-Site)
   * say where the page is, and a JSON content type cannot be sent cross-site without a preflight we
   * never grant.
   */
  #checkOrigin(req: ApiRequest): void {
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin') throw ConsoleErrors.crossOrigin();
    const origin = req.headers.origin;
    if (origin !== undefined) {
      let host: string | undefined;
      try {
        host = new URL(origin).host;
      } catch {
        host = undefined;
      }
      if (host === undefined || host !== hostOf(req)) throw ConsoleErrors.crossOrigin();
    }
    const type = req.headers['content-type'];
    if (typeof type !== 'string' || !/^application\/json\s*(;|$)/i.test(type))
      throw ConsoleErrors.contentType();
  }

  /** Origin checks plus the session's CSRF token (X-CSRF-Token), compared in constant time. */
  #checkChange(req: ApiRequest, session: Session): void {
    this.#checkOrigin(req);
    const token = req.headers['x-csrf-token'];
    if (typeof token !== 'string' || !sameToken(token, session.csrf)) throw ConsoleErrors.badCsrf();
  }
}

function hostOf(req: RequestHead): string {
  const h = req.headers.host;
  return typeof h === 'string' ? h : '';
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  // Lengths are not secret (every token has the same one); contents are compared in constant time.
  return x.length === y.length && timingSafeEqual(x, y);
}

function parseSignIn(body: Buffer): { accessKeyId: string; secretAccessKey: string } {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    throw ConsoleErrors.badRequest('The sign-in body is not JSON.');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw ConsoleErrors.badRequest('Send a JSON object.');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== 'accessKeyId' && k !== 'secretAccessKey') throw ConsoleErrors.badRequest(`Unknown field: ${k}`);
  }
  const { accessKeyId, secretAccessKey } = o;
  if (typeof accessKeyId !== 'string' || accessKeyId.length < 1 || accessKeyId.length > 128)
    throw ConsoleErrors.badRequest('accessKeyId must be a string of 1 to 128 characters.');
  if (typeof secretAccessKey !== 'string' || secretAccessKey.length < 1 || secretAccessKey.length > 256)
    throw ConsoleErrors.badRequest('secretAccessKey must be a string of 1 to 256 characters.');
  return { accessKeyId, secretAccessKey };
}
