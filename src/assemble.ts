// The list of platform parts, in start order (they stop in reverse), each built from the ones before it.
import { createObjectStorePart } from './api/s3-part.js';
import { SqsSurface } from './api/sqs/surface.js';
import { createCorePart } from './core-part.js';
import { createMappingsPart } from './events/mappings/part.js';
import { createQueueEngine } from './events/queue/index.js';
import { createSchedulesPart } from './events/schedules/part.js';
import { createAsyncInvokePart } from './invoke/async-part.js';
import type { Platform, PlatformPart } from './platform.js';
import { telemetryPart } from './telemetry/part.js';

export async function assembleParts(platform: Platform): Promise<PlatformPart[]> {
  const parts: PlatformPart[] = [];
  // Telemetry first: its surface owns /kindling/* and /metrics, and it stops last (after invocations
  // drained). Connect it once the invocation service and worker exist: telemetry.connect({ invocations, worker }).
  const telemetry = telemetryPart(platform);
  parts.push(telemetry);
  // Queues: the embedded SQS engine (destinations, DLQs and pollers use `queues`) and its SQS API.
  const queues = createQueueEngine(platform.db, { region: platform.config.region });
  parts.push({ name: 'queue', surfaces: [new SqsSurface(queues)], stop: () => queues.close() });
  // Core: control plane, worker, invocation service, Lambda surface. Later parts take what they need
  // from `core` (core.invoker, core.functions) and add Lambda operations with core.lambdaRoutes.add(...).
  const core = createCorePart(platform);
  telemetry.connect({ invocations: core.invoker, worker: core.worker });
  parts.push(core);
  // Async invocation (InvocationType Event, destinations, DLQ): after core, so it stops before the worker drains.
  const asyncInvoke = createAsyncInvokePart(platform, core, queues);
  parts.push(asyncInvoke);
  // Schedules (EventBridge rules): fire through the async queue; stop before it.
  parts.push(createSchedulesPart(platform, core, asyncInvoke));
  // Event source mappings (queue and Redis Streams pollers, RPC messages): stop before the worker drains.
  parts.push(createMappingsPart(platform, core, () => queues));
  // Object store and its S3 API (path-style, matched last); notifications invoke through core.invoker.
  parts.push(createObjectStorePart(platform));
  return parts;
}
