// Shared volumes mounted into real bubblewrap sandboxes (FileSystemConfigs): what one environment writes the
// next one reads, in another sandbox, of the same or another function; files belong to the access point's
// user; a write past the volume's size fails with ENOSPC inside; symlinks resolve inside the sandbox, and
// deleting a volume never follows them; volumes outlive DeleteFunction and a restart. Bad configurations
// are refused with Lambda's errors.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  CreateAccessPointCommand,
  CreateFileSystemCommand,
  DeleteAccessPointCommand,
  DeleteFileSystemCommand,
  DescribeFileSystemsCommand,
  EFSClient,
} from '@aws-sdk/client-efs';
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  type LambdaClient,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { KindlingClient } from '../../src/cli/client.js';
import { zipOf } from '../api/lambda/zips.js';
import { createFunction, lambdaClient } from '../helpers/functions.js';
import { sdkConfig, startPlatform, type TestPlatform, tempDir } from '../helpers/platform.js';

const HANDLER = `
import fs from 'node:fs';
const d = '/mnt/vol';
export const handler = async (e) => {
  switch (e.op) {
    case 'write': fs.writeFileSync(d + '/' + e.name, e.text); return { ok: true };
    case 'read': return { text: fs.readFileSync(d + '/' + e.name, 'utf8') };
    case 'stat': {
      const s = fs.statSync(d + '/' + e.name);
      return { uid: s.uid, gid: s.gid, me: process.getuid(), group: process.getgid() };
    }
    case 'fill': {
      const mb = Buffer.alloc(1 << 20, 7);
      let n = 0;
      const fd = fs.openSync(d + '/big', 'w');
      try {
        for (; n < 64; n++) fs.writeSync(fd, mb);
        return { code: 'none', n };
      } catch (err) {
        return { code: err.code, n };
      } finally {
        fs.closeSync(fd);
      }
    }
    case 'rm': fs.rmSync(d + '/' + e.name, { force: true }); return { ok: true };
    case 'symlink': {
      fs.symlinkSync(e.target, d + '/' + e.name);
      try { return { text: fs.readFileSync(d + '/' + e.name, 'utf8') }; } catch (err) { return { code: err.code }; }
    }
  }
  throw new Error('unknown op');
};`;

let dataDir: string;
let p: TestPlatform;
let efs: EFSClient;
let lambda: LambdaClient;
let fsId = '';
let apArn = '';
const MOUNT = [{ Arn: '', LocalMountPath: '/mnt/vol' }];

async function start(): Promise<void> {
  p = await startPlatform({ dataDir });
  efs = new EFSClient(sdkConfig(p));
  lambda = lambdaClient(p);
}

async function stop(): Promise<void> {
  efs.destroy();
  lambda.destroy();
  await p.close();
}

before(async () => {
  dataDir = tempDir();
  await start();
  const made = await efs.send(
    new CreateFileSystemCommand({ CreationToken: 'vol', Tags: [{ Key: 'kindling:quota-mb', Value: '16' }] }),
  );
  fsId = made.FileSystemId!;
  const ap = await efs.send(
    new CreateAccessPointCommand({
      FileSystemId: fsId,
      PosixUser: { Uid: 1001, Gid: 1002 },
      RootDirectory: {
        Path: '/shared',
        CreationInfo: { OwnerUid: 1001, OwnerGid: 1002, Permissions: '750' },
      },
    }),
  );
  apArn = ap.AccessPointArn!;
  MOUNT[0]!.Arn = apArn;
  await createFunction(lambda, 'vol-a', HANDLER, { FileSystemConfigs: MOUNT });
  await createFunction(lambda, 'vol-b', HANDLER, { FileSystemConfigs: MOUNT });
});
after(async () => {
  await stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function call(name: string, event: Record<string, unknown>): Promise<Record<string, unknown>> {
  const out = await lambda.send(new InvokeCommand({ FunctionName: name, Payload: JSON.stringify(event) }));
  const body = JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8')) as Record<string, unknown>;
  assert.equal(out.FunctionError, undefined, JSON.stringify(body));
  return body;
}

test('GetFunctionConfiguration answers the FileSystemConfigs', async () => {
  const c = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'vol-a' }));
  assert.deepEqual(c.FileSystemConfigs, [{ Arn: apArn, LocalMountPath: '/mnt/vol' }]);
});

test('what one function writes, another function of the tenant reads, and a new environment too', async () => {
  await call('vol-a', { op: 'write', name: 'note', text: 'from a' });
  assert.deepEqual(await call('vol-b', { op: 'read', name: 'note' }), { text: 'from a' });
  // A configuration change: new environments, in new sandboxes.
  await lambda.send(
    new UpdateFunctionConfigurationCommand({
      FunctionName: 'vol-a',
      Environment: { Variables: { STAGE: 'two' } },
    }),
  );
  assert.deepEqual(await call('vol-a', { op: 'read', name: 'note' }), { text: 'from a' });
});

