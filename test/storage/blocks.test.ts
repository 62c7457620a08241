// The block layer on a real directory: convergent blocks stored once across owners, N salts, manifests
// only their owner's key opens, ranges over block boundaries, corrupt and deleted blocks, the sweep
// against uploads in flight and after a crash between blocks and manifest, and no plaintext on disk.
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes, webcrypto } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { BlobCorruptError } from '../../src/store/blobs/blob-store.js';
import { DirBlobStore } from '../../src/store/blobs/dir-blob-store.js';
import { BLOCK_SIZE } from '../../src/store/blocks/blocks.js';
import { Keyring } from '../../src/store/blocks/keyring.js';
import { sealManifest } from '../../src/store/blocks/manifest.js';
import { Storage, tenantOwner } from '../../src/store/blocks/storage.js';
import { tempDir } from '../helpers/platform.js';

const A = tenantOwner('tenant-a');
const B = tenantOwner('tenant-b');

function storage(opts: { redundancy?: number; seal?: boolean; dir?: string; master?: Buffer } = {}) {
  const dir = opts.dir ?? tempDir('kindling-blocks-');
  const raw = {
    code: new DirBlobStore(path.join(dir, 'code')),
    objects: new DirBlobStore(path.join(dir, 'objects')),
    blocks: new DirBlobStore(path.join(dir, 'blocks')),
    shared: false,
  };
  const s = new Storage({
    raw,
    keyring: new Keyring(opts.master ?? Buffer.alloc(32, 7), opts.redundancy ?? 1),
    seal: opts.seal ?? true,
  });
  return { s, dir, raw };
}

async function readAll(s: Storage, key: string, owner: string, range?: { start: number; end: number }) {
  const r = await s.objects.open(key, owner);
  assert.ok(r, `${key} opens`);
  const chunks: Buffer[] = [];
  for await (const c of r.read(range) as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) out.push(path.join(e.parentPath, e.name));
  return out;
}

const blockFiles = (dir: string) =>
  files(path.join(dir, 'blocks')).filter((f) => !path.basename(f).startsWith('.'));

/** A body of `n` bytes whose every 1 KiB line names its offset: any misplaced byte shows. */
function body(n: number, tag = 'x'): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 1024) b.write(`${tag}@${i};`.padEnd(1024, '.'), i);
  return b;
}

async function* chunked(b: Buffer, size = 64 * 1024 + 3): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

test('bodies round-trip at every size, and ranges across block boundaries read the right bytes', async () => {
  const { s } = storage();
  for (const n of [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 2 * BLOCK_SIZE + 12345]) {
    const b = body(n);
    await s.objects.put(`o/${n}`, chunked(b), A);
    assert.ok((await readAll(s, `o/${n}`, A)).equals(b), `${n} bytes`);
  }
  const b = body(2 * BLOCK_SIZE + 12345);
  const key = `o/${b.length}`;
  for (const [start, end] of [
    [BLOCK_SIZE - 10, BLOCK_SIZE + 10],
    [0, 2 * BLOCK_SIZE + 12344],
    [BLOCK_SIZE, BLOCK_SIZE],
    [BLOCK_SIZE - 1, 2 * BLOCK_SIZE],
    [2 * BLOCK_SIZE + 12344, 2 * BLOCK_SIZE + 12344],
  ] as const) {
    assert.ok(
      (await readAll(s, key, A, { start, end })).equals(b.subarray(start, end + 1)),
      `${start}-${end}`,
    );
  }
});

