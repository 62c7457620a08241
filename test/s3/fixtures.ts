// Shared setup for the S3 tests: a platform per file and an unmodified S3 client pointed at it.
import { S3Client } from '@aws-sdk/client-s3';
import { type TestPlatform, sdkConfig, startPlatform } from '../helpers/platform.js';

export interface S3Fixture {
  t: TestPlatform;
  s3: S3Client;
}

export async function startS3(): Promise<S3Fixture> {
  const t = await startPlatform();
  return { t, s3: client(t) };
}

export function client(p: { endpoint: string; region?: string; credentials: { accessKeyId: string; secretAccessKey: string } }): S3Client {
  return new S3Client({ ...sdkConfig(p), forcePathStyle: true });
}

let n = 0;
/** A bucket name unique within the test run. */
export const bucketName = (label = 'b'): string => `${label}-${process.pid}-${++n}`;

export async function bodyOf(out: { Body?: { transformToByteArray(): Promise<Uint8Array> } }): Promise<Buffer> {
  return Buffer.from(await out.Body!.transformToByteArray());
}
