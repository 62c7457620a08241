// S3 CORS: Get/Put/DeleteBucketCors, the preflight `OPTIONS` (unsigned, answered from the bucket's rules
// as S3 does: the first rule matching origin, method and requested headers), and the
// Access-Control-* headers on actual responses whose Origin a rule allows.
import { z } from 'zod';
import { ObjectStoreError, S3Errors } from '../../events/objects/errors.js';
import type { ApiResponse } from '../surface.js';
import { first, MAX_XML_BODY, requestBody, type S3Request, type S3SurfaceDeps, xml } from './request.js';
import { childrenOf, parseXml, textOf } from './xml.js';

/** S3's limits: 100 rules, a 64 KB document. */
export const MAX_CORS_RULES = 100;
const MAX_CORS_BODY = 64 * 1024;
const METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'HEAD'] as const;

const ruleSchema = z.object({
  id: z.string().optional(),
  origins: z.array(z.string()).min(1),
  methods: z.array(z.enum(METHODS)).min(1),
  headers: z.array(z.string()),
  expose: z.array(z.string()),
  maxAge: z.number().int().nonnegative().optional(),
});
const configSchema = z.array(ruleSchema).max(MAX_CORS_RULES);
export type CorsRule = z.infer<typeof ruleSchema>;

const noSuchCors = (bucket: string) =>
  new ObjectStoreError('NoSuchCORSConfiguration', 'The CORS configuration does not exist', {
    BucketName: bucket,
  });
const forbidden = (message: string, r: S3Request) =>
  new ObjectStoreError('AccessForbidden', `CORSResponse: ${message}`, {
    Method: first(r.headers['access-control-request-method']) ?? '',
    ResourceType: r.key ? 'OBJECT' : 'BUCKET',
  });

/** `*` anywhere once (S3 allows one wildcard), matched without a regular expression. */
export function wildcardOnce(pattern: string, text: string): boolean {
  const star = pattern.indexOf('*');
  if (star < 0) return pattern === text;
  const head = pattern.slice(0, star);
  const tail = pattern.slice(star + 1);
  return text.length >= head.length + tail.length && text.startsWith(head) && text.endsWith(tail);
}

const oneWildcard = (s: string) => s.indexOf('*') === s.lastIndexOf('*');

/** The stored rules, validated again when read back (they come from this module, but through the store). */
function rulesOf(json: string): CorsRule[] {
  return configSchema.parse(JSON.parse(json));
}

async function parseCorsBody(r: S3Request): Promise<CorsRule[]> {
  const body = await requestBody(r).readAll(MAX_XML_BODY);
  if (body.length > MAX_CORS_BODY)
    throw S3Errors.invalidRequest('The CORS configuration must be no larger than 64 KB');
  const doc = parseXml(body.toString('utf8'));
  if (doc.name !== 'CORSConfiguration') throw S3Errors.malformedXml();
  const nodes = doc.children;
  if (nodes.length === 0 || nodes.some((n) => n.name !== 'CORSRule')) throw S3Errors.malformedXml();
  if (nodes.length > MAX_CORS_RULES)
    throw S3Errors.invalidRequest(`The CORS configuration cannot have more than ${MAX_CORS_RULES} rules`);
  const known = new Set([
    'ID',
    'AllowedOrigin',
    'AllowedMethod',
    'AllowedHeader',
    'ExposeHeader',
    'MaxAgeSeconds',
  ]);
  return nodes.map((n) => {
    for (const c of n.children) if (!known.has(c.name)) throw S3Errors.malformedXml();
    const texts = (name: string) => childrenOf(n, name).map((c) => c.text.trim());
    const origins = texts('AllowedOrigin');
    const methods = texts('AllowedMethod');
    if (origins.length === 0 || methods.length === 0 || childrenOf(n, 'MaxAgeSeconds').length > 1)
      throw S3Errors.malformedXml();
    for (const m of methods)
      if (!(METHODS as readonly string[]).includes(m))
        throw S3Errors.invalidRequest(
          `Found unsupported HTTP method in CORS config. Unsupported method is ${m}`,
        );
    for (const o of origins)
      if (!oneWildcard(o))
        throw S3Errors.invalidRequest(`AllowedOrigin "${o}" can not have more than one wildcard.`);
    const headers = texts('AllowedHeader');
    for (const h of headers)
      if (!oneWildcard(h))
        throw S3Errors.invalidRequest(`AllowedHeader "${h}" can not have more than one wildcard.`);
    const maxAge = textOf(n, 'MaxAgeSeconds')?.trim();
    if (maxAge !== undefined && !/^\d{1,9}$/.test(maxAge)) throw S3Errors.malformedXml();
    const id = textOf(n, 'ID');
    if (id !== undefined && id.length > 255)
      throw S3Errors.invalidArgument('The ID of a CORS rule must be no longer than 255 characters');
    return {
      ...(id !== undefined && { id }),
      origins,
      methods: methods as CorsRule['methods'],
      // Header names compare case-insensitively: kept lower-case.
      headers: headers.map((h) => h.toLowerCase()),
      expose: texts('ExposeHeader'),
      ...(maxAge !== undefined && { maxAge: Number(maxAge) }),
    };
  });
}

