// POST object: a browser form upload (multipart/form-data) to a bucket. The form carries its own SigV4
// authentication (a policy document signed with the uploader's key) or none (public-write buckets); every
// field but the signature, the policy and the file must be allowed by the policy's conditions.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Tenant } from '../../control/tenants.js';
import { KindlingError } from '../../errors.js';
import { ObjectStoreError, S3Errors } from '../../events/objects/errors.js';
import { ALGORITHM, signingKey, uriEncode } from '../sigv4.js';
import type { ApiResponse } from '../surface.js';
import { authorize } from './access.js';
import { requestAcl } from './access-config.js';
import { formBoundary, readPostForm } from './post-form.js';
import {
  callerOf,
  first,
  quote,
  type S3Request,
  type S3SurfaceDeps,
  storedHeaders,
  userMetadata,
  xml,
} from './request.js';

/** In the key, the name of the uploaded file. */
const FILENAME = '$' + '{filename}';

/** S3's largest single upload, for POST as for PUT. */
export const MAX_POST_OBJECT_BYTES = 5 * 1024 ** 3;

/** Fields the policy need not cover (S3's list, SigV2's two included); `x-ignore-*` fields neither. */
const UNCHECKED = new Set(['policy', 'x-amz-signature', 'file', 'awsaccesskeyid', 'signature']);
/** Fields that only say something to the upload's authentication. */
const AUTH_FIELDS = ['x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-signature', 'policy'];
/** Any of these makes the form a signed one (the rest must then be present too). */
const SIGNED_MARKERS = [...AUTH_FIELDS, 'awsaccesskeyid', 'signature'];
/** `x-amz-*` fields S3 takes that this store does not implement: refused by name, never dropped. */
const SUPPORTED_AMZ = /^x-amz-(algorithm|credential|date|signature|security-token|meta-.+|storage-class)$/;
const REFUSED_FIELDS = new Set(['tagging']);

const policyError = (message: string) =>
  new ObjectStoreError('InvalidPolicyDocument', `Invalid Policy: ${message}`);
const denied = (message: string) => S3Errors.accessDenied(`Invalid according to Policy: ${message}`);
const missingField = (name: string) =>
  S3Errors.invalidArgument(
    `Bucket POST must contain a field named '${name}'.  If it is specified, please check the order of the fields.`,
    name,
    '',
  );

/** Whether a request to a bucket is a POST object upload (the route checks the method). */
export const isFormUpload = (r: S3Request): boolean =>
  formBoundary(first(r.headers['content-type'])) !== undefined;

export async function postObject(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const b = r.access!;
  const form = await readPostForm(r.raw, formBoundary(first(r.headers['content-type'])) ?? '');
  try {
    const f = form.fields;
    for (const name of f.keys())
      if (REFUSED_FIELDS.has(name) || (name.startsWith('x-amz-') && !SUPPORTED_AMZ.test(name)))
        throw S3Errors.notImplemented(`POST object field ${name}`);
    const storageClass = f.get('x-amz-storage-class');
    if (storageClass !== undefined && storageClass !== 'STANDARD')
      throw S3Errors.notImplemented(`x-amz-storage-class ${storageClass}`);
    const rawKey = f.get('key');
    if (rawKey === undefined) throw missingField('key');
    // Authentication is the form's own: a header signature (or none) on the request says nothing here.
    const tenant = SIGNED_MARKERS.some((n) => f.has(n)) ? await signedBy(d, r.bucket, f) : undefined;
    Object.assign(r, { tenant, caller: undefined });
    const key = rawKey.replaceAll(FILENAME, form.filename);
    if (key === '') throw S3Errors.invalidArgument('User key must have a length greater than 0.', 'key', '');
    // Policy conditions read what the form says (its acl field is the PUT's x-amz-acl), not the
    // request's headers: every decision of this request (PutObject, and PutObjectAcl for the acl) sees it.
    const caller = callerOf(r);
    r.caller = {
      ...caller,
      facts: {
        header: (name) =>
          name === 'x-amz-acl'
            ? f.get('acl')
            : name.startsWith('x-amz-')
              ? f.get(name)
              : caller.facts?.header(name),
        query: () => undefined,
      },
    };
    await authorize(d, b, r.caller, 's3:PutObject', key);
    const range = tenant === undefined ? undefined : lengthRange(f);
    const max = Math.min(range?.max ?? MAX_POST_OBJECT_BYTES, MAX_POST_OBJECT_BYTES);
    const min = range?.min ?? 0;
    // What the form says about the object, in the headers the PUT path reads.
    const headers: Record<string, string> = {};
    for (const [name, value] of f) {
      if (
        name.startsWith('x-amz-meta-') ||
        /^(cache-control|content-disposition|content-encoding|expires)$/.test(name)
      )
        headers[name] = value;
    }
    if (f.has('acl')) headers['x-amz-acl'] = f.get('acl')!;
    const view = Object.assign(Object.create(null) as S3Request, r, { headers, key });
    const acl = await requestAcl(d, view);
    const info = await d.store.putObject(
      r.actor,
      r.bucket,
      key,
      limited(form.file, max),
      {
        contentType: f.get('content-type') ?? 'binary/octet-stream',
        metadata: userMetadata(headers),
        headers: storedHeaders(headers),
        verify: ({ size }) => {
          if (size < min) throw tooSmall(size, min);
          return undefined;
        },
        acl,
      },
      'ObjectCreated:Post',
    );
    return answer(r, f, key, info.etag);
  } finally {
    // Closes the file part when the upload was refused before its bytes were read.
    await form.file.return(undefined);
  }
}

