// S3's wire errors: the object store's codes with S3's HTTP statuses, the edge's and the platform's errors
// (in Lambda's words) translated into S3's codes, rendered as S3's XML error body.

import { randomUUID } from 'node:crypto';
import { KindlingError } from '../../errors.js';
import { ObjectStoreError, S3Errors } from '../../events/objects/errors.js';
import { MalformedEscapeError, tryDecode } from '../../uri.js';
import { QueryAuthError, WrongRegionError } from '../edge-errors.js';
import { lambdaWireError } from '../lambda/errors.js';
import type { ApiResponse, RequestHead } from '../surface.js';
import { type XmlElement, xmlDocument } from './xml.js';

/** S3 answers 400 for everything it blames on the request, with these exceptions. */
const STATUS: Readonly<Record<string, number>> = {
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchVersion: 404,
  NoSuchUpload: 404,
  NoSuchBucketPolicy: 404,
  NoSuchPublicAccessBlockConfiguration: 404,
  BucketAlreadyExists: 409,
  BucketAlreadyOwnedByYou: 409,
  BucketNotEmpty: 409,
  AccessDenied: 403,
  InvalidRange: 416,
  PreconditionFailed: 412,
  SignatureDoesNotMatch: 403,
  NotImplemented: 501,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  InternalError: 500,
};

export const hostId = (requestId: string): string => Buffer.from(`kindling/${requestId}`).toString('base64');

const wire = (e: ObjectStoreError): KindlingError =>
  new KindlingError(e.code, STATUS[e.code] ?? 400, e.message, e.details);

export function s3ErrorResponse(err: unknown, head: RequestHead): ApiResponse {
  const e = toS3Error(err);
  const requestId = randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase();
  const headers: Record<string, string> = {
    'x-amz-request-id': requestId,
    'x-amz-id-2': hostId(requestId),
  };
  // Headers an error carries on the wire (a delete marker's `x-amz-delete-marker`, `x-amz-version-id`).
  const extra = e.fields.ResponseHeaders as Record<string, string> | undefined;
  if (extra) Object.assign(headers, extra);
  if (head?.method === 'HEAD') return { status: e.status, headers };
  headers['content-type'] = 'application/xml';
  const fields: XmlElement = {};
  for (const [k, v] of Object.entries(e.fields))
    if (k !== 'Type' && k !== 'ResponseHeaders') fields[k] = String(v);
  const rest = head?.rawPath.replace(/^\//, '') ?? '';
  const slash = rest.indexOf('/');
  if (e.type === 'NoSuchKey' && slash >= 0) fields.Key ??= safeDecode(rest.slice(slash + 1));
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  return {
    status: e.status,
    headers,
    body: xmlDocument(
      'Error',
      {
        Code: e.type,
        Message: e.message,
        ...fields,
        Resource: bucket ? head.rawPath : undefined,
        RequestId: requestId,
        HostId: hostId(requestId),
      },
      false,
    ),
  };
}

const safeDecode = (s: string): string => tryDecode(s) ?? s;

/** Maps errors raised below the surface (SigV4 checks in http.ts speak Lambda's words) to S3's codes. */
export function toS3Error(thrown: unknown): KindlingError {
  if (thrown instanceof ObjectStoreError) return wire(thrown);
  const err = lambdaWireError(thrown);
  if (!err) return wire(S3Errors.internal());
  if (err instanceof MalformedEscapeError)
    return new KindlingError('InvalidURI', 400, "Couldn't parse the specified URI.", { URI: err.raw });
  if (err instanceof WrongRegionError) {
    return err.presigned
      ? new KindlingError(
          'AuthorizationQueryParametersError',
          400,
          `Error parsing the X-Amz-Credential parameter; the region '${err.given}' is wrong; expecting '${err.expected}'`,
          { Region: err.expected },
        )
      : new KindlingError(
          'AuthorizationHeaderMalformed',
          400,
          `The authorization header is malformed; the region '${err.given}' is wrong; expecting '${err.expected}'`,
          { Region: err.expected },
        );
  }
  if (err instanceof QueryAuthError)
    return new KindlingError('AuthorizationQueryParametersError', 400, err.message);
  switch (err.type) {
    case 'InvalidSignatureException':
      if (/^Request has expired/.test(err.message)) return wire(S3Errors.accessDenied('Request has expired'));
      if (/^Signature expired/.test(err.message))
        return new KindlingError(
          'RequestTimeTooSkewed',
          403,
          'The difference between the request time and the current time is too large.',
        );
      if (/not yet valid/.test(err.message)) return wire(S3Errors.accessDenied('Request is not valid yet'));
      return new KindlingError(
        'SignatureDoesNotMatch',
        403,
        'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      );
    case 'UnrecognizedClientException':
      return new KindlingError(
        'InvalidAccessKeyId',
        403,
        'The AWS Access Key Id you provided does not exist in our records.',
      );
    case 'MissingAuthenticationTokenException':
      return wire(S3Errors.accessDenied());
    case 'IncompleteSignatureException':
      return new KindlingError('AuthorizationHeaderMalformed', 400, err.message);
    case 'RequestEntityTooLargeException':
      return wire(S3Errors.entityTooLarge());
    case 'ServiceUnavailableException':
      return new KindlingError('SlowDown', 503, 'Please reduce your request rate.');
    case 'RequestTimeoutException':
      return new KindlingError(
        'RequestTimeout',
        400,
        'Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.',
      );
    case 'ResourceNotFoundException':
    case 'AccessDeniedException':
      return wire(S3Errors.accessDenied(err.message));
    case 'ServiceException':
      return wire(S3Errors.internal());
    default:
      return err;
  }
}
