// Kindling's pre-trigger (`POST /kindling/v1/functions/{name}/prewarm`): warm N environments of a function
// ahead of an expected burst, for a window after which they lapse like any idle environment. A tenant
// prewarms its own functions; the admin may name another tenant's.
import { z } from 'zod';
import type { ApiRequest, ApiResponse } from '../surface.js';
import { AdminErrors } from './errors.js';
import { type AdminSurfaceDeps, json, jsonBody, parse } from './request.js';
import { tenantByName } from './tenants.js';

/** A window longer than a day is a standing reservation, which this is not. */
const MAX_WINDOW_SEC = 86_400;
const DEFAULT_WINDOW_SEC = 300;

const schemas = {
  functionName: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must match [a-zA-Z0-9-_]{1,64}'),
  body: z.strictObject({
    count: z.number().int().min(1).max(1000),
    forSeconds: z.number().int().min(1).max(MAX_WINDOW_SEC).optional(),
    tenant: z.string().min(1).max(256).optional(),
  }),
};

export async function prewarm(d: AdminSurfaceDeps, req: ApiRequest, name: string): Promise<ApiResponse> {
  const fn = parse(schemas.functionName, name);
  const body = parse(schemas.body, jsonBody(req));
  if (d.prewarm === undefined) throw AdminErrors.noWorker();
  let tenant = req.tenant;
  if (body.tenant !== undefined && body.tenant !== tenant.name && body.tenant !== tenant.id) {
    if (!tenant.isAdmin) throw AdminErrors.adminOnly();
    tenant = await tenantByName(d, body.tenant);
  }
  const forSeconds = body.forSeconds ?? DEFAULT_WINDOW_SEC;
  const r = await d.prewarm(tenant, fn, body.count, forSeconds * 1000);
  return json(200, {
    functionName: fn,
    functionArn: r.functionArn,
    requested: r.requested,
    warm: r.warm,
    started: r.started,
    ...(r.limitedBy !== undefined && { limitedBy: r.limitedBy }),
    ...(r.errors.length > 0 && { errors: r.errors }),
    expiresAt: new Date(r.expiresAt).toISOString(),
  });
}
