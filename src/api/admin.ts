// The admin and telemetry HTTP surface: `/kindling/v1/...` (SigV4, service `kindling`, JSON),
// `/kindling/health` (anonymous) and `/metrics` (Prometheus text, admin key or bearer token). Tenants
// and pool routes are for the admin tenant only; logs, billing and `/kindling/v1/metrics` are scoped to
// the caller's own tenant unless the caller is admin.
import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Tenant, TenantStore } from '../control/tenants.js';
import { KindlingError, LambdaErrors } from '../errors.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import { decodeOrThrow } from '../uri.js';
import type { PoolStats, WorkerStats } from '../worker/types.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead } from './surface.js';

/** What the admin API needs from the worker manager. */
export interface PoolControl {
  stats(): WorkerStats;
  /** A fixed target for the runtime's warming pool; undefined returns it to following demand. */
  setPoolTarget(runtimeKey: string, target: number | undefined): void;
  /** The isolation the running server actually uses (for `kindling doctor`). */
  doctor?(): Promise<unknown>;
}

export interface AdminSurfaceDeps {
  tenants: TenantStore;
  telemetry: Telemetry;
  /** The worker: pool stats and targets, `kindling doctor`. */
  pool?: PoolControl;
  /**
   * A bearer token that may scrape /metrics (`Authorization: Bearer <token>`) besides a request
   * signed with the admin tenant's key; undefined: the admin key only. No peer address is trusted.
   */
  metricsToken?: string;
  version: string;
}

export const PREFIX = '/kindling/v1/';
const MAX_BODY = 1024 * 1024;

export const AdminErrors = {
  adminOnly: () => LambdaErrors.accessDenied('This operation is allowed for the admin tenant only.'),
  sessionKey: () =>
    LambdaErrors.accessDenied(
      "Admin operations need the admin tenant's long-term key, not a function's session key.",
    ),
  unknownRoute: (method: string, path: string) =>
    new KindlingError('UnknownOperationException', 404, `No admin operation matches ${method} ${path}`),
  methodNotAllowed: (method: string, path: string) =>
    new KindlingError('MethodNotAllowedException', 405, `${method} is not allowed on ${path}`),
  noWorker: () => new KindlingError('ServiceUnavailableException', 503, 'The execution core is not running.'),
  keyNotFound: (id: string, tenant: string) =>
    new KindlingError('ResourceNotFoundException', 404, `Access key ${id} not found for tenant ${tenant}`),
  selfDelete: () =>
    new KindlingError(
      'InvalidParameterValueException',
      400,
      'You cannot delete the tenant you are signed in as.',
    ),
  tenantInUse: (name: string) =>
    new KindlingError(
      'ResourceConflictException',
      409,
      `Tenant ${name} still owns resources (functions, queues, ...); delete them first.`,
    ),
};

/** Zod issues in Lambda's wording: `1 validation error detected: Value at 'limit' failed to satisfy constraint: ...`. */
function validationError(error: z.ZodError): KindlingError {
  const n = error.issues.length;
  const parts = error.issues.map(
    (i) => `Value at '${i.path.join('.') || 'body'}' failed to satisfy constraint: ${i.message}`,
  );
  return LambdaErrors.validation(`${n} validation error${n === 1 ? '' : 's'} detected: ${parts.join('; ')}`);
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) throw validationError(r.error);
  return r.data;
}

function jsonBody(req: ApiRequest): unknown {
  if (req.body.length === 0) return {};
  try {
    return JSON.parse(req.body.toString('utf8'));
  } catch {
    throw LambdaErrors.invalidRequestContent('Could not parse request body into json.');
  }
}

const prometheus = (text: string): ApiResponse => ({
  status: 200,
  headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
  body: text,
});

/** `Bearer <token>` against the configured token, compared in constant time (as digests of equal length). */
function bearerMatches(auth: string, token: string | undefined): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
  if (!m || token === undefined) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1]!), digest(token));
}

const json = (status: number, body: unknown): ApiResponse => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

const intString = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a non-negative integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