test('identical blocks are stored once across owners (N=1); N salts make at most N copies', async () => {
  const { s, dir } = storage();
  const b = randomBytes(3 * BLOCK_SIZE + 5);
  await s.objects.put('a/1', chunked(b), A);
  const after1 = blockFiles(dir).length;
  assert.equal(after1, 4);
  await s.objects.put('b/1', chunked(b), B);
  await s.objects.put('a/2', chunked(b), A);
  assert.equal(blockFiles(dir).length, after1, 'a second and third copy add no block');
  const f = await s.figures();
  assert.equal(f.total.logicalBytes, 3 * b.length);
  assert.equal(f.total.physicalBytes, b.length + 4 * 16);
  assert.equal(f.owners.get(B)?.logicalBytes, b.length);
  assert.equal(f.owners.get(A)?.bodies, 2);

  // N=2: owners on different salts store their own ciphertexts; no more than two copies in all.
  const two = storage({ redundancy: 2 });
  const keys = new Keyring(Buffer.alloc(32, 7), 2);
  const owners = Array.from({ length: 16 }, (_, i) => tenantOwner(`t${i}`));
  const bySalt = new Map(owners.map((o) => [keys.salt(o).toString('hex'), o]));
  assert.equal(bySalt.size, 2, 'sixteen owners spread over both salts');
  for (const o of owners) await two.s.objects.put(`x/${o.replace(':', '-')}`, chunked(b), o);
  assert.equal(blockFiles(two.dir).length, 8);
  for (const o of owners) assert.ok((await readAll(two.s, `x/${o.replace(':', '-')}`, o)).equals(b));
});

test("another owner's key does not open a manifest; a corrupt or deleted block fails the read, naming it", async () => {
  const { s, dir } = storage();
  const b = body(2 * BLOCK_SIZE + 100);
  await s.objects.put('k', chunked(b), A);
  await assert.rejects(s.objects.open('k', B), (e: unknown) => {
    assert.ok(e instanceof BlobCorruptError);
    assert.match(e.message, /another owner/);
    return true;
  });
  // A manifest edited to name the other owner does not authenticate under that owner's key either.
  const manifestFile = path.join(dir, 'objects', 'k');
  const m = fs.readFileSync(manifestFile);
  const forged = Buffer.from(m.toString('latin1').replace('tenant:tenant-a', 'tenant:tenant-b'), 'latin1');
  fs.writeFileSync(manifestFile, forged);
  await assert.rejects(s.objects.open('k', B), /does not authenticate/);
  fs.writeFileSync(manifestFile, m);

  const blocks = blockFiles(dir).sort((x, y) => fs.statSync(x).size - fs.statSync(y).size);
  const small = blocks[0]!; // the last block (100 bytes)
  const bytes = fs.readFileSync(small);
  bytes[5]! ^= 1;
  fs.writeFileSync(small, bytes);
  await assert.rejects(readAll(s, 'k', A), (e: unknown) => {
    assert.ok(e instanceof BlobCorruptError);
    assert.match(e.message, new RegExp(`block ${path.basename(small)} .* is corrupt`));
    return true;
  });
  // A range that does not need the corrupt block still reads.
  assert.ok((await readAll(s, 'k', A, { start: 0, end: 99 })).equals(b.subarray(0, 100)));
  fs.rmSync(blocks[1]!);
  await assert.rejects(readAll(s, 'k', A), new RegExp(`block ${path.basename(blocks[1]!)} .* is missing`));
});

test('a crash between blocks and manifest leaves no manifest, and the sweep reclaims its blocks', async () => {
  const { s, dir } = storage();
  const kept = randomBytes(BLOCK_SIZE + 1);
  await s.objects.put('kept', chunked(kept), A);
  // The crash: the blocks are written, the process dies before the manifest (pins die with it).
  const crashed = await s.pool.write(A, chunked(randomBytes(2 * BLOCK_SIZE)));
  assert.equal(blockFiles(dir).length, 4);
  assert.deepEqual(files(path.join(dir, 'objects')), [path.join(dir, 'objects', 'kept')]);
  // While the writer lives, its blocks are pinned: the sweep keeps them.
  assert.equal((await s.sweep(0)).removed, 0);
  crashed.release();
  assert.equal((await s.sweep(0)).removed, 2);
  assert.equal(blockFiles(dir).length, 2);
  assert.ok((await readAll(s, 'kept', A)).equals(kept));
  // Deleting the last manifest naming a block frees it.
  await s.objects.delete('kept');
  assert.equal((await s.sweep(0)).removed, 2);
  assert.equal(blockFiles(dir).length, 0);
});

