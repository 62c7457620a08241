// Composes the full Invoker: invokeSync from the InvocationService, invokeAsync from the durable async
// queue and its dispatcher. Also builds the async part (stores, dispatcher, start/stop) for assemble.ts.
import type { PlatformConfig } from '../config.js';
import type { FunctionStore } from '../control/functions.js';
import type { TenantStore } from '../control/tenants.js';
import type { QueueEngine } from '../events/queue/types.js';
import type { PlatformPart } from '../platform.js';
import type { Db } from '../store/database.js';
import { AsyncDispatcher } from './async-dispatcher.js';
import { AsyncEventStore } from './async-queue.js';
import { EventInvokeConfigStore } from './event-invoke-config.js';
import type { InvocationService } from './invocation-service.js';
import type { Invoker } from './types.js';

export interface AsyncInvocationDeps {
  db: Db;
  config: PlatformConfig;
  tenants: TenantStore;
  functions: FunctionStore;
  service: InvocationService;
  /** The embedded queue engine, looked up when needed (it may be assembled after this part). */
  queues: () => QueueEngine | undefined;
}

export interface AsyncInvocation {
  /** invokeSync + invokeAsync; the service's own invokeAsync also delegates here once registered. */
  invoker: Invoker;
  dispatcher: AsyncDispatcher;
  events: AsyncEventStore;
  configs: EventInvokeConfigStore;
  part: PlatformPart;
}

export function composeInvoker(
  service: Pick<Invoker, 'invokeSync'>,
  dispatcher: Pick<AsyncDispatcher, 'invokeAsync'>,
): Invoker {
  return {
    invokeSync: (tenant, ref, payload, opts) => service.invokeSync(tenant, ref, payload, opts),
    invokeAsync: (tenant, ref, payload, opts) => dispatcher.invokeAsync(tenant, ref, payload, opts),
  };
}

export function createAsyncInvocation(deps: AsyncInvocationDeps): AsyncInvocation {
  const events = new AsyncEventStore(deps.db);
  const configs = new EventInvokeConfigStore(deps.db);
  const dispatcher = new AsyncDispatcher({
    config: deps.config,
    store: events,
    configs,
    tenants: deps.tenants,
    functions: deps.functions,
    service: deps.service,
    queues: deps.queues,
  });
  // The Lambda surface (InvocationType Event) and S3 notifications call the service's invokeAsync.
  deps.service.setAsyncInvoker((tenant, ref, payload, opts) =>
    dispatcher.invokeAsync(tenant, ref, payload, opts),
  );
  deps.functions.onChange((change) => {
    if (change.kind === 'deleted') configs.deleteAll(change.record.tenantId, change.record.arn);
    else if (
      change.kind === 'updated' &&
      change.record.reservedConcurrency !== change.previous.reservedConcurrency
    ) {
      dispatcher.functionChanged(change.record.tenantId, change.record.arn);
    }
  });
  return {
    invoker: composeInvoker(deps.service, dispatcher),
    dispatcher,
    events,
    configs,
    part: {
      name: 'async-invoke',
      start: () => dispatcher.start(),
      stop: (deadline) => dispatcher.stop(deadline),
    },
  };
}
