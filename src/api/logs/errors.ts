// CloudWatch Logs' wire errors (JSON 1.1: `{"__type": ..., "message": ...}`, status 400 for the
// caller's mistakes) and the catalogue the logs surface raises. The edge's errors (authentication, body
// limits) pass through in their own words.
import { randomUUID } from 'node:crypto';
import { KindlingError } from '../../errors.js';
import { StoreUnavailableError } from '../../store/sql.js';
import { lambdaWireError } from '../lambda/errors.js';
import type { ApiResponse } from '../surface.js';

export const LOGS_CONTENT_TYPE = 'application/x-amz-json-1.1';

export const LogsErrors = {
  invalidParameter: (message: string) => new KindlingError('InvalidParameterException', 400, message),
  groupNotFound: () =>
    new KindlingError('ResourceNotFoundException', 400, 'The specified log group does not exist.'),
  streamNotFound: () =>
    new KindlingError('ResourceNotFoundException', 400, 'The specified log stream does not exist.'),
  badToken: () => new KindlingError('InvalidParameterException', 400, 'The specified nextToken is invalid.'),
  serialization: (message: string) => new KindlingError('SerializationException', 400, message),
  unknownOperation: (target: string) =>
    new KindlingError('UnknownOperationException', 400, `Operation ${target} is not supported by Kindling.`),
};

function logsWireError(err: unknown): KindlingError {
  if (err instanceof StoreUnavailableError)
    return new KindlingError(
      'ServiceUnavailableException',
      503,
      'The log store is unavailable; retry the request.',
    );
  return (
    lambdaWireError(err) ??
    new KindlingError('ServiceUnavailableException', 500, 'An internal error occurred.')
  );
}

export function logsErrorResponse(err: unknown): ApiResponse {
  const e = logsWireError(err);
  return {
    status: e.status,
    headers: {
      'content-type': LOGS_CONTENT_TYPE,
      'x-amzn-errortype': e.type,
      'x-amzn-requestid': randomUUID(),
    },
    body: JSON.stringify({ __type: e.type, message: e.message }),
  };
}
