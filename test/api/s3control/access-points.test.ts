import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  CreateAccessPointCommand,
  CreateAccessPointForObjectLambdaCommand,
  type CreateAccessPointForObjectLambdaCommandInput,
  DeleteAccessPointCommand,
  DeleteAccessPointForObjectLambdaCommand,
  GetAccessPointCommand,
  GetAccessPointConfigurationForObjectLambdaCommand,
  GetAccessPointForObjectLambdaCommand,
  ListAccessPointsCommand,
  ListAccessPointsForObjectLambdaCommand,
  type S3ControlClient,
} from '@aws-sdk/client-s3-control';
import { startPlatform, type TestPlatform, tempDir } from '../../helpers/platform.js';
import { dropTestStore } from '../../helpers/store.js';
import { arnS3Client, controlClient } from './clients.js';

interface Side {
  account: string;
  control: S3ControlClient;
  s3: S3Client;
}

let t: TestPlatform;
const dataDir = tempDir();
let a: Side;
let b: Side;
const bucket = `ap-${process.pid}`;
const otherBucket = `ap-other-${process.pid}`;

async function side(creds: { accessKeyId: string; secretAccessKey: string }): Promise<Side> {
  const found = await t.platform.tenants.resolveKey(creds.accessKeyId);
  const target = { endpoint: t.endpoint, region: t.region, credentials: creds };
  return { account: found!.tenant.accountId, control: controlClient(target), s3: arnS3Client(target, true) };
}

before(async () => {
  t = await startPlatform({ dataDir });
  a = await side(t.credentials);
  const other = await t.platform.tenants.create('other');
  const key = await t.platform.tenants.createKey(other.id);
  b = await side({ accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey });
  await a.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await b.s3.send(new CreateBucketCommand({ Bucket: otherBucket }));
});

