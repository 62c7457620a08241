import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { TenantStore } from '../../../src/control/tenants.js';
import { configMatches, eventMatches, normalizeConfig } from '../../../src/events/notifications/config.js';
import { BucketNotifications } from '../../../src/events/notifications/notifications.js';
import { buildS3Event, encodeEventKey } from '../../../src/events/notifications/s3-event.js';
import { ObjectStore } from '../../../src/events/objects/store.js';
import type { AsyncInvokeOptions, Invoker } from '../../../src/invoke/types.js';
import { DirBlobStore } from '../../../src/store/blobs/dir-blob-store.js';
import { openDatabase, SqliteSql } from '../../../src/store/sqlite.js';
import { tempDir } from '../../helpers/platform.js';
import { openTestSql } from '../../helpers/store.js';

const id = () => 'generated-id';

test('s3:ObjectCreated:* covers Put, Copy and CompleteMultipartUpload but not removals', () => {
  assert.ok(eventMatches('s3:ObjectCreated:*', 'ObjectCreated:Put'));
  assert.ok(eventMatches('s3:ObjectCreated:*', 'ObjectCreated:Copy'));
  assert.ok(eventMatches('s3:ObjectCreated:*', 'ObjectCreated:CompleteMultipartUpload'));
  assert.ok(!eventMatches('s3:ObjectCreated:*', 'ObjectRemoved:Delete'));
});

test('s3:ObjectCreated:Put does not cover Copy', () => {
  assert.ok(eventMatches('s3:ObjectCreated:Put', 'ObjectCreated:Put'));
  assert.ok(!eventMatches('s3:ObjectCreated:Put', 'ObjectCreated:Copy'));
});

test('prefix and suffix filter rules both have to match the key', () => {
  const c = { id: 'c', functionArn: 'a', events: ['s3:ObjectCreated:*'], prefix: 'images/', suffix: '.png' };
  assert.ok(configMatches(c, 'ObjectCreated:Put', 'images/cat.png'));
  assert.ok(!configMatches(c, 'ObjectCreated:Put', 'images/cat.jpg'));
  assert.ok(!configMatches(c, 'ObjectCreated:Put', 'docs/cat.png'));
  assert.ok(!configMatches(c, 'ObjectRemoved:Delete', 'images/cat.png'));
});

const arn = 'arn:aws:lambda:us-east-1:123456789012:function:thumbs';

test('a configuration is normalized with filter rule names in any case and a generated id', () => {
  const c = normalizeConfig(
    {
      LambdaFunctionConfigurations: [
        {
          LambdaFunctionArn: arn,
          Events: ['s3:ObjectCreated:*'],
          Filter: {
            Key: {
              FilterRules: [
                { Name: 'Prefix', Value: 'in/' },
                { Name: 'suffix', Value: '.png' },
              ],
            },
          },
        },
      ],
    },
    id,
  );
  assert.deepEqual(c.lambda, [
    { id: 'generated-id', functionArn: arn, events: ['s3:ObjectCreated:*'], prefix: 'in/', suffix: '.png' },
  ]);
});

test('an unknown event type is refused with InvalidArgument', () => {
  assert.throws(
    () =>
      normalizeConfig(
        { LambdaFunctionConfigurations: [{ LambdaFunctionArn: arn, Events: ['s3:Nope'] }] },
        id,
      ),
    { code: 'InvalidArgument' },
  );
});

test('a malformed function ARN is refused with InvalidArgument', () => {
  assert.throws(
    () =>
      normalizeConfig(
        { LambdaFunctionConfigurations: [{ LambdaFunctionArn: 'thumbs', Events: ['s3:ObjectCreated:*'] }] },
        id,
      ),
    {
      code: 'InvalidArgument',
    },
  );
});

test('two prefix rules in one filter are refused with InvalidArgument', () => {
  const rules = [
    { Name: 'prefix', Value: 'a' },
    { Name: 'prefix', Value: 'b' },
  ];
  assert.throws(
    () =>
      normalizeConfig(
        {
          LambdaFunctionConfigurations: [
            {
              LambdaFunctionArn: arn,
              Events: ['s3:ObjectCreated:*'],
              Filter: { Key: { FilterRules: rules } },
            },
          ],
        },
        id,
      ),
    { code: 'InvalidArgument' },
  );
});

test('two configurations with the same id are refused with InvalidArgument', () => {
  const c = { Id: 'same', LambdaFunctionArn: arn, Events: ['s3:ObjectCreated:*'] };
  assert.throws(() => normalizeConfig({ LambdaFunctionConfigurations: [c, c] }, id), {
    code: 'InvalidArgument',
  });
});

