// InvokeWithResponseStream: `POST /2021-11-15/functions/{name}/response-streaming-invocations`, answered
// in AWS's event-stream framing: a `PayloadChunk` event per piece the handler wrote, as it writes it, then
// `InvokeComplete` (ErrorCode/ErrorDetails when it failed, LogResult with LogType Tail). A handler that does
// not stream answers too: its whole payload is one chunk, as Lambda buffers it. Errors found before the
// function runs (missing function, throttle, bad input) are ordinary JSON errors; once the answer has
// started, what goes wrong later (a throw, a timeout, a crash, too many bytes) arrives in InvokeComplete.
import { validationError } from '../../control/function-names.js';
import { isDomainError, isKindlingError, LambdaErrors } from '../../errors.js';
import { requestId as newRequestId } from '../../ids.js';
import { routed } from '../../invoke/invocation-service.js';
import type { SyncInvokeResult } from '../../invoke/types.js';
import { eventMessage } from '../event-stream.js';
import { SinkReadable } from '../stream-sink.js';
import type { ApiRequest, ApiResponse } from '../surface.js';
import type { LambdaApiDeps } from './deps.js';
import {
  checkClientContext,
  checkJson,
  EMPTY_EVENT,
  header,
  invokeTarget,
  logTail,
  SYNC_PAYLOAD_LIMIT,
} from './invoke.js';
import type { LambdaRoute } from './routes.js';

/** The operation's own headers, and what every signed request carries; any other `x-amz-*` is refused. */
const KNOWN_AMZ_HEADERS = new Set([
  'x-amz-invocation-type',
  'x-amz-log-type',
  'x-amz-client-context',
  'x-amz-date',
  'x-amz-content-sha256',
  'x-amz-security-token',
  'x-amz-user-agent',
]);

/** The request's parameters, each checked and any unknown one refused by name. */
function checkRequest(req: ApiRequest): { type: 'RequestResponse' | 'DryRun'; tail: boolean } {
  for (const name of Object.keys(req.headers)) {
    if (!name.startsWith('x-amz-') || KNOWN_AMZ_HEADERS.has(name)) continue;
    // Lambda's tenant isolation mode (X-Amz-Tenant-Id) is not built.
    if (name === 'x-amz-tenant-id')
      throw LambdaErrors.invalidParameter('TenantId is not supported by Kindling for this operation.');
    throw LambdaErrors.invalidParameter(`Header ${name} is not supported by Kindling for this operation.`);
  }
  for (const key of req.query.keys()) {
    // X-Amz-*: a presigned request's own signature fields, checked by the edge.
    if (key !== 'Qualifier' && !key.startsWith('X-Amz-'))
      throw LambdaErrors.invalidParameter(`${key} is not supported by Kindling for this operation.`);
  }
  const type = header(req.headers, 'x-amz-invocation-type') ?? 'RequestResponse';
  if (type !== 'RequestResponse' && type !== 'DryRun')
    throw validationError(
      type,
      'invocationType',
      'Member must satisfy enum value set: [RequestResponse, DryRun]',
    );
  const logType = header(req.headers, 'x-amz-log-type') ?? 'None';
  if (logType !== 'None' && logType !== 'Tail')
    throw validationError(logType, 'logType', 'Member must satisfy enum value set: [None, Tail]');
  return { type, tail: logType === 'Tail' };
}

/** The event stream the client reads: the function's bytes as PayloadChunk events, then InvokeComplete. */
class InvokeEventStream extends SinkReadable {
  contentType: string | undefined;
  readonly started: Promise<void>;
  #start!: () => void;

  constructor() {
    super();
    this.started = new Promise((resolve) => {
      this.#start = resolve;
    });
  }

  protected accept(chunk: Buffer, contentType: string): boolean {
    if (this.contentType === undefined) {
      this.contentType = contentType;
      this.#start();
    }
    // The empty chunk that only announces the content type is no event.
    if (chunk.length === 0) return true;
    return this.push(eventMessage('PayloadChunk', 'application/octet-stream', chunk));
  }

  /** The invocation's end: a buffered payload as one chunk, then InvokeComplete, then the end. */
  complete(result: SyncInvokeResult, tail: boolean): void {
    if (this.destroyed) return;
    const failed = result.functionError !== undefined;
    if (!failed && result.streamed !== true && result.payload.length > 0)
      this.push(eventMessage('PayloadChunk', 'application/octet-stream', result.payload));
    const done: Record<string, string> = {};
    if (failed) {
      done.ErrorCode = result.errorType ?? 'Unhandled';
      done.ErrorDetails = errorMessageOf(result.payload);
    }
    if (tail) done.LogResult = logTail(result.log);
    this.finish(done);
  }

  /** A platform fault after the answer started (the worker shutting down): told in InvokeComplete. */
  fail(err: unknown): void {
    if (this.destroyed) return;
    const known = isKindlingError(err) || isDomainError(err);
    this.finish({
      ErrorCode: known ? ((err as { type?: string }).type ?? 'ServiceException') : 'ServiceException',
      ErrorDetails: known ? (err as Error).message : 'An internal error occurred.',
    });
  }

  private finish(done: Record<string, string>): void {
    this.push(eventMessage('InvokeComplete', 'application/json', Buffer.from(JSON.stringify(done))));
    this.push(null);
  }
}

/** Lambda's ErrorDetails: the error's message (the body's errorMessage), else the body as sent. */
function errorMessageOf(payload: Buffer): string {
  try {
    const v = JSON.parse(payload.toString('utf8')) as { errorMessage?: unknown };
    if (typeof v?.errorMessage === 'string') return v.errorMessage;
  } catch {
    // not JSON: as sent
  }
  return payload.toString('utf8');
}

export function invokeStreamRoutes(deps: LambdaApiDeps): LambdaRoute[] {
  return [
    {
      method: 'POST',
      path: '/2021-11-15/functions/{FunctionName}/response-streaming-invocations',
      operation: 'InvokeWithResponseStream',
      maxBodyBytes: SYNC_PAYLOAD_LIMIT,
      async handle(req, p): Promise<ApiResponse> {
        const { type, tail } = checkRequest(req);
        const clientContext = checkClientContext(header(req.headers, 'x-amz-client-context'));
        const target = await invokeTarget(deps, req, p.FunctionName!);
        const owner = target.owner;
        // Chosen here: the version that runs is named in the head, before the first byte.
        const rec = routed(target.rec);
        const payload = req.body.length === 0 ? EMPTY_EVENT : req.body;
        if (payload !== EMPTY_EVENT) checkJson(payload);
        const requestId = newRequestId();
        if (type === 'DryRun') return { status: 204, headers: { 'x-amzn-requestid': requestId } };
        // Run here, not routed to another node: the cluster forwards buffered answers only.
        const events = new InvokeEventStream();
        let result: SyncInvokeResult | undefined;
        const ran = deps.invoker
          .execute(owner, rec, payload, { requestId, clientContext, stream: events })
          .then((r) => {
            result = r;
          });
        // The answer's head waits for the first bytes (their content type) or the end, so a function that
        // never ran (throttled, missing) is an ordinary error answer.
        await Promise.race([events.started, ran]);
        void ran.then(
          () => events.complete(result!, tail),
          (e: unknown) => events.fail(e),
        );
        return {
          status: 200,
          headers: {
            'content-type': events.contentType ?? 'application/json',
            'x-amzn-requestid': requestId,
            'x-amz-executed-version': rec.version,
          },
          body: events,
        };
      },
    },
  ];
}
