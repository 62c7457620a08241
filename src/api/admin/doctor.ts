// `kindling doctor` over the API: the isolation the running server actually uses, for the admin tenant.
import type { ApiResponse } from '../surface.js';
import { AdminErrors } from './errors.js';
import { workerOf } from './pool.js';
import { type AdminSurfaceDeps, json } from './request.js';

export async function doctor(d: AdminSurfaceDeps): Promise<ApiResponse> {
  const w = workerOf(d);
  if (!w.doctor) throw AdminErrors.noWorker();
  return json(200, await w.doctor());
}
