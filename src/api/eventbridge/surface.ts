// The EventBridge surface (SigV4 service `events`, JSON 1.1, `X-Amz-Target: AWSEvents.<Operation>`):
// schedule rules and their Lambda targets. Event patterns and custom buses are not offered.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { EventsErrors } from '../../events/schedules/errors.js';
import type { ScheduleRule } from '../../events/schedules/schedule-repo.js';
import type { Scheduler } from '../../events/schedules/scheduler.js';
import { validationMessage } from '../lambda/validation.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead } from '../surface.js';
import { eventsErrorResponse } from './errors.js';

const CONTENT_TYPE = 'application/x-amz-json-1.1';
const PREFIX = 'AWSEvents.';
const MAX_BODY = 256 * 1024;

const NAME = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[.\-_A-Za-z0-9]+$/, 'Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+');
const BUS = z.string().min(1).max(1600).optional();
const TARGET_ID = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[.\-_A-Za-z0-9]+$/, 'Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+');

const PutRule = z.object({
  Name: NAME,
  ScheduleExpression: z.string().max(256).optional(),
  EventPattern: z.string().max(4096).optional(),
  State: z.enum(['ENABLED', 'DISABLED']).optional(),
  Description: z.string().max(512).optional(),
  RoleArn: z.string().max(1600).optional(),
  EventBusName: BUS,
  Tags: z.array(z.object({ Key: z.string(), Value: z.string() })).optional(),
});
const ByName = z.object({ Name: NAME, EventBusName: BUS });
const DeleteRule = ByName.extend({ Force: z.boolean().optional() });
const ListRules = z.object({
  NamePrefix: z.string().min(1).max(64).optional(),
  EventBusName: BUS,
  NextToken: z.string().min(1).max(2048).optional(),
  Limit: z.number().int().min(1).max(100).optional(),
});
const Target = z.object({
  Id: TARGET_ID,
  Arn: z.string().min(1).max(1600),
  Input: z.string().max(8192).optional(),
  InputPath: z.string().max(256).optional(),
});
const PutTargets = z.object({ Rule: NAME, EventBusName: BUS, Targets: z.array(Target).min(1).max(10) });
const ListTargets = z.object({
  Rule: NAME,
  EventBusName: BUS,
  NextToken: z.string().optional(),
  Limit: z.number().int().min(1).max(100).optional(),
});
const RemoveTargets = z.object({
  Rule: NAME,
  EventBusName: BUS,
  Ids: z.array(TARGET_ID).min(1).max(100),
  Force: z.boolean().optional(),
});

function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const r = schema.safeParse(input);
  if (!r.success) throw EventsErrors.validation(validationMessage(r.error.issues, input));
  return r.data;
}

/** Only the default bus exists (by name or ARN). */
function checkBus(bus: string | undefined): void {
  if (
    bus === undefined ||
    bus === 'default' ||
    /^arn:aws[a-zA-Z-]*:events:[^:]*:\d{12}:event-bus\/default$/.test(bus)
  )
    return;
  throw EventsErrors.busNotFound(bus);
}

function ruleShape(r: ScheduleRule, accountId: string): Record<string, unknown> {
  return {
    Name: r.name,
    Arn: r.arn,
    ScheduleExpression: r.expression,
    State: r.state,
    ...(r.description !== undefined && { Description: r.description }),
    EventBusName: 'default',
    CreatedBy: accountId,
  };
}

const token = (name: string) => Buffer.from(name, 'utf8').toString('base64url');
function untoken(t: string | undefined): string {
  if (t === undefined) return '';
  const s = Buffer.from(t, 'base64url').toString('utf8');
  if (!s) throw EventsErrors.validation('The NextToken is not valid.');
  return s;
}

export class EventBridgeSurface implements ApiSurface {
  readonly name = 'eventbridge';
  readonly services = ['events'] as const;
  readonly #scheduler: Scheduler;

  constructor(scheduler: Scheduler) {
    this.#scheduler = scheduler;
  }

  matches(head: RequestHead): boolean {
    const target = head.headers['x-amz-target'];
    return head.method === 'POST' && typeof target === 'string' && target.startsWith(PREFIX);
  }

  maxBodyBytes(): number {
    return MAX_BODY;
  }