/** A time given as ms since epoch or an ISO 8601 date. */
const timeString = z.string().transform((s, ctx) => {
  const t = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isFinite(t)) {
    ctx.addIssue({ code: 'custom', message: 'must be milliseconds since epoch or an ISO 8601 date' });
    return z.NEVER;
  }
  return t;
});

const schemas = {
  createTenant: z.object({ name: z.string(), admin: z.boolean().optional() }),
  concurrency: z.object({ limit: z.number().int().min(0).max(1_000_000).nullable() }),
  // Strict: a misspelt field must be refused, not dropped (the grant would silently not be what was asked).
  network: z
    .object({ networkOutbound: z.boolean(), egressAllow: z.array(z.string().max(64)).max(1000).optional() })
    .strict(),
  poolTarget: z.object({ target: z.number().int().min(0).max(1000).nullable() }),
  runtime: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a runtime identifier such as nodejs20.x'),
  functionName: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must match [a-zA-Z0-9-_]{1,64}'),
  logsQuery: z.object({
    since: timeString.optional(),
    after: intString(0, Number.MAX_SAFE_INTEGER).optional(),
    limit: intString(1, 1000).optional(),
  }),
  billingQuery: z.object({
    tenant: z.string().optional(),
    function: z.string().optional(),
    from: timeString.optional(),
    to: timeString.optional(),
  }),
};

const tenantJson = (t: Tenant) => ({
  name: t.name,
  id: t.id,
  accountId: t.accountId,
  isAdmin: t.isAdmin,
  concurrencyLimit: t.concurrencyLimit,
  networkOutbound: t.networkOutbound,
  egressAllow: t.egressAllow,
  createdAt: t.createdAt,
});

const networkJson = (t: Tenant) => ({
  tenant: t.name,
  networkOutbound: t.networkOutbound,
  egressAllow: t.egressAllow,
});

export class AdminSurface implements ApiSurface {
  readonly name = 'admin';
  readonly services = ['kindling'] as const;
  readonly #deps: AdminSurfaceDeps;
  readonly #startedAt = Date.now();

  constructor(deps: AdminSurfaceDeps) {
    this.#deps = deps;
  }

  matches(head: RequestHead): boolean {
    return head.path === '/metrics' || head.path === '/kindling/health' || head.path.startsWith(PREFIX);
  }

  maxBodyBytes(): number {
    return MAX_BODY;
  }

  allowAnonymous(head: RequestHead): boolean {
    // /metrics checks its bearer token itself; unsigned without one it is refused there.
    return head.method === 'GET' && (head.path === '/kindling/health' || head.path === '/metrics');
  }

  async handle(req: ApiRequest): Promise<ApiResponse> {
    if (req.path === '/kindling/health') return this.#health();
    if (req.path === '/metrics') return this.#metrics(req);
    // Route on raw segments, decoding each: a '/' inside a name must not split it.
    const segs = req.rawPath
      .slice(PREFIX.length)
      .split('/')
      .map((s) => decodeOrThrow(s, 'path'));
    const m = req.method;
    const notAllowed = () => {
      throw AdminErrors.methodNotAllowed(m, req.path);
    };
    switch (segs[0]) {
      case 'tenants':
        this.#requireAdmin(req);
        return this.#tenants(req, segs.slice(1)) ?? notAllowed();
      case 'pool':
        this.#requireAdmin(req);
        return this.#pool(req, segs.slice(1)) ?? notAllowed();
      case 'functions':
        if (segs.length === 3 && segs[2] === 'logs')
          return m === 'GET' ? this.#logs(req, segs[1]!) : notAllowed();
        break;
      case 'billing':
        if (segs.length === 1) return m === 'GET' ? this.#billing(req) : notAllowed();
        break;
      case 'metrics':
        if (segs.length === 1) return m === 'GET' ? this.#tenantMetrics(req) : notAllowed();
        break;
      case 'doctor':
        this.#requireAdmin(req);
        if (segs.length === 1) return m === 'GET' ? this.#doctor() : notAllowed();
        break;
    }
    throw AdminErrors.unknownRoute(m, req.path);
  }