test('a sweep running while an upload streams never takes its blocks, new or reused', async () => {
  const { s, dir } = storage();
  const first = randomBytes(BLOCK_SIZE);
  const second = randomBytes(BLOCK_SIZE);
  // An orphan identical to the upload's first block: the upload reuses it while the sweep wants it gone.
  const orphan = await s.pool.write(A, chunked(first));
  orphan.release();
  let go!: () => void;
  const gate = new Promise<void>((r) => (go = r));
  async function* slow(): AsyncIterable<Uint8Array> {
    yield first;
    await gate;
    yield second;
  }
  const upload = s.objects.put('slow', slow(), A);
  await new Promise((r) => setTimeout(r, 50));
  const sweep = s.sweep(0);
  go();
  await upload;
  assert.equal((await sweep).removed, 0);
  assert.equal((await s.sweep(0)).removed, 0);
  assert.equal(blockFiles(dir).length, 2);
  assert.ok((await readAll(s, 'slow', A)).equals(Buffer.concat([first, second])));
});

test('concatenating sealed bodies (multipart completion) reuses their blocks without writing any', async () => {
  const { s, dir } = storage();
  const p1 = randomBytes(5 * BLOCK_SIZE);
  const p2 = randomBytes(12345);
  await s.objects.put('p1', chunked(p1), A);
  await s.objects.put('p2', chunked(p2), A);
  const before = blockFiles(dir).length;
  assert.equal(await s.objects.concat('whole', ['p1', 'p2'], A), p1.length + p2.length);
  assert.equal(blockFiles(dir).length, before);
  await s.objects.delete('p1');
  await s.objects.delete('p2');
  assert.equal((await s.sweep(0)).removed, 0);
  const whole = Buffer.concat([p1, p2]);
  assert.ok((await readAll(s, 'whole', A)).equals(whole));
  const at = 5 * BLOCK_SIZE - 7;
  assert.ok((await readAll(s, 'whole', A, { start: at, end: at + 20 })).equals(whole.subarray(at, at + 21)));
});

test('plain blobs (an older data dir, or KINDLING_STORAGE=plain) stay readable; nothing sealed is plaintext', async () => {
  const dir = tempDir('kindling-blocks-');
  const plain = storage({ dir, seal: false });
  const marker = 'MARKER-7f3a9c-plaintext';
  const big = Buffer.concat([body(200 * 1024), Buffer.from(marker)]);
  await plain.s.objects.put('old-small', Buffer.from(`small ${marker}`));
  await plain.s.objects.put('old-big', chunked(big));
  const sealed = storage({ dir });
  assert.equal((await readAll(sealed.s, 'old-small', A)).toString(), `small ${marker}`);
  assert.ok(
    (await readAll(sealed.s, 'old-big', A, { start: 1000, end: 300_000 })).equals(
      big.subarray(1000, 300_001),
    ),
  );
  // Written sealed: the marker is in no file but the two plain ones.
  await sealed.s.objects.put('new', chunked(Buffer.concat([big, big])), A);
  await sealed.s.code.put('digest.zip', Buffer.from(`zip ${marker}`));
  const holding = files(dir).filter((f) => fs.readFileSync(f).includes(marker));
  assert.deepEqual(holding.sort(), [
    path.join(dir, 'objects', 'old-big'),
    path.join(dir, 'objects', 'old-small'),
  ]);
  assert.equal((await readAll(sealed.s, 'new', A)).length, 2 * big.length);
  // Another master key opens nothing (and its sweep refuses to guess: it removes no block).
  const other = storage({ dir, master: Buffer.alloc(32, 9) });
  await assert.rejects(other.s.objects.open('new', A), /does not authenticate/);
  await assert.rejects(other.s.sweep(0), /does not open/);
  assert.ok((await readAll(sealed.s, 'new', A)).length > 0);
});

/**
 * A block as the first release wrote it (WebCrypto, written here independently of BlockPool):
 * key = HMAC-SHA256(salt, SHA-256(plain)), AES-256-GCM under it with the nonce derived from it,
 * ciphertext then tag, under blocks/<2 hex>/<name>.
 */
async function firstReleaseBlock(salt: Buffer, plain: Buffer) {
  const key = createHmac('sha256', salt).update(createHash('sha256').update(plain).digest()).digest();
  const name = createHmac('sha256', key).update('kindling block name').digest('hex');
  const iv = createHmac('sha256', key).update('kindling block nonce').digest().subarray(0, 12);
  const k = await webcrypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt']);
  const sealed = Buffer.from(await webcrypto.subtle.encrypt({ name: 'AES-GCM', iv }, k, plain));
  return { key, name, sealed, file: path.join(name.slice(0, 2), name) };
}