test('event keys are form-encoded as S3 encodes them (space as +, slash kept)', () => {
  assert.equal(encodeEventKey('photos/my cat+dog ü.png'), 'photos/my+cat%2Bdog+%C3%BC.png');
});

test('a Put event has Lambda S3 event JSON with size, unquoted eTag and sequencer', () => {
  const event = buildS3Event(
    {
      tenantId: 't',
      bucket: 'pics',
      key: 'a b.png',
      eventName: 'ObjectCreated:Put',
      size: 12,
      etag: 'abc',
      sequencer: '00000000000000A1',
      time: new Date('2026-01-02T03:04:05.678Z'),
    },
    { region: 'us-east-1', configurationId: 'cfg', principalId: '123456789012', requestId: 'REQ' },
  );
  const r = event.Records[0]!;
  assert.equal(event.Records.length, 1);
  assert.equal(r.eventVersion, '2.1');
  assert.equal(r.eventSource, 'aws:s3');
  assert.equal(r.awsRegion, 'us-east-1');
  assert.equal(r.eventTime, '2026-01-02T03:04:05.678Z');
  assert.equal(r.eventName, 'ObjectCreated:Put');
  assert.equal(r.s3.s3SchemaVersion, '1.0');
  assert.equal(r.s3.configurationId, 'cfg');
  assert.deepEqual(r.s3.bucket, {
    name: 'pics',
    ownerIdentity: { principalId: '123456789012' },
    arn: 'arn:aws:s3:::pics',
  });
  assert.deepEqual(r.s3.object, { key: 'a+b.png', size: 12, eTag: 'abc', sequencer: '00000000000000A1' });
  assert.equal(r.responseElements['x-amz-request-id'], 'REQ');
});

test('a Delete event carries no size or eTag', () => {
  const event = buildS3Event(
    {
      tenantId: 't',
      bucket: 'pics',
      key: 'k',
      eventName: 'ObjectRemoved:Delete',
      sequencer: '01',
      time: new Date(),
    },
    { region: 'us-east-1', configurationId: 'cfg', principalId: 'p', requestId: 'r' },
  );
  assert.deepEqual(event.Records[0]!.s3.object, { key: 'k', sequencer: '01' });
});

interface Delivered {
  arn: string;
  event: { Records: { eventName: string; s3: { object: { key: string } } }[] };
  opts?: AsyncInvokeOptions;
}

