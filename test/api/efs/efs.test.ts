// The EFS-compatible API through the unmodified SDK against a real server: file systems and access points
// created, described (by id, by token, in pages) and deleted with EFS's error shapes; fields a local volume
// cannot honour refused by name; another tenant's file systems and access points answer like missing ones.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateAccessPointCommand,
  type CreateAccessPointCommandInput,
  CreateFileSystemCommand,
  CreateMountTargetCommand,
  DeleteAccessPointCommand,
  DeleteFileSystemCommand,
  DescribeAccessPointsCommand,
  DescribeFileSystemsCommand,
  EFSClient,
} from '@aws-sdk/client-efs';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';

let p: TestPlatform;
let efs: EFSClient;
let other: EFSClient;

before(async () => {
  p = await startPlatform();
  efs = new EFSClient(sdkConfig(p));
  const tenant = await p.platform.tenants.create('efs-other');
  const key = await p.platform.tenants.createKey(tenant.id);
  other = new EFSClient(
    sdkConfig({ ...p, credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey } }),
  );
});
after(async () => {
  efs.destroy();
  other.destroy();
  await p.close();
});

/** Rejects with the error `name`; answers the error (its message, EFS's ErrorCode) for comparisons. */
async function rejection(
  call: Promise<unknown>,
  name: string,
): Promise<{ message: string; ErrorCode?: string }> {
  try {
    await call;
  } catch (e) {
    const err = e as { name: string; message: string; ErrorCode?: string };
    assert.equal(err.name, name, err.message);
    return err;
  }
  assert.fail(`expected ${name}`);
}

const newFs = (token: string, tags: Array<{ Key: string; Value: string }> = []) =>
  efs.send(
    new CreateFileSystemCommand({
      CreationToken: token,
      Tags: [{ Key: 'kindling:quota-mb', Value: '16' }, ...tags],
    }),
  );

test('CreateFileSystem answers its description; DescribeFileSystems finds it by id and by creation token', async () => {
  const made = await newFs('api-one', [{ Key: 'Name', Value: 'shared' }]);
  assert.match(made.FileSystemId!, /^fs-[0-9a-f]{17}$/);
  assert.equal(made.LifeCycleState, 'available');
  assert.equal(made.Name, 'shared');
  assert.equal(made.Encrypted, false);
  assert.equal(made.PerformanceMode, 'generalPurpose');
  assert.equal(typeof made.SizeInBytes?.Value, 'number');
  assert.match(made.FileSystemArn!, new RegExp(`:file-system/${made.FileSystemId}$`));
  const byId = await efs.send(new DescribeFileSystemsCommand({ FileSystemId: made.FileSystemId }));
  assert.deepEqual(
    byId.FileSystems?.map((f) => f.FileSystemId),
    [made.FileSystemId],
  );
  const byToken = await efs.send(new DescribeFileSystemsCommand({ CreationToken: 'api-one' }));
  assert.deepEqual(
    byToken.FileSystems?.map((f) => f.CreationToken),
    ['api-one'],
  );
});

test('a creation token used again answers FileSystemAlreadyExists with the first file system id', async () => {
  const first = await newFs('api-again');
  const err = await rejection(newFs('api-again'), 'FileSystemAlreadyExists');
  assert.equal((err as { FileSystemId?: string }).FileSystemId, first.FileSystemId);
});

test('DescribeFileSystems pages with MaxItems and NextMarker', async () => {
  await newFs('api-page-a');
  await newFs('api-page-b');
  const seen: string[] = [];
  let marker: string | undefined;
  do {
    const page = await efs.send(new DescribeFileSystemsCommand({ MaxItems: 1, Marker: marker }));
    assert.ok((page.FileSystems?.length ?? 0) <= 1);
    for (const f of page.FileSystems ?? []) seen.push(f.CreationToken!);
    marker = page.NextMarker;
  } while (marker !== undefined);
  assert.ok(seen.includes('api-page-a') && seen.includes('api-page-b'), seen.join());
  assert.equal(new Set(seen).size, seen.length);
});

