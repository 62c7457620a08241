// GetAccountSettings: the tenant's limits (Lambda's, plus its concurrency limit) and usage.
import { CODE_LIMITS } from '../../control/code-store.js';
import type { LambdaApiDeps } from './deps.js';
import { json } from './errors.js';
import type { LambdaRoute } from './routes.js';

/** Lambda's default code storage per account (75 GB). */
const TOTAL_CODE_SIZE = 80_530_636_800;

export function accountRoutes(deps: LambdaApiDeps): LambdaRoute[] {
  return [
    {
      method: 'GET',
      path: '/2016-08-19/account-settings',
      operation: 'GetAccountSettings',
      async handle(req) {
        const limit = req.tenant.concurrencyLimit ?? deps.config.tenantConcurrency;
        const usage = await deps.functions.count(req.tenant.id);
        return json(200, {
          AccountLimit: {
            TotalCodeSize: TOTAL_CODE_SIZE,
            CodeSizeUnzipped: CODE_LIMITS.unzippedBytes,
            CodeSizeZipped: CODE_LIMITS.zippedBytes,
            ConcurrentExecutions: limit,
            UnreservedConcurrentExecutions: Math.max(0, limit - usage.reserved),
          },
          AccountUsage: { TotalCodeSize: usage.codeSize, FunctionCount: usage.functions },
        });
      },
    },
  ];
}
