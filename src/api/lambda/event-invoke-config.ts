// Lambda's FunctionEventInvokeConfig operations (/2019-09-25/functions/{name}/event-invoke-config) and
// Kindling's read-only view of a function's recent async events (what `kindling events` shows).
import { z } from 'zod';
import type { FunctionRecord } from '../../control/functions.js';
import { LATEST } from '../../control/functions.js';
import type { Tenant } from '../../control/tenants.js';
import { LambdaErrors } from '../../errors.js';
import { errorMessageOf } from '../../invoke/async-destinations.js';
import type { AsyncEvent, AsyncEventStore } from '../../invoke/async-queue.js';
import {
  type EventInvokeConfig,
  EventInvokeConfigErrors,
  type EventInvokeConfigInput,
  type EventInvokeConfigStore,
} from '../../invoke/event-invoke-config.js';
import type { ApiRequest } from '../surface.js';
import { json } from './errors.js';
import type { LambdaRoute } from './routes.js';
import { validate, validateBody } from './validation.js';

export interface EventInvokeConfigRouteDeps {
  resolve(tenant: Tenant, ref: string, qualifier?: string): FunctionRecord | Promise<FunctionRecord>;
  configs: EventInvokeConfigStore;
  events: AsyncEventStore;
  /** Throws Lambda's InvalidParameterValueException unless the ARN is the tenant's own queue or function. */
  checkDestination(tenant: Tenant, arn: string): Promise<void> | void;
}

const BASE = '/2019-09-25/functions/{FunctionName}/event-invoke-config';
const MAX_BODY = 256 * 1024;

const Destination = z.object({ Destination: z.string().max(350).optional() }).optional();
const ConfigBody = z.object({
  MaximumRetryAttempts: z.number().int().min(0).max(2).optional(),
  MaximumEventAgeInSeconds: z.number().int().min(60).max(21_600).optional(),
  DestinationConfig: z.object({ OnSuccess: Destination, OnFailure: Destination }).optional(),
});
type ConfigBody = z.infer<typeof ConfigBody>;

const MaxItems = z.object({
  MaxItems: z.coerce.number().int().min(1).max(50).optional(),
  Marker: z.string().optional(),
});
const EventsQuery = z.object({ MaxItems: z.coerce.number().int().min(1).max(1000).optional() });

async function target(deps: EventInvokeConfigRouteDeps, req: ApiRequest, name: string) {
  const qualifier = req.query.get('Qualifier') ?? undefined;
  const rec = await deps.resolve(req.tenant, name, qualifier);
  const q = qualifier ?? rec.qualifier ?? LATEST;
  return { rec, qualifier: q, qualifiedArn: `${rec.arn}:${q}` };
}

function shape(c: EventInvokeConfig): Record<string, unknown> {
  return {
    LastModified: c.lastModified / 1000,
    FunctionArn: `${c.functionArn}:${c.qualifier}`,
    ...(c.maximumRetryAttempts !== undefined && { MaximumRetryAttempts: c.maximumRetryAttempts }),
    ...(c.maximumEventAgeInSeconds !== undefined && { MaximumEventAgeInSeconds: c.maximumEventAgeInSeconds }),
    DestinationConfig: {
      OnSuccess: c.onSuccess ? { Destination: c.onSuccess } : {},
      OnFailure: c.onFailure ? { Destination: c.onFailure } : {},
    },
  };
}

/** Body → store input; only the members present are set (Update merges by presence). */
async function toInput(
  deps: EventInvokeConfigRouteDeps,
  tenant: Tenant,
  body: ConfigBody,
): Promise<EventInvokeConfigInput> {
  const out: EventInvokeConfigInput = {};
  if (body.MaximumRetryAttempts !== undefined) out.maximumRetryAttempts = body.MaximumRetryAttempts;
  if (body.MaximumEventAgeInSeconds !== undefined)
    out.maximumEventAgeInSeconds = body.MaximumEventAgeInSeconds;
  const dc = body.DestinationConfig;
  if (dc?.OnSuccess !== undefined) out.onSuccess = dc.OnSuccess.Destination || undefined;
  if (dc?.OnFailure !== undefined) out.onFailure = dc.OnFailure.Destination || undefined;
  for (const arn of [out.onSuccess, out.onFailure]) if (arn) await deps.checkDestination(tenant, arn);
  return out;
}

