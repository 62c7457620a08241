// Lambda's function URL configuration operations (/2021-10-31/functions/{name}/url[s]): Create, Get,
// Update, Delete and List. Requests to the URLs themselves are served by api/function-url/.
import { z } from 'zod';
import { type FunctionUrl, type FunctionUrlStore, newUrlId } from '../../control/function-urls.js';
import { type FunctionRecord, LATEST } from '../../control/functions.js';
import type { Tenant } from '../../control/tenants.js';
import { LambdaErrors } from '../../errors.js';
import type { ApiRequest } from '../surface.js';
import { json } from './errors.js';
import type { LambdaRoute } from './routes.js';
import { validate, validateBody } from './validation.js';

export interface FunctionUrlRouteDeps {
  resolve(tenant: Tenant, ref: string, qualifier?: string): Promise<FunctionRecord>;
  urls: FunctionUrlStore;
}

/**
 * Where URLs are served on Kindling's own origin, besides `Host: <id>.lambda-url.<anything>`. The
 * underscore keeps it apart from every S3 bucket (no bucket name may hold one) and every other route.
 */
export const URL_PREFIX = '/lambda_url/';

const BASE = '/2021-10-31/functions/{FunctionName}';
const MAX_BODY = 64 * 1024;

const Strings = (max: number, item: number) => z.array(z.string().min(1).max(item)).max(max);
export const CorsSchema = z.strictObject({
  AllowCredentials: z.boolean().optional(),
  AllowHeaders: Strings(100, 1024).optional(),
  AllowMethods: z
    .array(z.enum(['GET', 'PUT', 'HEAD', 'POST', 'PATCH', 'DELETE', 'OPTIONS', '*']))
    .max(6)
    .optional(),
  AllowOrigins: Strings(100, 253).optional(),
  ExposeHeaders: Strings(100, 1024).optional(),
  MaxAge: z.number().int().min(0).max(86_400).optional(),
});

const CreateBody = z.object({
  AuthType: z.enum(['NONE', 'AWS_IAM']),
  Cors: CorsSchema.optional(),
  InvokeMode: z.enum(['BUFFERED', 'RESPONSE_STREAM']).optional(),
});
const UpdateBody = z.object({
  AuthType: z.enum(['NONE', 'AWS_IAM']).optional(),
  Cors: CorsSchema.optional(),
  InvokeMode: z.enum(['BUFFERED', 'RESPONSE_STREAM']).optional(),
});
const Query = z.object({ Qualifier: z.string().min(1).max(128).optional() });
const ListQuery = z.object({
  Marker: z.string().optional(),
  MaxItems: z.coerce.number().int().min(1).max(50).optional(),
});

/** BUFFERED unless RESPONSE_STREAM is asked for (streamed as written, api/function-url/). */
function invokeMode(mode: 'BUFFERED' | 'RESPONSE_STREAM' | undefined): FunctionUrl['invokeMode'] {
  return mode ?? 'BUFFERED';
}

/** The URL as the caller reaches this server (its Host), with Lambda's trailing slash. */
function urlOf(req: ApiRequest, id: string): string {
  const host =
    typeof req.headers.host === 'string' && req.headers.host !== '' ? req.headers.host : 'localhost';
  return `http://${host}${URL_PREFIX}${id}/`;
}

function shape(req: ApiRequest, rec: FunctionRecord, u: FunctionUrl): Record<string, unknown> {
  return {
    FunctionUrl: urlOf(req, u.urlId),
    FunctionArn: u.qualifier === LATEST ? rec.arn : `${rec.arn}:${u.qualifier}`,
    AuthType: u.authType,
    ...(u.cors !== undefined && { Cors: u.cors }),
    CreationTime: u.creationTime,
    LastModifiedTime: u.lastModifiedTime,
    InvokeMode: u.invokeMode,
  };
}

async function target(deps: FunctionUrlRouteDeps, req: ApiRequest, name: string) {
  const { Qualifier } = validate(Query, Object.fromEntries(req.query));
  // Lambda names an alias (or $LATEST) here, never a version number.
  if (Qualifier !== undefined && /^\d+$/.test(Qualifier))
    throw LambdaErrors.validation(
      `1 validation error detected: Value '${Qualifier}' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)`,
    );
  const rec = await deps.resolve(req.tenant, name, Qualifier);
  return { rec, qualifier: Qualifier ?? LATEST };
}

