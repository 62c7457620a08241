// The core platform part: function store and code store (control/), the worker manager (worker/), the
// invocation service (invoke/) and the Lambda API surface (api/lambda/). Other parts reach these through
// the CorePart object: `corePart(platform).invoker`, `.functions`, `.lambdaRoutes.add(...)`.
import { CodeUrlSigner } from './api/lambda/code-download.js';
import type { LambdaApiDeps } from './api/lambda/deps.js';
import type { LambdaRoutes } from './api/lambda/routes.js';
import { createLambdaRoutes, LambdaSurface } from './api/lambda/surface.js';
import type { ObjectStorePart } from './api/s3-part.js';
import { CodeStore } from './control/code-store.js';
import { FunctionStore } from './control/functions.js';
import type { Tenant } from './control/tenants.js';
import { isDomainError, LambdaErrors } from './errors.js';
import { InvocationService } from './invoke/invocation-service.js';
import type { Platform, PlatformPart } from './platform.js';
import { WorkerManager } from './worker/worker-manager.js';

export interface CorePart extends PlatformPart {
  readonly name: 'core';
  readonly code: CodeStore;
  readonly functions: FunctionStore;
  readonly worker: WorkerManager;
  readonly invoker: InvocationService;
  /** Add Lambda API operations here: `core.lambdaRoutes.add(...myRoutes(core.lambdaDeps, mine))`. */
  readonly lambdaRoutes: LambdaRoutes;
  readonly lambdaDeps: LambdaApiDeps;
}

export function createCorePart(platform: Platform): CorePart {
  const { config, paths } = platform;
  const code = new CodeStore({ blobsDir: paths.blobs, cacheDir: paths.codeCache });
  const functions = new FunctionStore({ db: platform.db, code, region: config.region });
  const worker = new WorkerManager({
    config,
    apiSocketPath: paths.apiSocket,
    apiPort: platform.apiPort,
    envRoot: paths.envs,
    runtimeCacheDir: paths.runtime,
  });
  const invoker = new InvocationService({ config, tenants: platform.tenants, functions, worker });
  platform.tenants.onDelete((tenant) => functions.deleteAll(tenant));
  const lambdaDeps: LambdaApiDeps = {
    config,
    tenants: platform.tenants,
    functions,
    invoker,
    codeUrls: new CodeUrlSigner(),
    // The object store is assembled after core: found when a request needs it.
    codeFromS3: (tenant, bucket, key, maxBytes) => {
      const objects = platform.parts.find((p): p is ObjectStorePart => p.name === 'objects');
      if (!objects)
        throw LambdaErrors.invalidParameter('Code from S3 needs the object store, which is not running.');
      return readCodeObject(objects, tenant, bucket, key, maxBytes);
    },
  };
  const lambdaRoutes = createLambdaRoutes(lambdaDeps);
  return {
    name: 'core',
    code,
    functions,
    worker,
    invoker,
    lambdaRoutes,
    lambdaDeps,
    surfaces: [new LambdaSurface(lambdaRoutes)],
    start() {
      // Nothing runs yet, so code no function references can go (a kill may have left some behind).
      code.sweep(functions.referencedDigests());
      worker.start();
    },
    async stop(deadlineMs) {
      await worker.drain(deadlineMs);
    },
  };
}

/** The running core part of a platform (for parts assembled after it, the CLI and tests). */
export function corePart(platform: Pick<Platform, 'parts'>): CorePart {
  const part = platform.parts.find((p) => p.name === 'core');
  if (!part) throw new Error('the core part is not assembled');
  return part as CorePart;
}

/** A zip from the tenant's own bucket, with S3's errors worded as Lambda reports them. */
async function readCodeObject(
  objects: ObjectStorePart,
  tenant: Tenant,
  bucket: string,
  key: string,
  maxBytes: number,
): Promise<Buffer> {
  let obj: ReturnType<ObjectStorePart['store']['openObject']>;
  try {
    obj = objects.store.openObject(tenant.id, bucket, key);
  } catch (e) {
    if (isDomainError(e)) {
      throw LambdaErrors.invalidParameter(
        `Error occurred while GetObject. S3 Error Code: ${e.code}. S3 Error Message: ${e.message}`,
      );
    }
    throw e;
  }
  if (obj.info.size > maxBytes) {
    obj.close();
    throw LambdaErrors.tooLarge(`Zipped size must be smaller than ${maxBytes} bytes (got ${obj.info.size})`);
  }
  const chunks: Buffer[] = [];
  for await (const c of obj.read() as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}
