// How the mappings see functions: a reference resolved through the invoker, with the qualifier the
// reference named kept on the ARN the pollers invoke.
import type { Tenant } from '../../control/tenants.js';
import { isKindlingError } from '../../errors.js';
import type { FunctionInvoker } from '../../invoke/invoker.js';
import type { FunctionDirectory } from './types.js';

export function functionDirectory(invoker: Pick<FunctionInvoker, 'resolve'>): FunctionDirectory {
  return {
    find(tenant: Tenant, ref: string) {
      try {
        const rec = invoker.resolve(tenant, ref);
        const qualifier = /:function:[^:]+:([^:]+)$/.exec(ref)?.[1] ?? /^[^:]+:([^:]+)$/.exec(ref)?.[1];
        return {
          functionArn: qualifier ? `${rec.arn}:${qualifier}` : rec.arn,
          functionName: rec.name,
          reservedConcurrency: rec.reservedConcurrency,
          timeoutSec: rec.timeout,
        };
      } catch (e) {
        if (isKindlingError(e) && (e.status === 404 || e.status === 400)) return undefined;
        throw e;
      }
    },
  };
}
