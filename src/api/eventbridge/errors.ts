// EventBridge's wire errors: the schedules' codes mapped to EventBridge's types and statuses (it answers
// a missing rule with a 400, as EventBridge does), rendered as its JSON 1.1 error body.
import { randomUUID } from 'node:crypto';
import { KindlingError } from '../../errors.js';
import { SchedulesError } from '../../events/schedules/errors.js';
import { StoreUnavailableError } from '../../store/sql.js';
import { lambdaWireError } from '../lambda/errors.js';
import type { ApiResponse } from '../surface.js';

const CONTENT_TYPE = 'application/x-amz-json-1.1';

const WIRE: Readonly<Record<string, { type: string; status: number }>> = {
  Validation: { type: 'ValidationException', status: 400 },
  InvalidEventPattern: { type: 'InvalidEventPatternException', status: 400 },
  RuleNotFound: { type: 'ResourceNotFoundException', status: 400 },
  EventBusNotFound: { type: 'ResourceNotFoundException', status: 400 },
  LimitExceeded: { type: 'LimitExceededException', status: 400 },
  UnknownOperation: { type: 'UnknownOperationException', status: 400 },
  Serialization: { type: 'SerializationException', status: 400 },
  InternalFailure: { type: 'InternalException', status: 500 },
};

const internal = () => new KindlingError('InternalException', 500, 'An internal error occurred.');

function eventsWireError(err: unknown): KindlingError {
  if (err instanceof SchedulesError) {
    const w = WIRE[err.code];
    return w ? new KindlingError(w.type, w.status, err.message) : internal();
  }
  // The store (PostgreSQL) is unreachable: a 5xx the SDK retries, never a client error.
  if (err instanceof StoreUnavailableError)
    return new KindlingError('InternalException', 500, 'The rule store is unavailable; retry the request.');
  return lambdaWireError(err) ?? internal();
}

export function eventsErrorResponse(err: unknown): ApiResponse {
  const e = eventsWireError(err);
  return {
    status: e.status,
    headers: { 'content-type': CONTENT_TYPE, 'x-amzn-errortype': e.type, 'x-amzn-requestid': randomUUID() },
    body: JSON.stringify({ __type: e.type, message: e.message }),
  };
}
