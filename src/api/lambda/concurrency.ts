// Put/Get/DeleteFunctionConcurrency: a function's reserved concurrency (0 throttles every invoke).
import { z } from 'zod';
import type { LambdaApiDeps } from './deps.js';
import { json } from './errors.js';
import { unqualifiedFromPath } from './functions.js';
import type { LambdaRoute } from './routes.js';
import { validateBody } from './validation.js';

const PutSchema = z.object({ ReservedConcurrentExecutions: z.number().int().min(0) });

export function concurrencyRoutes(deps: LambdaApiDeps): LambdaRoute[] {
  const tenantLimit = (t: { concurrencyLimit: number | null }) =>
    t.concurrencyLimit ?? deps.config.tenantConcurrency;
  return [
    {
      method: 'PUT',
      path: '/2017-10-31/functions/{FunctionName}/concurrency',
      operation: 'PutFunctionConcurrency',
      async handle(req, p) {
        const rec = await unqualifiedFromPath(deps, req, p.FunctionName!, 'PutFunctionConcurrency');
        const input = validateBody(PutSchema, req.body);
        const n = input.ReservedConcurrentExecutions;
        await deps.functions.setReservedConcurrency(req.tenant, rec.name, n, tenantLimit(req.tenant));
        return json(200, { ReservedConcurrentExecutions: n });
      },
    },
    {
      method: 'GET',
      path: '/2019-09-30/functions/{FunctionName}/concurrency',
      operation: 'GetFunctionConcurrency',
      async handle(req, p) {
        const rec = await unqualifiedFromPath(deps, req, p.FunctionName!, 'GetFunctionConcurrency');
        return json(
          200,
          rec.reservedConcurrency === null ? {} : { ReservedConcurrentExecutions: rec.reservedConcurrency },
        );
      },
    },
    {
      method: 'DELETE',
      path: '/2017-10-31/functions/{FunctionName}/concurrency',
      operation: 'DeleteFunctionConcurrency',
      async handle(req, p) {
        const rec = await unqualifiedFromPath(deps, req, p.FunctionName!, 'DeleteFunctionConcurrency');
        await deps.functions.setReservedConcurrency(req.tenant, rec.name, null, tenantLimit(req.tenant));
        return { status: 204 };
      },
    },
  ];
}
