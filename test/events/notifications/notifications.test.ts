import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CreateFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  CreateBucketCommand,
  GetBucketNotificationConfigurationCommand,
  GetObjectCommand,
  PutBucketNotificationConfigurationCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { zipOf } from '../../api/lambda/zips.js';
import { bodyOf, bucketName, type S3Fixture, startS3 } from '../../api/s3/fixtures.js';
import { sdkConfig } from '../../helpers/platform.js';

let f: S3Fixture;
let lambda: LambdaClient;
before(async () => {
  f = await startS3();
  lambda = new LambdaClient(sdkConfig(f.t));
});
after(async () => {
  f.s3.destroy();
  lambda.destroy();
  await f.t.close();
});

// Records each S3 event it receives as an object of the `<bucket>-events` bucket, with the ordinary SDK.
// (HOME: the SDK reads ~/.aws; environments do not set HOME yet.)
const recorder = `
process.env.HOME = process.env.HOME || '/tmp';
const { S3Client, PutObjectCommand } = require('@aws-sdk/client-s3');
const s3 = new S3Client({ forcePathStyle: true });
exports.handler = async (event) => {
  const r = event.Records[0];
  await s3.send(new PutObjectCommand({ Bucket: r.s3.bucket.name + '-events', Key: r.eventName + '/' + r.s3.object.key, Body: JSON.stringify(event) }));
  return 'ok';
};`;

async function createFunction(name: string, source: string): Promise<string> {
  const out = await lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::123456789012:role/any',
      Code: { ZipFile: await zipOf([{ name: 'index.js', data: source }]) },
      Timeout: 30,
    }),
  );
  return out.FunctionArn!;
}

async function waitForObject(bucket: string, key: string): Promise<Buffer> {
  for (let i = 0; i < 600; i++) {
    try {
      return await bodyOf(await f.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })));
    } catch (e) {
      if ((e as Error).name !== 'NoSuchKey') throw e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${bucket}/${key} never appeared`);
}

test('a notification configuration round-trips through Put and GetBucketNotificationConfiguration', async () => {
  const b = bucketName('cfg');
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  const arn = await createFunction(`cfg-${process.pid}`, 'exports.handler = async () => 1;');
  await f.s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: b,
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          {
            Id: 'pngs',
            LambdaFunctionArn: arn,
            Events: ['s3:ObjectCreated:*'],
            Filter: {
              Key: {
                FilterRules: [
                  { Name: 'prefix', Value: 'in/' },
                  { Name: 'suffix', Value: '.png' },
                ],
              },
            },
          },
        ],
      },
    }),
  );
  const got = await f.s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: b }));
  assert.deepEqual(got.LambdaFunctionConfigurations, [
    {
      Id: 'pngs',
      LambdaFunctionArn: arn,
      Events: ['s3:ObjectCreated:*'],
      Filter: {
        Key: {
          FilterRules: [
            { Name: 'Prefix', Value: 'in/' },
            { Name: 'Suffix', Value: '.png' },
          ],
        },
      },
    },
  ]);
});

test('a notification configuration naming a function that does not exist is refused with InvalidArgument', async () => {
  const b = bucketName('cfg');
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  const account = (
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: `probe-${process.pid}`,
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: 'arn:aws:iam::123456789012:role/any',
        Code: { ZipFile: await zipOf([{ name: 'index.js', data: 'exports.handler = async () => 1;' }]) },
      }),
    )
  ).FunctionArn!.split(':')[4];
  await assert.rejects(
    f.s3.send(
      new PutBucketNotificationConfigurationCommand({
        Bucket: b,
        NotificationConfiguration: {
          LambdaFunctionConfigurations: [
            {
              LambdaFunctionArn: `arn:aws:lambda:us-east-1:${account}:function:missing`,
              Events: ['s3:ObjectCreated:*'],
            },
          ],
        },
      }),
    ),
    { name: 'InvalidArgument' },
  );
});

test('an uploaded object invokes the configured function asynchronously with S3 event JSON', async () => {
  const b = bucketName('notify');
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  await f.s3.send(new CreateBucketCommand({ Bucket: `${b}-events` }));
  const arn = await createFunction(`recorder-${process.pid}`, recorder);
  await f.s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: b,
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [{ Id: 'all', LambdaFunctionArn: arn, Events: ['s3:ObjectCreated:*'] }],
      },
    }),
  );
  const put = await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'hello world.txt', Body: 'hi' }));
  const event = JSON.parse(
    (await waitForObject(`${b}-events`, 'ObjectCreated:Put/hello+world.txt')).toString(),
  );
  const r = event.Records[0];
  assert.equal(r.eventSource, 'aws:s3');
  assert.equal(r.s3.bucket.name, b);
  assert.equal(r.s3.configurationId, 'all');
  assert.equal(r.s3.object.size, 2);
  assert.equal(`"${r.s3.object.eTag}"`, put.ETag);
});

test("an empty notification configuration clears the bucket's configurations", async () => {
  const b = bucketName('cfg');
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  const arn = await createFunction(`clear-${process.pid}`, 'exports.handler = async () => 1;');
  await f.s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: b,
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [{ LambdaFunctionArn: arn, Events: ['s3:ObjectCreated:*'] }],
      },
    }),
  );
  await f.s3.send(
    new PutBucketNotificationConfigurationCommand({ Bucket: b, NotificationConfiguration: {} }),
  );
  const got = await f.s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: b }));
  assert.equal(got.LambdaFunctionConfigurations?.length ?? 0, 0);
});