test("the block format is the first release's: its blocks read back, and new blocks are the same bytes", async () => {
  const master = Buffer.alloc(32, 7);
  const keyring = new Keyring(master);
  const plain = [randomBytes(BLOCK_SIZE), body(BLOCK_SIZE, 'old'), randomBytes(4321)];
  const old = await Promise.all(plain.map((p) => firstReleaseBlock(keyring.salt(A), p)));
  // A data dir as the first release left it: its block files and a manifest over them.
  const { s, dir, raw } = storage({ master });
  for (const b of old) {
    fs.mkdirSync(path.join(dir, 'blocks', path.dirname(b.file)), { recursive: true });
    fs.writeFileSync(path.join(dir, 'blocks', b.file), b.sealed);
  }
  const size = plain.reduce((n, p) => n + p.length, 0);
  const blocks = old.map((b, i) => ({ key: b.key, size: plain[i]!.length }));
  await raw.objects.put('old', sealManifest(keyring, { owner: A, size, blocks }));
  assert.ok((await readAll(s, 'old', A)).equals(Buffer.concat(plain)));
  const at = BLOCK_SIZE - 5;
  assert.ok(
    (await readAll(s, 'old', A, { start: at, end: at + 9 })).equals(
      Buffer.concat(plain).subarray(at, at + 10),
    ),
  );
  // Written now (another dir): byte for byte the files the first release wrote, so they deduplicate.
  const now = storage({ master });
  await now.s.objects.put('new', chunked(Buffer.concat(plain)), A);
  for (const b of old)
    assert.ok(fs.readFileSync(path.join(now.dir, 'blocks', b.file)).equals(b.sealed), b.name);
  assert.equal(blockFiles(now.dir).length, old.length);
});

test('a block file cut short or grown on disk fails the read, naming it', async () => {
  const { s, dir } = storage();
  const b = randomBytes(BLOCK_SIZE + 100);
  await s.objects.put('k', chunked(b), A);
  const [first] = blockFiles(dir).sort((x, y) => fs.statSync(y).size - fs.statSync(x).size);
  const sealed = fs.readFileSync(first!);
  fs.writeFileSync(first!, sealed.subarray(0, sealed.length - 1));
  await assert.rejects(readAll(s, 'k', A), (e: unknown) => {
    assert.ok(e instanceof BlobCorruptError);
    assert.match(e.message, new RegExp(`block ${path.basename(first!)} .* has ${sealed.length - 1} bytes`));
    return true;
  });
  fs.writeFileSync(first!, Buffer.concat([sealed, Buffer.from([0])]));
  await assert.rejects(readAll(s, 'k', A), /has \d+ bytes where \d+ were stored/);
  fs.writeFileSync(first!, sealed);
  assert.ok((await readAll(s, 'k', A)).equals(b));
});

test('DirBlobStore writes a list of buffers as their concatenation, atomically, and reads a blob whole into a buffer', async () => {
  const dir = tempDir('kindling-blobs-');
  const store = new DirBlobStore(dir);
  const parts = [randomBytes(70_000), Buffer.alloc(0), randomBytes(16)];
  await store.put('a/b/c', parts);
  assert.ok(fs.readFileSync(path.join(dir, 'a', 'b', 'c')).equals(Buffer.concat(parts)));
  assert.deepEqual(files(dir), [path.join(dir, 'a', 'b', 'c')]); // no temp file left
  await store.put('a/b/c', Buffer.from('replaced'));
  const r = await store.open('a/b/c');
  assert.ok(r?.readInto);
  const into = Buffer.alloc(64, 0xff);
  assert.equal((await r.readInto(into)).toString(), 'replaced');
  await assert.rejects(r.readInto(into), /read twice/);
  const small = await store.open('a/b/c');
  await assert.rejects(small!.readInto!(Buffer.alloc(3)), RangeError);
  // Every handle was closed, the refused one included: the blob goes and nothing holds it.
  await store.delete('a/b/c');
  const fds = fs.readdirSync('/proc/self/fd').map((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return '';
    }
  });
  assert.ok(!fds.some((f) => f.startsWith(dir)), 'no descriptor of the store left open');
});
