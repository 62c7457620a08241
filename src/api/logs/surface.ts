// The CloudWatch Logs surface (SigV4 service `logs`, JSON 1.1, `X-Amz-Target: Logs_20140328.<Op>`): a
// tenant's Lambda log groups (`/aws/lambda/<function>`) and streams (its environments'
// AWS_LAMBDA_LOG_STREAM_NAME), read-only, from the stored invocation logs. Another tenant's group or
// stream is not found, exactly like a missing one.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Telemetry } from '../../telemetry/telemetry.js';
import { validationMessage } from '../lambda/validation.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead } from '../surface.js';
import { LOGS_CONTENT_TYPE, LogsErrors, logsErrorResponse } from './errors.js';
import { filterEvents, streamEvents } from './events.js';
import { compileFilterPattern } from './filter-pattern.js';

const PREFIX = 'Logs_20140328.';
// Requests are small: the largest is FilterLogEvents naming 100 streams.
const MAX_BODY = 256 * 1024;
const GROUP_PREFIX = '/aws/lambda/';

const groupName = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[.\-_/#A-Za-z0-9]+$/, 'Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+');
const groupIdentifier = z
  .string()
  .min(1)
  .max(2048)
  .regex(/^[\w#+=/:,.@-]*$/, 'Member must satisfy regular expression pattern: [\\w#+=/:,.@-]*');
const streamName = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[^:*]*$/, 'Member must satisfy regular expression pattern: [^:*]*');
const token = z.string().min(1);
const time = z.number().int().min(0);

const schemas = {
  DescribeLogGroups: z.object({
    logGroupNamePrefix: groupName.optional(),
    nextToken: token.optional(),
    limit: z.number().int().min(1).max(50).optional(),
  }),
  DescribeLogStreams: z.object({
    logGroupName: groupName.optional(),
    logGroupIdentifier: groupIdentifier.optional(),
    logStreamNamePrefix: streamName.optional(),
    orderBy: z.enum(['LogStreamName', 'LastEventTime']).optional(),
    descending: z.boolean().optional(),
    nextToken: token.optional(),
    limit: z.number().int().min(1).max(50).optional(),
  }),
  GetLogEvents: z.object({
    logGroupName: groupName.optional(),
    logGroupIdentifier: groupIdentifier.optional(),
    logStreamName: streamName,
    startTime: time.optional(),
    endTime: time.optional(),
    nextToken: token.optional(),
    limit: z.number().int().min(1).max(10_000).optional(),
    startFromHead: z.boolean().optional(),
  }),
  FilterLogEvents: z.object({
    logGroupName: groupName.optional(),
    logGroupIdentifier: groupIdentifier.optional(),
    logStreamNames: z.array(streamName).min(1).max(100).optional(),
    logStreamNamePrefix: streamName.optional(),
    startTime: time.optional(),
    endTime: time.optional(),
    filterPattern: z.string().max(1024).optional(),
    nextToken: token.optional(),
    limit: z.number().int().min(1).max(10_000).optional(),
    interleaved: z.boolean().optional(),
  }),
};
type Op = keyof typeof schemas;

/**
 * Never accept and drop: a field the operation does not know (a CloudWatch feature Kindling does not
 * implement, such as `unmask` or `logGroupNamePattern`, or a typo) is refused, naming it.
 */
function validate<O extends Op>(op: O, input: Record<string, unknown>): z.infer<(typeof schemas)[O]> {
  const schema = schemas[op];
  for (const key of Object.keys(input)) {
    if (!(key in schema.shape))
      throw LogsErrors.invalidParameter(`${key} is not supported by Kindling for ${op}.`);
  }
  const r = schema.safeParse(input);
  if (!r.success) throw LogsErrors.invalidParameter(validationMessage(r.error.issues, input));
  return r.data as z.infer<(typeof schemas)[O]>;
}

// Page tokens: opaque to clients, checked on the way back in.
const groupsToken = (name: string) => `g1.${Buffer.from(name, 'utf8').toString('base64url')}`;
function fromGroupsToken(t: string): string {
  const m = /^g1\.([A-Za-z0-9_-]+)$/.exec(t);
  const name = m ? Buffer.from(m[1]!, 'base64url').toString('utf8') : '';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw LogsErrors.badToken();
  return name;
}
const streamsToken = (offset: number) => `s1.${offset}`;
function fromStreamsToken(t: string): number {
  const m = /^s1\.(\d{1,9})$/.exec(t);
  if (!m) throw LogsErrors.badToken();
  return Number(m[1]);
}
const filterToken = (eventId: string) => `e1.${eventId}`;
function fromFilterToken(t: string): string {
  const m = /^e1\.(\d{56})$/.exec(t);
  if (!m) throw LogsErrors.badToken();
  return m[1]!;
}
function fromStreamToken(t: string): { forward: boolean; id: string } {
  const m = /^([fb])\/(\d{56})$/.exec(t);
  if (!m) throw LogsErrors.badToken();
  return { forward: m[1] === 'f', id: m[2]! };
}

export interface LogsSurfaceDeps {
  telemetry: Telemetry;
  region: string;
}

export class LogsSurface implements ApiSurface {
  readonly name = 'logs';
  readonly services = ['logs'] as const;
  readonly #telemetry: Telemetry;
  readonly #region: string;

  constructor(deps: LogsSurfaceDeps) {
    this.#telemetry = deps.telemetry;
    this.#region = deps.region;
  }

  matches(head: RequestHead): boolean {
    const target = head.headers['x-amz-target'];
    return head.method === 'POST' && typeof target === 'string' && target.startsWith(PREFIX);
  }

  maxBodyBytes(): number {
    return MAX_BODY;
  }

  async handle(req: ApiRequest): Promise<ApiResponse> {
    const target = String(req.headers['x-amz-target'] ?? '');
    if (!target.startsWith(PREFIX)) throw LogsErrors.unknownOperation(target);
    const op = target.slice(PREFIX.length);
    if (!Object.hasOwn(schemas, op)) throw LogsErrors.unknownOperation(target);
    let input: unknown;
    try {
      input = req.body.length === 0 ? {} : JSON.parse(req.body.toString('utf8'));
    } catch {
      throw LogsErrors.serialization('The request body is not valid JSON.');
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      throw LogsErrors.serialization('The request body must be a JSON object.');
    // Logs of invocations that just answered are still batched in memory: written before reading.
    await this.#telemetry.flush();
    const out = await this.#dispatch(req, op as Op, input as Record<string, unknown>);
    return {
      status: 200,
      headers: { 'content-type': LOGS_CONTENT_TYPE, 'x-amzn-requestid': randomUUID() },
      body: JSON.stringify(out),
    };
  }

  errorResponse(err: unknown): ApiResponse {
    return logsErrorResponse(err);
  }

  #groupArn(accountId: string, group: string): string {
    return `arn:aws:logs:${this.#region}:${accountId}:log-group:${group}`;
  }

  /** The function whose log group the request names (by name or ARN), if the caller's tenant has it. */
  async #group(
    req: ApiRequest,
    i: { logGroupName?: string | undefined; logGroupIdentifier?: string | undefined },
  ): Promise<{ group: string; functionName: string }> {
    if (i.logGroupName !== undefined && i.logGroupIdentifier !== undefined)
      throw LogsErrors.invalidParameter('LogGroup name and LogGroup ARN are mutually exclusive parameters.');
    let group = i.logGroupName;
    const id = i.logGroupIdentifier;
    if (id !== undefined) {
      if (id.startsWith('arn:')) {
        // arn:aws:logs:<region>:<account>:log-group:<name> (CloudWatch refuses the trailing :* here); another account's group is not found.
        const m = /^arn:aws[a-zA-Z-]*:logs:([^:]*):(\d{12}):log-group:([^:]+)$/.exec(id);
        if (!m) throw LogsErrors.invalidParameter(`Invalid log group ARN: ${id}`);
        if (m[2] !== req.tenant.accountId || (m[1] !== '' && m[1] !== this.#region))
          throw LogsErrors.groupNotFound();
        group = m[3]!;
      } else group = id;
    }
    if (group === undefined)
      throw LogsErrors.invalidParameter('Either logGroupName or logGroupIdentifier must be specified.');
    const functionName = group.startsWith(GROUP_PREFIX) ? group.slice(GROUP_PREFIX.length) : '';
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(functionName)) throw LogsErrors.groupNotFound();
    if (!(await this.#telemetry.logs.hasGroup(req.tenant.id, functionName))) throw LogsErrors.groupNotFound();
    return { group, functionName };
  }

  async #dispatch(req: ApiRequest, op: Op, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const logs = this.#telemetry.logs;
    const tenant = req.tenant;
    switch (op) {
      case 'DescribeLogGroups': {
        const i = validate(op, input);
        const limit = i.limit ?? 50;
        // Only /aws/lambda/ groups exist: a prefix either narrows the function names or excludes them all.
        const p = i.logGroupNamePrefix ?? '';
        let fnPrefix: string | undefined;
        if (p.startsWith(GROUP_PREFIX)) fnPrefix = p.slice(GROUP_PREFIX.length);
        else if (GROUP_PREFIX.startsWith(p)) fnPrefix = '';
        const after = i.nextToken === undefined ? '' : fromGroupsToken(i.nextToken);
        const rows =
          fnPrefix === undefined
            ? []
            : await logs.groups(tenant.id, { prefix: fnPrefix, after, limit: limit + 1 });
        const page = rows.slice(0, limit);
        const last = page.at(-1);
        return {
          logGroups: page.map((g) => {
            const name = `${GROUP_PREFIX}${g.functionName}`;
            const arn = this.#groupArn(tenant.accountId, name);
            return {
              logGroupName: name,
              creationTime: g.createdAt,
              metricFilterCount: 0,
              arn: `${arn}:*`,
              storedBytes: g.storedBytes,
              logGroupClass: 'STANDARD',
              logGroupArn: arn,
            };
          }),
          ...(rows.length > limit && last && { nextToken: groupsToken(last.functionName) }),
        };
      }
      case 'DescribeLogStreams': {
        const i = validate(op, input);
        const byLastEvent = i.orderBy === 'LastEventTime';
        if (byLastEvent && i.logStreamNamePrefix !== undefined)
          throw LogsErrors.invalidParameter('Cannot order by LastEventTime with a logStreamNamePrefix.');
        const { group, functionName } = await this.#group(req, i);
        const limit = i.limit ?? 50;
        const offset = i.nextToken === undefined ? 0 : fromStreamsToken(i.nextToken);
        const rows = await logs.streams(tenant.id, functionName, {
          prefix: i.logStreamNamePrefix ?? '',
          byLastEvent,
          descending: i.descending === true,
          offset,
          limit: limit + 1,
        });
        const page = rows.slice(0, limit);
        const groupArn = this.#groupArn(tenant.accountId, group);
        return {
          logStreams: page.map((s) => ({
            logStreamName: s.name,
            creationTime: s.firstTs,
            firstEventTimestamp: s.firstTs,
            lastEventTimestamp: s.lastTs,
            lastIngestionTime: s.lastTs,
            arn: `${groupArn}:log-stream:${s.name}`,
            storedBytes: 0,
          })),
          ...(rows.length > limit && { nextToken: streamsToken(offset + limit) }),
        };
      }
      case 'GetLogEvents': {
        const i = validate(op, input);
        const { functionName } = await this.#group(req, i);
        const t = i.nextToken === undefined ? undefined : fromStreamToken(i.nextToken);
        if (!(await logs.hasStream(tenant.id, functionName, i.logStreamName)))
          throw LogsErrors.streamNotFound();
        const r = await streamEvents(logs, {
          tenantId: tenant.id,
          functionName,
          stream: i.logStreamName,
          startTime: i.startTime ?? 0,
          endTime: i.endTime ?? Number.MAX_SAFE_INTEGER,
          ...(t && { token: t }),
          startFromHead: i.startFromHead === true,
          limit: i.limit ?? 10_000,
        });
        return {
          events: r.events.map((e) => ({
            timestamp: e.timestamp,
            message: e.message,
            ingestionTime: e.ingestionTime,
          })),
          nextForwardToken: r.forwardToken,
          nextBackwardToken: r.backwardToken,
        };
      }
      case 'FilterLogEvents': {
        const i = validate(op, input);
        if (i.logStreamNames !== undefined && i.logStreamNamePrefix !== undefined)
          throw LogsErrors.invalidParameter(
            'logStreamNames and logStreamNamePrefix are mutually exclusive parameters.',
          );
        const match = compileFilterPattern(i.filterPattern);
        const after = i.nextToken === undefined ? undefined : fromFilterToken(i.nextToken);
        const { functionName } = await this.#group(req, i);
        const r = await filterEvents(logs, {
          tenantId: tenant.id,
          functionName,
          startTime: i.startTime ?? 0,
          endTime: i.endTime ?? Number.MAX_SAFE_INTEGER,
          ...(i.logStreamNames && { streams: i.logStreamNames }),
          ...(i.logStreamNamePrefix !== undefined && { streamPrefix: i.logStreamNamePrefix }),
          match,
          limit: i.limit ?? 10_000,
          ...(after !== undefined && { after }),
        });
        return {
          events: r.events.map((e) => ({
            logStreamName: e.logStreamName,
            timestamp: e.timestamp,
            message: e.message,
            ingestionTime: e.ingestionTime,
            eventId: e.eventId,
          })),
          searchedLogStreams: [],
          ...(r.next !== undefined && { nextToken: filterToken(r.next) }),
        };
      }
    }
  }
}
