// A tenant's outbound network grant (`/kindling/v1/tenants/{name}/network`): the admin's to give; a
// tenant's own key, or a function's session key, never reaches it (the surface requires the admin).
import { z } from 'zod';
import type { Tenant } from '../../control/tenants.js';
import type { ApiRequest, ApiResponse } from '../surface.js';
import { type AdminSurfaceDeps, json, jsonBody, parse } from './request.js';

const networkSchema = z
  .object({ networkOutbound: z.boolean(), egressAllow: z.array(z.string().max(64)).max(1000).optional() })
  .strict();

const networkJson = (t: Tenant) => ({
  tenant: t.name,
  networkOutbound: t.networkOutbound,
  egressAllow: t.egressAllow,
});

export async function networkRoute(
  d: AdminSurfaceDeps,
  req: ApiRequest,
  t: Tenant,
): Promise<ApiResponse | undefined> {
  const { tenants } = d;
  const m = req.method;
  if (m === 'GET') return json(200, networkJson(t));
  if (m === 'PUT') {
    const body = parse(networkSchema, jsonBody(req));
    const next = await tenants.setNetwork(t.id, {
      networkOutbound: body.networkOutbound,
      egressAllow: body.egressAllow ?? [],
    });
    return json(200, networkJson(next));
  }
  if (m === 'DELETE') {
    return json(
      200,
      networkJson(await tenants.setNetwork(t.id, { networkOutbound: false, egressAllow: [] })),
    );
  }
  return undefined;
}
