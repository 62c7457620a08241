// Where an async event's outcome goes: Lambda's invocation record to an on-success / on-failure
// destination (an SQS queue or another function, invoked asynchronously), and the original event to
// the function's dead-letter queue with the error as message attributes (RequestID, ErrorCode, ErrorMessage).
import { isFunctionArn, isQueueArn } from '../control/arn.js';
import type { FunctionRecord } from '../control/functions.js';
import type { Tenant } from '../control/tenants.js';
import { LambdaErrors } from '../errors.js';
import type { QueueEngine } from '../events/queue/types.js';
import type { AsyncCondition, AsyncEvent } from './async-queue.js';

export type DestinationKind = 'sqs' | 'lambda';

/** A record sent to a function destination is an async invocation: Lambda's 256 KB payload limit applies. */
const MAX_RECORD_BYTES = 262_144;

/** Function destinations invoking function destinations stop here (Lambda stops recursive loops at 16). */
export const MAX_CHAIN_DEPTH = 16;

export function destinationKind(arn: string): DestinationKind | undefined {
  if (isQueueArn(arn)) return 'sqs';
  if (isFunctionArn(arn)) return 'lambda';
  return undefined;
}

export const DestinationErrors = {
  invalid: (arn: string) => LambdaErrors.invalidParameter(`The destination ARN ${arn} is invalid.`),
  // What Lambda answers when the role cannot reach the target: here, a queue or function of another tenant
  // or one that does not exist.
  unreachable: (arn: string, action: string) =>
    LambdaErrors.invalidParameter(
      `The function's execution role does not have permissions to call ${action} on ${arn}`,
    ),
  dlqInvalid: (arn: string) =>
    LambdaErrors.invalidParameter(
      `The provided DeadLetterConfig TargetArn ${arn} is invalid: only SQS queue ARNs are supported.`,
    ),
};

/** What delivering needs: the queue engine and a sync async-accept. */
export interface DestinationDeps {
  queues: QueueEngine;
  resolveFunction: (tenant: Tenant, arn: string) => FunctionRecord;
  /** Stores an async event for a function destination; must be synchronous (runs inside a transaction). */
  acceptEvent: (
    tenant: Tenant,
    rec: FunctionRecord,
    payload: Buffer,
    sourceArn: string,
    chainDepth: number,
  ) => string;
}

/** Validates a destination at PutFunctionEventInvokeConfig time: an ARN of the tenant's own queue or function. */
export async function checkDestination(deps: DestinationDeps, tenant: Tenant, arn: string): Promise<void> {
  const kind = destinationKind(arn);
  if (!kind) throw DestinationErrors.invalid(arn);
  if (kind === 'sqs') {
    if (!(await deps.queues.findQueue(tenant, arn))) throw DestinationErrors.unreachable(arn, 'SendMessage');
    return;
  }
  try {
    deps.resolveFunction(tenant, arn);
  } catch {
    throw DestinationErrors.unreachable(arn, 'InvokeFunction');
  }
}

function parsedPayload(buf: Buffer | undefined): unknown {
  if (buf === undefined) return null;
  const text = buf.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Lambda's invocation record, as destinations receive it. */
export function invocationRecord(
  e: AsyncEvent,
  condition: AsyncCondition,
  now = Date.now(),
): Record<string, unknown> {
  const ran = e.lastStatus === 200;
  const record: Record<string, unknown> = {
    version: '1.0',
    timestamp: new Date(now).toISOString(),
    requestContext: {
      requestId: e.requestId,
      functionArn: `${e.functionArn}:${e.executedVersion ?? e.qualifier ?? '$LATEST'}`,
      condition: condition === 'FunctionNotFound' ? 'RetriesExhausted' : condition,
      approximateInvokeCount: Math.max(1, e.attempts + e.throttles),
    },
    requestPayload: parsedPayload(e.payload),
    responseContext: {
      statusCode: e.lastStatus ?? 429,
      executedVersion: e.executedVersion ?? '$LATEST',
      ...(e.lastErrorType !== undefined && ran && { functionError: 'Unhandled' }),
    },
  };
  if (ran) record.responsePayload = parsedPayload(e.lastResponse);
  return record;
}

async function queueOf(deps: DestinationDeps, tenant: Tenant, arn: string) {
  const engine = deps.queues;
  const q = await engine.findQueue(tenant, arn);
  if (!q) throw new Error(`queue ${arn} does not exist`);
  return { engine, q };
}

/** Sends the record to a destination; returns a note for the event's history. Throws when it cannot. */
export async function deliverRecord(
  deps: DestinationDeps,
  tenant: Tenant,
  arn: string,
  record: Record<string, unknown>,
  source: Pick<AsyncEvent, 'functionArn' | 'chainDepth'>,
): Promise<string> {
  const body = JSON.stringify(record);
  const kind = destinationKind(arn);
  if (kind === 'sqs') {
    const { engine, q } = await queueOf(deps, tenant, arn);
    const sent = await engine.send(q, { body });
    return `${arn} (message ${sent.messageId})`;
  }
  if (kind === 'lambda') {
    if (Buffer.byteLength(body) > MAX_RECORD_BYTES) {
      throw new Error(
        `the invocation record (${Buffer.byteLength(body)} bytes) exceeds the async payload limit of ${MAX_RECORD_BYTES} bytes`,
      );
    }
    // Lambda's recursive loop detection: a chain of function destinations stops after 16 hops.
    if (source.chainDepth + 1 >= MAX_CHAIN_DEPTH) {
      throw new Error(
        `recursive loop detected: ${MAX_CHAIN_DEPTH} functions in a chain of destinations, ${arn} not invoked`,
      );
    }
    const rec = deps.resolveFunction(tenant, arn);
    const requestId = deps.acceptEvent(
      tenant,
      rec,
      Buffer.from(body),
      source.functionArn,
      source.chainDepth + 1,
    );
    return `${arn} (request ${requestId})`;
  }
  throw DestinationErrors.invalid(arn);
}

/** Lambda's DLQ message: the original event as body, the error as attributes. */
export async function deliverDeadLetter(
  deps: DestinationDeps,
  tenant: Tenant,
  arn: string,
  e: AsyncEvent,
): Promise<string> {
  if (destinationKind(arn) !== 'sqs') throw DestinationErrors.dlqInvalid(arn);
  const { engine, q } = await queueOf(deps, tenant, arn);
  const message = (errorMessageOf(e) ?? e.lastErrorType ?? 'Unknown error').slice(0, 1024);
  const sent = await engine.send(q, {
    body: e.payload.toString('utf8'),
    messageAttributes: {
      RequestID: { dataType: 'String', stringValue: e.requestId },
      ErrorCode: { dataType: 'Number', stringValue: String(e.lastStatus ?? 429) },
      ErrorMessage: { dataType: 'String', stringValue: message || 'Unknown error' },
    },
  });
  return `DLQ ${arn} (message ${sent.messageId})`;
}

/** The error message of the last run: the handler's errorMessage when it answered one. */
export function errorMessageOf(
  e: Pick<AsyncEvent, 'lastResponse' | 'lastErrorMessage' | 'lastStatus'>,
): string | undefined {
  if (e.lastStatus === 200 && e.lastResponse) {
    const p = parsedPayload(e.lastResponse);
    if (p && typeof p === 'object' && typeof (p as { errorMessage?: unknown }).errorMessage === 'string') {
      return (p as { errorMessage: string }).errorMessage;
    }
  }
  return e.lastErrorMessage;
}