const noUrl = (rec: FunctionRecord) =>
  LambdaErrors.notFound(`The resource you requested does not exist. (Function URL of ${rec.arn})`);

const isoNow = () => new Date().toISOString().replace('Z', '+0000');

export function functionUrlRoutes(deps: FunctionUrlRouteDeps): LambdaRoute[] {
  return [
    {
      method: 'POST',
      path: `${BASE}/url`,
      operation: 'CreateFunctionUrlConfig',
      maxBodyBytes: MAX_BODY,
      async handle(req, p) {
        const body = validateBody(CreateBody, req.body);
        const { rec, qualifier } = await target(deps, req, p.FunctionName!);
        const now = isoNow();
        const u: FunctionUrl = {
          urlId: newUrlId(),
          tenantId: req.tenant.id,
          functionId: rec.id,
          functionName: rec.name,
          qualifier,
          authType: body.AuthType,
          cors: body.Cors,
          invokeMode: invokeMode(body.InvokeMode),
          creationTime: now,
          lastModifiedTime: now,
        };
        if (!(await deps.urls.create(u)))
          throw LambdaErrors.conflict(
            `Failed to create function url config for [functionArn = ${rec.arn}]. Error message:  FunctionUrlConfig exists for this Lambda function`,
          );
        const out = shape(req, rec, u);
        delete out.LastModifiedTime;
        return json(201, out);
      },
    },
    {
      method: 'GET',
      path: `${BASE}/url`,
      operation: 'GetFunctionUrlConfig',
      async handle(req, p) {
        const { rec, qualifier } = await target(deps, req, p.FunctionName!);
        const u = await deps.urls.get(rec.id, qualifier);
        if (u === undefined) throw noUrl(rec);
        return json(200, shape(req, rec, u));
      },
    },
    {
      method: 'PUT',
      path: `${BASE}/url`,
      operation: 'UpdateFunctionUrlConfig',
      maxBodyBytes: MAX_BODY,
      async handle(req, p) {
        const body = validateBody(UpdateBody, req.body);
        const { rec, qualifier } = await target(deps, req, p.FunctionName!);
        const u = await deps.urls.get(rec.id, qualifier);
        if (u === undefined) throw noUrl(rec);
        const next: FunctionUrl = {
          ...u,
          ...(body.AuthType !== undefined && { authType: body.AuthType }),
          ...(body.Cors !== undefined && { cors: body.Cors }),
          invokeMode: invokeMode(body.InvokeMode ?? u.invokeMode),
          lastModifiedTime: isoNow(),
        };
        if (!(await deps.urls.update(next))) throw noUrl(rec);
        return json(200, shape(req, rec, next));
      },
    },
    {
      method: 'DELETE',
      path: `${BASE}/url`,
      operation: 'DeleteFunctionUrlConfig',
      async handle(req, p) {
        const { rec, qualifier } = await target(deps, req, p.FunctionName!);
        const u = await deps.urls.get(rec.id, qualifier);
        if (u === undefined || !(await deps.urls.delete(u.urlId))) throw noUrl(rec);
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: `${BASE}/urls`,
      operation: 'ListFunctionUrlConfigs',
      async handle(req, p) {
        const q = validate(ListQuery, Object.fromEntries(req.query));
        const rec = await deps.resolve(req.tenant, p.FunctionName!);
        const all = await deps.urls.list(rec.id);
        const start = q.Marker === undefined ? 0 : Number(q.Marker);
        if (!Number.isSafeInteger(start) || start < 0 || start > all.length)
          throw LambdaErrors.invalidParameter('Invalid Marker.');
        const page = all.slice(start, start + (q.MaxItems ?? 50));
        const next = start + page.length;
        return json(200, {
          FunctionUrlConfigs: page.map((u) => shape(req, rec, u)),
          ...(next < all.length && { NextMarker: String(next) }),
        });
      },
    },
  ];
}