/**
 * Checks the form's policy signature (SigV4: `x-amz-credential`, `x-amz-signature`; or the older SigV2 that
 * boto3 still makes: `AWSAccessKeyId`, `signature`) and the policy's conditions; the tenant whose key signed.
 */
async function signedBy(d: S3SurfaceDeps, bucket: string, f: Map<string, string>): Promise<Tenant> {
  const v2 = f.has('awsaccesskeyid') && !f.has('x-amz-credential');
  for (const n of v2 ? ['awsaccesskeyid', 'signature', 'policy'] : AUTH_FIELDS)
    if (!f.has(n)) throw missingField(n);
  const policy = f.get('policy')!;
  let accessKeyId: string;
  let sign: (secret: string) => Buffer;
  let given: Buffer;
  if (v2) {
    accessKeyId = f.get('awsaccesskeyid')!;
    sign = (secret) => createHmac('sha1', secret).update(policy, 'utf8').digest();
    given = Buffer.from(f.get('signature')!, 'base64');
  } else {
    const algorithm = f.get('x-amz-algorithm')!;
    if (algorithm !== ALGORITHM)
      throw S3Errors.invalidArgument(
        `X-Amz-Algorithm only supports "${ALGORITHM}"`,
        'x-amz-algorithm',
        algorithm,
      );
    const credential = f.get('x-amz-credential')!;
    const parts = credential.split('/');
    if (parts.length !== 5 || !/^\d{8}$/.test(parts[1]!) || parts[3] !== 's3' || parts[4] !== 'aws4_request')
      throw S3Errors.invalidArgument(
        'Invalid credential: expected <key>/<date>/<region>/s3/aws4_request',
        'x-amz-credential',
        credential,
      );
    const [id, date, region] = parts as [string, string, string];
    if (region !== d.region)
      throw new ObjectStoreError(
        'AuthorizationQueryParametersError',
        `Error parsing the X-Amz-Credential parameter; the region '${region}' is wrong; expecting '${d.region}'`,
        { Region: d.region },
      );
    const amzDate = f.get('x-amz-date')!;
    if (!/^\d{8}T\d{6}Z$/.test(amzDate) || !amzDate.startsWith(date))
      throw S3Errors.invalidArgument(
        'X-Amz-Date must be in the ISO8601 Long Format and match the credential date',
        'x-amz-date',
        amzDate,
      );
    accessKeyId = id;
    sign = (secret) =>
      createHmac('sha256', signingKey(secret, date, region, 's3'))
        .update(policy, 'utf8')
        .digest();
    given = Buffer.from(f.get('x-amz-signature')!, 'hex');
  }
  const found = await d.resolveKey?.(accessKeyId);
  if (!found || (found.key.sessionToken !== null && found.key.sessionToken !== f.get('x-amz-security-token')))
    throw new KindlingError(
      'InvalidAccessKeyId',
      403,
      'The AWS Access Key Id you provided does not exist in our records.',
      { AWSAccessKeyId: accessKeyId },
    );
  const expected = sign(found.key.secretAccessKey);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw new ObjectStoreError(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    );
  checkPolicy(policy, bucket, f);
  return found.tenant;
}

type Condition =
  | { op: 'eq' | 'starts-with'; field: string; value: string; text: string }
  | { op: 'content-length-range'; min: number; max: number; text: string };

