// The EventBridge Scheduler surface (SigV4 service `scheduler`, REST JSON): CreateSchedule, GetSchedule,
// UpdateSchedule, DeleteSchedule (`/schedules/{Name}`) and ListSchedules (`/schedules`), in the default
// group, with Lambda function targets. Schedule groups, tags and non-Lambda target settings are refused by
// name; another tenant's schedules are not found, exactly like missing ones.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { KindlingError } from '../../errors.js';
import {
  type Schedule,
  SchedulerApiError,
  SchedulerErrors,
  type ScheduleService,
} from '../../events/schedules/schedule-service.js';
import { StoreUnavailableError } from '../../store/sql.js';
import { validationMessage } from '../lambda/validation.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead } from '../surface.js';

const MAX_BODY = 64 * 1024;
const NAME_RE = /^[0-9a-zA-Z\-_.]{1,64}$/;

const NAME = z.string().regex(NAME_RE, 'Member must satisfy regular expression pattern: [0-9a-zA-Z-_.]+');
const ScheduleBody = z.strictObject({
  ScheduleExpression: z.string().min(1).max(256),
  ScheduleExpressionTimezone: z.string().min(1).max(50).optional(),
  FlexibleTimeWindow: z.strictObject({
    Mode: z.enum(['OFF', 'FLEXIBLE']),
    MaximumWindowInMinutes: z.number().int().min(1).max(1440).optional(),
  }),
  Target: z.strictObject({
    Arn: z.string().min(1).max(1600),
    RoleArn: z.string().min(1).max(1600),
    Input: z.string().min(1).max(8192).optional(),
    RetryPolicy: z
      .strictObject({
        MaximumEventAgeInSeconds: z.number().int().min(60).max(86400).optional(),
        MaximumRetryAttempts: z.number().int().min(0).max(185).optional(),
      })
      .optional(),
  }),
  GroupName: NAME.optional(),
  StartDate: z.number().optional(),
  EndDate: z.number().optional(),
  Description: z.string().max(512).optional(),
  State: z.enum(['ENABLED', 'DISABLED']).optional(),
  ClientToken: z.string().min(1).max(64).optional(),
  ActionAfterCompletion: z.enum(['NONE', 'DELETE']).optional(),
});