  errorResponse(err: unknown): ApiResponse {
    const e = err instanceof KindlingError ? err : LambdaErrors.service();
    return {
      status: e.status,
      headers: { 'content-type': 'application/json', 'x-amzn-errortype': e.type },
      body: JSON.stringify({ __type: e.type, message: e.message }),
    };
  }

  #requireAdmin(req: ApiRequest): void {
    if (!req.tenant?.isAdmin) throw AdminErrors.adminOnly();
    // A function of the admin tenant gets short-lived session keys: running code must not administer
    // the platform, so admin operations take a long-term key only.
    if (this.#deps.tenants.resolveKey(req.accessKeyId)?.key.sessionToken != null)
      throw AdminErrors.sessionKey();
  }

  #health(): ApiResponse {
    return json(200, {
      status: 'ok',
      version: this.#deps.version,
      uptimeSec: Math.round((Date.now() - this.#startedAt) / 1000),
    });
  }

  /** Every tenant's series: for the admin key or the configured bearer token. */
  #metrics(req: ApiRequest): ApiResponse {
    if (req.tenant === undefined) {
      const auth = req.headers.authorization;
      if (auth === undefined) throw LambdaErrors.missingAuth();
      if (!bearerMatches(auth, this.#deps.metricsToken))
        throw LambdaErrors.accessDenied('The bearer token is not valid for /metrics.');
    } else this.#requireAdmin(req);
    this.#deps.telemetry.flush();
    return prometheus(this.#deps.telemetry.metrics.render());
  }

  /** The caller's own tenant's series only (no platform-wide gauges, no other tenant's names). */
  #tenantMetrics(req: ApiRequest): ApiResponse {
    this.#deps.telemetry.flush();
    return prometheus(this.#deps.telemetry.metrics.render({ tenantId: req.tenant.id }));
  }

  #tenant(name: string): Tenant {
    const t = this.#deps.tenants.get(name);
    if (!t) throw new KindlingError('ResourceNotFoundException', 404, `Tenant not found: ${name}`);
    return t;
  }

  #tenants(req: ApiRequest, segs: string[]): ApiResponse | undefined {
    const { tenants } = this.#deps;
    const m = req.method;
    if (segs.length === 0) {
      if (m === 'GET') {
        return json(200, {
          tenants: tenants.list().map((t) => ({ ...tenantJson(t), keys: tenants.listKeys(t.id).length })),
        });
      }
      if (m === 'POST') {
        const body = parse(schemas.createTenant, jsonBody(req));
        const t = tenants.create(body.name, { isAdmin: body.admin ?? false });
        const key = tenants.createKey(t.id);
        return json(201, {
          tenant: tenantJson(t),
          accessKey: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
        });
      }
      return undefined;
    }
    const t = this.#tenant(segs[0]!);
    if (segs.length === 1) {
      if (m === 'GET') return json(200, { tenant: tenantJson(t), keys: tenants.listKeys(t.id).length });
      if (m === 'DELETE') {
        if (t.id === req.tenant.id) throw AdminErrors.selfDelete();
        try {
          tenants.delete(t.id);
        } catch (e) {
          if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY')
            throw AdminErrors.tenantInUse(t.name);
          throw e;
        }
        this.#deps.telemetry.flush();
        this.#deps.telemetry.logs.deleteTenant(t.id);
        return { status: 204 };
      }
      return undefined;
    }
    if (segs[1] === 'keys' && segs.length === 2) {
      if (m === 'GET') {
        return json(200, { keys: tenants.listKeys(t.id).map((k) => ({ accessKeyId: k.accessKeyId })) });
      }
      if (m === 'POST') {
        const key = tenants.createKey(t.id);
        return json(201, { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey });
      }
      return undefined;
    }
    if (segs[1] === 'keys' && segs.length === 3) {
      if (m !== 'DELETE') return undefined;
      const id = segs[2]!;
      if (!tenants.listKeys(t.id).some((k) => k.accessKeyId === id))
        throw AdminErrors.keyNotFound(id, t.name);
      tenants.deleteKey(id);
      return { status: 204 };
    }
    if (segs[1] === 'concurrency' && segs.length === 2) {
      if (m === 'PUT') {
        const body = parse(schemas.concurrency, jsonBody(req));
        return json(200, { tenant: tenantJson(tenants.setConcurrencyLimit(t.id, body.limit)) });
      }
      if (m === 'DELETE') return json(200, { tenant: tenantJson(tenants.setConcurrencyLimit(t.id, null)) });
      return undefined;
    }
    // Outbound network is the admin's grant (#requireAdmin above): a tenant's own key, or a function's
    // session key, can never reach this.
    if (segs[1] === 'network' && segs.length === 2) {
      if (m === 'GET') return json(200, networkJson(t));
      if (m === 'PUT') {
        const body = parse(schemas.network, jsonBody(req));
        const next = tenants.setNetwork(t.id, {
          networkOutbound: body.networkOutbound,
          egressAllow: body.egressAllow ?? [],
        });
        return json(200, networkJson(next));
      }
      if (m === 'DELETE') {
        return json(200, networkJson(tenants.setNetwork(t.id, { networkOutbound: false, egressAllow: [] })));
      }
      return undefined;
    }
    throw AdminErrors.unknownRoute(m, req.path);
  }

  async #doctor(): Promise<ApiResponse> {
    const w = this.#worker();
    if (!w.doctor) throw AdminErrors.noWorker();
    return json(200, await w.doctor());
  }

