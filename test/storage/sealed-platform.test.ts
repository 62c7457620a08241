// The block layer behind the real APIs: objects (single, multipart, empty, ranged) and a function's
// code hold a known marker, and no file of the data dir but the extracted code cache contains it; a
// second tenant's copy costs no block; `kindling storage` and its admin route report per tenant (each
// its own, the admin all); a corrupt or deleted block answers InternalError; a restart keeps the key.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CreateFunctionCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import yazl from 'yazl';
import { KindlingClient } from '../../src/cli/client.js';
import { bodyOf, client } from '../api/s3/fixtures.js';
import { cliEnv, runCli } from '../cli/helpers.js';
import { sdkConfig, startPlatform, type TestPlatform, tempDir } from '../helpers/platform.js';

const MARKER = `kindling-plaintext-marker-${randomBytes(6).toString('hex')}`;
const MiB = 1024 * 1024;

interface Key {
  accessKeyId: string;
  secretAccessKey: string;
}
interface Figures {
  tenant?: string;
  logicalBytes: number;
  physicalBytes: number;
  bodies: number;
  dedupRatio: number;
}
interface Answer {
  tenants: Figures[];
  code?: Figures;
  total?: Figures & { blocks: number };
}

const dataDir = tempDir();
let p: TestPlatform;
let tenantB: Key;

/** A body holding the marker every 64 KiB, so every block of it holds the marker. */
function marked(n: number): Buffer {
  const b = randomBytes(n);
  for (let i = 0; i + MARKER.length <= n; i += 64 * 1024) b.write(MARKER, i);
  return b;
}

const adminOf = (key: Key) =>
  new KindlingClient({ endpoint: p.endpoint, region: p.region, credentials: key, dataDir });

async function storageOf(key: Key, query = ''): Promise<{ status: number; body: Answer }> {
  const res = await adminOf(key).signedFetch('GET', `/kindling/v1/storage${query}`);
  return { status: res.status, body: (await res.json()) as Answer };
}

/** Every regular file under `dir` holding `needle`, relative to it. */
function filesHolding(dir: string, needle: string): string[] {
  const found: string[] = [];
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const f = path.join(e.parentPath, e.name);
    let buf: Buffer;
    try {
      buf = fs.readFileSync(f);
    } catch {
      continue; // removed meanwhile, or not readable by us (nothing of ours)
    }
    if (buf.includes(needle)) found.push(path.relative(dir, f));
  }
  return found.sort();
}

const blockFiles = () =>
  fs
    .readdirSync(p.platform.paths.blocks, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith('.'))
    .map((e) => path.join(e.parentPath, e.name));

before(async () => {
  p = await startPlatform({ dataDir });
  const res = await adminOf(p.credentials).signedFetch('POST', '/kindling/v1/tenants', { name: 'tenant-b' });
  assert.equal(res.status, 201);
  tenantB = ((await res.json()) as { accessKey: Key }).accessKey;
});

