// Invoke: `POST /2015-03-31/functions/{name}/invocations` with InvocationType RequestResponse (200),
// Event (202, handed to the async invoker) or DryRun (204). The warm path does one route match, one
// cached lookup and one scan of the payload to check it is JSON (no parse, no objects); no schema library.
//
// An empty payload is sent to the handler as `{}`, which is what Lambda hands a handler when the
// caller gives no payload.
import { parseFunctionRef, validationError } from '../../control/function-names.js';
import type { FunctionRecord } from '../../control/functions.js';
import type { Tenant } from '../../control/tenants.js';
import { LambdaErrors } from '../../errors.js';
import { requestId as newRequestId } from '../../ids.js';
import type { ApiRequest, RequestHead } from '../surface.js';
import type { LambdaApiDeps } from './deps.js';
import { functionFromPath } from './functions.js';
import { isJson } from './json-check.js';
import type { LambdaRoute } from './routes.js';

export const SYNC_PAYLOAD_LIMIT = 6_291_456;
export const ASYNC_PAYLOAD_LIMIT = 262_144;
const LOG_TAIL_BYTES = 4096;
export const EMPTY_EVENT = Buffer.from('{}');

export const header = (h: RequestHead['headers'], name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** The last 4 KB of the log, base64, cut at a line start when one is near so no character is split. */
export function logTail(log: string): string {
  const buf = Buffer.from(log, 'utf8');
  if (buf.length <= LOG_TAIL_BYTES) return buf.toString('base64');
  let start = buf.length - LOG_TAIL_BYTES;
  while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start++;
  return buf.subarray(start).toString('base64');
}

/** Lambda's ClientContext: at most 3583 bytes of base64 holding a JSON object. */
export function checkClientContext(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.length > 3583) {
    throw validationError(value, 'clientContext', 'Member must have length less than or equal to 3583');
  }
  let parsed: unknown;
  try {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new Error('not base64');
    parsed = JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw LambdaErrors.invalidRequestContent('Client context must be a valid Base64-encoded JSON object.');
  }
  return value;
}

export function checkJson(payload: Buffer): void {
  if (isJson(payload)) return;
  // Only a refused payload is parsed, for the reason Lambda's message gives (V8's words here).
  try {
    JSON.parse(payload.toString('utf8'));
  } catch (e) {
    throw LambdaErrors.invalidRequestContent(
      `Could not parse request body into json: Could not parse payload into json: ${(e as Error).message}`,
    );
  }
}

/**
 * The function an Invoke names, and its owner: the caller's own function, or (named by a full ARN of
 * another account) one whose resource policy grants the caller's account lambda:InvokeFunction. Another
 * account's function that is missing or not granted is the same AccessDeniedException: no existence
 * oracle across tenants.
 */
export async function invokeTarget(
  deps: LambdaApiDeps,
  req: ApiRequest,
  raw: string,
): Promise<{ rec: FunctionRecord; owner: Tenant }> {
  // A plain name (the common case) names the caller's own function: no parse.
  const account = raw.includes(':') ? parseFunctionRef(raw).accountId : undefined;
  if (account === undefined || account === req.tenant.accountId || deps.policies === undefined)
    return { rec: await functionFromPath(deps, req, raw), owner: req.tenant };
  const denied = () =>
    LambdaErrors.accessDenied(
      `User: arn:aws:iam::${req.tenant.accountId}:root is not authorized to perform: lambda:InvokeFunction on resource: ${raw} because no resource-based policy allows the lambda:InvokeFunction action`,
    );
  const owner = await deps.tenants.byAccountId(account);
  if (owner === undefined) throw denied();
  let rec: FunctionRecord;
  try {
    rec = await functionFromPath(deps, { ...req, tenant: owner }, raw);
  } catch {
    throw denied();
  }
  if (!(await deps.policies.allows(rec.id, req.tenant.accountId, 'lambda:InvokeFunction'))) throw denied();
  return { rec, owner };
}

export function invokeRoutes(deps: LambdaApiDeps): LambdaRoute[] {
  return [
    {
      method: 'POST',
      path: '/2015-03-31/functions/{FunctionName}/invocations',
      operation: 'Invoke',
      maxBodyBytes: (head) =>
        header(head.headers, 'x-amz-invocation-type') === 'Event' ? ASYNC_PAYLOAD_LIMIT : SYNC_PAYLOAD_LIMIT,
      async handle(req, p) {
        const type = header(req.headers, 'x-amz-invocation-type') ?? 'RequestResponse';
        if (type !== 'RequestResponse' && type !== 'Event' && type !== 'DryRun') {
          throw validationError(
            type,
            'invocationType',
            'Member must satisfy enum value set: [Event, RequestResponse, DryRun]',
          );
        }
        const logType = header(req.headers, 'x-amz-log-type') ?? 'None';
        if (logType !== 'None' && logType !== 'Tail') {
          throw validationError(logType, 'logType', 'Member must satisfy enum value set: [None, Tail]');
        }
        const { rec, owner } = await invokeTarget(deps, req, p.FunctionName!);
        const payload = req.body.length === 0 ? EMPTY_EVENT : req.body;
        if (payload !== EMPTY_EVENT) checkJson(payload);
        const requestId = newRequestId();
        if (type === 'DryRun') return { status: 204, headers: { 'x-amzn-requestid': requestId } };
        if (type === 'Event') {
          const accepted = await deps.invoker.invokeAsync(owner, rec.arn, payload, {
            requestId,
            source: { kind: 'api' },
            ...(rec.qualifier !== undefined && { qualifier: rec.qualifier }),
          });
          return { status: 202, headers: { 'x-amzn-requestid': accepted.requestId } };
        }
        // Another node may hold a warm environment of this version (and a forwarded request runs here).
        const routing = deps.cluster?.route(req, rec);
        const routed = routing instanceof Promise ? await routing : routing;
        if (routed !== undefined) return routed;
        // Run as the owner's function (its limits, logs and billing), whoever was granted the call.
        const result = await deps.invoker.execute(owner, rec, payload, {
          requestId,
          clientContext: checkClientContext(header(req.headers, 'x-amz-client-context')),
        });
        const headers: Record<string, string> = {
          'content-type': 'application/json',
          'x-amzn-requestid': result.requestId,
          'x-amz-executed-version': result.executedVersion,
        };
        if (result.functionError) headers['x-amz-function-error'] = result.functionError;
        if (logType === 'Tail') headers['x-amz-log-result'] = logTail(result.log);
        return { status: 200, headers, body: result.payload };
      },
    },
    {
      // The deprecated InvokeAsync operation, still in the SDKs: an Event invoke answering 202.
      method: 'POST',
      path: '/2014-11-13/functions/{FunctionName}/invoke-async',
      operation: 'InvokeAsync',
      maxBodyBytes: ASYNC_PAYLOAD_LIMIT,
      async handle(req, p) {
        const { rec, owner } = await invokeTarget(deps, req, p.FunctionName!);
        const payload = req.body.length === 0 ? EMPTY_EVENT : req.body;
        if (payload !== EMPTY_EVENT) checkJson(payload);
        const accepted = await deps.invoker.invokeAsync(owner, rec.arn, payload, {
          requestId: newRequestId(),
          source: { kind: 'api' },
          ...(rec.qualifier !== undefined && { qualifier: rec.qualifier }),
        });
        return {
          status: 202,
          headers: { 'content-type': 'application/json', 'x-amzn-requestid': accepted.requestId },
          body: JSON.stringify({ Status: 202 }),
        };
      },
    },
  ];
}