/** The engine and notifications over a fresh store (this run's kind), with a recording fake invoker. */
async function harness(opts: { started?: boolean; fail?: boolean } = {}) {
  const dir = tempDir('kindling-notify-');
  const testSql = await openTestSql();
  const sql = testSql.sql;
  const tenants = await TenantStore.open(sql);
  const tenant = await tenants.create('t1');
  const logs: string[] = [];
  const delivered: Delivered[] = [];
  let failing = opts.fail ?? false;
  const invoker: Invoker = {
    invokeSync: () => Promise.reject(new Error('unused')),
    invokeAsync: async (_t, ref, payload, o) => {
      if (failing) throw new Error('not now');
      delivered.push({ arn: ref, event: JSON.parse(payload.toString()), opts: o });
      return { requestId: 'r' };
    },
  };
  const started = opts.started ?? true;
  const notifications = new BucketNotifications({
    sql,
    nodeId: 'node-a',
    leaseMs: 30_000,
    tenants,
    region: 'us-east-1',
    invoker,
    retryBaseMs: 1,
    log: (m) => logs.push(m),
  });
  const store = new ObjectStore({
    sql,
    blobs: new DirBlobStore(path.join(dir, 'blobs')),
    hooks: {
      onChange: (c, q) => notifications.record(c, q),
      // A deliverer not started yet is not woken by commits (as before the platform starts its parts).
      afterCommit: () => {
        if (started) notifications.kick();
      },
    },
  });
  await notifications.migrate();
  await store.migrate();
  if (started) await notifications.start();
  const fnArn = `arn:aws:lambda:us-east-1:${tenant.accountId}:function:f`;
  return {
    sql,
    tenant,
    store,
    notifications,
    delivered,
    logs,
    fnArn,
    setFailing: (v: boolean) => {
      failing = v;
    },
    async close() {
      await notifications.stop();
      await testSql.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`never happened: ${what}`);
}

const body = (s: string) => Readable.from([Buffer.from(s)]);

test('only changes matching the prefix, suffix and event type are delivered, each as an async invoke from the bucket', async () => {
  const h = await harness();
  try {
    await h.store.createBucket(h.tenant.id, 'pics');
    await h.notifications.putConfig(h.tenant, 'pics', {
      LambdaFunctionConfigurations: [
        {
          Id: 'pngs',
          LambdaFunctionArn: h.fnArn,
          Events: ['s3:ObjectCreated:Put'],
          Filter: {
            Key: {
              FilterRules: [
                { Name: 'prefix', Value: 'in/' },
                { Name: 'suffix', Value: '.png' },
              ],
            },
          },
        },
      ],
    });
    await h.store.putObject(h.tenant.id, 'pics', 'in/a.png', body('a'));
    await h.store.putObject(h.tenant.id, 'pics', 'in/b.jpg', body('b'));
    await h.store.putObject(h.tenant.id, 'pics', 'out/c.png', body('c'));
    await h.store.copyObject(
      h.tenant.id,
      { bucket: 'pics', key: 'in/a.png' },
      { bucket: 'pics', key: 'in/copy.png' },
      {},
    );
    await h.store.deleteObject(h.tenant.id, 'pics', 'in/a.png');
    await until(async () => (await h.notifications.pending()) === 0, 'outbox drained');
    assert.deepEqual(
      h.delivered.map((d) => [d.arn, d.event.Records[0]!.eventName, d.event.Records[0]!.s3.object.key]),
      [[h.fnArn, 'ObjectCreated:Put', 'in/a.png']],
    );
    assert.deepEqual(h.delivered[0]!.opts?.source, { kind: 's3', arn: 'arn:aws:s3:::pics' });
  } finally {
    await h.close();
  }
});

test('removal events are delivered to an ObjectRemoved:* configuration', async () => {
  const h = await harness();
  try {
    await h.store.createBucket(h.tenant.id, 'pics');
    await h.notifications.putConfig(h.tenant, 'pics', {
      LambdaFunctionConfigurations: [{ LambdaFunctionArn: h.fnArn, Events: ['s3:ObjectRemoved:*'] }],
    });
    await h.store.putObject(h.tenant.id, 'pics', 'k', body('x'));
    await h.store.deleteObject(h.tenant.id, 'pics', 'k');
    await h.store.deleteObject(h.tenant.id, 'pics', 'never-existed');
    await until(
      async () => h.delivered.length === 1 && (await h.notifications.pending()) === 0,
      'delete delivered',
    );
    assert.equal(h.delivered[0]!.event.Records[0]!.eventName, 'ObjectRemoved:Delete');
  } finally {
    await h.close();
  }
});

test('a multipart completion is delivered as ObjectCreated:CompleteMultipartUpload', async () => {
  const h = await harness();
  try {
    await h.store.createBucket(h.tenant.id, 'pics');
    await h.notifications.putConfig(h.tenant, 'pics', {
      LambdaFunctionConfigurations: [{ LambdaFunctionArn: h.fnArn, Events: ['s3:ObjectCreated:*'] }],
    });
    const up = await h.store.createMultipartUpload(h.tenant.id, 'pics', 'mp');
    const p = await h.store.uploadPart(h.tenant.id, 'pics', 'mp', up, 1, body('x'));
    await h.store.completeMultipartUpload(h.tenant.id, 'pics', 'mp', up, [{ partNumber: 1, etag: p.etag }]);
    await until(() => h.delivered.length === 1, 'completion delivered');
    assert.equal(h.delivered[0]!.event.Records[0]!.eventName, 'ObjectCreated:CompleteMultipartUpload');
  } finally {
    await h.close();
  }
});

test('an event written before the deliverer starts stays in the outbox and is delivered once it starts', async () => {
  const h = await harness({ started: false });
  try {
    await h.store.createBucket(h.tenant.id, 'pics');
    await h.notifications.putConfig(h.tenant, 'pics', {
      LambdaFunctionConfigurations: [{ LambdaFunctionArn: h.fnArn, Events: ['s3:ObjectCreated:*'] }],
    });
    await h.store.putObject(h.tenant.id, 'pics', 'k', body('x'));
    assert.equal(await h.notifications.pending(), 1);
    await h.notifications.start();
    await until(async () => (await h.notifications.pending()) === 0, 'outbox drained');
    assert.equal(h.delivered.length, 1);
  } finally {
    await h.close();
  }
});

test('an event the invoker refuses is kept and retried until accepted', async () => {
  const h = await harness({ fail: true });
  try {
    await h.store.createBucket(h.tenant.id, 'pics');
    await h.notifications.putConfig(h.tenant, 'pics', {
      LambdaFunctionConfigurations: [{ LambdaFunctionArn: h.fnArn, Events: ['s3:ObjectCreated:*'] }],
    });
    await h.store.putObject(h.tenant.id, 'pics', 'k', body('x'));
    await until(
      async () =>
        ((await h.sql.get<{ attempts: number }>('SELECT attempts FROM s3_notification_outbox'))?.attempts ??
          0) >= 1,
      'a failed attempt',
    );
    h.setFailing(false);
    await until(async () => (await h.notifications.pending()) === 0, 'retried and accepted');
    assert.equal(h.delivered.length, 1);
  } finally {
    await h.close();
  }
});

test('a configuration naming a function of another account is refused with InvalidArgument', async () => {
  const h = await harness();
  try {
    await h.store.createBucket(h.tenant.id, 'pics');
    await assert.rejects(
      h.notifications.putConfig(h.tenant, 'pics', {
        LambdaFunctionConfigurations: [{ LambdaFunctionArn: arn, Events: ['s3:ObjectCreated:*'] }],
      }),
      { code: 'InvalidArgument' },
    );
  } finally {
    await h.close();
  }
});

test('an object write whose bucket is gone commits no outbox row', async () => {
  const h = await harness({ started: false });
  try {
    await h.store.createBucket(h.tenant.id, 'pics');
    await h.notifications.putConfig(h.tenant, 'pics', {
      LambdaFunctionConfigurations: [{ LambdaFunctionArn: h.fnArn, Events: ['s3:ObjectCreated:*'] }],
    });
    await assert.rejects(
      h.store.putObject(
        h.tenant.id,
        'pics',
        'k',
        (async function* () {
          yield Buffer.from('x');
          throw new Error('client went away');
        })(),
      ),
    );
    assert.equal(await h.notifications.pending(), 0);
  } finally {
    await h.close();
  }
});

test('an outbox row left by a stopped server is delivered after a restart', async () => {
  const dir = tempDir('kindling-notify-restart-');
  const fnArn = (accountId: string) => `arn:aws:lambda:us-east-1:${accountId}:function:f`;
  const testSql = await openTestSql();
  try {
    const tenants = await TenantStore.open(testSql.sql);
    const tenant = await tenants.create('t1');
    // Never started: the row stays in its outbox.
    const first = new BucketNotifications({
      sql: testSql.sql,
      nodeId: 'first',
      leaseMs: 30_000,
      tenants,
      region: 'us-east-1',
      invoker: {
        invokeSync: () => Promise.reject(new Error('unused')),
        invokeAsync: () => Promise.reject(new Error('the first server never delivers')),
      },
    });
    const store = new ObjectStore({
      sql: testSql.sql,
      blobs: new DirBlobStore(path.join(dir, 'blobs')),
      hooks: { onChange: (c, q) => first.record(c, q) },
    });
    await first.migrate();
    await store.migrate();
    await store.createBucket(tenant.id, 'pics');
    await first.putConfig(tenant, 'pics', {
      LambdaFunctionConfigurations: [
        { LambdaFunctionArn: fnArn(tenant.accountId), Events: ['s3:ObjectCreated:*'] },
      ],
    });
    await store.putObject(tenant.id, 'pics', 'k', body('x'));

    const delivered: string[] = [];
    const second = new BucketNotifications({
      sql: testSql.sql,
      nodeId: 'second',
      leaseMs: 30_000,
      tenants,
      region: 'us-east-1',
      invoker: {
        invokeSync: () => Promise.reject(new Error('unused')),
        invokeAsync: async (t, ref) => {
          delivered.push(`${t.name} ${ref}`);
          return { requestId: 'r' };
        },
      },
    });
    await second.migrate();
    await second.start();
    await until(async () => (await second.pending()) === 0, 'outbox drained after restart');
    await second.stop();
    assert.deepEqual(delivered, [`t1 ${fnArn(tenant.accountId)}`]);
  } finally {
    await testSql.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('restart recovery removes temp files and blob files that no row names, and keeps the rest', async () => {
  const dir = tempDir('kindling-recover-');
  const testSql = await openTestSql();
  try {
    const objects = path.join(dir, 'objects');
    const store = new ObjectStore({
      sql: testSql.sql,
      blobs: new DirBlobStore(path.join(objects, 'data'), path.join(objects, 'tmp')),
    });
    await store.migrate();
    await store.createBucket('t', 'pics');
    await store.putObject('t', 'pics', 'kept', body('kept'));
    fs.mkdirSync(path.join(objects, 'tmp'), { recursive: true });
    fs.writeFileSync(path.join(objects, 'tmp', 'abandoned'), 'partial');
    fs.mkdirSync(path.join(objects, 'data', 'ff'), { recursive: true });
    fs.writeFileSync(path.join(objects, 'data', 'ff', 'ff'.repeat(16)), 'never committed');
    assert.deepEqual(await store.recover(), { tempFiles: 1, orphans: 1 });
    const o = await store.openObject('t', 'pics', 'kept');
    const chunks: Buffer[] = [];
    for await (const c of o.read()) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'kept');
  } finally {
    await testSql.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
