// S3 Object Lambda (signed for service s3-object-lambda): GetObject addressed to an Object Lambda access
// point ARN (the SDK sends it to `<name>-<account>.<endpoint host>`) runs the access point's function with
// Lambda's getObjectContext event, synchronously through the invocation service; the function streams its
// answer with WriteGetObjectResponse (POST /WriteGetObjectResponse, on `<route>.<endpoint host>`) and the
// caller gets that as the object, streamed as it arrives.
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FunctionRecord } from '../../control/functions.js';
import type { Tenant } from '../../control/tenants.js';
import { KindlingError } from '../../errors.js';
import type { AccessPointStore } from '../../events/object-lambda/access-points.js';
import type { SyncInvokeResult } from '../../invoke/types.js';
import { S3RequestBody } from '../s3/body.js';
import { hostId, s3ErrorResponse } from '../s3/errors.js';
import { xmlDocument } from '../s3/xml.js';
import { accessPointArn, objectLambdaArn, S3ControlErrors } from '../s3control/surface.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead } from '../surface.js';
import { OBJECT_LAMBDA_ROUTE, type OutputRoutes } from './output-routes.js';
import { presignGet } from './presign.js';

/** How S3 Object Lambda tells the caller what became of the function (S3's error codes). */
export const ObjectLambdaErrors = {
  notFound: () => new KindlingError('LambdaNotFound', 404, 'The requested lambda resource does not exist.'),
  timeout: () => new KindlingError('LambdaTimeout', 500, 'The object lambda timed out.'),
  runtime: (type: string) =>
    new KindlingError('LambdaRuntimeError', 500, `The object lambda failed with ${type}.`),
  noResponse: () =>
    new KindlingError('LambdaResponseNotReceived', 500, 'No response was received from the object lambda.'),
  invocationFailed: (why: string) =>
    new KindlingError('LambdaInvocationFailed', 400, `The object lambda invocation failed: ${why}`),
  invalidToken: () =>
    new KindlingError('InvalidToken', 400, 'The provided token is malformed or otherwise invalid.'),
  invalidArgument: (message: string) => new KindlingError('InvalidArgument', 400, message),
};

/** `<access point name>-<account>` as the first label of the Host the SDK sends for an ARN. */
const AP_HOST = /^([a-z0-9][a-z0-9-]{1,48}[a-z0-9])-(\d{12})$/;
const FWD = 'x-amz-fwd-header-';
/** What WriteGetObjectResponse may set on the caller's answer besides user metadata (x-amz-meta-*). */
const FORWARDED = new Set([
  'accept-ranges',
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-language',
  'content-range',
  'content-type',
  'etag',
  'expires',
  'last-modified',
  'x-amz-checksum-crc32',
  'x-amz-checksum-crc32c',
  'x-amz-checksum-crc64nvme',
  'x-amz-checksum-sha1',
  'x-amz-checksum-sha256',
  'x-amz-delete-marker',
  'x-amz-expiration',
  'x-amz-missing-meta',
  'x-amz-mp-parts-count',
  'x-amz-object-lock-legal-hold',
  'x-amz-object-lock-mode',
  'x-amz-object-lock-retain-until-date',
  'x-amz-replication-status',
  'x-amz-request-charged',
  'x-amz-restore',
  'x-amz-server-side-encryption',
  'x-amz-storage-class',
  'x-amz-tagging-count',
  'x-amz-version-id',
]);
/** Headers of the user request that the event leaves out (credentials). */
const PRIVATE_HEADERS = new Set(['authorization', 'x-amz-security-token']);

export interface ObjectLambdaDeps {
  accessPoints: AccessPointStore;
  routes: OutputRoutes;
  /** The secret of the key a request was signed with: the input URL is presigned with the caller's key. */
  secretOf: (
    accessKeyId: string,
  ) => Promise<{ secretAccessKey: string; sessionToken: string | null } | undefined>;
  resolve: (tenant: Tenant, functionArn: string) => Promise<FunctionRecord>;
  execute: (tenant: Tenant, rec: FunctionRecord, payload: Buffer) => Promise<SyncInvokeResult>;
  /** The API's port: functions reach it on 127.0.0.1 through their relay (AWS_ENDPOINT_URL). */
  apiPort: Promise<number>;
  region: string;
}

export class ObjectLambdaSurface implements ApiSurface {
  readonly name = 's3-object-lambda';
  readonly services = ['s3-object-lambda'] as const;
  readonly streaming = true;
  readonly #d: ObjectLambdaDeps;

