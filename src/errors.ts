// Errors shared by every layer. Below api/ an error is a DomainError: a stable code (`FunctionNotFound`,
// `Throttled`, ...), a message and details; each API surface's errors.ts maps codes to its wire's error
// type, HTTP status and extra fields. Code below api/ branches on codes, never on HTTP statuses.

export class DomainError extends Error {
  /** Stable within its catalogue; what callers below api/ branch on. */
  readonly code: string;
  /** Facts a surface may render (Lambda's throttle `reason`, S3's `Key`, ...). */
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = code;
    this.code = code;
    this.details = details;
  }
}

/** True for a DomainError, and when codes are given, for one carrying one of them. */
export function isDomainError(e: unknown, ...codes: string[]): e is DomainError {
  return e instanceof DomainError && (codes.length === 0 || codes.includes(e.code));
}

/**
 * An error already in a wire's words (type and HTTP status). Only api/ should raise these (SigV4, the
 * edge's limits); a few older throw sites below api/ still do, and every surface passes them through.
 */
export class KindlingError extends Error {
  /** The AWS error type, e.g. `ResourceNotFoundException`; sent as `x-amzn-ErrorType` / `__type`. */
  readonly type: string;
  readonly status: number;
  /** Extra fields some errors carry in their JSON body (Lambda's `Type`, `Reason`, ...). */
  readonly fields: Record<string, unknown>;

  constructor(type: string, status: number, message: string, fields: Record<string, unknown> = {}) {
    super(message);
    this.name = type;
    this.type = type;
    this.status = status;
    this.fields = fields;
  }
}

export function isKindlingError(e: unknown): e is KindlingError {
  return e instanceof KindlingError;
}

/** The function-and-invocation catalogue's codes (control plane, invocation, worker). */
export type LambdaErrorCode =
  | 'ResourceNotFound'
  | 'FunctionNotFound'
  | 'InvalidParameter'
  | 'Validation'
  | 'InvalidRequestContent'
  | 'Conflict'
  | 'PreconditionFailed'
  | 'PayloadTooLarge'
  | 'Throttled'
  | 'CodeStorageExceeded'
  | 'UnsupportedMediaType'
  | 'ServiceFailure'
  | 'AccessDenied';

/** The function-and-invocation catalogue's errors; Lambda's own error instances are exactly these. */
export class LambdaDomainError extends DomainError {
  declare readonly code: LambdaErrorCode;
}

/**
 * Lambda's exception name per code. Part of the domain's vocabulary, not only the HTTP wire's: async
 * invocation records, destinations and RPC replies name failures with them as Lambda does.
 */
export const LAMBDA_EXCEPTION_NAMES: Readonly<Record<LambdaErrorCode, string>> = {
  ResourceNotFound: 'ResourceNotFoundException',
  FunctionNotFound: 'ResourceNotFoundException',
  InvalidParameter: 'InvalidParameterValueException',
  Validation: 'ValidationException',
  InvalidRequestContent: 'InvalidRequestContentException',
  Conflict: 'ResourceConflictException',
  PreconditionFailed: 'PreconditionFailedException',
  PayloadTooLarge: 'RequestEntityTooLargeException',
  Throttled: 'TooManyRequestsException',
  CodeStorageExceeded: 'CodeStorageExceededException',
  UnsupportedMediaType: 'UnsupportedMediaTypeException',
  ServiceFailure: 'ServiceException',
  AccessDenied: 'AccessDeniedException',
};

/** The name an invocation record gives a failure the platform raised (not the function). */
export function errorTypeOf(e: unknown): string {
  if (e instanceof LambdaDomainError) return LAMBDA_EXCEPTION_NAMES[e.code];
  if (e instanceof DomainError) return e.code;
  if (e instanceof KindlingError) return e.type;
  return 'ServiceException';
}

/** The function (or what the caller named) does not exist, including an older error in wire words. */
export function isNotFound(e: unknown): boolean {
  return (
    isDomainError(e, 'FunctionNotFound', 'ResourceNotFound') ||
    (e instanceof KindlingError && e.type === 'ResourceNotFoundException')
  );
}

const lambda = (code: LambdaErrorCode, message: string, details: Record<string, unknown> = {}) =>
  new LambdaDomainError(code, message, details);

// The catalogue the control plane, the invocation path and the worker throw from; api/lambda/errors.ts
// renders it (and the other surfaces translate it).
export const LambdaErrors = {
  notFound: (what: string) => lambda('ResourceNotFound', what),
  functionNotFound: (arnOrName: string) => lambda('FunctionNotFound', `Function not found: ${arnOrName}`),
  invalidParameter: (message: string) => lambda('InvalidParameter', message),
  /** Lambda words schema failures as `1 validation error detected: ...` with this code. */
  validation: (message: string) => lambda('Validation', message),
  invalidRequestContent: (message: string) => lambda('InvalidRequestContent', message),
  conflict: (message: string) => lambda('Conflict', message),
  preconditionFailed: (
    message = 'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
  ) => lambda('PreconditionFailed', message),
  tooLarge: (message: string) => lambda('PayloadTooLarge', message),
  tooManyRequests: (
    message = 'Rate Exceeded.',
    reason = 'ReservedFunctionConcurrentInvocationLimitExceeded',
  ) => lambda('Throttled', message, { reason }),
  codeStorageExceeded: (message: string) => lambda('CodeStorageExceeded', message),
  unsupportedMediaType: (message: string) => lambda('UnsupportedMediaType', message),
  service: (message = 'An internal error occurred.') => lambda('ServiceFailure', message),
  accessDenied: (message: string) => lambda('AccessDenied', message),
} as const;