  #worker(): PoolControl {
    const w = this.#deps.pool;
    if (!w) throw AdminErrors.noWorker();
    return w;
  }

  #pool(req: ApiRequest, segs: string[]): ApiResponse | undefined {
    if (segs.length === 0) return req.method === 'GET' ? json(200, this.#worker().stats()) : undefined;
    if (segs.length !== 1) throw AdminErrors.unknownRoute(req.method, req.path);
    const runtime = parse(schemas.runtime, segs[0]);
    let target: number | undefined;
    if (req.method === 'PUT') target = parse(schemas.poolTarget, jsonBody(req)).target ?? undefined;
    else if (req.method !== 'DELETE') {
      if (req.method !== 'GET') return undefined;
      const pool = this.#worker()
        .stats()
        .pools.find((p) => p.runtimeKey === runtime);
      if (!pool)
        throw new KindlingError('ResourceNotFoundException', 404, `No warming pool for runtime ${runtime}`);
      return json(200, { pool });
    }
    const w = this.#worker();
    w.setPoolTarget(runtime, target);
    const pool: PoolStats | undefined = w.stats().pools.find((p) => p.runtimeKey === runtime);
    return json(200, { pool: pool ?? null });
  }

  #logs(req: ApiRequest, name: string): ApiResponse {
    const fn = parse(schemas.functionName, name);
    const q = parse(schemas.logsQuery, Object.fromEntries(req.query));
    this.#deps.telemetry.flush();
    const events = this.#deps.telemetry.logs.list(req.tenant.id, fn, q);
    return json(200, { functionName: fn, events, nextAfter: events.at(-1)?.seq ?? q.after ?? 0 });
  }

  #billing(req: ApiRequest): ApiResponse {
    const q = parse(schemas.billingQuery, Object.fromEntries(req.query));
    let tenantId: string | undefined = req.tenant.id;
    if (req.tenant.isAdmin) tenantId = q.tenant === undefined ? undefined : this.#tenant(q.tenant).id;
    else if (q.tenant !== undefined && q.tenant !== req.tenant.name && q.tenant !== req.tenant.id)
      throw AdminErrors.adminOnly();
    this.#deps.telemetry.flush();
    const names = new Map(this.#deps.tenants.list().map((t) => [t.id, t.name]));
    const records = this.#deps.telemetry.billing.list({
      ...(tenantId !== undefined && { tenantId }),
      ...(q.function !== undefined && { functionName: q.function }),
      ...(q.from !== undefined && { from: q.from }),
      ...(q.to !== undefined && { to: q.to }),
    });
    const totalGbMs = records.reduce((s, r) => s + r.gbMs, 0);
    return json(200, {
      records: records.map((r) => ({ tenant: names.get(r.tenantId) ?? r.tenantId, ...r })),
      totalGbMs,
      totalGbSeconds: totalGbMs / 1000,
    });
  }
}
