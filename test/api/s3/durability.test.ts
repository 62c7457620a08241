import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { type ServerProcess, spawnServer, tempDir } from '../../helpers/platform.js';
import { bodyOf, bucketName, client, objectPath, signHeaders, startS3 } from './fixtures.js';

/** Waits (bounded) until `check` holds: server-side cleanup happens after the client sees the reset. */
async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 800; i++) {
    if (await check()) return;
    await sleep(25);
  }
  assert.fail(`never happened: ${what}`);
}

/** Opens a PUT announcing `total` bytes, sends `sent` of them, and returns once they are written. */
function partialPut(
  endpoint: string,
  creds: { accessKeyId: string; secretAccessKey: string },
  bucket: string,
  key: string,
  total: number,
  sent: number,
) {
  const p = objectPath(bucket, key);
  const signed = signHeaders(
    endpoint,
    creds,
    'PUT',
    p,
    { 'content-length': String(total) },
    'UNSIGNED-PAYLOAD',
  );
  const req = http.request(`${endpoint}${p}`, { method: 'PUT', headers: signed.headers });
  req.on('error', () => {});
  return new Promise<http.ClientRequest>((resolve) => {
    req.write(Buffer.alloc(sent, 1), () => resolve(req));
  });
}

/** Temp files of unfinished writes: `.<random>.tmp` beside the blobs (and the old tmp/ dir). */
const tmpFiles = (objectsDir: string) =>
  ['tmp', 'data'].flatMap((sub) => {
    const dir = path.join(objectsDir, sub);
    if (!fs.existsSync(dir)) return [];
    return fs
      .readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && (sub === 'tmp' || e.name.endsWith('.tmp')))
      .map((e) => path.join(e.parentPath, e.name));
  });

test('an upload interrupted midway leaves no object and no temp file', async () => {
  const f = await startS3();
  try {
    const bucket = bucketName('cut');
    await f.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const objects = f.t.platform.paths.objects;
    const req = await partialPut(
      f.t.endpoint,
      f.t.credentials,
      bucket,
      'half',
      4 * 1024 * 1024,
      2 * 1024 * 1024,
    );
    // Sealed (the default), the body streams into blocks: whole 1 MiB blocks, each its own file.
    const blocks = f.t.platform.paths.blocks;
    const blockFiles = () =>
      fs.existsSync(blocks)
        ? fs.readdirSync(blocks, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
        : [];
    await eventually(
      () => tmpFiles(objects).length === 1 || blockFiles().length > 0,
      'the upload reached a temp file or a block',
    );
    req.destroy();
    await eventually(
      () => tmpFiles(objects).length === 0 && blockFiles().every((e) => !e.name.endsWith('.tmp')),
      'the temp files were removed',
    );
    // No manifest names the blocks written: the block sweep reclaims them.
    assert.deepEqual(
      fs
        .readdirSync(path.join(objects, 'data'), { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile()),
      [],
    );
    // (Once the server has seen the connection go: until then the upload holds its blocks.)
    await eventually(async () => {
      await f.t.platform.components.storage.sweep(0);
      return blockFiles().length === 0;
    }, 'the blocks were reclaimed');
    await assert.rejects(f.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'half' })), {
      name: 'NotFound',
    });
    const listed = await f.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.equal(listed.KeyCount, 0);
  } finally {
    f.s3.destroy();
    await f.t.close();
  }
});

async function kill(server: ServerProcess): Promise<void> {
  server.child.kill('SIGKILL');
  await server.exited;
}

test('after SIGKILL during a multipart upload, completed parts survive and the upload completes', async () => {
  const dataDir = tempDir();
  let server = await spawnServer(dataDir);
  try {
    let s3 = client(server);
    const bucket = bucketName('kill');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp' }));
    const p1 = Buffer.alloc(5 * 1024 * 1024, 'x');
    const part1 = await s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: 'mp', UploadId, PartNumber: 1, Body: p1 }),
    );
    // A second part is still streaming in when the server dies.
    await partialPut(server.endpoint, server.credentials, bucket, 'mp', 1_000_000, 300_000);
    s3.destroy();
    await kill(server);

    server = await spawnServer(dataDir);
    s3 = client(server);
    assert.deepEqual(tmpFiles(path.join(dataDir, 'objects')), []);
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'mp' })), { name: 'NotFound' });
    const parts = await s3.send(new ListPartsCommand({ Bucket: bucket, Key: 'mp', UploadId }));
    assert.deepEqual(
      parts.Parts?.map((p) => [p.PartNumber, p.ETag]),
      [[1, part1.ETag]],
    );
    const p2 = Buffer.from('last part');
    const part2 = await s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: 'mp', UploadId, PartNumber: 2, Body: p2 }),
    );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'mp',
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: part1.ETag },
            { PartNumber: 2, ETag: part2.ETag },
          ],
        },
      }),
    );
    const got = await bodyOf(await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'mp' })));
    assert.ok(got.equals(Buffer.concat([p1, p2])));
    s3.destroy();
  } finally {
    await kill(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('after SIGKILL, an interrupted multipart upload can be aborted and leaves no object or part files', async () => {
  const dataDir = tempDir();
  let server = await spawnServer(dataDir);
  try {
    let s3 = client(server);
    const bucket = bucketName('abort');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'acknowledged', Body: 'kept' }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp' }));
    await s3.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: 'mp',
        UploadId,
        PartNumber: 1,
        Body: Buffer.alloc(100_000),
      }),
    );
    s3.destroy();
    await kill(server);

    server = await spawnServer(dataDir);
    s3 = client(server);
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'mp', UploadId }));
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.deepEqual(
      listed.Contents?.map((c) => c.Key),
      ['acknowledged'],
    );
    assert.equal(
      (await bodyOf(await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'acknowledged' })))).toString(),
      'kept',
    );
    const blobs = fs
      .readdirSync(path.join(dataDir, 'objects', 'data'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile());
    assert.equal(blobs.length, 1);
    s3.destroy();
  } finally {
    await kill(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

/** Files of the objects dir this process holds open. */
function openBlobs(objectsDir: string): string[] {
  const out: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(path.join(objectsDir, 'data'))) out.push(target);
    } catch {
      // closed while listing
    }
  }
  return out;
}

test('a GET abandoned by the client midway closes the object file', async () => {
  const f = await startS3();
  try {
    const bucket = bucketName('abandon');
    await f.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await f.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'big', Body: Buffer.alloc(8 * 1024 * 1024, 3) }),
    );
    const objects = f.t.platform.paths.objects;
    const p = objectPath(bucket, 'big');
    const signed = signHeaders(f.t.endpoint, f.t.credentials, 'GET', p, {}, 'UNSIGNED-PAYLOAD');
    await new Promise<void>((resolve, reject) => {
      const req = http.request(`${f.t.endpoint}${p}`, { headers: signed.headers }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.once('error', reject);
      req.end();
    });
    await eventually(() => openBlobs(objects).length === 0, 'the object file was closed');
  } finally {
    f.s3.destroy();
    await f.t.close();
  }
});
