// `GET /kindling/v1/storage`: logical and physical bytes of the stored bodies and their deduplication
// ratio. A tenant sees its own objects' figures (which depend on its own bodies only: they tell nothing of
// what other tenants store); the admin sees every tenant, the code zips and the total (or one tenant with
// ?tenant=NAME).
import { z } from 'zod';
import type { OwnerFigures, StorageFigures } from '../../store/blocks/storage.js';
import { CODE_OWNER, tenantOwner } from '../../store/blocks/storage.js';
import type { ApiRequest, ApiResponse } from '../surface.js';
import { AdminErrors } from './errors.js';
import { type AdminSurfaceDeps, json, parse } from './request.js';
import { tenantByName } from './tenants.js';

const query = z.object({ tenant: z.string().optional() }).strict();

const ratio = (f: OwnerFigures) => (f.physicalBytes === 0 ? 1 : f.logicalBytes / f.physicalBytes);
const row = (f: OwnerFigures | undefined) => {
  const v = f ?? { logicalBytes: 0, physicalBytes: 0, bodies: 0 };
  return {
    logicalBytes: v.logicalBytes,
    physicalBytes: v.physicalBytes,
    bodies: v.bodies,
    dedupRatio: Number(ratio(v).toFixed(3)),
  };
};

export async function storage(d: AdminSurfaceDeps, req: ApiRequest): Promise<ApiResponse> {
  if (d.storage === undefined) throw AdminErrors.unknownRoute(req.method, req.path);
  const q = parse(query, Object.fromEntries(req.query));
  const figures: StorageFigures = await d.storage.figures();
  if (!req.tenant.isAdmin) {
    if (q.tenant !== undefined && q.tenant !== req.tenant.name && q.tenant !== req.tenant.id)
      throw AdminErrors.adminOnly();
    return json(200, {
      tenants: [{ tenant: req.tenant.name, ...row(figures.owners.get(tenantOwner(req.tenant.id))) }],
    });
  }
  if (q.tenant !== undefined) {
    const t = await tenantByName(d, q.tenant);
    return json(200, { tenants: [{ tenant: t.name, ...row(figures.owners.get(tenantOwner(t.id))) }] });
  }
  const tenants = (await d.tenants.list()).map((t) => ({
    tenant: t.name,
    ...row(figures.owners.get(tenantOwner(t.id))),
  }));
  return json(200, {
    tenants,
    code: row(figures.owners.get(CODE_OWNER)),
    total: { ...row(figures.total), blocks: figures.total.blocks },
    mode: d.storage.mode,
    redundancy: d.storage.redundancy,
  });
}
