// The invoker callers above invoke/ hold: the sync path of the InvocationService and the durable async
// queue of the AsyncDispatcher behind one object. The composition root builds it once both exist, so
// neither needs the other registered after construction.
import type { FunctionRecord } from '../control/functions.js';
import type { Tenant } from '../control/tenants.js';
import type { AsyncDispatcher } from './async-dispatcher.js';
import type { InvocationService, RunOptions } from './invocation-service.js';
import type { Invoker, SyncInvokeResult } from './types.js';

export interface FunctionInvoker extends Invoker {
  /** Resolves a name / partial ARN / full ARN (+ qualifier) for the tenant; FunctionNotFound otherwise. */
  resolve(tenant: Tenant, functionRef: string, qualifier?: string): Promise<FunctionRecord>;
  /** Runs a record resolved just now (by `resolve`), without reading it again. */
  execute(tenant: Tenant, rec: FunctionRecord, payload: Buffer, opts?: RunOptions): Promise<SyncInvokeResult>;
}

export function composeInvoker(
  service: Pick<InvocationService, 'resolve' | 'execute' | 'invokeSync'>,
  dispatcher: Pick<AsyncDispatcher, 'invokeAsync'>,
): FunctionInvoker {
  return {
    resolve: (tenant, ref, qualifier) => service.resolve(tenant, ref, qualifier),
    execute: (tenant, rec, payload, opts) => service.execute(tenant, rec, payload, opts),
    invokeSync: (tenant, ref, payload, opts) => service.invokeSync(tenant, ref, payload, opts),
    invokeAsync: (tenant, ref, payload, opts) => dispatcher.invokeAsync(tenant, ref, payload, opts),
  };
}
