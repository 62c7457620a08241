// The EventBridge surface (SigV4 service `events`, JSON 1.1, `X-Amz-Target: AWSEvents.<Operation>`):
// rules (schedule, event pattern or both) with Lambda targets, PutEvents to the default bus and
// TestEventPattern. Custom buses are refused by name; unknown fields are refused, never dropped.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { BusEvent, EventBus } from '../../events/bus/event-bus.js';
import { EventPatternError, matchesEventPattern, parseEventPattern } from '../../events/bus/pattern.js';
import { EventsErrors } from '../../events/schedules/errors.js';
import type { ScheduleRule } from '../../events/schedules/schedule-repo.js';
import type { Scheduler } from '../../events/schedules/scheduler.js';
import { validationMessage } from '../lambda/validation.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead } from '../surface.js';
import { eventsErrorResponse } from './errors.js';

const CONTENT_TYPE = 'application/x-amz-json-1.1';
const PREFIX = 'AWSEvents.';
// PutEvents counts its own 256 KB over the entries (as EventBridge does); the body may be larger (JSON escapes).
const MAX_BODY = 1024 * 1024;
/** EventBridge's limit on the entries of one PutEvents call, counted as it counts them. */
const MAX_ENTRIES_BYTES = 256 * 1024;

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

const PutRule = z.strictObject({
  Name: NAME,
  ScheduleExpression: z.string().max(256).optional(),
  EventPattern: z.string().max(4096).optional(),
  State: z.enum(['ENABLED', 'DISABLED']).optional(),
  Description: z.string().max(512).optional(),
  RoleArn: z.string().max(1600).optional(),
  EventBusName: BUS,
  Tags: z
    .array(z.strictObject({ Key: z.string(), Value: z.string() }))
    .max(0, 'Kindling does not store tags on rules: Tags must be empty.')
    .optional(),
});
const PutEventsEntry = z.strictObject({
  Time: z.number().optional(),
  Source: z.string().max(256).optional(),
  Resources: z.array(z.string().max(2048)).max(100).optional(),
  DetailType: z.string().max(128).optional(),
  Detail: z.string().optional(),
  EventBusName: z.string().max(1600).optional(),
});
const PutEvents = z.strictObject({ Entries: z.array(PutEventsEntry).min(1).max(10) });
const TestEventPattern = z.strictObject({
  EventPattern: z.string().min(1).max(4096),
  Event: z.string().min(1),
});
const ByName = z.strictObject({ Name: NAME, EventBusName: BUS });
const DeleteRule = ByName.extend({ Force: z.boolean().optional() });
const ListRules = z.strictObject({
  NamePrefix: z.string().min(1).max(64).optional(),
  EventBusName: BUS,
  NextToken: z.string().min(1).max(2048).optional(),
  Limit: z.number().int().min(1).max(100).optional(),
});
const Target = z.strictObject({
  Id: TARGET_ID,
  Arn: z.string().min(1).max(1600),
  Input: z.string().max(8192).optional(),
  InputPath: z.string().max(256).optional(),
});
const PutTargets = z.strictObject({ Rule: NAME, EventBusName: BUS, Targets: z.array(Target).min(1).max(10) });
const ListTargets = z.strictObject({
  Rule: NAME,
  EventBusName: BUS,
  NextToken: z.string().optional(),
  Limit: z.number().int().min(1).max(100).optional(),
});
const RemoveTargets = z.strictObject({
  Rule: NAME,
  EventBusName: BUS,
  Ids: z.array(TARGET_ID).min(1).max(100),
  Force: z.boolean().optional(),
});

function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const r = schema.safeParse(input);
  if (!r.success) {
    // A field Kindling does not know (an EventBridge feature it does not implement, or a typo): named.
    const unknown = r.error.issues.find((i) => i.code === 'unrecognized_keys');
    if (unknown && unknown.code === 'unrecognized_keys') {
      const at = unknown.path.length > 0 ? ` (in ${unknown.path.join('.')})` : '';
      throw EventsErrors.validation(
        `${unknown.keys.join(', ')}${at} is not supported by Kindling for this operation.`,
      );
    }
    throw EventsErrors.validation(validationMessage(r.error.issues, input));
  }
  return r.data;
}

const isDefaultBus = (bus: string | undefined): boolean =>
  bus === undefined ||
  bus === 'default' ||
  /^arn:aws[a-zA-Z-]*:events:[^:]*:\d{12}:event-bus\/default$/.test(bus);

type EntryResult = { EventId: string } | { ErrorCode: string; ErrorMessage: string };
type Entry = z.infer<typeof PutEventsEntry>;

const entryError = (ErrorCode: string, ErrorMessage: string) => ({ ErrorCode, ErrorMessage });
const required = (field: string) =>
  entryError('InvalidArgument', `Parameter ${field} is not valid. Reason: ${field} is a required argument.`);

/** EventBridge reads JSON up to 1100 levels deep; deeper would also overflow the stack when re-serialised. */
const MAX_DETAIL_DEPTH = 1100;

