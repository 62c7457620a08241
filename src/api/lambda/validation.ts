// Request validation for the Lambda surface: JSON bodies parsed once and checked with zod, failures
// worded as Lambda words them (`1 validation error detected: Value 'x' at 'memorySize' failed to ...`).
import { z } from 'zod';
import { LambdaErrors } from '../../errors.js';

/** Parses a JSON request body; an empty body is `{}`. */
export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw LambdaErrors.invalidRequestContent(
      `Could not parse request body into json: ${(e as Error).message}`,
    );
  }
}

/** Lambda names members in lowerCamelCase paths: `environment.variables`. */
function memberPath(path: readonly PropertyKey[]): string {
  return path
    .map((p) => (typeof p === 'string' && /^[A-Z]/.test(p) ? p[0]!.toLowerCase() + p.slice(1) : String(p)))
    .join('.');
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function shown(v: unknown): string {
  if (v === undefined || v === null) return 'null';
  return `'${typeof v === 'object' ? JSON.stringify(v) : String(v)}'`;
}

function constraintOf(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case 'too_small':
      return issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint'
        ? `Member must have value greater than or equal to ${issue.minimum}`
        : `Member must have length greater than or equal to ${issue.minimum}`;
    case 'too_big':
      return issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint'
        ? `Member must have value less than or equal to ${issue.maximum}`
        : `Member must have length less than or equal to ${issue.maximum}`;
    case 'invalid_value':
      return `Member must satisfy enum value set: [${issue.values.map(String).join(', ')}]`;
    case 'invalid_type':
      if (value === undefined || value === null) return 'Member must not be null';
      return `Member must be of type ${issue.expected === 'int' ? 'integer' : issue.expected}`;
    default:
      // Regexes and refinements carry Lambda's wording in their own message.
      return issue.message;
  }
}

/** Lambda's wording for a list of zod issues. */
export function validationMessage(issues: readonly z.core.$ZodIssue[], input: unknown): string {
  const parts = issues.map((issue) => {
    const value = valueAt(input, issue.path);
    return `Value ${shown(value)} at '${memberPath(issue.path)}' failed to satisfy constraint: ${constraintOf(issue, value)}`;
  });
  const n = parts.length;
  return `${n} validation error${n === 1 ? '' : 's'} detected: ${parts.join('; ')}`;
}

/**
 * Lambda request fields Kindling accepts at exactly Lambda's default value (what SDKs and IaC tools send
 * for a plain function); any other value of them is refused like any field Kindling does not implement.
 */
const DEFAULTS_ACCEPTED: Record<string, (v: unknown) => boolean> = {
  Architectures: (v) =>
    Array.isArray(v) && v.length === 1 && v[0] === (process.arch === 'arm64' ? 'arm64' : 'x86_64'),
  TracingConfig: (v) =>
    typeof v === 'object' && v !== null && (v as { Mode?: unknown }).Mode === 'PassThrough',
};

/**
 * Never accept and drop: a top-level field the operation's schema does not know (a Lambda feature Kindling
 * does not implement, or a typo) is refused with InvalidParameterValueException naming it, instead of
 * being stripped and silently ignored.
 */
function refuseUnknownFields(schema: z.ZodType, input: unknown): void {
  if (!(schema instanceof z.ZodObject) || input === null || typeof input !== 'object' || Array.isArray(input))
    return;
  const known = schema.shape as Record<string, unknown>;
  for (const [key, value] of Object.entries(input)) {
    if (key in known || DEFAULTS_ACCEPTED[key]?.(value) === true) continue;
    throw LambdaErrors.invalidParameter(`${key} is not supported by Kindling for this operation.`);
  }
}

export function validate<T>(schema: z.ZodType<T>, input: unknown): T {
  refuseUnknownFields(schema, input);
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw LambdaErrors.validation(validationMessage(r.error.issues, input));
}

/** Parses and validates a JSON body in one step. */
export const validateBody = <T>(schema: z.ZodType<T>, body: Buffer): T =>
  validate(schema, parseJsonBody(body));

/** A regex constraint whose failure names the pattern as Lambda does. */
export const pattern = (source: string): [RegExp, { message: string }] => [
  new RegExp(`^(?:${source})$`),
  { message: `Member must satisfy regular expression pattern: ${source}` },
];
