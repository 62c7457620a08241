// Lambda's event source mapping operations (CreateEventSourceMapping, Get/List/Update/Delete) over the
// embedded queue and Redis Streams (SelfManagedEventSource.Endpoints.REDIS_URLS + Topics).
import { z } from 'zod';
import { LambdaErrors } from '../../errors.js';
import { type MappingService, mappingToWire } from '../../events/mappings/mapping-service.js';
import type { LambdaApiDeps } from './deps.js';
import { json } from './errors.js';
import type { LambdaRoute } from './routes.js';
import { validate, validateBody } from './validation.js';

const FunctionName = z.string().min(1).max(140);
const BatchSize = z.number().int().min(1).max(10_000);
const Window = z.number().int().min(0).max(300);
const ResponseTypes = z.array(z.enum(['ReportBatchItemFailures'])).max(1);
const Scaling = z.object({ MaximumConcurrency: z.number().int().min(2).max(1000).optional() });
const Retries = z.number().int().min(-1).max(10_000);

const CreateSchema = z.object({
  FunctionName: FunctionName.optional(),
  EventSourceArn: z.string().min(12).max(1024).optional(),
  Enabled: z.boolean().optional(),
  BatchSize: BatchSize.optional(),
  MaximumBatchingWindowInSeconds: Window.optional(),
  FunctionResponseTypes: ResponseTypes.optional(),
  ScalingConfig: Scaling.optional(),
  MaximumRetryAttempts: Retries.optional(),
  Tags: z.record(z.string().min(1).max(128), z.string().max(256)).optional(),
  Topics: z.array(z.string().min(1).max(249)).min(1).max(1).optional(),
  StartingPosition: z.enum(['TRIM_HORIZON', 'LATEST']).optional(),
  SelfManagedEventSource: z
    .object({ Endpoints: z.record(z.string(), z.array(z.string().min(1).max(300)).min(1).max(10)) })
    .optional(),
});

const UpdateSchema = z.object({
  FunctionName: FunctionName.optional(),
  Enabled: z.boolean().optional(),
  BatchSize: BatchSize.optional(),
  MaximumBatchingWindowInSeconds: Window.optional(),
  FunctionResponseTypes: ResponseTypes.optional(),
  ScalingConfig: Scaling.optional(),
  MaximumRetryAttempts: Retries.optional(),
});

const ListSchema = z.object({
  EventSourceArn: z.string().min(1).optional(),
  FunctionName: z.string().min(1).max(140).optional(),
  Marker: z.string().min(1).optional(),
  MaxItems: z.coerce.number().int().min(1).max(10_000).optional(),
});

const UuidSchema = z.object({ UUID: z.string().min(1).max(64) });

