// Tenants and their access keys and concurrency limits (`/kindling/v1/tenants/...`), for the admin tenant.
import { z } from 'zod';
import type { Tenant } from '../../control/tenants.js';
import { KindlingError } from '../../errors.js';
import type { ApiRequest, ApiResponse } from '../surface.js';
import { AdminErrors } from './errors.js';
import { networkRoute } from './network.js';
import { type AdminSurfaceDeps, json, jsonBody, parse } from './request.js';

const schemas = {
  createTenant: z.object({ name: z.string(), admin: z.boolean().optional() }),
  concurrency: z.object({ limit: z.number().int().min(0).max(1_000_000).nullable() }),
};

export const tenantJson = (t: Tenant) => ({
  name: t.name,
  id: t.id,
  accountId: t.accountId,
  isAdmin: t.isAdmin,
  concurrencyLimit: t.concurrencyLimit,
  networkOutbound: t.networkOutbound,
  egressAllow: t.egressAllow,
  createdAt: t.createdAt,
});

export async function tenantByName(d: AdminSurfaceDeps, name: string): Promise<Tenant> {
  const t = await d.tenants.get(name);
  if (!t) throw new KindlingError('ResourceNotFoundException', 404, `Tenant not found: ${name}`);
  return t;
}

export async function tenantRoutes(
  d: AdminSurfaceDeps,
  req: ApiRequest,
  segs: string[],
): Promise<ApiResponse | undefined> {
  const { tenants } = d;
  const m = req.method;
  if (segs.length === 0) {
    if (m === 'GET') {
      const all = [];
      for (const t of await tenants.list())
        all.push({ ...tenantJson(t), keys: (await tenants.listKeys(t.id)).length });
      return json(200, { tenants: all });
    }
    if (m === 'POST') {
      const body = parse(schemas.createTenant, jsonBody(req));
      const t = await tenants.create(body.name, { isAdmin: body.admin ?? false });
      const key = await tenants.createKey(t.id);
      return json(201, {
        tenant: tenantJson(t),
        accessKey: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
      });
    }
    return undefined;
  }
  const t = await tenantByName(d, segs[0]!);
  if (segs.length === 1) {
    if (m === 'GET') return json(200, { tenant: tenantJson(t), keys: (await tenants.listKeys(t.id)).length });
    if (m === 'DELETE') {
      if (t.id === req.tenant.id) throw AdminErrors.selfDelete();
      try {
        await tenants.delete(t.id);
      } catch (e) {
        // A row of another module still references the tenant (SQLite's code, PostgreSQL's SQLSTATE).
        const code = (e as { code?: string }).code;
        if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === '23503')
          throw AdminErrors.tenantInUse(t.name);
        throw e;
      }
      await d.telemetry.flush();
      await d.telemetry.logs.deleteTenant(t.id);
      return { status: 204 };
    }
    return undefined;
  }
  if (segs[1] === 'keys' && segs.length === 2) {
    if (m === 'GET') {
      return json(200, { keys: (await tenants.listKeys(t.id)).map((k) => ({ accessKeyId: k.accessKeyId })) });
    }
    if (m === 'POST') {
      const key = await tenants.createKey(t.id);
      return json(201, { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey });
    }
    return undefined;
  }
  if (segs[1] === 'keys' && segs.length === 3) {
    if (m !== 'DELETE') return undefined;
    const id = segs[2]!;
    if (!(await tenants.listKeys(t.id)).some((k) => k.accessKeyId === id))
      throw AdminErrors.keyNotFound(id, t.name);
    await tenants.deleteKey(id);
    return { status: 204 };
  }
  if (segs[1] === 'concurrency' && segs.length === 2) {
    if (m === 'PUT') {
      const body = parse(schemas.concurrency, jsonBody(req));
      return json(200, { tenant: tenantJson(await tenants.setConcurrencyLimit(t.id, body.limit)) });
    }
    if (m === 'DELETE')
      return json(200, { tenant: tenantJson(await tenants.setConcurrencyLimit(t.id, null)) });
    return undefined;
  }
  if (segs[1] === 'network' && segs.length === 2) return networkRoute(d, req, t);
  throw AdminErrors.unknownRoute(m, req.path);
}
