// Put/Get/Delete/ListProvisionedConcurrencyConfig(s): environments of a version or alias kept initialised.
import { z } from 'zod';
import { LATEST, lambdaTimestamp } from '../../control/functions.js';
import type { ProvisionedConfig } from '../../control/provisioned-concurrency.js';
import { KindlingError, LambdaErrors } from '../../errors.js';
import type { ProvisionedWarmer } from '../../invoke/provisioned-concurrency.js';
import type { ApiRequest } from '../surface.js';
import type { LambdaApiDeps } from './deps.js';
import { json } from './errors.js';
import { functionFromPath } from './functions.js';
import type { LambdaRoute } from './routes.js';
import { validate, validateBody } from './validation.js';

const PutSchema = z.object({ ProvisionedConcurrentExecutions: z.number().int().min(1) });
const Query = z.object({
  Qualifier: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[a-zA-Z0-9$_-]+$/, {
      message: 'Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)',
    })
    .optional(),
  List: z.enum(['ALL']).optional(),
  Marker: z.string().optional(),
  MaxItems: z.string().optional(),
});

const notFound = (arn: string) =>
  new KindlingError(
    'ProvisionedConcurrencyConfigNotFoundException',
    404,
    `No Provisioned Concurrency Config found for this function: ${arn}`,
    {
      Type: 'User',
    },
  );

/** The version or alias the request names; $LATEST (or none) is refused as Lambda refuses it. */
async function target(deps: LambdaApiDeps, req: ApiRequest, name: string) {
  const q = validate(Query, Object.fromEntries(req.query));
  const rec = await functionFromPath(deps, req, name);
  const qualifier = rec.qualifier;
  if (qualifier === undefined || qualifier === LATEST)
    throw LambdaErrors.invalidParameter(
      'Provisioned Concurrency Configs cannot be applied to unpublished function versions: name a version or an alias.',
    );
  return { rec, qualifier, list: q.List };
}

export function provisionedConcurrencyRoutes(deps: LambdaApiDeps, warmer: ProvisionedWarmer): LambdaRoute[] {
  const PATH = '/2019-09-30/functions/{FunctionName}/provisioned-concurrency';
  const shape = (c: ProvisionedConfig, arn?: string) => {
    const s = warmer.status(c);
    return {
      ...(arn !== undefined && { FunctionArn: arn }),
      RequestedProvisionedConcurrentExecutions: c.requested,
      AvailableProvisionedConcurrentExecutions: Math.min(s.available, c.requested),
      AllocatedProvisionedConcurrentExecutions: Math.min(s.available, c.requested),
      Status: s.status,
      ...(s.reason !== undefined && { StatusReason: s.reason }),
      LastModified: c.lastModified,
    };
  };
  return [
    {
      method: 'PUT',
      path: PATH,
      operation: 'PutProvisionedConcurrencyConfig',
      async handle(req, p) {
        const { rec, qualifier } = await target(deps, req, p.FunctionName!);
        const input = validateBody(PutSchema, req.body);
        const n = input.ProvisionedConcurrentExecutions;
        const cap = rec.reservedConcurrency ?? req.tenant.concurrencyLimit ?? deps.config.tenantConcurrency;
        if (n > cap)
          throw LambdaErrors.invalidParameter(
            `Requested Provisioned Concurrency (${n}) exceeds the concurrency the function may use (${cap}).`,
          );
        const c: ProvisionedConfig = {
          functionId: rec.id,
          tenantId: rec.tenantId,
          functionName: rec.name,
          qualifier,
          requested: n,
          lastModified: lambdaTimestamp(),
        };
        await warmer.put(req.tenant, c);
        return json(202, shape(c));
      },
    },
    {
      method: 'GET',
      path: PATH,
      operation: 'GetProvisionedConcurrencyConfig',
      async handle(req, p) {
        const q = validate(Query, Object.fromEntries(req.query));
        if (q.List === 'ALL') {
          // ListProvisionedConcurrencyConfigs: one page (a function has few).
          const rec = await functionFromPath(deps, req, p.FunctionName!);
          if (rec.qualifier !== undefined)
            throw LambdaErrors.invalidParameter(
              'ListProvisionedConcurrencyConfigs takes a function, not a qualifier.',
            );
          const all = await warmer.store.list(rec.id);
          return json(200, {
            ProvisionedConcurrencyConfigs: all.map((c) => shape(c, `${rec.arn}:${c.qualifier}`)),
          });
        }
        const { rec, qualifier } = await target(deps, req, p.FunctionName!);
        const c = await warmer.store.get(rec.id, qualifier);
        if (!c) throw notFound(`${rec.arn}:${qualifier}`);
        return json(200, shape(c));
      },
    },
    {
      method: 'DELETE',
      path: PATH,
      operation: 'DeleteProvisionedConcurrencyConfig',
      async handle(req, p) {
        const { rec, qualifier } = await target(deps, req, p.FunctionName!);
        if (!(await warmer.delete({ functionId: rec.id, qualifier })))
          throw notFound(`${rec.arn}:${qualifier}`);
        return { status: 204 };
      },
    },
  ];
}