test("files are owned by the access point's POSIX user, which the function runs as", async () => {
  await call('vol-b', { op: 'write', name: 'owned', text: 'x' });
  assert.deepEqual(await call('vol-b', { op: 'stat', name: 'owned' }), {
    uid: 1001,
    gid: 1002,
    me: 1001,
    group: 1002,
  });
});

test('a Python function of the tenant reads the same files, as the same user', async () => {
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'vol-py',
      Runtime: 'python3.12',
      Handler: 'lambda_function.lambda_handler',
      Role: 'arn:aws:iam::123456789012:role/any',
      Code: {
        ZipFile: await zipOf([
          {
            name: 'lambda_function.py',
            data: "import os\ndef lambda_handler(e, c):\n    return {'text': open('/mnt/vol/note').read(), 'uid': os.getuid()}\n",
          },
        ]),
      },
      FileSystemConfigs: MOUNT,
    }),
  );
  assert.deepEqual(await call('vol-py', {}), { text: 'from a', uid: 1001 });
  await lambda.send(new DeleteFunctionCommand({ FunctionName: 'vol-py' }));
});

test('a write past the volume size fails with ENOSPC inside; the volume works again after deleting', async () => {
  const filled = await call('vol-a', { op: 'fill' });
  assert.equal(filled.code, 'ENOSPC');
  assert.ok((filled.n as number) < 16, JSON.stringify(filled));
  const d = await efs.send(new DescribeFileSystemsCommand({ FileSystemId: fsId }));
  assert.ok((d.FileSystems?.[0]?.SizeInBytes?.Value ?? 0) > 8 * 1024 * 1024, JSON.stringify(d.FileSystems));
  const admin = new KindlingClient({
    endpoint: p.endpoint,
    region: p.region,
    credentials: p.credentials,
    dataDir: p.platform.config.dataDir,
  });
  const text = await (await admin.signedFetch('GET', '/metrics')).text();
  const used = new RegExp(
    `^kindling_volume_used_bytes\\{tenant="[^"]+",file_system="${fsId}"\\} (\\d+)$`,
    'm',
  ).exec(text);
  assert.ok(used !== null && Number(used[1]) > 8 * 1024 * 1024, text);
  assert.match(
    text,
    new RegExp(`^kindling_volume_size_bytes\\{tenant="[^"]+",file_system="${fsId}"\\} \\d+$`, 'm'),
  );
  await call('vol-a', { op: 'rm', name: 'big' });
  await call('vol-a', { op: 'write', name: 'after', text: 'room again' });
  assert.deepEqual(await call('vol-b', { op: 'read', name: 'after' }), { text: 'room again' });
});

test('a symlink in a volume resolves inside the sandbox, never to the host', async () => {
  const canary = path.join(tempDir('kindling-efs-canary-'), 'secret.txt');
  fs.writeFileSync(canary, 'host secret');
  try {
    const out = await call('vol-a', { op: 'symlink', name: 'escape', target: canary });
    assert.equal(out.code, 'ENOENT');
    const passwd = await call('vol-a', { op: 'symlink', name: 'pw', target: '/etc/passwd' });
    assert.match(String(passwd.text), /sbx_user1051/);
    assert.doesNotMatch(String(passwd.text), /daemon:/);
  } finally {
    fs.rmSync(path.dirname(canary), { recursive: true, force: true });
  }
});

test('FileSystemConfigs outside /mnt, two of them, or naming a missing or foreign access point are refused', async () => {
  const refused = async (extra: Record<string, unknown>, name: string, message: RegExp) =>
    assert.rejects(createFunction(lambda, 'vol-bad', HANDLER, extra), (e: Error) => {
      assert.equal(e.name, name);
      assert.match(e.message, message);
      return true;
    });
  await refused(
    { FileSystemConfigs: [{ Arn: apArn, LocalMountPath: '/tmp/vol' }] },
    'ValidationException',
    /localMountPath/,
  );
  await refused(
    { FileSystemConfigs: [{ Arn: apArn, LocalMountPath: '/mnt/../etc' }] },
    'ValidationException',
    /mnt/,
  );
  await refused(
    {
      FileSystemConfigs: [
        { Arn: apArn, LocalMountPath: '/mnt/vol' },
        { Arn: apArn, LocalMountPath: '/mnt/vol' },
      ],
    },
    'ValidationException',
    /less than or equal to 1/,
  );
  const missing = apArn.replace(/fsap-[0-9a-f]+$/, 'fsap-0123456789abcdef0');
  await refused(
    { FileSystemConfigs: [{ Arn: missing, LocalMountPath: '/mnt/vol' }] },
    'InvalidParameterValueException',
    /does not exist/,
  );
  // Another tenant names this access point: answered exactly as a missing one.
  const tenant = await p.platform.tenants.create('vol-other');
  const key = await p.platform.tenants.createKey(tenant.id);
  const theirs = lambdaClient({
    ...p,
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
  });
  try {
    const [a, b] = await Promise.all(
      [apArn, missing].map((arn) =>
        createFunction(theirs, 'vol-steal', HANDLER, {
          FileSystemConfigs: [{ Arn: arn, LocalMountPath: '/mnt/vol' }],
        }).then(
          () => assert.fail('created'),
          (e: Error) => e,
        ),
      ),
    );
    assert.equal(a!.name, 'InvalidParameterValueException');
    assert.equal(a!.message.replace(apArn, 'ARN'), b!.message.replace(missing, 'ARN'));
  } finally {
    theirs.destroy();
  }
});

