import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CreateFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  CreateBucketCommand,
  GetBucketNotificationConfigurationCommand,
  GetObjectCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketNotificationConfigurationCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { S3EventRecord } from '../../../src/events/notifications/s3-event.js';
import { zipOf } from '../../api/lambda/zips.js';
import { bodyOf, bucketName, type S3Fixture, startS3 } from '../../api/s3/fixtures.js';
import { sdkConfig } from '../../helpers/platform.js';

let f: S3Fixture;
let lambda: LambdaClient;
let sqs: SQSClient;
before(async () => {
  f = await startS3();
  lambda = new LambdaClient(sdkConfig(f.t));
  sqs = new SQSClient(sdkConfig(f.t));
});
after(async () => {
  f.s3.destroy();
  lambda.destroy();
  sqs.destroy();
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

async function queue(name: string): Promise<{ url: string; arn: string }> {
  const url = (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] })))
    .Attributes!.QueueArn!;
  return { url, arn };
}

/** The next message's body, deleted once read. */
async function nextBody(url: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 30; i++) {
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1 }));
    const m = r.Messages?.[0];
    if (m) {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
      return JSON.parse(m.Body!);
    }
  }
  assert.fail(`no message arrived on ${url}`);
}

test('a QueueConfiguration sends a test event, then each matching change as an S3 event message', async () => {
  const b = bucketName('q');
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  const q = await queue(`s3-events-${process.pid}`);
  await f.s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: b,
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            Id: 'csv',
            QueueArn: q.arn,
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'suffix', Value: '.csv' }] } },
          },
        ],
      },
    }),
  );
  const got = await f.s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: b }));
  assert.deepEqual(got.QueueConfigurations, [
    {
      Id: 'csv',
      QueueArn: q.arn,
      Events: ['s3:ObjectCreated:*'],
      Filter: { Key: { FilterRules: [{ Name: 'Suffix', Value: '.csv' }] } },
    },
  ]);
  assert.equal(got.LambdaFunctionConfigurations, undefined);
  const testEvent = await nextBody(q.url);
  assert.equal(testEvent.Event, 's3:TestEvent');
  assert.equal(testEvent.Bucket, b);
  // Not matched by the filter: nothing is sent for it; the next message is the .csv one.
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'skip.txt', Body: 'x' }));
  const put = await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'in/data 1.csv', Body: 'a,b\n' }));
  const event = (await nextBody(q.url)) as unknown as { Records: S3EventRecord[] };
  assert.equal(event.Records.length, 1);
  const r = event.Records[0]!;
  assert.equal(r.eventSource, 'aws:s3');
  assert.equal(r.eventName, 'ObjectCreated:Put');
  assert.equal(r.s3.configurationId, 'csv');
  assert.equal(r.s3.object.key, 'in/data+1.csv');
  assert.equal(`"${r.s3.object.eTag}"`, put.ETag);
  const rest = await sqs.send(new ReceiveMessageCommand({ QueueUrl: q.url, WaitTimeSeconds: 1 }));
  assert.equal(rest.Messages, undefined);
});

test('a lifecycle expiration is told as LifecycleExpiration:Delete, not as ObjectRemoved', async () => {
  const b = bucketName('lc-q');
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  const q = await queue(`s3-lifecycle-${process.pid}`);
  await f.s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: b,
      NotificationConfiguration: {
        QueueConfigurations: [{ Id: 'lc', QueueArn: q.arn, Events: ['s3:LifecycleExpiration:*'] }],
      },
    }),
  );
  assert.equal((await nextBody(q.url)).Event, 's3:TestEvent');
  await f.s3.send(new PutObjectCommand({ Bucket: b, Key: 'old/a', Body: 'x' }));
  await f.s3.send(
    new PutBucketLifecycleConfigurationCommand({
      Bucket: b,
      LifecycleConfiguration: {
        Rules: [{ ID: 'old', Status: 'Enabled', Filter: { Prefix: 'old/' }, Expiration: { Days: 1 } }],
      },
    }),
  );
  const swept = await f.t.platform.components.objects.lifecycle.sweep(Date.now() + 2 * 86_400_000);
  assert.equal(swept.expired, 1);
  const event = (await nextBody(q.url)) as unknown as { Records: S3EventRecord[] };
  assert.equal(event.Records[0]!.eventName, 'LifecycleExpiration:Delete');
  assert.equal(event.Records[0]!.s3.object.key, 'old/a');
});

test("a QueueConfiguration naming a missing queue, or another tenant's, is refused with InvalidArgument", async () => {
  const b = bucketName('q');
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  const mine = await queue(`mine-${process.pid}`);
  const other = await f.t.platform.tenants.create(`q-other-${process.pid}`);
  const key = await f.t.platform.tenants.createKey(other.id);
  const theirs = new SQSClient(
    sdkConfig({
      ...f.t,
      credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    }),
  );
  try {
    const url = (await theirs.send(new CreateQueueCommand({ QueueName: `theirs-${process.pid}` }))).QueueUrl!;
    const theirArn = (
      await theirs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))
    ).Attributes!.QueueArn!;
    for (const arn of [theirArn, mine.arn.replace(/:[^:]+$/, ':missing'), 'arn:aws:sqs:nowhere']) {
      await assert.rejects(
        f.s3.send(
          new PutBucketNotificationConfigurationCommand({
            Bucket: b,
            NotificationConfiguration: {
              QueueConfigurations: [{ QueueArn: arn, Events: ['s3:ObjectCreated:*'] }],
            },
          }),
        ),
        { name: 'InvalidArgument' },
        arn,
      );
    }
    // Nothing was stored, and their queue got no test event.
    const got = await f.s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: b }));
    assert.equal(got.QueueConfigurations, undefined);
    const r = await theirs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 0 }));
    assert.equal(r.Messages, undefined);
  } finally {
    theirs.destroy();
  }
});

test('a TopicConfiguration is refused by name with InvalidArgument', async () => {
  const b = bucketName('q');
  await f.s3.send(new CreateBucketCommand({ Bucket: b }));
  await assert.rejects(
    f.s3.send(
      new PutBucketNotificationConfigurationCommand({
        Bucket: b,
        NotificationConfiguration: {
          TopicConfigurations: [
            { TopicArn: 'arn:aws:sns:us-east-1:123456789012:t', Events: ['s3:ObjectCreated:*'] },
          ],
        },
      }),
    ),
    (e: Error) => e.name === 'InvalidArgument' && /TopicConfiguration/.test(e.message),
  );
});
