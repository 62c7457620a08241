// What the Lambda surface's route modules are given. Route modules added by other parts take these
// plus their own collaborators.

import type { PlatformConfig } from '../../config.js';
import type { FunctionPolicyStore } from '../../control/function-policies.js';
import type { FunctionStore } from '../../control/functions.js';
import type { LayerStore } from '../../control/layers.js';
import type { Tenant, TenantStore } from '../../control/tenants.js';
import type { VersionStore } from '../../control/versions.js';
import type { FunctionInvoker } from '../../invoke/invoker.js';
import type { ApiRequest, ApiResponse } from '../surface.js';
import type { CodeUrlSigner } from './code-download.js';

export interface LambdaApiDeps {
  config: PlatformConfig;
  tenants: TenantStore;
  functions: FunctionStore;
  invoker: FunctionInvoker;
  /** Published versions and aliases (Publish, DeleteFunction of a version). */
  versions?: VersionStore;
  codeUrls: CodeUrlSigner;
  /** Layer versions (PublishLayerVersion, a function's Layers); absent: Layers refused by name. */
  layers?: LayerStore;
  /** Resource-based policies: another account may invoke a function a statement grants it. */
  policies?: FunctionPolicyStore;
  /**
   * Reads a function zip (Code.S3Bucket/S3Key) from the tenant's own bucket, refusing objects over
   * `maxBytes`; absent when no object store runs. Errors are Lambda's, not S3's.
   */
  codeFromS3?: (tenant: Tenant, bucket: string, key: string, maxBytes: number) => Promise<Buffer>;
  /**
   * Places a sync Invoke in the cluster (src/cluster/router.ts): undefined runs it here, else the answer
   * of the node that ran it. Absent: always here.
   */
  /** The tenant's EFS access points (FileSystemConfigs); absent: FileSystemConfigs refused by name. */
  volumes?: { accessPointOf(tenant: Tenant, arn: string): Promise<unknown> };
  cluster?: {
    /** Undefined at once when the request runs here (no promise on the warm path). */
    route(
      req: ApiRequest,
      fn: { versionKey: string; timeout: number },
    ): ApiResponse | undefined | Promise<ApiResponse | undefined>;
  };
}
