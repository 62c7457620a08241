// An EventBridge Scheduler schedule's settings, kept as JSON in its schedule row (validated when read back:
// it is state from before a restart), and what its timing and one fire are made of.
import { z } from 'zod';
import type { ScheduleRule } from './schedule-repo.js';
import { parseSchedulerExpression, type Timing } from './schedule-timing.js';

export const ScheduleSpecSchema = z.object({
  group: z.string(),
  name: z.string(),
  timezone: z.string(),
  windowMinutes: z.number().int().optional(),
  startDate: z.number().optional(),
  endDate: z.number().optional(),
  actionAfterCompletion: z.enum(['NONE', 'DELETE']),
  clientToken: z.string().optional(),
  modifiedAt: z.number(),
  target: z.object({
    arn: z.string(),
    roleArn: z.string(),
    input: z.string().optional(),
    maxEventAgeSeconds: z.number().int(),
    maxRetryAttempts: z.number().int(),
  }),
});

export type ScheduleSpec = z.infer<typeof ScheduleSpecSchema>;

export function readSpec(row: ScheduleRule): ScheduleSpec {
  return ScheduleSpecSchema.parse(JSON.parse(row.spec ?? 'null'));
}

export function timingOf(row: ScheduleRule, spec: ScheduleSpec): Timing {
  return {
    expression: parseSchedulerExpression(row.expression),
    timezone: spec.timezone,
    startDate: spec.startDate,
    endDate: spec.endDate,
    windowMinutes: spec.windowMinutes,
  };
}

/** The keywords Scheduler replaces in a target's Input when it fires. */
export function withContext(
  input: string,
  ctx: { arn: string; scheduledAt: number; executionId: string },
): string {
  const time = new Date(ctx.scheduledAt).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return input
    .replaceAll('<aws.scheduler.schedule-arn>', ctx.arn)
    .replaceAll('<aws.scheduler.scheduled-time>', time)
    .replaceAll('<aws.scheduler.execution-id>', ctx.executionId)
    .replaceAll('<aws.scheduler.attempt-number>', '1');
}