test('a function whose access point was deleted fails to mount with EFSMountFailureException', async () => {
  const ap = await efs.send(
    new CreateAccessPointCommand({ FileSystemId: fsId, RootDirectory: { Path: '/' } }),
  );
  await createFunction(lambda, 'vol-gone', HANDLER, {
    FileSystemConfigs: [{ Arn: ap.AccessPointArn!, LocalMountPath: '/mnt/vol' }],
  });
  await call('vol-gone', { op: 'write', name: 'gone', text: 'before' });
  await efs.send(new DeleteAccessPointCommand({ AccessPointId: ap.AccessPointId }));
  await assert.rejects(
    lambda.send(new InvokeCommand({ FunctionName: 'vol-gone', Payload: '{"op":"read","name":"gone"}' })),
    (e: Error) => {
      assert.equal(e.name, 'EFSMountFailureException');
      return true;
    },
  );
  await lambda.send(new DeleteFunctionCommand({ FunctionName: 'vol-gone' }));
});

test('an access point whose path runs through a symlink the tenant planted fails to mount and makes nothing on the host', async () => {
  // World-writable, so only the symlink check (not permissions) can keep the host side out of it.
  const hostDir = tempDir('kindling-efs-open-');
  fs.chmodSync(hostDir, 0o1777);
  try {
    await call('vol-a', { op: 'symlink', name: 'planted', target: hostDir });
    const ap = await efs.send(
      new CreateAccessPointCommand({
        FileSystemId: fsId,
        PosixUser: { Uid: 1001, Gid: 1002 },
        RootDirectory: {
          Path: '/shared/planted/sub',
          CreationInfo: { OwnerUid: 1001, OwnerGid: 1002, Permissions: '755' },
        },
      }),
    );
    await createFunction(lambda, 'vol-planted', HANDLER, {
      FileSystemConfigs: [{ Arn: ap.AccessPointArn!, LocalMountPath: '/mnt/vol' }],
    });
    await assert.rejects(
      lambda.send(new InvokeCommand({ FunctionName: 'vol-planted', Payload: '{"op":"read","name":"x"}' })),
      (e: Error) => e.name === 'EFSMountFailureException',
    );
    assert.deepEqual(fs.readdirSync(hostDir), []);
    await lambda.send(new DeleteFunctionCommand({ FunctionName: 'vol-planted' }));
    await efs.send(new DeleteAccessPointCommand({ AccessPointId: ap.AccessPointId }));
  } finally {
    fs.rmSync(hostDir, { recursive: true, force: true });
  }
});

test('a volume outlives DeleteFunction and a restart of the server', async () => {
  await call('vol-b', { op: 'write', name: 'durable', text: 'kept' });
  await lambda.send(new DeleteFunctionCommand({ FunctionName: 'vol-b' }));
  await stop();
  await start();
  assert.deepEqual(await call('vol-a', { op: 'read', name: 'durable' }), { text: 'kept' });
});

test('deleting a volume holding a symlink to a host file leaves the host file alone', async () => {
  const dir = tempDir('kindling-efs-host-');
  const hostFile = path.join(dir, 'keep.txt');
  fs.writeFileSync(hostFile, 'keep me');
  try {
    await call('vol-a', { op: 'symlink', name: 'host-link', target: hostFile });
    await call('vol-a', { op: 'symlink', name: 'host-dir', target: dir });
    await lambda.send(new DeleteFunctionCommand({ FunctionName: 'vol-a' }));
    await efs.send(new DeleteAccessPointCommand({ AccessPointId: apArn.split('/')[1] }));
    await efs.send(new DeleteFileSystemCommand({ FileSystemId: fsId }));
    assert.equal(fs.readFileSync(hostFile, 'utf8'), 'keep me');
    assert.equal(fs.existsSync(path.join(dataDir, 'volumes', `${fsId}.img`)), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
