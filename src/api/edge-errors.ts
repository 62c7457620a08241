// Errors only the HTTP edge raises (SigV4, pre-authentication limits), already in wire words: Lambda's
// types, which the S3 and SQS surfaces translate into their own codes.
import { KindlingError } from '../errors.js';

/** SigV4 failures, worded as AWS words them. */
export const AuthErrors = {
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
