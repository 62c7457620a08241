// Concurrency limits across the cluster (PostgreSQL): before the local worker admits an invocation, a
// slot of the function's reserved concurrency and of the tenant's limit is taken in the database
// (NodeRepo.acquire), and given back after. A dead node's slots stop counting when its heartbeat lapses.
// Over a limit, the request waits like a local one (queueWaitMs), then gets TooManyRequestsException.
// On SQLite (one node) the worker's own ledger is the only one: this wrapper is not used.
import type { PlatformConfig } from '../config.js';
import { LambdaErrors } from '../errors.js';
import type {
  FunctionVersionSpec,
  InvocationResult,
  InvokeOptions,
  Worker,
  WorkerStats,
} from '../worker/types.js';
import type { NodeRepo, SlotLimit } from './node-repo.js';

const RETRY_MS = 25;

export interface ClusterSlotsOptions {
  repo: NodeRepo;
  nodeId: string;
  /** The store's clock, estimated without a round trip (ClusterNode.storeNow); default: ask the store. */
  storeNow?: () => number | Promise<number>;
  config: Pick<PlatformConfig, 'leaseMs' | 'queueWaitMs'>;
  /** Told after each invocation here (publishes a changed set of warm environments). */
  afterInvoke?: () => void;
}

/** The worker, with cluster-wide admission in front of its own. */
export function withClusterSlots(worker: Worker, opts: ClusterSlotsOptions): Worker {
  const listeners = new Set<(tenantId: string, functionArn: string) => void>();
  const throttle = (spec: FunctionVersionSpec, reserved: boolean) => {
    for (const l of listeners) l(spec.tenantId, spec.functionArn);
    return reserved
      ? LambdaErrors.tooManyRequests('Rate Exceeded.', 'ReservedFunctionConcurrentInvocationLimitExceeded')
      : LambdaErrors.tooManyRequests('Rate Exceeded.', 'ConcurrentInvocationLimitExceeded');
  };
  const acquire = async (spec: FunctionVersionSpec, limits: SlotLimit[]): Promise<void> => {
    const until = Date.now() + opts.config.queueWaitMs;
    for (;;) {
      const now = opts.storeNow !== undefined ? await opts.storeNow() : await opts.repo.sql.now();
      const liveSince = now - opts.config.leaseMs;
      if (await opts.repo.acquire(opts.nodeId, limits, liveSince)) return;
      if (Date.now() + RETRY_MS > until) {
        const fnKey = limits.find((l) => l.key.startsWith('fn:'));
        throw throttle(spec, fnKey !== undefined);
      }
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  };
  return {
    async invoke(spec: FunctionVersionSpec, payload: Buffer, o: InvokeOptions): Promise<InvocationResult> {
      // Reserved concurrency 0 is refused by the worker at once, with no database round trip.
      if (spec.reservedConcurrency === 0) return worker.invoke(spec, payload, o);
      const limits: SlotLimit[] = [{ key: `tenant:${spec.tenantId}`, limit: o.tenantConcurrency }];
      if (spec.reservedConcurrency !== undefined)
        limits.push({ key: `fn:${spec.functionArn}`, limit: spec.reservedConcurrency });
      await acquire(spec, limits);
      try {
        return await worker.invoke(spec, payload, o);
      } finally {
        opts.afterInvoke?.();
        await opts.repo
          .release(
            opts.nodeId,
            limits.map((l) => l.key),
          )
          .catch((e) =>
            console.error(`kindling: releasing a cluster slot failed (it lapses with the node): ${e}`),
          );
      }
    },
    retireFunction: (arn, keep) => worker.retireFunction(arn, keep),
    retireTenant: (id) => worker.retireTenant(id),
    stats: (): WorkerStats => worker.stats(),
    onThrottle(listener) {
      listeners.add(listener);
      const off = worker.onThrottle(listener);
      return () => {
        listeners.delete(listener);
        off();
      };
    },
    drain: (deadline) => worker.drain(deadline),
  };
}
