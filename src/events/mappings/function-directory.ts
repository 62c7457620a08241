// How the mappings see functions: a reference resolved through the invoker, with the qualifier the
// reference named kept on the ARN the pollers invoke.
import type { Tenant } from '../../control/tenants.js';
import { isDomainError, isNotFound } from '../../errors.js';
import type { FunctionInvoker } from '../../invoke/invoker.js';
import type { FunctionDirectory } from './types.js';

export function functionDirectory(invoker: Pick<FunctionInvoker, 'resolve'>): FunctionDirectory {
  return {
    async find(tenant: Tenant, ref: string) {
      try {
        const rec = await invoker.resolve(tenant, ref);
        const qualifier = /:function:[^:]+:([^:]+)$/.exec(ref)?.[1] ?? /^[^:]+:([^:]+)$/.exec(ref)?.[1];
        return {
          functionArn: qualifier ? `${rec.arn}:${qualifier}` : rec.arn,
          functionName: rec.name,
          reservedConcurrency: rec.reservedConcurrency,
          timeoutSec: rec.timeout,
        };
      } catch (e) {
        if (isNotFound(e) || isDomainError(e, 'InvalidParameter', 'Validation')) return undefined;
        throw e;
      }
    },
  };
}
