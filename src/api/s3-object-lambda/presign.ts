// A presigned GET (SigV4 in the query string), as S3 Object Lambda hands a function its `inputS3Url`.
import { createHmac } from 'node:crypto';
import {
  ALGORITHM,
  canonicalRequest,
  signingKey,
  stringToSign,
  UNSIGNED_PAYLOAD,
  uriEncode,
} from '../sigv4.js';

export interface PresignInput {
  /** `http://host:port` */
  origin: string;
  /** Encoded path, e.g. `/bucket/key%20with%20spaces`. */
  rawPath: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
  region: string;
  expiresSec: number;
  now?: Date;
}

export function presignGet(i: PresignInput): string {
  const amzDate = (i.now ?? new Date()).toISOString().replace(/[-:]|\.\d{3}/g, '');
  const scope = `${amzDate.slice(0, 8)}/${i.region}/s3/aws4_request`;
  const params: [string, string][] = [
    ['X-Amz-Algorithm', ALGORITHM],
    ['X-Amz-Credential', `${i.accessKeyId}/${scope}`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', String(i.expiresSec)],
    ...(i.sessionToken ? ([['X-Amz-Security-Token', i.sessionToken]] as [string, string][]) : []),
    ['X-Amz-SignedHeaders', 'host'],
  ];
  const rawQuery = params.map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join('&');
  const host = new URL(i.origin).host;
  const canonical = canonicalRequest({
    method: 'GET',
    rawPath: i.rawPath,
    rawQuery,
    headers: { host },
    signedHeaders: ['host'],
    payloadHash: UNSIGNED_PAYLOAD,
    service: 's3',
  });
  const key = signingKey(i.secretAccessKey, amzDate.slice(0, 8), i.region, 's3');
  const signature = createHmac('sha256', key)
    .update(stringToSign(amzDate, scope, canonical))
    .digest('hex');
  return `${i.origin}${i.rawPath}?${rawQuery}&X-Amz-Signature=${signature}`;
}