  constructor(deps: ObjectLambdaDeps) {
    this.#d = deps;
  }

  matches(head: RequestHead): boolean {
    return head.service === 's3-object-lambda';
  }

  maxBodyBytes(): number {
    return 0;
  }

  async handle(req: ApiRequest): Promise<ApiResponse> {
    if (req.rawPath === '/WriteGetObjectResponse') {
      if (req.method === 'POST') return this.#writeGetObjectResponse(req);
      throw new KindlingError(
        'MethodNotAllowed',
        405,
        'The specified method is not allowed against this resource.',
      );
    }
    if (req.method === 'GET') return this.#getObject(req);
    throw S3ControlErrors.notImplemented(
      `${req.method} through an Object Lambda access point (only GetObject is transformed)`,
    );
  }

  errorResponse(err: unknown, head: RequestHead): ApiResponse {
    return s3ErrorResponse(err, head);
  }

  async #getObject(req: ApiRequest): Promise<ApiResponse> {
    const tenant = req.tenant;
    const host = String(req.headers.host ?? '');
    const m = AP_HOST.exec(host.split('.')[0] ?? '');
    if (!m)
      throw S3ControlErrors.invalidRequest(
        'Address Object Lambda requests by the access point ARN (the Host names the access point)',
      );
    const [, name, account] = m as unknown as [string, string, string];
    // Another tenant's access point answers as a missing one.
    const ol =
      account === tenant.accountId ? await this.#d.accessPoints.getObjectLambda(tenant.id, name) : undefined;
    if (!ol) throw S3ControlErrors.noSuchAccessPoint();
    const supporting = await this.#d.accessPoints.get(tenant.id, ol.supportingAccessPoint);
    if (!supporting) throw S3ControlErrors.noSuchAccessPoint();
    const t = ol.transformations.find((x) => x.actions.includes('GetObject'));
    if (!t) throw S3ControlErrors.notImplemented('GetObject through this access point');
    let rec: FunctionRecord;
    try {
      rec = await this.#d.resolve(tenant, t.functionArn);
    } catch {
      throw ObjectLambdaErrors.notFound();
    }
    const key = await this.#d.secretOf(req.accessKeyId);
    if (!key) throw S3ControlErrors.accessDenied();
    const port = await this.#d.apiPort;
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    let deliver!: (r: ApiResponse) => void;
    const delivered = new Promise<ApiResponse>((resolve) => {
      deliver = resolve;
    });
    const token = this.#d.routes.open(tenant.id, deliver);
    const region = this.#d.region;
    const userHeaders: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (v !== undefined && !PRIVATE_HEADERS.has(k)) userHeaders[k] = Array.isArray(v) ? v.join(',') : v;
    const rawQuery = req.query.toString();
    const event = {
      xAmzRequestId: requestId,
      getObjectContext: {
        // Through the supporting access point's alias, path-style: the relay's 127.0.0.1 needs no DNS.
        inputS3Url: presignGet({
          origin: `http://127.0.0.1:${port}`,
          rawPath: `/${supporting.alias}${req.rawPath}`,
          accessKeyId: req.accessKeyId,
          secretAccessKey: key.secretAccessKey,
          sessionToken: key.sessionToken ?? undefined,
          region,
          expiresSec: rec.timeout + 60,
        }),
        outputRoute: OBJECT_LAMBDA_ROUTE,
        outputToken: token,
      },
      configuration: {
        accessPointArn: objectLambdaArn(region, tenant.accountId, ol.name),
        supportingAccessPointArn: accessPointArn(region, tenant.accountId, supporting.name),
        payload: t.payload ?? '',
      },
      userRequest: {
        url: `http://${host}${req.rawPath}${rawQuery ? `?${rawQuery}` : ''}`,
        headers: userHeaders,
      },
      userIdentity: {
        type: 'IAMUser',
        principalId: tenant.accountId,
        arn: `arn:aws:iam::${tenant.accountId}:root`,
        accountId: tenant.accountId,
        accessKeyId: req.accessKeyId,
      },
      protocolVersion: '1.00',
    };
    const invoked = this.#d.execute(tenant, rec, Buffer.from(JSON.stringify(event)));
    type Outcome = { reply: ApiResponse } | { result: SyncInvokeResult } | { error: unknown };
    const outcome: Outcome = await Promise.race([
      delivered.then((reply) => ({ reply })),
      invoked.then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      ),
    ]);
    // The token is good while the invocation runs, and for one response.
    void invoked.then(
      () => this.#d.routes.close(token),
      () => this.#d.routes.close(token),
    );
    if ('reply' in outcome) return withIds(outcome.reply, requestId);
    // The function answered and then returned in the same instant: the answer wins.
    if (!this.#d.routes.close(token)) return withIds(await delivered, requestId);
    if ('error' in outcome) {
      const e = outcome.error;
      if (e instanceof KindlingError && e.type === 'ResourceNotFoundException')
        throw ObjectLambdaErrors.notFound();
      // The function's concurrency is spent: S3's word for "try again later".
      if (e instanceof KindlingError && e.type === 'TooManyRequestsException')
        throw new KindlingError('SlowDown', 503, 'Please reduce your request rate.');
      if (e instanceof KindlingError) throw ObjectLambdaErrors.invocationFailed(e.message);
      throw e;
    }
    const r = outcome.result;
    if (r.functionError !== undefined) {
      if (r.errorType === 'Sandbox.Timedout') throw ObjectLambdaErrors.timeout();
      throw ObjectLambdaErrors.runtime(r.errorType ?? 'Unhandled');
    }
    throw ObjectLambdaErrors.noResponse();
  }

  async #writeGetObjectResponse(req: ApiRequest): Promise<ApiResponse> {
    const h = (name: string): string | undefined => {
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(',') : v;
    };
    const route = h('x-amz-request-route');
    const token = h('x-amz-request-token');
    if (route !== OBJECT_LAMBDA_ROUTE || token === undefined) throw ObjectLambdaErrors.invalidToken();
    const statusRaw = h('x-amz-fwd-status') ?? '200';
    const status = Number(statusRaw);
    if (!/^\d{3}$/.test(statusRaw) || status < 200 || status > 599)
      throw ObjectLambdaErrors.invalidArgument(`StatusCode ${statusRaw} is not a valid HTTP status`);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined) continue;
      const v = Array.isArray(value) ? value.join(',') : value;
      if (name.startsWith(FWD)) {
        const target = name.slice(FWD.length);
        // Never accepted and dropped: a header the caller's answer cannot carry is refused by name.
        if (!FORWARDED.has(target))
          throw ObjectLambdaErrors.invalidArgument(
            `The header ${name} is not supported by WriteGetObjectResponse`,
          );
        headers[target] = v;
      } else if (name.startsWith('x-amz-meta-')) headers[name] = v;
    }
    const errorCode = h('x-amz-fwd-error-code');
    const errorMessage = h('x-amz-fwd-error-message');
    const body = new S3RequestBody(req.raw, req.headers, req.signedPayload);
    const deliver = this.#d.routes.take(req.tenant.id, token);
    if (!deliver) throw ObjectLambdaErrors.invalidToken();
    const ok = { status: 200, headers: { 'x-amz-request-id': randomBytes(8).toString('hex').toUpperCase() } };
    if (status >= 400 || errorCode !== undefined) {
      // The function reports an error: the caller gets it in S3's shape, the body (if any) is discarded.
      for await (const _ of body.stream());
      deliver({
        status: status >= 400 ? status : 500,
        headers: { 'content-type': 'application/xml' },
        body: xmlDocument('Error', { Code: errorCode ?? 'Error', Message: errorMessage ?? '' }, false),
      });
      return ok;
    }
    const decodedLength =
      h('x-amz-decoded-content-length') ??
      (h('content-encoding')?.includes('aws-chunked') ? undefined : h('content-length'));
    if (decodedLength !== undefined) headers['content-length'] = decodedLength;
    const out = new PassThrough();
    deliver({ status, headers, body: out });
    const md5 = createHash('md5');
    const wantMd5 = h('content-md5') !== undefined;
    try {
      await pipeline(
        Readable.from(
          (async function* () {
            for await (const chunk of body.stream()) {
              if (wantMd5) md5.update(chunk);
              yield chunk;
            }
            body.verify({ md5: wantMd5 ? md5.digest() : Buffer.alloc(16) });
          })(),
        ),
        out,
      );
    } catch (e) {
      // The caller sees a cut answer, never bytes that failed their digest as if they were whole.
      out.destroy();
      throw e;
    }
    return ok;
  }
}

function withIds(r: ApiResponse, requestId: string): ApiResponse {
  return { ...r, headers: { ...r.headers, 'x-amz-request-id': requestId, 'x-amz-id-2': hostId(requestId) } };
}