export async function getBucketCors(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const json = await d.store.bucketConfig(r.actor, r.bucket, 'cors');
  if (json === null) throw noSuchCors(r.bucket);
  const rules = rulesOf(json).map((c) => ({
    ID: c.id,
    AllowedHeader: c.headers,
    AllowedMethod: c.methods,
    AllowedOrigin: c.origins,
    ExposeHeader: c.expose,
    MaxAgeSeconds: c.maxAge,
  }));
  return xml(200, 'CORSConfiguration', { CORSRule: rules }, r.requestId);
}

export async function putBucketCors(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const rules = await parseCorsBody(r);
  await d.store.setBucketConfig(r.actor, r.bucket, 'cors', JSON.stringify(rules));
  return { status: 200, headers: { 'x-amz-request-id': r.requestId } };
}

export async function deleteBucketCors(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  await d.store.setBucketConfig(r.actor, r.bucket, 'cors', null);
  return { status: 204, headers: { 'x-amz-request-id': r.requestId } };
}

const VARY = 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method';

/** The headers S3 answers for a rule that allowed `origin`. */
function allowHeaders(rule: CorsRule, origin: string): Record<string, string> {
  const any = rule.origins.includes('*') && !rule.origins.some((o) => wildcardOnce(o, origin) && o !== '*');
  const h: Record<string, string> = {
    'access-control-allow-origin': any ? '*' : origin,
    'access-control-allow-methods': rule.methods.join(', '),
    vary: VARY,
  };
  if (!any) h['access-control-allow-credentials'] = 'true';
  if (rule.expose.length > 0) h['access-control-expose-headers'] = rule.expose.join(', ');
  if (rule.maxAge !== undefined) h['access-control-max-age'] = String(rule.maxAge);
  return h;
}

const originMatches = (rule: CorsRule, origin: string) => rule.origins.some((o) => wildcardOnce(o, origin));

/**
 * A preflight: unsigned, for any bucket; answered from its rules, never from its contents. A bucket that
 * does not exist and one without CORS answer alike, so a preflight tells no more than S3's does.
 */
export async function preflight(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const origin = first(r.headers.origin);
  if (origin === undefined)
    throw new ObjectStoreError('BadRequest', 'Insufficient information. Origin request header needed.');
  const method = first(r.headers['access-control-request-method']);
  if (method === undefined || !(METHODS as readonly string[]).includes(method))
    throw new ObjectStoreError('BadRequest', `Invalid Access-Control-Request-Method: ${method ?? 'null'}`);
  if (!r.bucket) throw S3Errors.methodNotAllowed();
  const json = await d.store.peekBucketConfig(r.bucket, 'cors');
  if (json === null) throw forbidden('CORS is not enabled for this bucket.', r);
  const requested = (first(r.headers['access-control-request-headers']) ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '');
  for (const rule of rulesOf(json)) {
    if (!originMatches(rule, origin) || !rule.methods.includes(method as CorsRule['methods'][number]))
      continue;
    if (!requested.every((h) => rule.headers.some((p) => wildcardOnce(p, h)))) continue;
    const h = allowHeaders(rule, origin);
    if (requested.length > 0) h['access-control-allow-headers'] = requested.join(', ');
    h['x-amz-request-id'] = r.requestId;
    return { status: 200, headers: h };
  }
  throw forbidden(
    "This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
    r,
  );
}

/**
 * An actual request with an Origin: the headers of the first rule allowing its origin and method, if
 * any (undefined: none, or the bucket was never read, as for a bucket that does not exist).
 */
export async function corsHeaders(
  d: S3SurfaceDeps,
  r: S3Request,
): Promise<Record<string, string> | undefined> {
  const origin = first(r.headers.origin);
  if (origin === undefined || r.access === undefined) return undefined;
  const json = await d.store.peekBucketConfig(r.access.name, 'cors');
  if (json === null) return undefined;
  const rule = rulesOf(json).find(
    (c) => originMatches(c, origin) && c.methods.includes(r.method as CorsRule['methods'][number]),
  );
  return rule && allowHeaders(rule, origin);
}