/** Scheduler operations Kindling does not offer, by route, so the refusal names them. */
const UNIMPLEMENTED: [string, RegExp, string][] = [
  ['POST', /^\/schedule-groups\/[^/]+$/, 'CreateScheduleGroup'],
  ['GET', /^\/schedule-groups\/[^/]+$/, 'GetScheduleGroup'],
  ['DELETE', /^\/schedule-groups\/[^/]+$/, 'DeleteScheduleGroup'],
  ['GET', /^\/schedule-groups$/, 'ListScheduleGroups'],
  ['POST', /^\/tags\//, 'TagResource'],
  ['GET', /^\/tags\//, 'ListTagsForResource'],
  ['DELETE', /^\/tags\//, 'UntagResource'],
];

function wire(err: unknown): KindlingError {
  if (err instanceof KindlingError) return err;
  if (err instanceof SchedulerApiError) {
    switch (err.code) {
      case 'Validation':
        return new KindlingError('ValidationException', 400, err.message);
      case 'NotFound':
        return new KindlingError('ResourceNotFoundException', 404, err.message);
      case 'Conflict':
        return new KindlingError('ConflictException', 409, err.message);
    }
  }
  if (err instanceof StoreUnavailableError)
    return new KindlingError(
      'InternalServerException',
      500,
      'The schedule store is unavailable; retry the request.',
    );
  return new KindlingError('InternalServerException', 500, 'An internal error occurred.');
}

function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const unknown = r.error.issues.find((i) => i.code === 'unrecognized_keys');
  if (unknown && unknown.code === 'unrecognized_keys') {
    const at = unknown.path.length > 0 ? ` (in ${unknown.path.join('.')})` : '';
    throw SchedulerErrors.validation(`${unknown.keys.join(', ')}${at} is not supported by Kindling.`);
  }
  throw SchedulerErrors.validation(validationMessage(r.error.issues, input));
}

const seconds = (ms: number) => ms / 1000;

function scheduleShape(s: Schedule): Record<string, unknown> {
  const { row, spec } = s;
  return {
    Arn: row.arn,
    GroupName: spec.group,
    Name: spec.name,
    ScheduleExpression: row.expression,
    ScheduleExpressionTimezone: spec.timezone,
    ...(spec.startDate !== undefined && { StartDate: seconds(spec.startDate) }),
    ...(spec.endDate !== undefined && { EndDate: seconds(spec.endDate) }),
    ...(row.description !== undefined && { Description: row.description }),
    State: row.state,
    CreationDate: seconds(row.createdAt),
    LastModificationDate: seconds(spec.modifiedAt),
    Target: {
      Arn: spec.target.arn,
      RoleArn: spec.target.roleArn,
      ...(spec.target.input !== undefined && { Input: spec.target.input }),
      RetryPolicy: {
        MaximumEventAgeInSeconds: spec.target.maxEventAgeSeconds,
        MaximumRetryAttempts: spec.target.maxRetryAttempts,
      },
    },
    FlexibleTimeWindow:
      spec.windowMinutes === undefined
        ? { Mode: 'OFF' }
        : { Mode: 'FLEXIBLE', MaximumWindowInMinutes: spec.windowMinutes },
    ActionAfterCompletion: spec.actionAfterCompletion,
  };
}

const token = (name: string) => Buffer.from(name, 'utf8').toString('base64url');
function untoken(t: string | null): string {
  if (t === null) return '';
  const s = Buffer.from(t, 'base64url').toString('utf8');
  if (!NAME_RE.test(s)) throw SchedulerErrors.validation('The NextToken is not valid.');
  return s;
}

export class SchedulerSurface implements ApiSurface {
  readonly name = 'scheduler';
  readonly services = ['scheduler'] as const;
  readonly #schedules: ScheduleService;

  constructor(schedules: ScheduleService) {
    this.#schedules = schedules;
  }

  matches(head: RequestHead): boolean {
    return head.service === 'scheduler';
  }

  maxBodyBytes(): number {
    return MAX_BODY;
  }

  async handle(req: ApiRequest): Promise<ApiResponse> {
    const out = await this.#route(req);
    return {
      status: 200,
      headers: { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID() },
      body: JSON.stringify(out),
    };
  }

  #body(req: ApiRequest): unknown {
    if (req.body.length === 0) return {};
    try {
      const v = JSON.parse(req.body.toString('utf8'));
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v;
    } catch {
      // Answered below.
    }
    throw SchedulerErrors.validation('The request body must be a JSON object.');
  }

  #onlyQuery(req: ApiRequest, allowed: readonly string[]): void {
    for (const k of req.query.keys())
      if (!allowed.includes(k)) throw SchedulerErrors.validation(`${k} is not supported by Kindling.`);
  }

  async #route(req: ApiRequest): Promise<Record<string, unknown>> {
    const s = this.#schedules;
    const tenant = req.tenant;
    const m = /^\/schedules\/([^/]+)$/.exec(req.path);
    if (m) {
      const name = m[1]!;
      if (!NAME_RE.test(name))
        throw SchedulerErrors.validation(
          `Value '${name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9a-zA-Z-_.]+`,
        );
      switch (req.method) {
        case 'POST':
        case 'PUT': {
          this.#onlyQuery(req, []);
          const i = parse(ScheduleBody, this.#body(req));
          const window = i.FlexibleTimeWindow;
          if (window.Mode === 'FLEXIBLE' && window.MaximumWindowInMinutes === undefined)
            throw SchedulerErrors.validation('MaximumWindowInMinutes is required when the Mode is FLEXIBLE.');
          if (window.Mode === 'OFF' && window.MaximumWindowInMinutes !== undefined)
            throw SchedulerErrors.validation('MaximumWindowInMinutes must not be set when the Mode is OFF.');
          const input = {
            group: i.GroupName ?? 'default',
            name,
            expression: i.ScheduleExpression,
            timezone: i.ScheduleExpressionTimezone,
            windowMinutes: window.MaximumWindowInMinutes,
            startDate: i.StartDate === undefined ? undefined : Math.round(i.StartDate * 1000),
            endDate: i.EndDate === undefined ? undefined : Math.round(i.EndDate * 1000),
            description: i.Description,
            state: i.State ?? 'ENABLED',
            actionAfterCompletion: i.ActionAfterCompletion ?? 'NONE',
            clientToken: i.ClientToken,
            target: {
              arn: i.Target.Arn,
              roleArn: i.Target.RoleArn,
              ...(i.Target.Input !== undefined && { input: i.Target.Input }),
              maxEventAgeSeconds: i.Target.RetryPolicy?.MaximumEventAgeInSeconds ?? 86400,
              maxRetryAttempts: i.Target.RetryPolicy?.MaximumRetryAttempts ?? 185,
            },
          } as const;
          const arn = req.method === 'POST' ? await s.create(tenant, input) : await s.update(tenant, input);
          return { ScheduleArn: arn };
        }
        case 'GET':
          this.#onlyQuery(req, ['groupName']);
          return scheduleShape(await s.get(tenant, req.query.get('groupName') ?? 'default', name));
        case 'DELETE':
          this.#onlyQuery(req, ['groupName', 'clientToken']);
          await s.delete(tenant, req.query.get('groupName') ?? 'default', name);
          return {};
      }
    }
    if (req.path === '/schedules' && req.method === 'GET') {
      this.#onlyQuery(req, ['ScheduleGroup', 'NamePrefix', 'State', 'NextToken', 'MaxResults']);
      const q = req.query;
      const prefix = q.get('NamePrefix') ?? '';
      if (prefix !== '' && !NAME_RE.test(prefix))
        throw SchedulerErrors.validation('NamePrefix is not valid.');
      const state = q.get('State') ?? undefined;
      if (state !== undefined && state !== 'ENABLED' && state !== 'DISABLED')
        throw SchedulerErrors.validation('State must be ENABLED or DISABLED.');
      const max = q.get('MaxResults');
      const limit = max === null ? 100 : Number(max);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100)
        throw SchedulerErrors.validation('MaxResults must be between 1 and 100.');
      const page = await s.list(
        tenant,
        q.get('ScheduleGroup') ?? 'default',
        prefix,
        state,
        untoken(q.get('NextToken')),
        limit,
      );
      return {
        Schedules: page.schedules.map(({ row, spec }) => ({
          Arn: row.arn,
          Name: spec.name,
          GroupName: spec.group,
          State: row.state,
          CreationDate: seconds(row.createdAt),
          LastModificationDate: seconds(spec.modifiedAt),
          Target: { Arn: spec.target.arn },
        })),
        ...(page.more && page.last !== undefined && { NextToken: token(page.last) }),
      };
    }
    const op = UNIMPLEMENTED.find(([method, re]) => method === req.method && re.test(req.path))?.[2];
    throw new KindlingError(
      'UnknownOperationException',
      404,
      op ? `Kindling does not implement ${op}.` : `Unknown operation: ${req.method} ${req.path}`,
    );
  }

  errorResponse(err: unknown): ApiResponse {
    const e = wire(err);
    return {
      status: e.status,
      headers: {
        'content-type': 'application/json',
        'x-amzn-errortype': e.type,
        'x-amzn-requestid': randomUUID(),
      },
      body: JSON.stringify({ Message: e.message }),
    };
  }
}
