// `--blobs s3://BUCKET/prefix`: object bodies and code zips go to an S3-compatible service (here a second
// Kindling started as a plain object store), code is extracted into the node's cache on demand, and a
// blob missing from the service is a clear error (S3: 500 InternalError, Lambda: ServiceException).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  CreateFunctionCommand,
  GetFunctionCommand,
  InvokeCommand,
  LambdaClient,
} from '@aws-sdk/client-lambda';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { removeTree } from '../../../src/control/code-store.js';
import { sdkConfig, startPlatform, type TestPlatform, tempDir } from '../../helpers/platform.js';
import { dropTestStore } from '../../helpers/store.js';
import { handlerZip } from '../lambda/zips.js';
import { bodyOf, bucketName, client } from './fixtures.js';

const BLOBS_ENV = [
  'KINDLING_BLOBS_ENDPOINT',
  'KINDLING_BLOBS_ACCESS_KEY_ID',
  'KINDLING_BLOBS_SECRET_ACCESS_KEY',
];

/** A node whose blobs live in `bucket` of the backing Kindling (started with KINDLING_BLOBS_* set). */
async function startNode(backing: TestPlatform, dataDir: string, location: string): Promise<TestPlatform> {
  const saved = BLOBS_ENV.map((k) => process.env[k]);
  process.env.KINDLING_BLOBS_ENDPOINT = backing.endpoint;
  process.env.KINDLING_BLOBS_ACCESS_KEY_ID = backing.credentials.accessKeyId;
  process.env.KINDLING_BLOBS_SECRET_ACCESS_KEY = backing.credentials.secretAccessKey;
  try {
    return await startPlatform({ dataDir, blobs: location });
  } finally {
    BLOBS_ENV.forEach((k, i) => {
      const v = saved[i];
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    });
  }
}

async function keysOf(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

const base = { Runtime: 'nodejs20.x' as const, Handler: 'index.handler', Role: 'arn:aws:iam::1:role/r' };

test('with --blobs s3://, object bodies and code live in the S3 service, and a node with an empty code cache runs the code', async () => {
  const backing = await startPlatform();
  const store = client(backing);
  const blobBucket = bucketName('blobs');
  await store.send(new CreateBucketCommand({ Bucket: blobBucket }));
  const dataDir = tempDir();
  let node: TestPlatform | undefined;
  const clients: { destroy(): void }[] = [store];
  try {
    node = await startNode(backing, dataDir, `s3://${blobBucket}/cluster-1`);
    const s3 = client(node);
    const lambda = new LambdaClient(sdkConfig(node));
    clients.push(s3, lambda);
    await s3.send(new CreateBucketCommand({ Bucket: 'photos' }));
    await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'a/b.txt', Body: 'hello from s3 blobs' }));
    assert.equal(
      (await bodyOf(await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'a/b.txt' })))).toString(),
      'hello from s3 blobs',
    );
    // A multipart upload: parts go to the service, completion reads them back from it.
    const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'photos', Key: 'big' }));
    const part1 = Buffer.alloc(5 * 1024 * 1024, 3);
    const etags: string[] = [];
    for (const [i, b] of [part1, Buffer.from('end')].entries()) {
      const out = await s3.send(
        new UploadPartCommand({
          Bucket: 'photos',
          Key: 'big',
          UploadId: up.UploadId,
          PartNumber: i + 1,
          Body: b,
        }),
      );
      etags.push(out.ETag!);
    }
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'photos',
        Key: 'big',
        UploadId: up.UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }),
    );
    const big = await bodyOf(await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big' })));
    assert.ok(big.equals(Buffer.concat([part1, Buffer.from('end')])));
    await s3.send(new DeleteObjectCommand({ Bucket: 'photos', Key: 'big' }));

    const objectBlobs = await keysOf(store, blobBucket, 'cluster-1/objects/');
    assert.equal(objectBlobs.length, 1);
    assert.match(objectBlobs[0]!, /^cluster-1\/objects\/[0-9a-f]{2}\/[0-9a-f]{32}$/);
    // Nothing of it in the node's data dir.
    const local = path.join(dataDir, 'objects', 'data');
    assert.ok(!fs.existsSync(local) || fs.readdirSync(local, { recursive: true }).length === 0);

    const created = await lambda.send(
      new CreateFunctionCommand({
        ...base,
        FunctionName: 'from-s3',
        Code: { ZipFile: await handlerZip('export const handler = async () => "code from the blob store";') },
      }),
    );
    const digest = Buffer.from(created.CodeSha256!, 'base64').toString('hex');
    assert.deepEqual(await keysOf(store, blobBucket, 'cluster-1/code/'), [`cluster-1/code/${digest}.zip`]);
    // The download URL serves the zip read back from the service.
    const fn = await lambda.send(new GetFunctionCommand({ FunctionName: 'from-s3' }));
    const zip = Buffer.from(await (await fetch(fn.Code!.Location!)).arrayBuffer());
    assert.equal(zip.length, created.CodeSize);

    // A node that never saw CreateFunction: same database, an empty code cache.
    lambda.destroy();
    s3.destroy();
    await node.close();
    node = undefined;
    removeTree(path.join(dataDir, 'code'));
    node = await startNode(backing, dataDir, `s3://${blobBucket}/cluster-1`);
    const again = new LambdaClient(sdkConfig(node));
    clients.push(again);
    const out = await again.send(new InvokeCommand({ FunctionName: 'from-s3' }));
    assert.equal(out.FunctionError, undefined);
    assert.equal(JSON.parse(Buffer.from(out.Payload!).toString()), 'code from the blob store');
  } finally {
    for (const c of clients) c.destroy();
    await node?.close();
    await dropTestStore(dataDir);
    fs.rmSync(dataDir, { recursive: true, force: true });
    await backing.close();
  }
});

