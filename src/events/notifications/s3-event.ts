// Builds the S3 event JSON a Lambda function receives for an object change, in the shape S3 sends
// (eventVersion 2.1, URL-encoded key, unquoted eTag, hex sequencer).
import type { ObjectChange } from '../objects/store.js';

export interface S3EventRecord {
  eventVersion: '2.1';
  eventSource: 'aws:s3';
  awsRegion: string;
  eventTime: string;
  eventName: string;
  userIdentity: { principalId: string };
  requestParameters: { sourceIPAddress: string };
  responseElements: { 'x-amz-request-id': string; 'x-amz-id-2': string };
  s3: {
    s3SchemaVersion: '1.0';
    configurationId: string;
    bucket: { name: string; ownerIdentity: { principalId: string }; arn: string };
    object: { key: string; size?: number; eTag?: string; versionId?: string; sequencer: string };
  };
}

export const bucketArn = (bucket: string): string => `arn:aws:s3:::${bucket}`;

/**
 * Keys are form-encoded as S3 does in events (Java's URLEncoder, keeping `/`): a space becomes `+`,
 * so handlers decode with `decodeURIComponent(key.replace(/\+/g, ' '))`.
 */
export function encodeEventKey(key: string): string {
  let out = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.*/]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function buildS3Event(
  change: ObjectChange,
  ctx: { region: string; configurationId: string; principalId: string; requestId: string; sourceIp?: string },
): { Records: S3EventRecord[] } {
  const object: S3EventRecord['s3']['object'] = {
    key: encodeEventKey(change.key),
    sequencer: change.sequencer,
  };
  if (change.eventName.startsWith('ObjectCreated:')) {
    object.size = change.size ?? 0;
    object.eTag = change.etag ?? '';
  }
  // S3 names the version only for a bucket with versioning configured.
  if (change.versionId !== undefined) object.versionId = change.versionId;
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: ctx.region,
        eventTime: change.time.toISOString(),
        eventName: change.eventName,
        userIdentity: { principalId: ctx.principalId },
        requestParameters: { sourceIPAddress: ctx.sourceIp ?? '127.0.0.1' },
        responseElements: {
          'x-amz-request-id': ctx.requestId,
          'x-amz-id-2': Buffer.from(ctx.requestId).toString('base64'),
        },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: ctx.configurationId,
          bucket: {
            name: change.bucket,
            ownerIdentity: { principalId: ctx.principalId },
            arn: bucketArn(change.bucket),
          },
          object,
        },
      },
    ],
  };
}