  async handle(req: ApiRequest): Promise<ApiResponse> {
    const target = String(req.headers['x-amz-target']);
    let input: unknown;
    try {
      input = req.body.length === 0 ? {} : JSON.parse(req.body.toString('utf8'));
    } catch {
      throw EventsErrors.serialization('The request body is not valid JSON.');
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      throw EventsErrors.serialization('The request body must be a JSON object.');
    const out = await this.#dispatch(req, target.slice(PREFIX.length), input);
    return {
      status: 200,
      headers: { 'content-type': CONTENT_TYPE, 'x-amzn-requestid': randomUUID() },
      body: JSON.stringify(out),
    };
  }

  async #dispatch(req: ApiRequest, op: string, input: unknown): Promise<Record<string, unknown>> {
    const s = this.#scheduler;
    const tenant = req.tenant;
    switch (op) {
      case 'PutRule': {
        const i = parse(PutRule, input);
        checkBus(i.EventBusName);
        if (i.ScheduleExpression === undefined) {
          if (i.EventPattern === undefined)
            throw EventsErrors.validation(
              'Parameter(s) EventPattern or ScheduleExpression must be specified.',
            );
          throw EventsErrors.validation(
            'Kindling supports schedule rules only: ScheduleExpression is required.',
          );
        }
        if (i.EventPattern !== undefined) {
          throw EventsErrors.validation(
            'Kindling supports schedule rules only: EventPattern cannot be combined with ScheduleExpression.',
          );
        }
        const rule = await s.putRule(tenant, {
          name: i.Name,
          scheduleExpression: i.ScheduleExpression,
          state: i.State,
          description: i.Description,
        });
        return { RuleArn: rule.arn };
      }
      case 'DescribeRule': {
        const i = parse(ByName, input);
        checkBus(i.EventBusName);
        return ruleShape(await s.describe(tenant, i.Name), tenant.accountId);
      }
      case 'ListRules': {
        const i = parse(ListRules, input);
        checkBus(i.EventBusName);
        const limit = i.Limit ?? 100;
        const rows = await s.list(tenant, i.NamePrefix ?? '', untoken(i.NextToken), limit + 1);
        const page = rows.slice(0, limit);
        const last = page[page.length - 1];
        return {
          Rules: page.map((r) => ruleShape(r, tenant.accountId)),
          ...(rows.length > limit && last && { NextToken: token(last.name) }),
        };
      }
      case 'DeleteRule': {
        const i = parse(DeleteRule, input);
        checkBus(i.EventBusName);
        await s.deleteRule(tenant, i.Name);
        return {};
      }
      case 'EnableRule':
      case 'DisableRule': {
        const i = parse(ByName, input);
        checkBus(i.EventBusName);
        await s.setState(tenant, i.Name, op === 'EnableRule' ? 'ENABLED' : 'DISABLED');
        return {};
      }
      case 'PutTargets': {
        const i = parse(PutTargets, input);
        checkBus(i.EventBusName);
        for (const t of i.Targets) {
          if (t.Input !== undefined && t.InputPath !== undefined) {
            throw EventsErrors.validation(
              'Only one of Input, InputPath, or InputTransformer must be provided.',
            );
          }
          if (t.Input !== undefined) {
            try {
              JSON.parse(t.Input);
            } catch {
              throw EventsErrors.validation(`Input for target ${t.Id} is not valid JSON text.`);
            }
          }
          if (t.InputPath !== undefined && !/^\$(\.[^.[\]]+|\[\d+\])*$/.test(t.InputPath)) {
            throw EventsErrors.validation(`InputPath for target ${t.Id} is not valid.`);
          }
        }
        const failed = await s.putTargets(
          tenant,
          i.Rule,
          i.Targets.map((t) => ({ id: t.Id, arn: t.Arn, input: t.Input, inputPath: t.InputPath })),
        );
        return { FailedEntryCount: failed.length, FailedEntries: failed };
      }
      case 'ListTargetsByRule': {
        const i = parse(ListTargets, input);
        checkBus(i.EventBusName);
        return {
          Targets: (await s.targets(tenant, i.Rule)).map((t) => ({
            Id: t.id,
            Arn: t.arn,
            ...(t.input !== undefined && { Input: t.input }),
            ...(t.inputPath !== undefined && { InputPath: t.inputPath }),
          })),
        };
      }
      case 'RemoveTargets': {
        const i = parse(RemoveTargets, input);
        checkBus(i.EventBusName);
        const failed = await s.removeTargets(tenant, i.Rule, i.Ids);
        return { FailedEntryCount: failed.length, FailedEntries: failed };
      }
      default:
        throw EventsErrors.unknownOperation(`${PREFIX}${op}`);
    }
  }

  errorResponse(err: unknown): ApiResponse {
    return eventsErrorResponse(err);
  }
}
