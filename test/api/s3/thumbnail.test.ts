import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CreateFunctionCommand, GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutBucketNotificationConfigurationCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { zipDirectory } from '../../../src/cli/deploy.js';
import { repoRoot, sdkConfig } from '../../helpers/platform.js';
import { bodyOf, bucketName, type S3Fixture, startS3 } from './fixtures.js';

const exampleDir = path.join(repoRoot, 'examples/thumbnail');
interface Image {
  width: number;
  height: number;
  data: Buffer;
}
const png = createRequire(import.meta.url)(path.join(exampleDir, 'png.js')) as {
  decode(b: Buffer): Image;
  encode(i: Image): Buffer;
  resize(i: Image, max: number): Image;
};

/** A gradient so a broken resize or filter shows up as wrong pixels, not only wrong sizes. */
function gradient(width: number, height: number): Image {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      data[i] = x % 256;
      data[i + 1] = y % 256;
      data[i + 2] = 128;
      data[i + 3] = 255;
    }
  }
  return { width, height, data };
}

test('the example PNG codec decodes what it encodes', () => {
  const img = gradient(37, 21);
  const back = png.decode(png.encode(img));
  assert.equal(back.width, 37);
  assert.equal(back.height, 21);
  assert.ok(back.data.equals(img.data));
});

test('the example resize fits the longer side into the maximum and keeps the aspect ratio', () => {
  const small = png.resize(gradient(400, 200), 100);
  assert.deepEqual([small.width, small.height], [100, 50]);
});

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

test('an uploaded PNG gets a thumbnail of at most 128 px in <bucket>-thumbnails', async () => {
  const bucket = bucketName('photos');
  await f.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await f.s3.send(new CreateBucketCommand({ Bucket: `${bucket}-thumbnails` }));
  const name = `thumbnail-${process.pid}`;
  const { FunctionArn } = await lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::123456789012:role/thumbnail',
      Code: { ZipFile: await zipDirectory(exampleDir) },
      MemorySize: 256,
      Timeout: 30,
    }),
  );
  for (let i = 0; i < 200; i++) {
    const c = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    if (c.State === 'Active') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await f.s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: bucket,
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          {
            Id: 'thumbnails',
            LambdaFunctionArn: FunctionArn,
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'suffix', Value: '.png' }] } },
          },
        ],
      },
    }),
  );
  await f.s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: 'holiday/beach view.png',
      Body: png.encode(gradient(640, 480)),
      ContentType: 'image/png',
    }),
  );

  let thumb: Buffer | undefined;
  for (let i = 0; i < 600 && !thumb; i++) {
    try {
      thumb = await bodyOf(
        await f.s3.send(
          new GetObjectCommand({ Bucket: `${bucket}-thumbnails`, Key: 'holiday/beach view.png' }),
        ),
      );
    } catch (e) {
      if ((e as Error).name !== 'NoSuchKey') throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  assert.ok(thumb, 'the thumbnail never appeared');
  const img = png.decode(thumb);
  assert.deepEqual([img.width, img.height], [128, 96]);
});
