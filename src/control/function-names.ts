// Function names and ARNs as Lambda accepts them: a name, `name:qualifier`, a partial ARN
// (`123456789012:function:name`) or a full ARN. Parsed with one regex on the invoke hot path.
import { LambdaErrors } from '../errors.js';

/** Lambda's pattern for FunctionName in GetFunction, Invoke and friends (shown in validation errors). */
export const FUNCTION_REF_PATTERN =
  '(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?';
/** CreateFunction's stricter pattern: no dots in the name. */
export const FUNCTION_CREATE_PATTERN =
  '(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?';
export const FUNCTION_ARN_PATTERN =
  'arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}(-gov)?-[a-z]+-\\d{1}:\\d{12}:function:[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?';

const REF = new RegExp(`^${FUNCTION_REF_PATTERN}$`);
const CREATE = new RegExp(`^${FUNCTION_CREATE_PATTERN}$`);
const ARN = new RegExp(`^${FUNCTION_ARN_PATTERN}$`);
/** What REF reads as a name alone: the pattern's name characters, and no colon. */
const PLAIN_NAME = /^[a-zA-Z0-9_.-]+$/;

export const MAX_REF_LENGTH = 170;
export const MAX_NAME_LENGTH = 64;

export interface FunctionRef {
  name: string;
  accountId?: string;
  region?: string;
  qualifier?: string;
}

/** Lambda's wording for one failed constraint. */
export function validationError(value: unknown, member: string, constraint: string) {
  const shown = value === undefined || value === null ? 'null' : `'${String(value)}'`;
  return LambdaErrors.validation(
    `1 validation error detected: Value ${shown} at '${member}' failed to satisfy constraint: ${constraint}`,
  );
}

/**
 * Parses what a caller names a function by. Throws ValidationException with Lambda's wording when it
 * cannot be a function name or ARN.
 */
export function parseFunctionRef(
  ref: string,
  member = 'functionName',
  opts: { create?: boolean } = {},
): FunctionRef {
  const maxLen = opts.create ? 140 : MAX_REF_LENGTH;
  if (ref.length < 1)
    throw validationError(ref, member, 'Member must have length greater than or equal to 1');
  if (ref.length > maxLen)
    throw validationError(ref, member, `Member must have length less than or equal to ${maxLen}`);
  // A plain name (every Invoke by name): no colon, so the pattern could only read it as the name.
  if (!opts.create && ref.length <= MAX_NAME_LENGTH && PLAIN_NAME.test(ref)) {
    return { name: ref, accountId: undefined, region: undefined, qualifier: undefined };
  }
  const m = (opts.create ? CREATE : REF).exec(ref);
  if (!m) {
    throw validationError(
      ref,
      member,
      `Member must satisfy regular expression pattern: ${opts.create ? FUNCTION_CREATE_PATTERN : FUNCTION_REF_PATTERN}`,
    );
  }
  const name = m[7]!;
  if (name.length > MAX_NAME_LENGTH) {
    throw validationError(name, member, `Member must have length less than or equal to ${MAX_NAME_LENGTH}`);
  }
  const region = m[3]?.slice(0, -1);
  const accountId = m[5]?.slice(0, -1);
  // A bare `name:qualifier` and an ARN's trailing qualifier look the same to the regex; both count.
  return { name, accountId, region, qualifier: m[9] };
}

/** A full function ARN (TagResource and friends name resources only by ARN). */
export function parseFunctionArn(arn: string, member = 'resource'): FunctionRef {
  if (arn.length > 256)
    throw validationError(arn, member, 'Member must have length less than or equal to 256');
  if (!ARN.test(arn))
    throw validationError(
      arn,
      member,
      `Member must satisfy regular expression pattern: ${FUNCTION_ARN_PATTERN}`,
    );
  return parseFunctionRef(arn, member);
}

export { functionArn } from './arn.js';
