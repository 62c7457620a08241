// Lambda's JSON error rendering: `x-amzn-ErrorType` header and a body like
// `{"Type":"User","message":"..."}`. A few types carry `Message` instead, as Lambda sends them.
import { KindlingError, LambdaErrors } from '../../errors.js';
import type { ApiResponse } from '../surface.js';

const CAPITALIZED = new Set(['ResourceNotFoundException', 'ServiceException']);

export const unknownOperation = (method: string, path: string) =>
  new KindlingError('UnknownOperationException', 404, `Unknown operation: ${method} ${path}`, {
    Type: 'User',
  });

export function lambdaErrorResponse(err: unknown): ApiResponse {
  const e = err instanceof KindlingError ? err : LambdaErrors.service();
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
