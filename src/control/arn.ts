// ARNs of the platform's resources: the one place that builds and parses them. Lambda's API-level name
// validation (names, partial ARNs, Lambda's wording of its errors) lives in function-names.ts.

/** A full function ARN, optionally qualified (`:$LATEST`, a version or an alias). */
const FUNCTION_ARN =
  /^arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):function:([A-Za-z0-9_-]{1,64})(?::(\$LATEST|[A-Za-z0-9_-]+))?$/;
/** A full SQS queue ARN. */
const QUEUE_ARN = /^arn:aws[a-zA-Z-]*:sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,80}(\.fifo)?)$/;
/** The account of a full or partial function ARN (`123456789012:function:name`). */
const ACCOUNT_IN_FUNCTION_REF = /^(?:arn:[^:]*:lambda:[^:]*:)?(\d{12}):function:/;
/** The qualifier of a full or partial function ARN, or of `name:qualifier`. */
const QUALIFIER_IN_ARN = /:function:[^:]+:([^:]+)$/;
const QUALIFIER_AFTER_NAME = /^[^:]+:([^:]+)$/;

export interface FunctionArn {
  region: string;
  accountId: string;
  name: string;
  qualifier?: string;
}

export const functionArn = (region: string, accountId: string, name: string): string =>
  `arn:aws:lambda:${region}:${accountId}:function:${name}`;

/** A full function ARN's parts; undefined for anything else (names and partial ARNs included). */
export function parseFunctionArn(arn: string): FunctionArn | undefined {
  const m = FUNCTION_ARN.exec(arn);
  if (!m) return undefined;
  return { region: m[1]!, accountId: m[2]!, name: m[3]!, qualifier: m[4] };
}

export const isFunctionArn = (arn: string): boolean => FUNCTION_ARN.test(arn);

export const isQueueArn = (arn: string): boolean => QUEUE_ARN.test(arn);

/** The account id a function reference names (full or partial ARN); undefined for a bare name. */
export const accountInFunctionRef = (ref: string): string | undefined =>
  ACCOUNT_IN_FUNCTION_REF.exec(ref)?.[1];

/** The qualifier a function reference carries (ARN or `name:qualifier`); undefined when unqualified. */
export const qualifierInFunctionRef = (ref: string): string | undefined =>
  QUALIFIER_IN_ARN.exec(ref)?.[1] ?? QUALIFIER_AFTER_NAME.exec(ref)?.[1];
