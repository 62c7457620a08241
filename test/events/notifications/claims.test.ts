// Several nodes deliver one outbox: each event is claimed by one node, and a dead node's claims are
// taken over once its lease ran out. Two deliverers on one store (two connections on PostgreSQL).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { TenantStore } from '../../../src/control/tenants.js';
import { BucketNotifications } from '../../../src/events/notifications/notifications.js';
import { ObjectStore } from '../../../src/events/objects/store.js';
import type { Invoker } from '../../../src/invoke/types.js';
import { DirBlobStore } from '../../../src/store/blobs/dir-blob-store.js';
import { PostgresSql } from '../../../src/store/postgres.js';
import type { Sql } from '../../../src/store/sql.js';
import { openDatabase } from '../../../src/store/sqlite.js';
import { tempDir } from '../../helpers/platform.js';
import { openTestSql } from '../../helpers/store.js';

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`never happened: ${what}`);
}

const recording = (seen: string[], hang = false): Invoker => ({
  invokeSync: () => Promise.reject(new Error('unused')),
  invokeAsync: (_t, _ref, payload) => {
    const key = (JSON.parse(payload.toString()) as { Records: { s3: { object: { key: string } } }[] })
      .Records[0]!.s3.object.key;
    seen.push(key);
    // A node that hangs mid-delivery: as good as dead, its claims are never finished.
    return hang ? new Promise(() => {}) : Promise.resolve({ requestId: 'r' });
  },
});

async function cluster() {
  const dir = tempDir('kindling-claims-');
  const first = await openTestSql();
  const tenants = await TenantStore.open(first.sql);
  const tenant = await tenants.create('t1');
  // The second node: its own connection to the same database (SQLite: one node by construction).
  const second: Sql = first.url ? await PostgresSql.open({ url: first.url, max: 4 }) : first.sql;
  const node = (sql: Sql, nodeId: string, invoker: Invoker, leaseMs: number) =>
    new BucketNotifications({ sql, nodeId, leaseMs, tenants, region: 'us-east-1', invoker, retryBaseMs: 1 });
  const fnArn = `arn:aws:lambda:us-east-1:${tenant.accountId}:function:f`;
  const writer = new BucketNotifications({
    sql: first.sql,
    nodeId: 'writer',
    leaseMs: 30_000,
    tenants,
    region: 'us-east-1',
    invoker: recording([]),
  });
  await writer.migrate();
  const store = new ObjectStore({
    sql: first.sql,
    blobs: new DirBlobStore(path.join(dir, 'blobs')),
    hooks: { onChange: (c, q) => writer.record(c, q) },
  });
  await store.migrate();
  await store.createBucket(tenant.id, 'pics');
  await writer.putConfig(tenant, 'pics', {
    LambdaFunctionConfigurations: [{ LambdaFunctionArn: fnArn, Events: ['s3:ObjectCreated:*'] }],
  });
  return {
    tenant,
    store,
    first: first.sql,
    second,
    node,
    pending: () => writer.pending(),
    async close() {
      if (second !== first.sql) await second.close();
      await first.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('two nodes delivering one outbox hand each S3 event to the invoker once', async () => {
  const c = await cluster();
  const seenA: string[] = [];
  const seenB: string[] = [];
  const a = c.node(c.first, 'node-a', recording(seenA), 30_000);
  const b = c.node(c.second, 'node-b', recording(seenB), 30_000);
  try {
    for (let i = 0; i < 60; i++) {
      await c.store.putObject(c.tenant.id, 'pics', `k${i}`, Readable.from([Buffer.from('x')]));
    }
    await Promise.all([a.start(), b.start()]);
    await until(async () => (await c.pending()) === 0, 'outbox drained');
    const all = [...seenA, ...seenB].sort();
    assert.equal(all.length, 60);
    assert.equal(new Set(all).size, 60, 'no event was delivered twice');
  } finally {
    await a.stop();
    await b.stop();
    await c.close();
  }
});

test('a node that dies holding claims has its S3 events delivered by another node once its lease ran out', async () => {
  const c = await cluster();
  const seenDead: string[] = [];
  const seenLive: string[] = [];
  // The dead node: claims rows, starts delivering, never finishes (no goodbye, no release).
  const dead = c.node(c.first, 'node-dead', recording(seenDead, true), 1_000);
  const live = c.node(c.second, 'node-live', recording(seenLive), 1_000);
  try {
    for (let i = 0; i < 3; i++) {
      await c.store.putObject(c.tenant.id, 'pics', `k${i}`, Readable.from([Buffer.from('x')]));
    }
    await dead.start();
    await until(() => seenDead.length === 1, 'the dead node took its claims');
    const claimed = await c.first.get<{ n: number }>(
      "SELECT COUNT(*) AS n FROM s3_notification_outbox WHERE claimed_by = 'node-dead'",
    );
    assert.equal(claimed?.n, 3, 'the dead node holds every row');
    await live.start();
    await until(async () => (await c.pending()) === 0, 'taken over and delivered');
    assert.deepEqual(seenLive.sort(), ['k0', 'k1', 'k2']);
  } finally {
    await live.stop();
    await c.close();
  }
});
