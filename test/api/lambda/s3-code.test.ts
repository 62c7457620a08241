// Function code from the embedded object store (Code.S3Bucket/S3Key), as SAM, CDK and Terraform deploy it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  InvokeCommand,
  LambdaClient,
  UpdateFunctionCodeCommand,
} from '@aws-sdk/client-lambda';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { handlerZip } from './zips.js';

let p: TestPlatform;
let lambda: LambdaClient;
let s3: S3Client;
let other: LambdaClient;

const base = { Runtime: 'nodejs20.x' as const, Handler: 'index.handler', Role: 'arn:aws:iam::1:role/r' };
type SdkError = Error & { $metadata: { httpStatusCode?: number } };

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
  s3 = new S3Client({ ...sdkConfig(p), forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: 'deploys' }));
  await s3.send(
    new PutObjectCommand({
      Bucket: 'deploys',
      Key: 'v1.zip',
      Body: await handlerZip('export const handler = async () => "from s3 v1";'),
    }),
  );
  await s3.send(
    new PutObjectCommand({
      Bucket: 'deploys',
      Key: 'v2.zip',
      Body: await handlerZip('export const handler = async () => "from s3 v2";'),
    }),
  );
  const t = await p.platform.tenants.create('s3code-other');
  const key = await p.platform.tenants.createKey(t.id);
  other = new LambdaClient(
    sdkConfig({ ...p, credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey } }),
  );
});
after(async () => {
  lambda.destroy();
  s3.destroy();
  other.destroy();
  await p.close();
});

const payload = (b: Uint8Array | undefined) => JSON.parse(Buffer.from(b ?? []).toString());

test('CreateFunction takes its code from an object of the tenant’s bucket', async () => {
  await lambda.send(
    new CreateFunctionCommand({
      ...base,
      FunctionName: 's3-fn',
      Code: { S3Bucket: 'deploys', S3Key: 'v1.zip' },
    }),
  );
  assert.equal(
    payload((await lambda.send(new InvokeCommand({ FunctionName: 's3-fn' }))).Payload),
    'from s3 v1',
  );
});

test('UpdateFunctionCode takes new code from S3', async () => {
  await lambda.send(
    new CreateFunctionCommand({
      ...base,
      FunctionName: 's3-upd',
      Code: { S3Bucket: 'deploys', S3Key: 'v1.zip' },
    }),
  );
  await lambda.send(
    new UpdateFunctionCodeCommand({ FunctionName: 's3-upd', S3Bucket: 'deploys', S3Key: 'v2.zip' }),
  );
  assert.equal(
    payload((await lambda.send(new InvokeCommand({ FunctionName: 's3-upd' }))).Payload),
    'from s3 v2',
  );
});

test('a missing S3 key is refused with Lambda’s GetObject wording', async () => {
  await assert.rejects(
    lambda.send(
      new CreateFunctionCommand({
        ...base,
        FunctionName: 's3-missing',
        Code: { S3Bucket: 'deploys', S3Key: 'nope.zip' },
      }),
    ),
    (e: SdkError) => {
      assert.equal(e.name, 'InvalidParameterValueException');
      assert.match(e.message, /^Error occurred while GetObject\. S3 Error Code: NoSuchKey\./);
      return true;
    },
  );
});

test('another tenant cannot deploy code from this tenant’s bucket', async () => {
  await assert.rejects(
    other.send(
      new CreateFunctionCommand({
        ...base,
        FunctionName: 's3-steal',
        Code: { S3Bucket: 'deploys', S3Key: 'v1.zip' },
      }),
    ),
    (e: SdkError) =>
      e.name === 'InvalidParameterValueException' &&
      /S3 Error Code: (AccessDenied|NoSuchBucket)\./.test(e.message),
  );
});

test('S3Bucket without S3Key is refused', async () => {
  await assert.rejects(
    lambda.send(
      new CreateFunctionCommand({ ...base, FunctionName: 's3-half', Code: { S3Bucket: 'deploys' } }),
    ),
    (e: SdkError) => e.name === 'InvalidParameterValueException',
  );
});