after(async () => {
  await p.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('objects and code hold no plaintext in the data dir; a second tenant adds no block; figures per tenant', async () => {
  const s3 = client(p);
  const s3b = client({ endpoint: p.endpoint, credentials: tenantB });
  const lambda = new LambdaClient(sdkConfig(p));
  try {
    await s3.send(new CreateBucketCommand({ Bucket: 'sealed-a' }));
    const small = Buffer.from(`hello ${MARKER}`);
    const big = marked(3 * MiB + 77);
    await s3.send(new PutObjectCommand({ Bucket: 'sealed-a', Key: 'small', Body: small }));
    await s3.send(new PutObjectCommand({ Bucket: 'sealed-a', Key: 'big', Body: big }));
    await s3.send(new PutObjectCommand({ Bucket: 'sealed-a', Key: 'empty', Body: Buffer.alloc(0) }));
    // Multipart: two parts joined by their manifests.
    const parts = [marked(5 * MiB), marked(MiB + 3)];
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: 'sealed-a', Key: 'multi' }),
    );
    const etags: string[] = [];
    for (const [i, part] of parts.entries()) {
      const out = await s3.send(
        new UploadPartCommand({ Bucket: 'sealed-a', Key: 'multi', UploadId, PartNumber: i + 1, Body: part }),
      );
      etags.push(out.ETag!);
    }
    const blocksBefore = blockFiles().length;
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'sealed-a',
        Key: 'multi',
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }),
    );
    assert.equal(blockFiles().length, blocksBefore, 'completion wrote no block');
    const whole = Buffer.concat(parts);
    const get = async (Key: string, Range?: string) =>
      bodyOf(await s3.send(new GetObjectCommand({ Bucket: 'sealed-a', Key, ...(Range && { Range }) })));
    assert.ok((await get('small')).equals(small));
    assert.ok((await get('big')).equals(big));
    assert.equal((await get('empty')).length, 0);
    assert.ok((await get('multi')).equals(whole));
    const at = 5 * MiB - 10; // across the parts' (and blocks') boundary
    assert.ok((await get('multi', `bytes=${at}-${at + MiB + 19}`)).equals(whole.subarray(at, at + MiB + 20)));
    assert.ok((await get('big', `bytes=${MiB - 1}-${MiB}`)).equals(big.subarray(MiB - 1, MiB + 1)));

    // Code: the marker in an uncompressed zip entry, so the plain zip would show it.
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.from(`export const handler = async () => ${JSON.stringify(MARKER)};`), 'index.mjs', {
      compress: false,
      mtime: new Date('2024-01-01T00:00:00Z'),
    });
    zip.end();
    const zipChunks: Buffer[] = [];
    for await (const c of zip.outputStream as AsyncIterable<Buffer>) zipChunks.push(c);
    const zipFile = Buffer.concat(zipChunks);
    assert.ok(zipFile.includes(MARKER));
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'sealed-code',
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: 'arn:aws:iam::000000000000:role/test',
        Code: { ZipFile: zipFile },
      }),
    );
    const out = await lambda.send(new InvokeCommand({ FunctionName: 'sealed-code' }));
    assert.equal(JSON.parse(Buffer.from(out.Payload!).toString()), MARKER);

    // The second tenant stores the same big body: no new block.
    const figuresBefore = (await storageOf(p.credentials)).body;
    const blocks = blockFiles().length;
    await s3b.send(new CreateBucketCommand({ Bucket: 'sealed-b' }));
    await s3b.send(new PutObjectCommand({ Bucket: 'sealed-b', Key: 'copy', Body: big }));
    assert.equal(blockFiles().length, blocks);
    const all = (await storageOf(p.credentials)).body;
    assert.equal(all.total!.logicalBytes, figuresBefore.total!.logicalBytes + big.length);
    assert.equal(all.total!.physicalBytes, figuresBefore.total!.physicalBytes);
    const b = all.tenants.find((t) => t.tenant === 'tenant-b')!;
    assert.equal(b.logicalBytes, big.length);
    assert.equal(b.physicalBytes, big.length + 4 * 16, 'its own distinct blocks, shared or not');
    const a = all.tenants.find((t) => t.tenant === 'admin')!;
    assert.equal(a.logicalBytes, small.length + big.length + whole.length);
    assert.ok(all.code!.logicalBytes >= zipFile.length);
    assert.ok(all.total!.dedupRatio > 1);

    // A tenant sees its own row only, and not another's.
    const own = await storageOf(tenantB);
    assert.equal(own.status, 200);
    assert.deepEqual(own.body, { tenants: [b] });
    assert.equal((await storageOf(tenantB, '?tenant=admin')).status, 403);
    assert.equal((await storageOf(tenantB, '?other=1')).status, 400);
    const cli = await runCli(['storage'], cliEnv(p));
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /tenant-b/);
    assert.match(cli.stdout, /\(total\)/);
    const cliB = await runCli(['--json', 'storage'], cliEnv({ endpoint: p.endpoint, credentials: tenantB }));
    assert.deepEqual(JSON.parse(cliB.stdout), { tenants: [b] });

    // No file holds the marker but the extracted code the sandboxes mount: code/, and its hard links in
    // the environments' task dirs (the same inodes; see docs/storage.md).
    const holding = filesHolding(dataDir, MARKER);
    const inode = (f: string) => {
      const st = fs.statSync(path.join(dataDir, f));
      return `${st.dev}:${st.ino}`;
    };
    const cache = holding.filter((f) => f.startsWith(`code${path.sep}`));
    assert.ok(cache.length > 0);
    const cached = new Set(cache.map(inode));
    assert.deepEqual(
      holding.filter(
        (f) => !f.startsWith(`code${path.sep}`) && !(f.startsWith(`envs${path.sep}`) && cached.has(inode(f))),
      ),
      [],
      `plaintext in ${holding.join(', ')}`,
    );
    assert.equal(fs.statSync(path.join(dataDir, 'storage.key')).mode & 0o777, 0o600);
  } finally {
    s3.destroy();
    s3b.destroy();
    lambda.destroy();
  }
});

test('a corrupt or deleted block answers InternalError, never other bytes; a restart keeps the key', async () => {
  const s3 = client(p);
  try {
    await s3.send(new CreateBucketCommand({ Bucket: 'broken' }));
    const before = new Set(blockFiles());
    await s3.send(new PutObjectCommand({ Bucket: 'broken', Key: 'one', Body: randomBytes(1000) }));
    const [block] = blockFiles().filter((f) => !before.has(f));
    assert.ok(block);
    const good = fs.readFileSync(block);
    const bad = Buffer.from(good);
    bad[10]! ^= 0x40;
    fs.writeFileSync(block, bad);
    const internal = (e: unknown) => {
      const err = e as { name: string; $metadata: { httpStatusCode: number } };
      assert.equal(err.name, 'InternalError');
      assert.equal(err.$metadata.httpStatusCode, 500);
      return true;
    };
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'broken', Key: 'one' })), internal);
    fs.rmSync(block);
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'broken', Key: 'one' })), internal);
    fs.writeFileSync(block, good);
    assert.equal(
      (await bodyOf(await s3.send(new GetObjectCommand({ Bucket: 'broken', Key: 'one' })))).length,
      1000,
    );
  } finally {
    s3.destroy();
  }
  // The same data dir started again reads what it stored (the key file is kept).
  await p.close();
  p = await startPlatform({ dataDir });
  const again = client(p);
  try {
    const out = await again.send(new GetObjectCommand({ Bucket: 'sealed-a', Key: 'small' }));
    assert.equal((await bodyOf(out)).toString(), `hello ${MARKER}`);
  } finally {
    again.destroy();
  }
});
