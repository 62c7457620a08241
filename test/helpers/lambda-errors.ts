// A domain error as a Lambda client sees it: the type, status and fields api/lambda/errors.ts renders.
import assert from 'node:assert/strict';
import { lambdaWireError } from '../../src/api/lambda/errors.js';
import type { KindlingError } from '../../src/errors.js';

export function asLambda(e: unknown): KindlingError {
  const w = lambdaWireError(e);
  assert.ok(w, `not an error Lambda's API renders: ${String(e)}`);
  return w;
}
