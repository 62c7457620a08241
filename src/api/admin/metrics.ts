// Prometheus metrics: `/metrics` with every tenant's series (admin key or bearer token) and
// `/kindling/v1/metrics` with the caller's own tenant's series only.
import { createHash, timingSafeEqual } from 'node:crypto';
import { LambdaErrors } from '../../errors.js';
import { AuthErrors } from '../edge-errors.js';
import type { ApiRequest, ApiResponse } from '../surface.js';
import { requireAdmin } from './errors.js';
import type { AdminSurfaceDeps } from './request.js';

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

/** Every tenant's series: for the admin key or the configured bearer token. */
export async function metrics(d: AdminSurfaceDeps, req: ApiRequest): Promise<ApiResponse> {
  if (req.tenant === undefined) {
    const auth = req.headers.authorization;
    if (auth === undefined) throw AuthErrors.missingAuth();
    if (!bearerMatches(auth, d.metricsToken))
      throw LambdaErrors.accessDenied('The bearer token is not valid for /metrics.');
  } else await requireAdmin(d, req);
  await d.telemetry.flush();
  return prometheus(d.telemetry.metrics.render());
}

/** The caller's own tenant's series only (no platform-wide gauges, no other tenant's names). */
export async function tenantMetrics(d: AdminSurfaceDeps, req: ApiRequest): Promise<ApiResponse> {
  await d.telemetry.flush();
  return prometheus(d.telemetry.metrics.render({ tenantId: req.tenant.id }));
}