/** The deepest nesting of a JSON text's arrays and objects (strings skipped), without parsing it. */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** One entry checked as EventBridge checks it: a bad entry fails alone, the others go on. */
function checkEntry(e: Entry, now: number): BusEvent | { ErrorCode: string; ErrorMessage: string } {
  if (!isDefaultBus(e.EventBusName))
    return entryError(
      'InvalidArgument',
      `Event bus ${e.EventBusName} does not exist. Kindling serves the default event bus only.`,
    );
  if (!e.Source) return required('Source');
  if (!e.DetailType) return required('DetailType');
  if (e.Detail === undefined || e.Detail === '') return required('Detail');
  if (/^aws\./.test(e.Source))
    return entryError(
      'NotAuthorizedForSourceException',
      `Not authorized for the source ${e.Source}: sources beginning with aws. are reserved.`,
    );
  if (jsonDepth(e.Detail) > MAX_DETAIL_DEPTH) return entryError('MalformedDetail', 'Detail is malformed.');
  let detail: unknown;
  try {
    detail = JSON.parse(e.Detail);
  } catch {
    return entryError('MalformedDetail', 'Detail is malformed.');
  }
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail))
    return entryError('MalformedDetail', 'Detail is malformed.');
  const time = e.Time === undefined ? now : Math.round(e.Time * 1000);
  if (!Number.isFinite(time) || Math.abs(time) > 8.64e15)
    return entryError('InvalidArgument', 'Parameter Time is not valid.');
  return {
    source: e.Source,
    detailType: e.DetailType,
    detail: detail as Record<string, unknown>,
    resources: e.Resources ?? [],
    time,
  };
}

/** EventBridge's entry size: Time counts 14 bytes, then the UTF-8 bytes of the strings. */
function entrySize(e: Entry): number {
  let n = e.Time === undefined ? 0 : 14;
  for (const s of [e.Source, e.DetailType, e.Detail, ...(e.Resources ?? [])])
    if (s !== undefined) n += Buffer.byteLength(s, 'utf8');
  return n;
}

/** TestEventPattern's Event must be a whole EventBridge event. */
const EVENT_FIELDS = ['id', 'account', 'source', 'time', 'region', 'resources', 'detail-type'];

/** Only the default bus exists (by name or ARN). */
function checkBus(bus: string | undefined): void {
  if (isDefaultBus(bus)) return;
  throw EventsErrors.busNotFound(bus!);
}

function ruleShape(r: ScheduleRule, accountId: string): Record<string, unknown> {
  return {
    Name: r.name,
    Arn: r.arn,
    ...(r.expression !== '' && { ScheduleExpression: r.expression }),
    ...(r.eventPattern !== undefined && { EventPattern: r.eventPattern }),
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
  readonly #bus: EventBus;

  constructor(scheduler: Scheduler, bus: EventBus) {
    this.#scheduler = scheduler;
    this.#bus = bus;
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
        if (i.ScheduleExpression === undefined && i.EventPattern === undefined)
          throw EventsErrors.validation('Parameter(s) EventPattern or ScheduleExpression must be specified.');
        const rule = await s.putRule(tenant, {
          name: i.Name,
          scheduleExpression: i.ScheduleExpression,
          eventPattern: i.EventPattern,
          state: i.State,
          description: i.Description,
        });
        return { RuleArn: rule.arn };
      }
      case 'PutEvents': {
        const i = parse(PutEvents, input);
        if (i.Entries.reduce((n, e) => n + entrySize(e), 0) > MAX_ENTRIES_BYTES)
          throw EventsErrors.validation('Total size of the entries in the request is over the limit.');
        const now = Date.now();
        const checked = i.Entries.map((e) => checkEntry(e, now));
        const good = checked.filter((c): c is BusEvent => 'source' in c);
        const ids = good.length === 0 ? [] : await this.#bus.publish(tenant, good);
        let next = 0;
        const entries: EntryResult[] = checked.map((c) => ('source' in c ? { EventId: ids[next++]! } : c));
        return { FailedEntryCount: entries.length - good.length, Entries: entries };
      }
      case 'TestEventPattern': {
        const i = parse(TestEventPattern, input);
        let pattern: ReturnType<typeof parseEventPattern>;
        try {
          pattern = parseEventPattern(i.EventPattern);
        } catch (e) {
          if (e instanceof EventPatternError) throw EventsErrors.invalidPattern(e.message);
          throw e;
        }
        let event: unknown;
        try {
          event = JSON.parse(i.Event);
        } catch {
          throw EventsErrors.validation('Parameter Event is not valid. Reason: it is not valid JSON.');
        }
        if (typeof event !== 'object' || event === null || Array.isArray(event))
          throw EventsErrors.validation('Parameter Event is not valid. Reason: it must be a JSON object.');
        const missing = EVENT_FIELDS.find((f) => !(f in event));
        if (missing)
          throw EventsErrors.validation(
            `Parameter Event is not valid. Reason: field ${missing} is required.`,
          );
        return { Result: matchesEventPattern(pattern, event as Record<string, unknown>) };
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
