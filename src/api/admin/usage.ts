// A tenant's function logs and billing records (`/kindling/v1/functions/{name}/logs`, `/kindling/v1/billing`),
// scoped to the caller's own tenant unless the caller is admin.
import { z } from 'zod';
import type { ApiRequest, ApiResponse } from '../surface.js';
import { AdminErrors } from './errors.js';
import { type AdminSurfaceDeps, intString, json, parse, timeString } from './request.js';
import { tenantByName } from './tenants.js';

const schemas = {
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

export async function logs(d: AdminSurfaceDeps, req: ApiRequest, name: string): Promise<ApiResponse> {
  const fn = parse(schemas.functionName, name);
  const q = parse(schemas.logsQuery, Object.fromEntries(req.query));
  await d.telemetry.flush();
  const events = await d.telemetry.logs.list(req.tenant.id, fn, q);
  return json(200, { functionName: fn, events, nextAfter: events.at(-1)?.seq ?? q.after ?? 0 });
}

export async function billing(d: AdminSurfaceDeps, req: ApiRequest): Promise<ApiResponse> {
  const q = parse(schemas.billingQuery, Object.fromEntries(req.query));
  let tenantId: string | undefined = req.tenant.id;
  if (req.tenant.isAdmin)
    tenantId = q.tenant === undefined ? undefined : (await tenantByName(d, q.tenant)).id;
  else if (q.tenant !== undefined && q.tenant !== req.tenant.name && q.tenant !== req.tenant.id)
    throw AdminErrors.adminOnly();
  await d.telemetry.flush();
  const names = new Map((await d.tenants.list()).map((t) => [t.id, t.name]));
  const records = await d.telemetry.billing.list({
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
