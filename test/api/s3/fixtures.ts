// Shared setup for the S3 tests: a platform per file and an unmodified S3 client pointed at it.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { PutBucketPolicyCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { ALGORITHM, canonicalRequest, signingKey, stringToSign, uriEncode } from '../../../src/api/sigv4.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';

export interface S3Fixture {
  t: TestPlatform;
  s3: S3Client;
}

export async function startS3(): Promise<S3Fixture> {
  const t = await startPlatform();
  return { t, s3: client(t) };
}

export function client(p: {
  endpoint: string;
  region?: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}): S3Client {
  return new S3Client({ ...sdkConfig(p), forcePathStyle: true });
}

/** A second tenant of the fixture's platform, with its own key and S3 client. */
export async function otherTenant(
  f: S3Fixture,
  name: string,
): Promise<{
  s3: S3Client;
  accountId: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}> {
  const tenant = await f.t.platform.tenants.create(name);
  const key = await f.t.platform.tenants.createKey(tenant.id);
  const credentials = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
  return { s3: client({ endpoint: f.t.endpoint, credentials }), accountId: tenant.accountId, credentials };
}

let n = 0;
/** A bucket name unique within the test run. */
export const bucketName = (label = 'b'): string => `${label}-${process.pid}-${++n}`;

export async function bodyOf(out: {
  Body?: { transformToByteArray(): Promise<Uint8Array> };
}): Promise<Buffer> {
  return Buffer.from(await out.Body!.transformToByteArray());
}

export interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
}

const amzDateOf = (d: Date) => d.toISOString().replace(/[-:]|\.\d{3}/g, '');

/** A presigned URL (query-string SigV4), as @aws-sdk/s3-request-presigner makes them. */
export function presign(
  endpoint: string,
  creds: Creds,
  method: string,
  path: string,
  expiresSec = 300,
  region = 'us-east-1',
  now = new Date(),
): string {
  const url = new URL(path, endpoint);
  const amzDate = amzDateOf(now);
  const scope = `${amzDate.slice(0, 8)}/${region}/s3/aws4_request`;
  url.searchParams.set('X-Amz-Algorithm', ALGORITHM);
  url.searchParams.set('X-Amz-Credential', `${creds.accessKeyId}/${scope}`);
  url.searchParams.set('X-Amz-Date', amzDate);
  url.searchParams.set('X-Amz-Expires', String(expiresSec));
  url.searchParams.set('X-Amz-SignedHeaders', 'host');
  const canonical = canonicalRequest({
    method,
    rawPath: url.pathname,
    rawQuery: url.search.slice(1),
    headers: { host: url.host },
    signedHeaders: ['host'],
    payloadHash: 'UNSIGNED-PAYLOAD',
    service: 's3',
  });
  const key = signingKey(creds.secretAccessKey, amzDate.slice(0, 8), region, 's3');
  url.searchParams.set(
    'X-Amz-Signature',
    createHmac('sha256', key)
      .update(stringToSign(amzDate, scope, canonical))
      .digest('hex'),
  );
  return url.toString();
}

/** Header-signed request parts for a raw HTTP request with a chosen x-amz-content-sha256. */
export function signHeaders(
  endpoint: string,
  creds: Creds,
  method: string,
  path: string,
  headers: Record<string, string>,
  payloadHash: string,
  region = 'us-east-1',
): { headers: Record<string, string>; seed: string; key: Buffer; amzDate: string; scope: string } {
  const url = new URL(path, endpoint);
  const amzDate = amzDateOf(new Date());
  const scope = `${amzDate.slice(0, 8)}/${region}/s3/aws4_request`;
  const h: Record<string, string> = {
    ...headers,
    host: url.host,
    'x-amz-date': amzDate,
    'x-amz-content-sha256': payloadHash,
  };
  const signedHeaders = Object.keys(h)
    .map((k) => k.toLowerCase())
    .sort();
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) lower[k.toLowerCase()] = v;
  const canonical = canonicalRequest({
    method,
    rawPath: url.pathname,
    rawQuery: url.search.slice(1),
    headers: lower,
    signedHeaders,
    payloadHash,
    service: 's3',
  });
  const key = signingKey(creds.secretAccessKey, amzDate.slice(0, 8), region, 's3');
  const seed = createHmac('sha256', key)
    .update(stringToSign(amzDate, scope, canonical))
    .digest('hex');
  lower.authorization = `${ALGORITHM} Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signedHeaders.join(';')}, Signature=${seed}`;
  return { headers: lower, seed, key, amzDate, scope };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One raw HTTP request (no SDK): for wire details the SDK does not send by itself. */
export function rawRequest(
  url: string,
  opts: { method: string; headers?: Record<string, string>; body?: Buffer | string },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

export const objectPath = (bucket: string, key: string): string => `/${bucket}/${uriEncode(key, true)}`;

/** Rejects with an S3 error of this code (and HTTP status, when given). */
export async function rejectsWith(p: Promise<unknown>, code: string, status?: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof S3ServiceException, `not an S3 error: ${String(e)}`);
    assert.equal(e.name, code);
    if (status !== undefined) assert.equal(e.$metadata.httpStatusCode, status);
    return true;
  });
}

/** A bucket policy document of these statements (Version 2012-10-17), as PutBucketPolicy takes it. */
export const policyText = (...statements: object[]): string =>
  JSON.stringify({ Version: '2012-10-17', Statement: statements });

/** Sets the bucket's policy to these statements. */
export const putPolicy = (s3: S3Client, bucket: string, statements: object[]) =>
  s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: policyText(...statements) }));
