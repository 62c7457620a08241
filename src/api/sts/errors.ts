// STS's wire errors (query protocol: an XML ErrorResponse with Type, Code and Message). The edge's errors
// (authentication, body limits) are renamed to the codes STS's protocol uses.
import { randomUUID } from 'node:crypto';
import { KindlingError } from '../../errors.js';
import { MalformedEscapeError } from '../../uri.js';
import { lambdaWireError } from '../lambda/errors.js';
import { escapeXml } from '../s3/xml.js';
import type { ApiResponse } from '../surface.js';

export const STS_XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';

/** Authentication failures (raised before a surface sees the request) under STS's codes. */
const AUTH_CODES: Record<string, string> = {
  UnrecognizedClientException: 'InvalidClientTokenId',
  InvalidSignatureException: 'SignatureDoesNotMatch',
  MissingAuthenticationTokenException: 'MissingAuthenticationToken',
  IncompleteSignatureException: 'IncompleteSignature',
  ServiceUnavailableException: 'ServiceUnavailable',
  RequestTimeoutException: 'RequestTimeout',
};

export const StsErrors = {
  invalidAction: (message: string) => new KindlingError('InvalidAction', 400, message),
  invalidParameter: (message: string) => new KindlingError('InvalidParameterValue', 400, message),
};

function stsWireError(err: unknown): KindlingError {
  if (err instanceof MalformedEscapeError) return StsErrors.invalidParameter(err.message);
  const k = lambdaWireError(err);
  if (!k) return new KindlingError('InternalFailure', 500, 'An internal error occurred.');
  return new KindlingError(AUTH_CODES[k.type] ?? k.type, k.status, k.message);
}

export function stsErrorResponse(err: unknown): ApiResponse {
  const e = stsWireError(err);
  const requestId = randomUUID();
  return {
    status: e.status,
    headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
    body:
      `<ErrorResponse xmlns="${STS_XMLNS}"><Error><Type>${e.status < 500 ? 'Sender' : 'Receiver'}</Type>` +
      `<Code>${escapeXml(e.type)}</Code><Message>${escapeXml(e.message)}</Message></Error>` +
      `<RequestId>${requestId}</RequestId></ErrorResponse>`,
  };
}
