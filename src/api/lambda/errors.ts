// Lambda's wire errors: the function-and-invocation catalogue's codes mapped to Lambda's error type,
// HTTP status and body fields, and the JSON rendering: `x-amzn-ErrorType` header and a body like
// `{"Type":"User","message":"..."}`. A few types carry `Message` instead, as Lambda sends them.
import {
  KindlingError,
  LAMBDA_EXCEPTION_NAMES,
  LambdaDomainError,
  type LambdaErrorCode,
  LambdaErrors,
} from '../../errors.js';
import type { ApiResponse } from '../surface.js';

const CAPITALIZED = new Set(['ResourceNotFoundException', 'ServiceException']);

/** Status and the body's `Type` per code (none for Lambda's schema ValidationException). */
const WIRE: Readonly<Record<LambdaErrorCode, { status: number; type?: 'User' | 'Service' }>> = {
  ResourceNotFound: { status: 404, type: 'User' },
  FunctionNotFound: { status: 404, type: 'User' },
  InvalidParameter: { status: 400, type: 'User' },
  Validation: { status: 400 },
  InvalidRequestContent: { status: 400, type: 'User' },
  Conflict: { status: 409, type: 'User' },
  PreconditionFailed: { status: 412, type: 'User' },
  PayloadTooLarge: { status: 413, type: 'User' },
  Throttled: { status: 429, type: 'User' },
  CodeStorageExceeded: { status: 400, type: 'User' },
  UnsupportedMediaType: { status: 415, type: 'User' },
  ServiceFailure: { status: 500, type: 'Service' },
  AccessDenied: { status: 403, type: 'User' },
};

/**
 * An error in Lambda's wire words: errors already in wire words (the edge's) pass through, the
 * function-and-invocation catalogue is mapped; anything else is undefined (the caller's fallback).
 * The other surfaces start from this and translate into their own codes.
 */
export function lambdaWireError(err: unknown): KindlingError | undefined {
  if (err instanceof KindlingError) return err;
  if (!(err instanceof LambdaDomainError)) return undefined;
  const wire = WIRE[err.code];
  const fields: Record<string, unknown> = {};
  if (wire.type) fields.Type = wire.type;
  if (err.code === 'Throttled') fields.Reason = err.details.reason;
  return new KindlingError(LAMBDA_EXCEPTION_NAMES[err.code], wire.status, err.message, fields);
}

/** Lambda's own rendering of a failure it did not expect. */
export const serviceWireError = (): KindlingError => lambdaWireError(LambdaErrors.service())!;

export const unknownOperation = (method: string, path: string) =>
  new KindlingError('UnknownOperationException', 404, `Unknown operation: ${method} ${path}`, {
    Type: 'User',
  });

export function lambdaErrorResponse(err: unknown): ApiResponse {
  const e = lambdaWireError(err) ?? serviceWireError();
  const body: Record<string, unknown> = {
    ...e.fields,
    [CAPITALIZED.has(e.type) ? 'Message' : 'message']: e.message,
  };
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-amzn-errortype': e.type };
  return { status: e.status, headers, body: JSON.stringify(body) };
}

export function json(status: number, value: unknown, headers: Record<string, string> = {}): ApiResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) };
}