function eventShape(
  e: AsyncEvent,
  attempts: Awaited<ReturnType<AsyncEventStore['attempts']>>,
): Record<string, unknown> {
  return {
    RequestId: e.requestId,
    Source: e.source.kind,
    ...(e.source.arn !== undefined && { SourceArn: e.source.arn }),
    Status: e.status,
    ...(e.condition !== undefined && { Condition: e.condition }),
    Attempts: e.attempts,
    Throttles: e.throttles,
    EnqueuedAt: new Date(e.enqueuedAt).toISOString(),
    ...(e.status === 'queued' && { NextAttemptAt: new Date(e.nextAttemptAt).toISOString() }),
    ...(e.finishedAt !== undefined && { FinishedAt: new Date(e.finishedAt).toISOString() }),
    ...(e.lastErrorType !== undefined && {
      LastError: { Type: e.lastErrorType, Message: errorMessageOf(e) ?? '' },
    }),
    ...(e.delivery !== undefined && { Delivery: e.delivery }),
    AttemptHistory: attempts.map((a) => ({
      Attempt: a.n,
      StartedAt: new Date(a.startedAt).toISOString(),
      ...(a.endedAt !== undefined && { EndedAt: new Date(a.endedAt).toISOString() }),
      Outcome: a.outcome ?? 'running',
      ...(a.errorType !== undefined && { ErrorType: a.errorType }),
      ...(a.errorMessage !== undefined && { ErrorMessage: a.errorMessage }),
    })),
  };
}

export function eventInvokeConfigRoutes(deps: EventInvokeConfigRouteDeps): LambdaRoute[] {
  const query = (req: ApiRequest) => Object.fromEntries(req.query);
  return [
    {
      method: 'PUT',
      path: BASE,
      operation: 'PutFunctionEventInvokeConfig',
      maxBodyBytes: MAX_BODY,
      async handle(req, p) {
        const body = validateBody(ConfigBody, req.body);
        const t = await target(deps, req, p.FunctionName!);
        const input = await toInput(deps, req.tenant, body);
        if (Object.values(input).every((v) => v === undefined) && body.DestinationConfig === undefined) {
          throw EventInvokeConfigErrors.empty();
        }
        return json(200, shape(await deps.configs.put(req.tenant.id, t.rec.arn, t.qualifier, input)));
      },
    },
    {
      method: 'POST',
      path: BASE,
      operation: 'UpdateFunctionEventInvokeConfig',
      maxBodyBytes: MAX_BODY,
      async handle(req, p) {
        const body = validateBody(ConfigBody, req.body);
        const t = await target(deps, req, p.FunctionName!);
        const input = await toInput(deps, req.tenant, body);
        return json(
          200,
          shape(await deps.configs.update(req.tenant.id, t.rec.arn, t.qualifier, input, t.qualifiedArn)),
        );
      },
    },
    {
      method: 'GET',
      path: BASE,
      operation: 'GetFunctionEventInvokeConfig',
      async handle(req, p) {
        const t = await target(deps, req, p.FunctionName!);
        const c = await deps.configs.get(req.tenant.id, t.rec.arn, t.qualifier);
        if (!c) throw EventInvokeConfigErrors.notFound(t.qualifiedArn);
        return json(200, shape(c));
      },
    },
    {
      method: 'DELETE',
      path: BASE,
      operation: 'DeleteFunctionEventInvokeConfig',
      async handle(req, p) {
        const t = await target(deps, req, p.FunctionName!);
        await deps.configs.delete(req.tenant.id, t.rec.arn, t.qualifier, t.qualifiedArn);
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: `${BASE}/list`,
      operation: 'ListFunctionEventInvokeConfigs',
      async handle(req, p) {
        const q = validate(MaxItems, query(req));
        const rec = await deps.resolve(req.tenant, p.FunctionName!);
        const all = await deps.configs.list(req.tenant.id, rec.arn);
        let start = 0;
        if (q.Marker !== undefined) {
          start = Number(Buffer.from(q.Marker, 'base64url').toString('utf8'));
          if (!Number.isInteger(start) || start < 0) throw LambdaErrors.invalidParameter('Invalid Marker');
        }
        const max = q.MaxItems ?? 50;
        const page = all.slice(start, start + max);
        const next =
          start + max < all.length ? Buffer.from(String(start + max)).toString('base64url') : undefined;
        return json(200, { FunctionEventInvokeConfigs: page.map(shape), ...(next && { NextMarker: next }) });
      },
    },
    {
      // Kindling's own: recent async invocations of a function with their attempts (`kindling events`).
      method: 'GET',
      path: '/2015-03-31/functions/{FunctionName}/async-events',
      operation: 'ListAsyncEvents',
      async handle(req, p) {
        const q = validate(EventsQuery, query(req));
        const rec = await deps.resolve(req.tenant, p.FunctionName!);
        const events = await deps.events.recent(req.tenant.id, rec.name, q.MaxItems ?? 20);
        const shaped: Record<string, unknown>[] = [];
        for (const e of events) shaped.push(eventShape(e, await deps.events.attempts(e.id)));
        return json(200, { FunctionArn: rec.arn, Events: shaped });
      },
    },
  ];
}
