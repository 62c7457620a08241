// Two `kindling serve` nodes on one PostgreSQL database sharing a --blobs directory: an object PUT on one
// is read on the other, and a function created on one runs on the other (its code extracted there on
// demand). On PostgreSQL whatever the run's store leg (SQLite is one node by construction).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { CreateFunctionCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { sdkConfig, startPlatform, type TestPlatform, tempDir } from '../../helpers/platform.js';
import { freshDatabase } from '../../helpers/postgres.js';
import { handlerZip } from '../lambda/zips.js';
import { bodyOf, bucketName, client } from './fixtures.js';

test('two nodes on one database and one --blobs dir: an object PUT on A is read on B, a function created on A runs on B', async () => {
  const db = await freshDatabase();
  const shared = tempDir('kindling-shared-');
  const dirA = tempDir();
  const dirB = tempDir();
  const nodes: TestPlatform[] = [];
  const clients: { destroy(): void }[] = [];
  try {
    const a = await startPlatform({ dataDir: dirA, store: db.url, blobs: shared });
    nodes.push(a);
    const b = await startPlatform({ dataDir: dirB, store: db.url, blobs: shared });
    nodes.push(b);
    // Both nodes know one tenant (its key and buckets).
    assert.ok(await b.platform.tenants.resolveKey(a.credentials.accessKeyId), 'B resolves A’s admin key');
    // B is addressed with A's admin key: one tenant across the cluster.
    const [s3a, s3b] = [client(a), client({ ...b, credentials: a.credentials })];
    const [lambdaA, lambdaB] = [
      new LambdaClient(sdkConfig(a)),
      new LambdaClient(sdkConfig({ ...b, credentials: a.credentials })),
    ];
    clients.push(s3a, s3b, lambdaA, lambdaB);
    const bucket = bucketName('shared');
    await s3a.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3a.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: 'written on A' }));
    assert.equal(
      (await bodyOf(await s3b.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' })))).toString(),
      'written on A',
    );
    await lambdaA.send(
      new CreateFunctionCommand({
        FunctionName: 'made-on-a',
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: 'arn:aws:iam::1:role/r',
        Code: { ZipFile: await handlerZip('export const handler = async () => "ran on b";') },
      }),
    );
    const out = await lambdaB.send(new InvokeCommand({ FunctionName: 'made-on-a' }));
    assert.equal(out.FunctionError, undefined);
    assert.equal(JSON.parse(Buffer.from(out.Payload!).toString()), 'ran on b');
  } finally {
    for (const c of clients) c.destroy();
    for (const n of nodes.reverse()) await n.close();
    await db.drop();
    for (const d of [shared, dirA, dirB]) fs.rmSync(d, { recursive: true, force: true });
  }
});
