// The async invocation part as assemble.ts plugs it in: builds the stores and dispatcher over the core
// part's function store and invocation service, adds the event-invoke-config routes to the Lambda surface.
import { eventInvokeConfigRoutes } from '../api/lambda/event-invoke-config.js';
import type { CorePart } from '../core-part.js';
import type { QueueEngine } from '../events/queue/types.js';
import type { Platform, PlatformPart } from '../platform.js';
import { type AsyncInvocation, createAsyncInvocation } from './invoker.js';

export interface AsyncInvokePart extends PlatformPart, Omit<AsyncInvocation, 'part'> {
  readonly name: 'async-invoke';
}

export function createAsyncInvokePart(
  platform: Platform,
  core: CorePart,
  queues: QueueEngine | (() => QueueEngine | undefined),
): AsyncInvokePart {
  const a = createAsyncInvocation({
    db: platform.db,
    config: platform.config,
    tenants: platform.tenants,
    functions: core.functions,
    service: core.invoker,
    queues: typeof queues === 'function' ? queues : () => queues,
  });
  core.lambdaRoutes.add(
    ...eventInvokeConfigRoutes({
      resolve: (tenant, ref, qualifier) => core.invoker.resolve(tenant, ref, qualifier),
      configs: a.configs,
      events: a.events,
      checkDestination: (tenant, arn) => a.dispatcher.checkDestination(tenant, arn),
    }),
  );
  return {
    name: 'async-invoke',
    invoker: a.invoker,
    dispatcher: a.dispatcher,
    events: a.events,
    configs: a.configs,
    start: a.part.start,
    stop: a.part.stop,
  };
}

/** The running async part of a platform (schedules, tests). */
export function asyncInvokePart(platform: Pick<Platform, 'parts'>): AsyncInvokePart {
  const part = platform.parts.find((p) => p.name === 'async-invoke');
  if (!part) throw new Error('the async-invoke part is not assembled');
  return part as AsyncInvokePart;
}
