// The event-source-mappings part: mapping store, RPC processor, poller manager, and the Lambda routes
// for mappings, assembled over the core part (invoker, functions) and the embedded queue engine.
import { eventSourceMappingRoutes } from '../../api/lambda/event-source-mappings.js';
import type { CorePart } from '../../core-part.js';
import { isDomainError, isNotFound } from '../../errors.js';
import type { Platform, PlatformPart } from '../../platform.js';
import type { QueueEngine } from '../queue/types.js';
import { CheckpointStore } from '../rpc/checkpoint-repo.js';
import { RpcProcessor } from '../rpc/rpc-processor.js';
import { MappingStore } from './mapping-repo.js';
import { MappingService } from './mapping-service.js';
import { PollerManager } from './poller-manager.js';
import type { FunctionDirectory } from './types.js';

export interface MappingsPart extends PlatformPart {
  readonly name: 'event-source-mappings';
  readonly mappings: MappingService;
  readonly pollers: PollerManager;
  readonly checkpoints: CheckpointStore;
  readonly rpc: RpcProcessor;
}

/** Lanes per mapping when ScalingConfig.MaximumConcurrency is not set. */
const DEFAULT_CONCURRENCY = 8;
/** Finished RPC checkpoints past any queue's retention are dropped this often. */
const PRUNE_EVERY_MS = 60 * 60_000;

export function createMappingsPart(
  platform: Platform,
  core: CorePart,
  queues: () => QueueEngine | undefined,
): MappingsPart {
  const store = new MappingStore(platform.db);
  const checkpoints = new CheckpointStore(platform.db);
  const functions: FunctionDirectory = {
    find(tenant, ref) {
      try {
        const rec = core.invoker.resolve(tenant, ref);
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
  const rpc = new RpcProcessor({ invoker: core.invoker, functions, checkpoints });
  const pollers = new PollerManager({
    store,
    queues,
    invoker: core.invoker,
    functions,
    tenants: platform.tenants,
    rpc,
    region: platform.config.region,
    defaultConcurrency: Math.min(DEFAULT_CONCURRENCY, platform.config.tenantConcurrency),
  });
  let pruner: NodeJS.Timeout | undefined;
  const mappings = new MappingService({
    store,
    manager: pollers,
    queues,
    functions,
    region: platform.config.region,
  });
  core.lambdaRoutes.add(...eventSourceMappingRoutes(core.lambdaDeps, mappings));
  return {
    name: 'event-source-mappings',
    mappings,
    pollers,
    checkpoints,
    rpc,
    async start() {
      checkpoints.prune();
      pruner = setInterval(() => checkpoints.prune(), PRUNE_EVERY_MS);
      pruner.unref();
      await pollers.start();
    },
    async stop() {
      clearInterval(pruner);
      await pollers.stop();
    },
  };
}