/** The policy's conditions, each as S3 reads it; InvalidPolicyDocument when one is not. */
function parsePolicy(policyB64: string): { expiration: number; conditions: Condition[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(policyB64, 'base64').toString('utf8'));
  } catch {
    throw policyError('Invalid JSON.');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw policyError('Invalid JSON.');
  const { expiration, conditions } = doc as { expiration?: unknown; conditions?: unknown };
  if (expiration === undefined) throw policyError('Policy missing expiration.');
  const at = typeof expiration === 'string' ? Date.parse(expiration) : Number.NaN;
  if (!Number.isFinite(at)) throw policyError(`Invalid 'expiration' value: '${String(expiration)}'`);
  if (conditions === undefined) throw policyError('Policy missing conditions.');
  if (!Array.isArray(conditions)) throw policyError("Invalid 'conditions' value: must be a list.");
  const out = conditions.map((c): Condition => {
    const text = JSON.stringify(c)
      .replace(/","/g, '", "')
      .replace(/,(?=\d)/g, ', ');
    if (Array.isArray(c)) {
      const [op, a, b] = c as unknown[];
      if (c.length !== 3 || typeof op !== 'string') throw policyError(`Invalid Condition: ${text}`);
      const lower = op.toLowerCase();
      if (lower === 'content-length-range') {
        const min = Number(a);
        const max = Number(b);
        if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min < 0 || max < min)
          throw policyError(`Invalid content-length-range: ${text}`);
        return { op: 'content-length-range', min, max, text };
      }
      if (lower !== 'eq' && lower !== 'starts-with') throw policyError(`Invalid Condition Operator: ${op}`);
      if (typeof a !== 'string' || !a.startsWith('$') || typeof b !== 'string')
        throw policyError(`Invalid Condition: ${text}`);
      return { op: lower, field: a.slice(1).toLowerCase(), value: b, text };
    }
    if (typeof c === 'object' && c !== null) {
      const entries = Object.entries(c);
      if (entries.length !== 1 || typeof entries[0]![1] !== 'string')
        throw policyError(`Invalid Condition: ${text}`);
      const [field, value] = entries[0] as [string, string];
      const name = field.replace(/^\$/, '').toLowerCase();
      return {
        op: 'eq',
        field: name,
        value,
        text: JSON.stringify(['eq', `$${name}`, value]).replace(/","/g, '", "'),
      };
    }
    throw policyError(`Invalid Condition: ${text}`);
  });
  return { expiration: at, conditions: out };
}

function checkPolicy(policyB64: string, bucket: string, f: Map<string, string>): void {
  const { expiration, conditions } = parsePolicy(policyB64);
  if (expiration <= Date.now()) throw denied('Policy expired.');
  const covered = new Set<string>();
  for (const c of conditions) {
    if (c.op === 'content-length-range') continue;
    covered.add(c.field);
    const actual = c.field === 'bucket' ? bucket : (f.get(c.field) ?? '');
    const ok =
      c.op === 'eq'
        ? actual === c.value
        : c.field === 'content-type'
          ? actual.split(',').every((t) => t.trim().startsWith(c.value))
          : actual.startsWith(c.value);
    if (!ok) throw denied(`Policy Condition failed: ${c.text}`);
  }
  for (const name of f.keys()) {
    if (UNCHECKED.has(name) || name.startsWith('x-ignore-') || covered.has(name)) continue;
    throw denied(`Extra input fields: ${name}`);
  }
}

/** The policy's content-length-range, if it has one (the policy was checked already). */
function lengthRange(f: Map<string, string>): { min: number; max: number } | undefined {
  let range: { min: number; max: number } | undefined;
  for (const c of parsePolicy(f.get('policy')!).conditions)
    if (c.op === 'content-length-range')
      range = { min: Math.max(range?.min ?? 0, c.min), max: Math.min(range?.max ?? c.max, c.max) };
  return range;
}

const tooSmall = (size: number, min: number) =>
  new ObjectStoreError('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size', {
    ProposedSize: size,
    MinSizeAllowed: min,
  });

/** The file's bytes, refused (EntityTooLarge) as soon as they pass `max`: an oversized upload is cut short. */
async function* limited(file: AsyncIterable<Buffer>, max: number): AsyncGenerator<Buffer> {
  let size = 0;
  for await (const chunk of file) {
    size += chunk.length;
    if (size > max)
      throw new ObjectStoreError('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size', {
        ProposedSize: size,
        MaxSizeAllowed: max,
      });
    yield chunk;
  }
}

/** S3's answer: a redirect when asked for one, else success_action_status (200, 201 with XML, or 204). */
function answer(r: S3Request, f: Map<string, string>, key: string, etag: string): ApiResponse {
  const host = first(r.headers.host) ?? 'localhost';
  const location = `http://${host}/${r.bucket}/${uriEncode(key, true)}`;
  const headers: Record<string, string> = {
    etag: quote(etag),
    location,
    'x-amz-request-id': r.requestId,
  };
  const redirect = f.get('success_action_redirect') ?? f.get('redirect');
  if (redirect !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(redirect);
    } catch {
      url = undefined;
    }
    // S3 ignores a redirect that is not a URL and answers by success_action_status.
    if (url && (url.protocol === 'http:' || url.protocol === 'https:')) {
      url.searchParams.append('bucket', r.bucket);
      url.searchParams.append('key', key);
      url.searchParams.append('etag', quote(etag));
      return { status: 303, headers: { ...headers, location: url.toString() } };
    }
  }
  const status = f.get('success_action_status');
  if (status === '201')
    return xml(
      201,
      'PostResponse',
      { Location: location, Bucket: r.bucket, Key: key, ETag: quote(etag) },
      r.requestId,
      { etag: quote(etag), location },
    );
  return { status: status === '200' ? 200 : 204, headers };
}
