// Two platforms on one PostgreSQL database (two nodes), through the unmodified AWS SDK: they start at once
// on an empty database and share one admin key, a key or function changed through one node is what the
// other serves next, a function's session credentials work on every node, and a database that goes away
// answers ServiceException until it is back. On the PostgreSQL leg of the store matrix only.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  ListFunctionsCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import pg from 'pg';
import { KindlingClient } from '../../src/cli/client.js';
import { readCredentialsFile } from '../../src/server/data-dir.js';
import { handlerZip } from '../api/lambda/zips.js';
import { sdkConfig, startPlatform, type TestPlatform, tempDir } from '../helpers/platform.js';
import { freshDatabase, type TestDatabase } from '../helpers/postgres.js';
import { testStoreKind } from '../helpers/store.js';

const skip = testStoreKind() !== 'postgres' && 'runs on the PostgreSQL leg of the store matrix';
let db: TestDatabase;
let nodeA: TestPlatform;
let nodeB: TestPlatform;
const dataDirs: string[] = [];

async function until(check: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const lambda = (p: TestPlatform, credentials = p.credentials) =>
  new LambdaClient(sdkConfig({ endpoint: p.endpoint, credentials }));

/** The admin API (tenants and keys) on a node, with its admin key. */
const admin = (p: TestPlatform) =>
  new KindlingClient({
    endpoint: p.endpoint,
    region: p.region,
    credentials: p.credentials,
    dataDir: p.platform.config.dataDir,
  });

before(async () => {
  if (skip) return;
  db = await freshDatabase();
  for (let i = 0; i < 2; i++) dataDirs.push(tempDir('kindling-control-node-'));
  // Both nodes start at once on the empty database.
  const started = await Promise.all(dataDirs.map((dataDir) => startPlatform({ dataDir, store: db.url })));
  nodeA = started[0]!;
  nodeB = started[1]!;
});

after(async () => {
  if (skip) return;
  await nodeA?.close();
  await nodeB?.close();
  await db?.drop();
  for (const d of dataDirs) fs.rmSync(d, { recursive: true, force: true });
});

test('two nodes starting at once on an empty database make one admin tenant and write its key to both data dirs', {
  skip,
}, async () => {
  assert.equal(nodeA.credentials.accessKeyId, nodeB.credentials.accessKeyId);
  assert.equal([nodeA.platform.root.created, nodeB.platform.root.created].filter(Boolean).length, 1);
  const admins = (await nodeA.platform.tenants.list()).filter((t) => t.isAdmin);
  assert.equal(admins.length, 1);
  for (const dir of dataDirs) {
    const file = path.join(dir, 'credentials');
    assert.deepEqual(readCredentialsFile(file), nodeA.credentials);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  }
});

test('a node started later on the database writes the existing admin key to its empty data dir', {
  skip,
}, async () => {
  const dataDir = tempDir('kindling-control-node-');
  dataDirs.push(dataDir);
  const nodeC = await startPlatform({ dataDir, store: db.url });
  try {
    assert.equal(nodeC.platform.root.created, false);
    assert.deepEqual(readCredentialsFile(path.join(dataDir, 'credentials')), nodeA.credentials);
    assert.equal((await nodeC.platform.tenants.list()).filter((t) => t.isAdmin).length, 1);
  } finally {
    await nodeC.close();
  }
});

test('a key deleted through node A is refused by node B on its next request after the notification', {
  skip,
}, async () => {
  const { accessKey } = await admin(nodeA).admin<{
    accessKey: { accessKeyId: string; secretAccessKey: string };
  }>('POST', '/kindling/v1/tenants', { name: 'keyed' });
  const onB = lambda(nodeB, accessKey);
  assert.deepEqual((await onB.send(new ListFunctionsCommand({}))).Functions, []);
  await admin(nodeA).admin('DELETE', `/kindling/v1/tenants/keyed/keys/${accessKey.accessKeyId}`);
  await until(
    () =>
      onB.send(new ListFunctionsCommand({})).then(
        () => false,
        (e: Error) => e.name === 'UnrecognizedClientException',
      ),
    'node B to refuse the deleted key',
  );
});

test('CreateFunction of one name through both nodes at once: one is created, the other is a ResourceConflictException', {
  skip,
}, async () => {
  const zip = await handlerZip('export const handler = async () => "x";');
  const create = (p: TestPlatform) =>
    lambda(p).send(
      new CreateFunctionCommand({
        FunctionName: 'both',
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: 'arn:aws:iam::000000000000:role/x',
        Code: { ZipFile: zip },
      }),
    );
  const results = await Promise.allSettled([create(nodeA), create(nodeB)]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.equal((lost.reason as Error).name, 'ResourceConflictException');
});

test('a configuration updated through node A is what node B answers next', { skip }, async () => {
  const b = lambda(nodeB);
  const before = await b.send(new GetFunctionConfigurationCommand({ FunctionName: 'both' }));
  assert.equal(before.Timeout, 3);
  await lambda(nodeA).send(new UpdateFunctionConfigurationCommand({ FunctionName: 'both', Timeout: 11 }));
  await until(
    async () => (await b.send(new GetFunctionConfigurationCommand({ FunctionName: 'both' }))).Timeout === 11,
    'node B to answer the new timeout',
  );
});

test('a function’s session credentials minted on node A are accepted by node B', { skip }, async () => {
  const a = lambda(nodeA);
  await a.send(
    new CreateFunctionCommand({
      FunctionName: 'creds',
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::000000000000:role/x',
      Code: {
        ZipFile: await handlerZip(
          'export const handler = async () => ({ accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY, sessionToken: process.env.AWS_SESSION_TOKEN });',
        ),
      },
    }),
  );
  // Invoked on node A: the code is in node A's blobs (shared blobs are another part of the cluster).
  const out = await a.send(new InvokeCommand({ FunctionName: 'creds' }));
  const creds = JSON.parse(Buffer.from(out.Payload ?? []).toString()) as {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken: string;
  };
  assert.match(creds.accessKeyId, /^ASIA/);
  const names = (await lambda(nodeB, creds).send(new ListFunctionsCommand({}))).Functions?.map(
    (f) => f.FunctionName,
  );
  assert.ok(names?.includes('creds'));
});

test('the database going away answers ServiceException (500) on a request that needs it, and the node recovers when it is back', {
  skip,
}, async () => {
  const b = lambda(nodeB);
  const name = new URL(db.url).pathname.slice(1);
  const base = new URL(db.url);
  base.pathname = '/postgres';
  const superuser = new pg.Client({ connectionString: base.toString() });
  await superuser.connect();
  try {
    // No new connections, and every open one ended: the store is unreachable for both nodes.
    await superuser.query(`ALTER DATABASE ${pg.escapeIdentifier(name)} ALLOW_CONNECTIONS false`);
    await superuser.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
      name,
    ]);
    await assert.rejects(
      b.send(new ListFunctionsCommand({})),
      (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(e.name, 'ServiceException');
        assert.equal(e.$metadata?.httpStatusCode, 500);
        return true;
      },
    );
  } finally {
    await superuser.query(`ALTER DATABASE ${pg.escapeIdentifier(name)} ALLOW_CONNECTIONS true`);
    await superuser.end();
  }
  await until(
    () =>
      b.send(new ListFunctionsCommand({})).then(
        (r) => (r.Functions ?? []).some((f) => f.FunctionName === 'both'),
        () => false,
      ),
    'node B to answer again',
  );
  // Writes work again too, and reach the other node.
  await lambda(nodeA).send(new UpdateFunctionConfigurationCommand({ FunctionName: 'both', Timeout: 12 }));
  await until(
    async () => (await b.send(new GetFunctionConfigurationCommand({ FunctionName: 'both' }))).Timeout === 12,
    'node B to see a write made after the outage',
  );
});