export function eventSourceMappingRoutes(
  deps: Pick<LambdaApiDeps, 'config'>,
  mappings: MappingService,
): LambdaRoute[] {
  const wire = (m: Parameters<typeof mappingToWire>[0]) => mappingToWire(m, deps.config.region);
  const base = '/2015-03-31/event-source-mappings';
  const uuidOf = (p: Record<string, string>) => validate(UuidSchema, { UUID: p.UUID }).UUID;
  return [
    {
      method: 'POST',
      path: `${base}/`,
      operation: 'CreateEventSourceMapping',
      async handle(req) {
        const b = validateBody(CreateSchema, req.body);
        let redis: { urls: string[]; stream: string } | undefined;
        if (b.SelfManagedEventSource) {
          const urls = b.SelfManagedEventSource.Endpoints.REDIS_URLS;
          if (!urls)
            throw LambdaErrors.invalidParameter(
              'SelfManagedEventSource.Endpoints must contain REDIS_URLS (the only self-managed source here).',
            );
          const stream = b.Topics?.[0];
          if (stream === undefined)
            throw LambdaErrors.invalidParameter('Topics must name the Redis stream to read.');
          redis = { urls, stream };
        } else if (b.Topics) {
          throw LambdaErrors.invalidParameter('Topics is only valid with a SelfManagedEventSource.');
        }
        const m = await mappings.create(req.tenant, {
          ...(b.FunctionName !== undefined && { functionName: b.FunctionName }),
          ...(b.EventSourceArn !== undefined && { eventSourceArn: b.EventSourceArn }),
          ...(redis && { redis }),
          ...(b.Enabled !== undefined && { enabled: b.Enabled }),
          ...(b.BatchSize !== undefined && { batchSize: b.BatchSize }),
          ...(b.MaximumBatchingWindowInSeconds !== undefined && {
            maximumBatchingWindowInSeconds: b.MaximumBatchingWindowInSeconds,
          }),
          ...(b.FunctionResponseTypes !== undefined && { functionResponseTypes: b.FunctionResponseTypes }),
          ...(b.ScalingConfig?.MaximumConcurrency !== undefined && {
            maximumConcurrency: b.ScalingConfig.MaximumConcurrency,
          }),
          ...(b.MaximumRetryAttempts !== undefined && { maximumRetryAttempts: b.MaximumRetryAttempts }),
          ...(b.Tags !== undefined && { tags: b.Tags }),
          ...(b.StartingPosition !== undefined && { startingPosition: b.StartingPosition }),
        });
        return json(202, wire(m));
      },
    },
    {
      method: 'GET',
      path: `${base}/`,
      operation: 'ListEventSourceMappings',
      async handle(req) {
        const q = validate(ListSchema, {
          EventSourceArn: req.query.get('EventSourceArn') ?? undefined,
          FunctionName: req.query.get('FunctionName') ?? undefined,
          Marker: req.query.get('Marker') ?? undefined,
          MaxItems: req.query.get('MaxItems') ?? undefined,
        });
        const page = await mappings.list(req.tenant, {
          ...(q.EventSourceArn !== undefined && { eventSourceArn: q.EventSourceArn }),
          ...(q.FunctionName !== undefined && { functionName: q.FunctionName }),
          ...(q.Marker !== undefined && { marker: q.Marker }),
          ...(q.MaxItems !== undefined && { maxItems: q.MaxItems }),
        });
        return json(200, {
          EventSourceMappings: page.mappings.map(wire),
          ...(page.nextMarker !== undefined && { NextMarker: page.nextMarker }),
        });
      },
    },
    {
      method: 'GET',
      path: `${base}/{UUID}`,
      operation: 'GetEventSourceMapping',
      async handle(req, p) {
        return json(200, wire(await mappings.get(req.tenant, uuidOf(p))));
      },
    },
    {
      method: 'PUT',
      path: `${base}/{UUID}`,
      operation: 'UpdateEventSourceMapping',
      async handle(req, p) {
        const uuid = uuidOf(p);
        const b = validateBody(UpdateSchema, req.body);
        const m = await mappings.update(req.tenant, uuid, {
          ...(b.FunctionName !== undefined && { functionName: b.FunctionName }),
          ...(b.Enabled !== undefined && { enabled: b.Enabled }),
          ...(b.BatchSize !== undefined && { batchSize: b.BatchSize }),
          ...(b.MaximumBatchingWindowInSeconds !== undefined && {
            maximumBatchingWindowInSeconds: b.MaximumBatchingWindowInSeconds,
          }),
          ...(b.FunctionResponseTypes !== undefined && { functionResponseTypes: b.FunctionResponseTypes }),
          // An empty ScalingConfig removes the limit, as on Lambda.
          ...(b.ScalingConfig !== undefined && {
            maximumConcurrency: b.ScalingConfig.MaximumConcurrency ?? null,
          }),
          ...(b.MaximumRetryAttempts !== undefined && { maximumRetryAttempts: b.MaximumRetryAttempts }),
        });
        return json(202, wire(m));
      },
    },
    {
      method: 'DELETE',
      path: `${base}/{UUID}`,
      operation: 'DeleteEventSourceMapping',
      async handle(req, p) {
        return json(202, wire(await mappings.delete(req.tenant, uuidOf(p))));
      },
    },
  ];
}
