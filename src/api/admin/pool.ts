// The warming pools (`/kindling/v1/pool[/{runtime}]`): their figures and fixed targets, for the admin tenant.
import { z } from 'zod';
import { KindlingError } from '../../errors.js';
import type { PoolStats } from '../../worker/types.js';
import type { ApiRequest, ApiResponse } from '../surface.js';
import { AdminErrors } from './errors.js';
import { type AdminSurfaceDeps, json, jsonBody, type PoolControl, parse } from './request.js';

const schemas = {
  poolTarget: z.object({ target: z.number().int().min(0).max(1000).nullable() }),
  runtime: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a runtime identifier such as nodejs20.x'),
};

/** The worker, or ServiceUnavailable when the surface was built without one. */
export function workerOf(d: AdminSurfaceDeps): PoolControl {
  const w = d.pool;
  if (!w) throw AdminErrors.noWorker();
  return w;
}

export function poolRoutes(d: AdminSurfaceDeps, req: ApiRequest, segs: string[]): ApiResponse | undefined {
  if (segs.length === 0) return req.method === 'GET' ? json(200, workerOf(d).stats()) : undefined;
  if (segs.length !== 1) throw AdminErrors.unknownRoute(req.method, req.path);
  const runtime = parse(schemas.runtime, segs[0]);
  let target: number | undefined;
  if (req.method === 'PUT') target = parse(schemas.poolTarget, jsonBody(req)).target ?? undefined;
  else if (req.method !== 'DELETE') {
    if (req.method !== 'GET') return undefined;
    const pool = workerOf(d)
      .stats()
      .pools.find((p) => p.runtimeKey === runtime);
    if (!pool)
      throw new KindlingError('ResourceNotFoundException', 404, `No warming pool for runtime ${runtime}`);
    return json(200, { pool });
  }
  const w = workerOf(d);
  w.setPoolTarget(runtime, target);
  const pool: PoolStats | undefined = w.stats().pools.find((p) => p.runtimeKey === runtime);
  return json(200, { pool: pool ?? null });
}
