// The admin API's request conventions: its dependencies, JSON bodies and answers, and validation worded
// as Lambda words it.
import { z } from 'zod';
import type { Tenant, TenantStore } from '../../control/tenants.js';
import { type DomainError, LambdaErrors } from '../../errors.js';
import type { StorageFigures } from '../../store/blocks/storage.js';
import type { Telemetry } from '../../telemetry/telemetry.js';
import type { PrewarmResult, WorkerStats } from '../../worker/types.js';
import type { ApiRequest, ApiResponse } from '../surface.js';

/** What the admin API needs from the worker manager. */
export interface PoolControl {
  stats(): WorkerStats;
  /** A fixed target for the runtime's warming pool; undefined returns it to following demand. */
  setPoolTarget(runtimeKey: string, target: number | undefined): void;
  /** The isolation the running server actually uses (for `kindling doctor`). */
  doctor?(): Promise<unknown>;
}

/** One node of the cluster, as the registry holds it (src/cluster/cluster-node.ts NodeView). */
export interface NodeInfo {
  id: string;
  url: string;
  state: string;
  live: boolean;
  load: number;
  running: number;
  capacity: number;
  warm: Record<string, { functionArn: string; idle: number; warm?: number }>;
  startedAt: number;
  heartbeatAt: number;
}

/** What the admin API needs from the cluster. */
export interface NodeControl {
  list(): Promise<NodeInfo[]>;
  /** Asks a node to drain; undefined when no node has that id. */
  drain(id: string): Promise<NodeInfo | undefined>;
}

export interface AdminSurfaceDeps {
  tenants: TenantStore;
  telemetry: Telemetry;
  /** The worker: pool stats and targets, `kindling doctor`. */
  pool?: PoolControl;
  /** Kindling's pre-trigger (InvocationService.prewarm): warm a tenant's function ahead of a burst. */
  prewarm?: (
    tenant: Tenant,
    functionName: string,
    count: number,
    forMs: number,
  ) => Promise<PrewarmResult & { functionArn: string; expiresAt: number }>;
  /** The block layer's figures: `kindling storage`. */
  storage?: { figures(): Promise<StorageFigures>; mode: string; redundancy: number };
  /** The cluster's node registry: `kindling nodes`. */
  nodes?: NodeControl;
  /**
   * A bearer token that may scrape /metrics (`Authorization: Bearer <token>`) besides a request
   * signed with the admin tenant's key; undefined: the admin key only. No peer address is trusted.
   */
  metricsToken?: string;
  version: string;
}

export const MAX_BODY = 1024 * 1024;

/** Zod issues in Lambda's wording: `1 validation error detected: Value at 'limit' failed to satisfy constraint: ...`. */
export function validationError(error: z.ZodError): DomainError {
  const n = error.issues.length;
  const parts = error.issues.map(
    (i) => `Value at '${i.path.join('.') || 'body'}' failed to satisfy constraint: ${i.message}`,
  );
  return LambdaErrors.validation(`${n} validation error${n === 1 ? '' : 's'} detected: ${parts.join('; ')}`);
}

export function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) throw validationError(r.error);
  return r.data;
}

export function jsonBody(req: ApiRequest): unknown {
  if (req.body.length === 0) return {};
  try {
    return JSON.parse(req.body.toString('utf8'));
  } catch {
    throw LambdaErrors.invalidRequestContent('Could not parse request body into json.');
  }
}

export const json = (status: number, body: unknown): ApiResponse => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

export const intString = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a non-negative integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

/** A time given as ms since epoch or an ISO 8601 date. */
export const timeString = z.string().transform((s, ctx) => {
  const t = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isFinite(t)) {
    ctx.addIssue({ code: 'custom', message: 'must be milliseconds since epoch or an ISO 8601 date' });
    return z.NEVER;
  }
  return t;
});
