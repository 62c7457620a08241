// Typed errors shared by every layer. Each carries the error type a Lambda client switches on and the
// HTTP status the API answers with, so the HTTP layer maps them mechanically (see api/http.ts).

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

// The Lambda API's catalogue. Other surfaces (SQS, S3) keep theirs beside their routes.
export const LambdaErrors = {
  notFound: (what: string) => new KindlingError('ResourceNotFoundException', 404, what, { Type: 'User' }),
  functionNotFound: (arnOrName: string) =>
    new KindlingError('ResourceNotFoundException', 404, `Function not found: ${arnOrName}`, { Type: 'User' }),
  invalidParameter: (message: string) =>
    new KindlingError('InvalidParameterValueException', 400, message, { Type: 'User' }),
  /** Lambda words schema failures as `1 validation error detected: ...` with this type. */
  validation: (message: string) => new KindlingError('ValidationException', 400, message),
  invalidRequestContent: (message: string) =>
    new KindlingError('InvalidRequestContentException', 400, message, { Type: 'User' }),
  conflict: (message: string) =>
    new KindlingError('ResourceConflictException', 409, message, { Type: 'User' }),
  preconditionFailed: (
    message = 'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
  ) => new KindlingError('PreconditionFailedException', 412, message, { Type: 'User' }),
  tooLarge: (message: string) =>
    new KindlingError('RequestEntityTooLargeException', 413, message, { Type: 'User' }),
  tooManyRequests: (
    message = 'Rate Exceeded.',
    reason = 'ReservedFunctionConcurrentInvocationLimitExceeded',
  ) => new KindlingError('TooManyRequestsException', 429, message, { Type: 'User', Reason: reason }),
  codeStorageExceeded: (message: string) =>
    new KindlingError('CodeStorageExceededException', 400, message, { Type: 'User' }),
  unsupportedMediaType: (message: string) =>
    new KindlingError('UnsupportedMediaTypeException', 415, message, { Type: 'User' }),
  service: (message = 'An internal error occurred.') =>
    new KindlingError('ServiceException', 500, message, { Type: 'Service' }),
  accessDenied: (message: string) =>
    new KindlingError('AccessDeniedException', 403, message, { Type: 'User' }),
  // SigV4 failures, worded as AWS words them.
  missingAuth: () =>
    new KindlingError('MissingAuthenticationTokenException', 403, 'Missing Authentication Token'),
  incompleteSignature: (message: string) => new KindlingError('IncompleteSignatureException', 403, message),
  invalidSignature: () =>
    new KindlingError(
      'InvalidSignatureException',
      403,
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    ),
  unrecognizedClient: () =>
    new KindlingError(
      'UnrecognizedClientException',
      403,
      'The security token included in the request is invalid.',
    ),
  expiredSignature: (message: string) => new KindlingError('InvalidSignatureException', 403, message),
} as const;

/**
 * Refusals of the HTTP edge itself (api/http.ts), in Lambda's words like the SigV4 errors; the S3
 * and SQS surfaces translate them into their own codes.
 */
export const EdgeErrors = {
  /** Too many unauthenticated bytes in flight: retryable, as the SDKs retry a 503. */
  busy: () =>
    new KindlingError(
      'ServiceUnavailableException',
      503,
      'The server is receiving too many unauthenticated request bodies; retry the request.',
    ),
  bodyTooSlow: (minBytesPerSec: number) =>
    new KindlingError(
      'RequestTimeoutException',
      408,
      `The request body arrived slower than ${minBytesPerSec} bytes per second; the connection is closed.`,
    ),
} as const;

/** A credential scope naming another region than the server's (S3 words it as a malformed header). */
export class WrongRegionError extends KindlingError {
  constructor(
    readonly given: string,
    readonly expected: string,
    readonly presigned: boolean,
  ) {
    super(
      'InvalidSignatureException',
      403,
      `Credential should be scoped to a valid region, not '${given}'. This endpoint's region is '${expected}'.`,
    );
  }
}

/** A presigned URL's X-Amz-* parameters are missing or invalid (S3: AuthorizationQueryParametersError). */
export class QueryAuthError extends KindlingError {
  constructor(message: string) {
    super('IncompleteSignatureException', 403, message);
  }
}

export function isKindlingError(e: unknown): e is KindlingError {
  return e instanceof KindlingError;
}