after(async () => {
  await t?.close();
  await dropTestStore(dataDir);
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const olInput = (
  account: string,
  name: string,
  supporting: string,
  extra: Partial<CreateAccessPointForObjectLambdaCommandInput['Configuration']> = {},
): CreateAccessPointForObjectLambdaCommandInput => ({
  AccountId: account,
  Name: name,
  Configuration: {
    SupportingAccessPoint: `arn:aws:s3:${t.region}:${account}:accesspoint/${supporting}`,
    TransformationConfigurations: [
      {
        Actions: ['GetObject'],
        ContentTransformation: {
          AwsLambda: {
            FunctionArn: `arn:aws:lambda:${t.region}:${account}:function:f`,
            FunctionPayload: '{"x":1}',
          },
        },
      },
    ],
    ...extra,
  },
});

test('an access point on the tenant’s bucket is created, read, listed, used by its alias and deleted', async () => {
  const made = await a.control.send(
    new CreateAccessPointCommand({ AccountId: a.account, Name: 'reader', Bucket: bucket }),
  );
  assert.equal(made.AccessPointArn, `arn:aws:s3:${t.region}:${a.account}:accesspoint/reader`);
  assert.match(made.Alias!, /^reader-[a-z0-9]+-s3alias$/);
  const got = await a.control.send(new GetAccessPointCommand({ AccountId: a.account, Name: 'reader' }));
  assert.equal(got.Bucket, bucket);
  assert.equal(got.Alias, made.Alias);
  assert.equal(got.NetworkOrigin, 'Internet');
  assert.ok(got.CreationDate instanceof Date);
  const listed = await a.control.send(new ListAccessPointsCommand({ AccountId: a.account, Bucket: bucket }));
  assert.deepEqual(
    listed.AccessPointList?.map((p) => [p.Name, p.Bucket, p.Alias]),
    [['reader', bucket, made.Alias]],
  );
  // The alias stands for the bucket wherever a bucket name goes.
  await a.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k.txt', Body: 'through the alias' }));
  const obj = await a.s3.send(new GetObjectCommand({ Bucket: made.Alias!, Key: 'k.txt' }));
  assert.equal(await obj.Body!.transformToString(), 'through the alias');

  await assert.rejects(
    a.control.send(new CreateAccessPointCommand({ AccountId: a.account, Name: 'reader', Bucket: bucket })),
    { name: 'AccessPointAlreadyOwnedByYou' },
  );
  await a.control.send(new DeleteAccessPointCommand({ AccountId: a.account, Name: 'reader' }));
  await assert.rejects(a.control.send(new GetAccessPointCommand({ AccountId: a.account, Name: 'reader' })), {
    name: 'NoSuchAccessPoint',
  });
  await assert.rejects(a.s3.send(new GetObjectCommand({ Bucket: made.Alias!, Key: 'k.txt' })), {
    name: 'NoSuchBucket',
  });
});

test('another tenant’s access points, buckets and account answer like missing ones', async () => {
  const mine = await a.control.send(
    new CreateAccessPointCommand({ AccountId: a.account, Name: 'mine', Bucket: bucket }),
  );
  // B names A's access point under its own account: there is none.
  await assert.rejects(b.control.send(new GetAccessPointCommand({ AccountId: b.account, Name: 'mine' })), {
    name: 'NoSuchAccessPoint',
  });
  // B names A's account: refused before anything is looked up.
  await assert.rejects(b.control.send(new GetAccessPointCommand({ AccountId: a.account, Name: 'mine' })), {
    name: 'AccessDenied',
  });
  await assert.rejects(b.control.send(new DeleteAccessPointCommand({ AccountId: a.account, Name: 'mine' })), {
    name: 'AccessDenied',
  });
  // A's alias in B's hands is no bucket at all.
  await assert.rejects(b.s3.send(new GetObjectCommand({ Bucket: mine.Alias!, Key: 'k.txt' })), {
    name: 'NoSuchBucket',
  });
  // An access point on another tenant's bucket, or on none.
  for (const Bucket of [otherBucket, `missing-${process.pid}`])
    await assert.rejects(
      a.control.send(new CreateAccessPointCommand({ AccountId: a.account, Name: 'theirs', Bucket })),
      {
        name: 'NoSuchBucket',
      },
    );
  // An Object Lambda access point over A's access point, made by B under its own account.
  const stolen = olInput(b.account, 'stolen', 'mine');
  stolen.Configuration!.SupportingAccessPoint = `arn:aws:s3:${t.region}:${a.account}:accesspoint/mine`;
  await assert.rejects(b.control.send(new CreateAccessPointForObjectLambdaCommand(stolen)), {
    name: 'InvalidRequest',
  });
  assert.equal(
    (await b.control.send(new ListAccessPointsCommand({ AccountId: b.account }))).AccessPointList?.length ??
      0,
    0,
  );
});

test('an Object Lambda access point is created, read with its configuration, listed and deleted', async () => {
  await a.control.send(
    new CreateAccessPointCommand({ AccountId: a.account, Name: 'supporting', Bucket: bucket }),
  );
  const made = await a.control.send(
    new CreateAccessPointForObjectLambdaCommand(olInput(a.account, 'transform', 'supporting')),
  );
  assert.equal(
    made.ObjectLambdaAccessPointArn,
    `arn:aws:s3-object-lambda:${t.region}:${a.account}:accesspoint/transform`,
  );
  assert.equal(made.Alias?.Status, 'READY');
  const got = await a.control.send(
    new GetAccessPointForObjectLambdaCommand({ AccountId: a.account, Name: 'transform' }),
  );
  assert.equal(got.Name, 'transform');
  assert.equal(got.Alias?.Value, made.Alias?.Value);
  const conf = await a.control.send(
    new GetAccessPointConfigurationForObjectLambdaCommand({ AccountId: a.account, Name: 'transform' }),
  );
  assert.equal(
    conf.Configuration?.SupportingAccessPoint,
    `arn:aws:s3:${t.region}:${a.account}:accesspoint/supporting`,
  );
  assert.deepEqual(conf.Configuration?.TransformationConfigurations, [
    {
      Actions: ['GetObject'],
      ContentTransformation: {
        AwsLambda: {
          FunctionArn: `arn:aws:lambda:${t.region}:${a.account}:function:f`,
          FunctionPayload: '{"x":1}',
        },
      },
    },
  ]);
  const listed = await a.control.send(new ListAccessPointsForObjectLambdaCommand({ AccountId: a.account }));
  assert.deepEqual(
    listed.ObjectLambdaAccessPointList?.map((p) => p.Name),
    ['transform'],
  );
  await assert.rejects(
    b.control.send(new GetAccessPointForObjectLambdaCommand({ AccountId: b.account, Name: 'transform' })),
    {
      name: 'NoSuchAccessPoint',
    },
  );
  await a.control.send(
    new DeleteAccessPointForObjectLambdaCommand({ AccountId: a.account, Name: 'transform' }),
  );
  await assert.rejects(
    a.control.send(new GetAccessPointForObjectLambdaCommand({ AccountId: a.account, Name: 'transform' })),
    {
      name: 'NoSuchAccessPoint',
    },
  );
});

test('Object Lambda features Kindling does not implement are refused by name', async () => {
  await a.control.send(new CreateAccessPointCommand({ AccountId: a.account, Name: 'sup2', Bucket: bucket }));
  const head = olInput(a.account, 'heads', 'sup2');
  head.Configuration!.TransformationConfigurations![0]!.Actions = ['GetObject', 'HeadObject'];
  await assert.rejects(a.control.send(new CreateAccessPointForObjectLambdaCommand(head)), (e: Error) => {
    assert.equal(e.name, 'InvalidRequest');
    assert.match(e.message, /HeadObject/);
    return true;
  });
  await assert.rejects(
    a.control.send(
      new CreateAccessPointForObjectLambdaCommand(
        olInput(a.account, 'ranges', 'sup2', { AllowedFeatures: ['GetObject-Range'] }),
      ),
    ),
    /GetObject-Range/,
  );
  await assert.rejects(
    a.control.send(
      new CreateAccessPointForObjectLambdaCommand(
        olInput(a.account, 'metrics', 'sup2', { CloudWatchMetricsEnabled: true }),
      ),
    ),
    /CloudWatchMetricsEnabled/,
  );
  await assert.rejects(
    a.control.send(
      new CreateAccessPointCommand({
        AccountId: a.account,
        Name: 'vpc',
        Bucket: bucket,
        VpcConfiguration: { VpcId: 'vpc-1' },
      }),
    ),
    /VpcConfiguration/,
  );
  await assert.rejects(
    a.control.send(new CreateAccessPointForObjectLambdaCommand(olInput(a.account, 'nosup', 'not-there'))),
    { name: 'InvalidRequest' },
  );
});

test('access points and Object Lambda access points survive a restart', async () => {
  await a.control.send(new CreateAccessPointCommand({ AccountId: a.account, Name: 'kept', Bucket: bucket }));
  await a.control.send(new CreateAccessPointForObjectLambdaCommand(olInput(a.account, 'kept-ol', 'kept')));
  await a.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'kept.txt', Body: 'still here' }));
  await t.close();
  t = await startPlatform({ dataDir });
  a = await side(t.credentials);
  const ap = await a.control.send(new GetAccessPointCommand({ AccountId: a.account, Name: 'kept' }));
  assert.equal(ap.Bucket, bucket);
  const conf = await a.control.send(
    new GetAccessPointConfigurationForObjectLambdaCommand({ AccountId: a.account, Name: 'kept-ol' }),
  );
  assert.equal(
    conf.Configuration?.SupportingAccessPoint,
    `arn:aws:s3:${t.region}:${a.account}:accesspoint/kept`,
  );
  const obj = await a.s3.send(new GetObjectCommand({ Bucket: ap.Alias!, Key: 'kept.txt' }));
  assert.equal(await obj.Body!.transformToString(), 'still here');
});
