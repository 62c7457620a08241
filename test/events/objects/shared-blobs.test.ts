// Object bodies in a blob store every node shares: two object stores ("nodes") on one database (two
// connections on PostgreSQL) and one blob directory. A blob missing or changed on disk is an error, never
// other bytes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { ObjectStore } from '../../../src/events/objects/store.js';
import { DirBlobStore } from '../../../src/store/blobs/dir-blob-store.js';
import { PostgresSql } from '../../../src/store/postgres.js';
import type { Sql } from '../../../src/store/sql.js';
import { tempDir } from '../../helpers/platform.js';
import { openTestSql } from '../../helpers/store.js';

const body = (b: Buffer | string) => Readable.from([Buffer.from(b)]);

async function read(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function twoNodes() {
  const shared = tempDir('kindling-shared-blobs-');
  const first = await openTestSql();
  const second: Sql = first.url ? await PostgresSql.open({ url: first.url, max: 4 }) : first.sql;
  const node = (sql: Sql) =>
    new ObjectStore({
      sql,
      blobs: new DirBlobStore(path.join(shared, 'objects')),
      shared: true,
      graceMs: 60_000,
    });
  const a = node(first.sql);
  const b = node(second);
  await Promise.all([a.migrate(), b.migrate()]);
  await a.createBucket('t', 'pics');
  /** The blob file holding the object's bytes. */
  const blobFile = async (key: string) => {
    const row = await first.sql.get<{ blob: string }>(
      'SELECT blob FROM s3_objects WHERE bucket = ? AND key = ?',
      ['pics', key],
    );
    return path.join(shared, 'objects', row!.blob.slice(0, 2), row!.blob);
  };
  return {
    a,
    b,
    shared,
    blobFile,
    async close() {
      if (second !== first.sql) await second.close();
      await first.close();
      fs.rmSync(shared, { recursive: true, force: true });
    },
  };
}

test('an object PUT on one node is read on another, and an overwrite on the second is read on the first', async () => {
  const n = await twoNodes();
  try {
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    await n.a.putObject('t', 'pics', 'k', body(big));
    const onB = await n.b.openObject('t', 'pics', 'k');
    assert.ok((await read(onB.read())).equals(big));
    await n.b.putObject('t', 'pics', 'k', body('second'));
    const onA = await n.a.openObject('t', 'pics', 'k');
    assert.equal((await read(onA.read())).toString(), 'second');
    assert.equal(onA.info.etag, (await n.b.headObject('t', 'pics', 'k')).etag);
  } finally {
    await n.close();
  }
});

test('a multipart upload whose parts went through two nodes completes on a third read', async () => {
  const n = await twoNodes();
  try {
    const id = await n.a.createMultipartUpload('t', 'pics', 'mp');
    const p1 = await n.a.uploadPart('t', 'pics', 'mp', id, 1, body(Buffer.alloc(5 * 1024 * 1024, 1)));
    const p2 = await n.b.uploadPart('t', 'pics', 'mp', id, 2, body('tail'));
    await n.b.completeMultipartUpload('t', 'pics', 'mp', id, [
      { partNumber: 1, etag: p1.etag },
      { partNumber: 2, etag: p2.etag },
    ]);
    const got = await read((await n.a.openObject('t', 'pics', 'mp')).read());
    assert.equal(got.length, 5 * 1024 * 1024 + 4);
    assert.equal(got.subarray(-4).toString(), 'tail');
  } finally {
    await n.close();
  }
});

test('an object whose blob is missing from the shared store is an error naming the blob, on open', async () => {
  const n = await twoNodes();
  try {
    await n.a.putObject('t', 'pics', 'gone', body('bytes'));
    fs.rmSync(await n.blobFile('gone'));
    await assert.rejects(n.b.openObject('t', 'pics', 'gone'), {
      name: 'BlobMissingError',
      message: /is missing from the blob store/,
    });
  } finally {
    await n.close();
  }
});

test('an object whose blob was truncated is refused before any byte is sent', async () => {
  const n = await twoNodes();
  try {
    await n.a.putObject('t', 'pics', 'short', body('twelve bytes'));
    fs.truncateSync(await n.blobFile('short'), 5);
    await assert.rejects(n.b.openObject('t', 'pics', 'short'), {
      name: 'BlobCorruptError',
      message: /5 bytes where 12 were stored/,
    });
  } finally {
    await n.close();
  }
});

test('an object whose blob was changed in place (same size) ends its read with an error, not other bytes', async () => {
  const n = await twoNodes();
  try {
    await n.a.putObject('t', 'pics', 'flipped', body('original'));
    fs.writeFileSync(await n.blobFile('flipped'), 'tampered');
    const o = await n.b.openObject('t', 'pics', 'flipped');
    const seen: Buffer[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of o.read()) seen.push(c as Buffer);
      })(),
      { name: 'BlobCorruptError', message: /MD5 differs/ },
    );
    // The last chunk is held back until the digest checked out: the reader never got all the bytes.
    assert.ok(Buffer.concat(seen).length < 'tampered'.length);
  } finally {
    await n.close();
  }
});

test("the sweeper on one node leaves another node's young unreferenced blob alone, and removes old orphans", async () => {
  const n = await twoNodes();
  try {
    await n.a.putObject('t', 'pics', 'kept', body('kept'));
    const dir = path.join(n.shared, 'objects', 'ab');
    fs.mkdirSync(dir, { recursive: true });
    // Written by another node a moment ago, its row not committed yet.
    const young = path.join(dir, 'ab'.repeat(16));
    fs.writeFileSync(young, 'in flight');
    const old = path.join(dir, `ab${'cd'.repeat(15)}`);
    fs.writeFileSync(old, 'orphan');
    const hourAgo = new Date(Date.now() - 3600_000);
    fs.utimesSync(old, hourAgo, hourAgo);
    const tmpYoung = path.join(dir, '.0123.tmp');
    fs.writeFileSync(tmpYoung, 'still streaming');
    assert.deepEqual(await n.b.recover(), { tempFiles: 0, orphans: 1 });
    assert.ok(fs.existsSync(young) && fs.existsSync(tmpYoung) && !fs.existsSync(old));
    assert.equal((await read((await n.b.openObject('t', 'pics', 'kept')).read())).toString(), 'kept');
  } finally {
    await n.close();
  }
});
