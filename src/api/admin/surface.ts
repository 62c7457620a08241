// The admin and telemetry HTTP surface: `/kindling/v1/...` (SigV4, service `kindling`, JSON),
// `/kindling/health` (anonymous) and `/metrics` (Prometheus text, admin key or bearer token). Tenants
// and pool routes are for the admin tenant only; logs, billing, storage and `/kindling/v1/metrics` are scoped to
// the caller's own tenant unless the caller is admin. Each concern is its own module beside this one.
import { decodeOrThrow } from '../../uri.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead } from '../surface.js';
import { doctor } from './doctor.js';
import { AdminErrors, adminErrorResponse, requireAdmin } from './errors.js';
import { metrics, tenantMetrics } from './metrics.js';
import { nodeRoutes } from './nodes.js';
import { poolRoutes } from './pool.js';
import { prewarm } from './prewarm.js';
import { type AdminSurfaceDeps, json, MAX_BODY } from './request.js';
import { runtimes } from './runtimes.js';
import { storage } from './storage.js';
import { tenantRoutes } from './tenants.js';
import { billing, logs } from './usage.js';

export { AdminErrors } from './errors.js';
export type { AdminSurfaceDeps, PoolControl } from './request.js';

export const PREFIX = '/kindling/v1/';

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
    if (req.path === '/metrics') return await metrics(this.#deps, req);
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
        await requireAdmin(this.#deps, req);
        return (await tenantRoutes(this.#deps, req, segs.slice(1))) ?? notAllowed();
      case 'pool':
        await requireAdmin(this.#deps, req);
        return poolRoutes(this.#deps, req, segs.slice(1)) ?? notAllowed();
      case 'runtimes':
        await requireAdmin(this.#deps, req);
        if (segs.length === 1) return m === 'GET' ? runtimes(this.#deps) : notAllowed();
        break;
      case 'nodes':
        await requireAdmin(this.#deps, req);
        return (await nodeRoutes(this.#deps, req, segs.slice(1))) ?? notAllowed();
      case 'functions':
        if (segs.length === 3 && segs[2] === 'logs')
          return m === 'GET' ? logs(this.#deps, req, segs[1]!) : notAllowed();
        if (segs.length === 3 && segs[2] === 'prewarm')
          return m === 'POST' ? await prewarm(this.#deps, req, segs[1]!) : notAllowed();
        break;
      case 'billing':
        if (segs.length === 1) return m === 'GET' ? await billing(this.#deps, req) : notAllowed();
        break;
      case 'storage':
        if (segs.length === 1) return m === 'GET' ? await storage(this.#deps, req) : notAllowed();
        break;
      case 'metrics':
        if (segs.length === 1) return m === 'GET' ? tenantMetrics(this.#deps, req) : notAllowed();
        break;
      case 'doctor':
        await requireAdmin(this.#deps, req);
        if (segs.length === 1) return m === 'GET' ? doctor(this.#deps) : notAllowed();
        break;
    }
    throw AdminErrors.unknownRoute(m, req.path);
  }

  errorResponse(err: unknown): ApiResponse {
    return adminErrorResponse(err);
  }

  #health(): ApiResponse {
    return json(200, {
      status: 'ok',
      version: this.#deps.version,
      uptimeSec: Math.round((Date.now() - this.#startedAt) / 1000),
    });
  }
}