test('fields a local volume cannot honour are refused by name', async () => {
  for (const [extra, name] of [
    [{ Encrypted: true, KmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/x' }, /KmsKeyId/],
    [{ Encrypted: true }, /Encrypted/],
    [{ ThroughputMode: 'provisioned' as const, ProvisionedThroughputInMibps: 10 }, /provisioned/],
    [{ AvailabilityZoneName: 'us-east-1a' }, /AvailabilityZoneName/],
    [{ Backup: true }, /Backup/],
  ] as const) {
    const err = await rejection(
      efs.send(new CreateFileSystemCommand({ CreationToken: 'api-refused', ...extra })),
      'BadRequest',
    );
    assert.match(err.message, name);
  }
  const quota = await rejection(
    efs.send(
      new CreateFileSystemCommand({ CreationToken: 'q', Tags: [{ Key: 'kindling:quota-mb', Value: '1' }] }),
    ),
    'BadRequest',
  );
  assert.match(quota.message, /kindling:quota-mb/);
  const op = await rejection(
    efs.send(new CreateMountTargetCommand({ FileSystemId: 'fs-0123456789abcdef0', SubnetId: 'subnet-1' })),
    'BadRequest',
  );
  assert.match(op.message, /CreateMountTarget/);
});

test('CreateAccessPoint keeps PosixUser and RootDirectory; its client token makes it idempotent', async () => {
  const fs = await newFs('api-ap');
  const input = {
    FileSystemId: fs.FileSystemId!,
    ClientToken: 'ap-token-1',
    PosixUser: { Uid: 1001, Gid: 1002 },
    RootDirectory: {
      Path: '/app/data',
      CreationInfo: { OwnerUid: 1001, OwnerGid: 1002, Permissions: '750' },
    },
    Tags: [{ Key: 'Name', Value: 'app' }],
  };
  const ap = await efs.send(new CreateAccessPointCommand(input));
  assert.match(ap.AccessPointId!, /^fsap-[0-9a-f]{17}$/);
  assert.match(ap.AccessPointArn!, new RegExp(`:access-point/${ap.AccessPointId}$`));
  assert.deepEqual(ap.PosixUser, { Uid: 1001, Gid: 1002, SecondaryGids: [] });
  assert.deepEqual(ap.RootDirectory, input.RootDirectory);
  assert.equal(ap.Name, 'app');
  const again = await efs.send(new CreateAccessPointCommand(input));
  assert.equal(again.AccessPointId, ap.AccessPointId);
  const byId = await efs.send(new DescribeAccessPointsCommand({ AccessPointId: ap.AccessPointId }));
  assert.deepEqual(
    byId.AccessPoints?.map((a) => a.AccessPointId),
    [ap.AccessPointId],
  );
  const byFs = await efs.send(new DescribeAccessPointsCommand({ FileSystemId: fs.FileSystemId }));
  assert.deepEqual(
    byFs.AccessPoints?.map((a) => a.AccessPointId),
    [ap.AccessPointId],
  );
});

test('CreateAccessPoint refuses secondary groups, root, a creation owner other than its user, and .. paths', async () => {
  const fs = await newFs('api-ap-bad');
  const base = { FileSystemId: fs.FileSystemId! };
  const cases: Array<[Partial<CreateAccessPointCommandInput>, RegExp]> = [
    [{ PosixUser: { Uid: 1000, Gid: 1000, SecondaryGids: [5] } }, /SecondaryGids/],
    [{ PosixUser: { Uid: 0, Gid: 0 } }, /root/],
    [
      {
        PosixUser: { Uid: 1000, Gid: 1000 },
        RootDirectory: { Path: '/x', CreationInfo: { OwnerUid: 2000, OwnerGid: 1000, Permissions: '755' } },
      },
      /CreationInfo/,
    ],
    [{ RootDirectory: { Path: '/a/../../etc' } }, /Path/],
  ];
  for (const [extra, message] of cases) {
    const err = await rejection(efs.send(new CreateAccessPointCommand({ ...base, ...extra })), 'BadRequest');
    assert.match(err.message, message);
  }
});

test('DeleteFileSystem answers FileSystemInUse while an access point names it, then deletes it', async () => {
  const fs = await newFs('api-del');
  const ap = await efs.send(new CreateAccessPointCommand({ FileSystemId: fs.FileSystemId! }));
  await rejection(
    efs.send(new DeleteFileSystemCommand({ FileSystemId: fs.FileSystemId })),
    'FileSystemInUse',
  );
  await efs.send(new DeleteAccessPointCommand({ AccessPointId: ap.AccessPointId }));
  await rejection(
    efs.send(new DescribeAccessPointsCommand({ AccessPointId: ap.AccessPointId })),
    'AccessPointNotFound',
  );
  await efs.send(new DeleteFileSystemCommand({ FileSystemId: fs.FileSystemId }));
  await rejection(
    efs.send(new DescribeFileSystemsCommand({ FileSystemId: fs.FileSystemId })),
    'FileSystemNotFound',
  );
});

test("another tenant's file system and access point answer exactly like missing ones", async () => {
  const fs = await newFs('api-mine');
  const ap = await efs.send(new CreateAccessPointCommand({ FileSystemId: fs.FileSystemId! }));
  const missingFs = 'fs-0123456789abcdef0';
  const missingAp = 'fsap-0123456789abcdef0';
  // Thunks: each request is sent only when awaited, so no rejection goes unhandled meanwhile.
  const same = async (
    theirs: () => Promise<unknown>,
    missing: () => Promise<unknown>,
    name: string,
    id: string,
    gone: string,
  ) => {
    const a = await rejection(theirs(), name);
    const b = await rejection(missing(), name);
    assert.equal(a.message.replace(id, 'ID'), b.message.replace(gone, 'ID'));
    assert.equal(a.ErrorCode, b.ErrorCode);
  };
  const fsId = fs.FileSystemId!;
  const apId = ap.AccessPointId!;
  await same(
    () => other.send(new DescribeFileSystemsCommand({ FileSystemId: fsId })),
    () => other.send(new DescribeFileSystemsCommand({ FileSystemId: missingFs })),
    'FileSystemNotFound',
    fsId,
    missingFs,
  );
  await same(
    () => other.send(new DeleteFileSystemCommand({ FileSystemId: fsId })),
    () => other.send(new DeleteFileSystemCommand({ FileSystemId: missingFs })),
    'FileSystemNotFound',
    fsId,
    missingFs,
  );
  await same(
    () => other.send(new CreateAccessPointCommand({ FileSystemId: fsId })),
    () => other.send(new CreateAccessPointCommand({ FileSystemId: missingFs })),
    'FileSystemNotFound',
    fsId,
    missingFs,
  );
  await same(
    () => other.send(new DescribeAccessPointsCommand({ AccessPointId: apId })),
    () => other.send(new DescribeAccessPointsCommand({ AccessPointId: missingAp })),
    'AccessPointNotFound',
    apId,
    missingAp,
  );
  await same(
    () => other.send(new DeleteAccessPointCommand({ AccessPointId: apId })),
    () => other.send(new DeleteAccessPointCommand({ AccessPointId: missingAp })),
    'AccessPointNotFound',
    apId,
    missingAp,
  );
  const listed = await other.send(new DescribeFileSystemsCommand({}));
  assert.deepEqual(listed.FileSystems, []);
  // Still there for its owner.
  await efs.send(new DescribeAccessPointsCommand({ AccessPointId: apId }));
});
