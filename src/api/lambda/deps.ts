// What the Lambda surface's route modules are given. Route modules added by other parts take these
// plus their own collaborators.
import type { PlatformConfig } from '../../config.js';
import type { FunctionStore } from '../../control/functions.js';
import type { TenantStore } from '../../control/tenants.js';
import type { InvocationService } from '../../invoke/invocation-service.js';
import type { CodeUrlSigner } from './code-download.js';

export interface LambdaApiDeps {
  config: PlatformConfig;
  tenants: TenantStore;
  functions: FunctionStore;
  invoker: InvocationService;
  codeUrls: CodeUrlSigner;
}
