// The schedules part as assemble.ts plugs it in: the rule store, the timer (firing through the async
// invoker's durable queue) and the EventBridge surface.
import { EventBridgeSurface } from '../../api/eventbridge/surface.js';
import type { CorePart } from '../../core-part.js';
import type { AsyncInvokePart } from '../../invoke/async-part.js';
import type { Platform, PlatformPart } from '../../platform.js';
import { ScheduleStore } from './schedule-repo.js';
import { Scheduler } from './scheduler.js';

export interface SchedulesPart extends PlatformPart {
  readonly name: 'schedules';
  readonly scheduler: Scheduler;
  readonly store: ScheduleStore;
}

export function createSchedulesPart(
  platform: Platform,
  core: CorePart,
  asyncInvoke: AsyncInvokePart,
): SchedulesPart {
  const store = new ScheduleStore(platform.db);
  const scheduler = new Scheduler({
    store,
    region: platform.config.region,
    tenants: platform.tenants,
    resolveFunction: (tenant, arn) => core.invoker.resolve(tenant, arn),
    accept: (tenant, rec, payload, opts) => asyncInvoke.dispatcher.accept(tenant, rec, payload, opts),
  });
  return {
    name: 'schedules',
    scheduler,
    store,
    surfaces: [new EventBridgeSurface(scheduler)],
    start: () => scheduler.start(),
    stop: () => scheduler.stop(),
  };
}

/** The running schedules part of a platform (tests, CLI helpers). */
export function schedulesPart(platform: Pick<Platform, 'parts'>): SchedulesPart {
  const part = platform.parts.find((p) => p.name === 'schedules');
  if (!part) throw new Error('the schedules part is not assembled');
  return part as SchedulesPart;
}