test('an object whose blob is gone from the S3 service answers 500 InternalError, and code whose zip is gone answers ServiceException', async () => {
  const backing = await startPlatform();
  const store = client(backing);
  const blobBucket = bucketName('blobs');
  await store.send(new CreateBucketCommand({ Bucket: blobBucket }));
  const dataDir = tempDir();
  let node: TestPlatform | undefined;
  const clients: { destroy(): void }[] = [store];
  try {
    node = await startNode(backing, dataDir, `s3://${blobBucket}`);
    const s3 = client(node);
    const lambda = new LambdaClient(sdkConfig(node));
    clients.push(s3, lambda);
    await s3.send(new CreateBucketCommand({ Bucket: 'docs' }));
    await s3.send(new PutObjectCommand({ Bucket: 'docs', Key: 'gone', Body: 'soon missing' }));
    for (const key of await keysOf(store, blobBucket, 'objects/')) {
      await store.send(new DeleteObjectCommand({ Bucket: blobBucket, Key: key }));
    }
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'docs', Key: 'gone' })), (e: unknown) => {
      const err = e as { name: string; $metadata: { httpStatusCode: number } };
      assert.equal(err.name, 'InternalError');
      assert.equal(err.$metadata.httpStatusCode, 500);
      return true;
    });

    await lambda.send(
      new CreateFunctionCommand({
        ...base,
        FunctionName: 'lost-code',
        Code: { ZipFile: await handlerZip('export const handler = async () => 1;') },
      }),
    );
    for (const key of await keysOf(store, blobBucket, 'code/')) {
      await store.send(new DeleteObjectCommand({ Bucket: blobBucket, Key: key }));
    }
    lambda.destroy();
    s3.destroy();
    await node.close();
    node = undefined;
    removeTree(path.join(dataDir, 'code'));
    node = await startNode(backing, dataDir, `s3://${blobBucket}`);
    const again = new LambdaClient(sdkConfig(node));
    clients.push(again);
    await assert.rejects(again.send(new InvokeCommand({ FunctionName: 'lost-code' })), (e: unknown) => {
      const err = e as { name: string; message: string; $metadata: { httpStatusCode: number } };
      assert.equal(err.name, 'ServiceException');
      assert.equal(err.$metadata.httpStatusCode, 500);
      assert.match(err.message, /could not be read from the blob store/);
      return true;
    });
  } finally {
    for (const c of clients) c.destroy();
    await node?.close();
    await dropTestStore(dataDir);
    fs.rmSync(dataDir, { recursive: true, force: true });
    await backing.close();
  }
});
