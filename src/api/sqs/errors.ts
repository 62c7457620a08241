// SQS's wire errors: the queue engine's codes with SQS's HTTP statuses, the edge's errors under the codes
// SQS's protocols use, rendered for the JSON protocol (`__type`, `x-amzn-query-error`) or the query
// protocol (XML ErrorResponse).
import { randomUUID } from 'node:crypto';
import { SqsError, SqsErrors } from '../../events/queue/errors.js';
import { StoreUnavailableError } from '../../store/sql.js';
import { MalformedEscapeError } from '../../uri.js';
import { lambdaWireError } from '../lambda/errors.js';
import type { ApiResponse, RequestHead } from '../surface.js';
import { renderQueryError } from './query.js';

export const JSON_CONTENT_TYPE = 'application/x-amz-json-1.0';

/** Authentication failures (raised before a surface sees the request) under the codes SQS's query protocol uses. */
const AUTH_QUERY_CODES: Record<string, string> = {
  UnrecognizedClientException: 'InvalidClientTokenId',
  InvalidSignatureException: 'SignatureDoesNotMatch',
  MissingAuthenticationTokenException: 'MissingAuthenticationToken',
  IncompleteSignatureException: 'IncompleteSignature',
  ServiceUnavailableException: 'ServiceUnavailable',
  RequestTimeoutException: 'RequestTimeout',
};

/** SQS answers 400 for everything it blames on the sender, with these exceptions. */
const STATUS: Readonly<Record<string, number>> = {
  ReceiptHandleIsInvalid: 404,
  ResourceNotFoundException: 404,
  OverLimit: 403,
  PurgeQueueInProgress: 403,
  InternalError: 500,
};

export interface SqsWireError {
  type: string;
  queryCode: string;
  status: number;
  senderFault: boolean;
  message: string;
}

const fromEngine = (e: SqsError): SqsWireError => ({
  type: e.code,
  queryCode: e.queryCode,
  status: STATUS[e.code] ?? 400,
  senderFault: e.senderFault,
  message: e.message,
});

function sqsWireError(err: unknown): SqsWireError {
  if (err instanceof SqsError) return fromEngine(err);
  // The store (PostgreSQL) is away: a 503 the SDKs retry; nothing was acknowledged, so nothing is lost.
  if (err instanceof StoreUnavailableError) {
    return {
      type: 'ServiceUnavailable',
      queryCode: 'ServiceUnavailable',
      status: 503,
      senderFault: false,
      message: 'The service is unavailable. Please retry the request.',
    };
  }
  if (err instanceof MalformedEscapeError) {
    return fromEngine(
      err.site === 'path'
        ? SqsErrors.invalidAddress(`The address ${err.raw} is not valid for this endpoint.`)
        : SqsErrors.invalidParameterValue(err.message),
    );
  }
  const k = lambdaWireError(err);
  if (!k) return fromEngine(SqsErrors.internal());
  return {
    type: k.type,
    queryCode: AUTH_QUERY_CODES[k.type] ?? k.type,
    status: k.status,
    senderFault: k.status < 500,
    message: k.message,
  };
}

export function sqsErrorResponse(err: unknown, head: RequestHead): ApiResponse {
  const e = sqsWireError(err);
  const requestId = randomUUID();
  const json = typeof head.headers['x-amz-target'] === 'string';
  const queryError = `${e.queryCode};${e.senderFault ? 'Sender' : 'Receiver'}`;
  if (json) {
    return {
      status: e.status,
      headers: {
        'content-type': JSON_CONTENT_TYPE,
        'x-amzn-query-error': queryError,
        'x-amzn-requestid': requestId,
      },
      body: JSON.stringify({
        __type: `${e.type in AUTH_QUERY_CODES ? 'com.amazon.coral.service' : 'com.amazonaws.sqs'}#${e.type}`,
        message: e.message,
      }),
    };
  }
  return {
    status: e.status,
    headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
    body: renderQueryError(e, requestId),
  };
}
