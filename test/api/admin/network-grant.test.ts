// Outbound network is an admin's grant per tenant: the admin route sets it (validated, strict), `kindling
// tenants` shows it, a tenant can never set it itself (admin route, or the retired `kindling:network` tag on
// CreateFunction, TagResource, UpdateFunctionConfiguration), and old data dirs gain the setting.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  GetFunctionCommand,
  LambdaClient,
  ListTagsCommand,
  TagResourceCommand,
} from '@aws-sdk/client-lambda';
import { KindlingClient } from '../../../src/cli/client.js';
import { TenantStore } from '../../../src/control/tenants.js';

import { SqliteSql } from '../../../src/store/sqlite.js';
import { cliEnv, runCli } from '../../cli/helpers.js';
import { sdkConfig, startPlatform, type TestPlatform, tempDir } from '../../helpers/platform.js';
import { handlerZip } from '../lambda/zips.js';

interface Key {
  accessKeyId: string;
  secretAccessKey: string;
}

let p: TestPlatform;
let admin: KindlingClient;
let tenantKey: Key;
let tenant: KindlingClient;
let lambda: LambdaClient;

const clientFor = (key: Key) =>
  new KindlingClient({
    endpoint: p.endpoint,
    region: p.region,
    credentials: key,
    dataDir: p.platform.config.dataDir,
  });

const body = async (res: Response) => (await res.json()) as Record<string, unknown>;

before(async () => {
  p = await startPlatform({ poolTarget: 0, poolMin: 0 });
  admin = clientFor(p.credentials);
  const res = await admin.signedFetch('POST', '/kindling/v1/tenants', { name: 'acme' });
  tenantKey = ((await res.json()) as { accessKey: Key }).accessKey;
  tenant = clientFor(tenantKey);
  lambda = new LambdaClient(sdkConfig({ endpoint: p.endpoint, credentials: tenantKey }));
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'f',
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::000000000000:role/x',
      Code: { ZipFile: await handlerZip('export const handler = async () => 1;') },
    }),
  );
});

after(async () => {
  lambda.destroy();
  await p.close();
});

const isNetworkTagRefusal = (e: {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}) =>
  e.name === 'InvalidParameterValueException' &&
  e.$metadata?.httpStatusCode === 400 &&
  /outbound network is granted per tenant by an administrator/.test(e.message ?? '');

test('a new tenant has no outbound network', async () => {
  const res = await admin.signedFetch('GET', '/kindling/v1/tenants/acme/network');
  assert.equal(res.status, 200);
  assert.deepEqual(await body(res), { tenant: 'acme', networkOutbound: false, egressAllow: [] });
});

test('the admin grants outbound network with extra ranges, normalized, and the tenant list shows it', async () => {
  const res = await admin.signedFetch('PUT', '/kindling/v1/tenants/acme/network', {
    networkOutbound: true,
    egressAllow: ['10.9.0.0/16', '192.168.7.5', '10.9.0.0/16'],
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await body(res), {
    tenant: 'acme',
    networkOutbound: true,
    egressAllow: ['10.9.0.0/16', '192.168.7.5/32'],
  });
  const list = (await body(await admin.signedFetch('GET', '/kindling/v1/tenants'))) as {
    tenants: { name: string; networkOutbound: boolean; egressAllow: string[] }[];
  };
  const acme = list.tenants.find((t) => t.name === 'acme');
  assert.equal(acme?.networkOutbound, true);
  assert.deepEqual(acme?.egressAllow, ['10.9.0.0/16', '192.168.7.5/32']);
  const del = await admin.signedFetch('DELETE', '/kindling/v1/tenants/acme/network');
  assert.deepEqual(await body(del), { tenant: 'acme', networkOutbound: false, egressAllow: [] });
});

for (const [what, grant, pattern] of [
  ['an IPv6 range', { networkOutbound: true, egressAllow: ['fd00::/8'] }, /IPv6/],
  ['a range with host bits set', { networkOutbound: true, egressAllow: ['10.1.2.3/16'] }, /10\.1\.0\.0\/16/],
  ['a malformed range', { networkOutbound: true, egressAllow: ['10.1.2/33'] }, /not an IPv4 CIDR/],
  ['the sandbox’s own loopback', { networkOutbound: true, egressAllow: ['127.0.0.0/8'] }, /loopback/],
  [
    'the user-mode network’s own subnet',
    { networkOutbound: true, egressAllow: ['10.0.2.3/32'] },
    /user-mode/,
  ],
  [
    'ranges without outbound network',
    { networkOutbound: false, egressAllow: ['10.1.0.0/16'] },
    /only applies/,
  ],
] as const) {
  test(`the admin route refuses ${what} (400 InvalidParameterValueException)`, async () => {
    const res = await admin.signedFetch('PUT', '/kindling/v1/tenants/acme/network', grant);
    assert.equal(res.status, 400);
    const b = await body(res);
    assert.equal(b.__type, 'InvalidParameterValueException');
    assert.match(String(b.message), pattern);
  });
}

test('the admin route refuses a misspelt field instead of dropping it', async () => {
  const res = await admin.signedFetch('PUT', '/kindling/v1/tenants/acme/network', {
    networkOutbound: true,
    egressallow: ['10.1.0.0/16'],
  });
  assert.equal(res.status, 400);
  assert.match(String((await body(res)).message), /egressallow/);
});

test("a tenant's own key cannot grant itself outbound network on the admin route", async () => {
  const res = await tenant.signedFetch('PUT', '/kindling/v1/tenants/acme/network', { networkOutbound: true });
  assert.equal(res.status, 403);
  assert.equal((await body(res)).__type, 'AccessDeniedException');
  const get = await admin.signedFetch('GET', '/kindling/v1/tenants/acme/network');
  assert.equal((await body(get)).networkOutbound, false);
});

test('CreateFunction with the kindling:network tag is refused, and no function is created', async () => {
  await assert.rejects(
    lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'g',
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: 'arn:aws:iam::000000000000:role/x',
        Code: { ZipFile: await handlerZip('export const handler = async () => 1;') },
        Tags: { 'kindling:network': 'outbound' },
      }),
    ),
    isNetworkTagRefusal,
  );
  await assert.rejects(lambda.send(new GetFunctionCommand({ FunctionName: 'g' })), {
    name: 'ResourceNotFoundException',
  });
});

test('TagResource with the kindling:network tag (any letter case) is refused and sets nothing', async () => {
  const arn = `arn:aws:lambda:${p.region}:${(await tenantOf()).accountId}:function:f`;
  for (const key of ['kindling:network', 'Kindling:Network']) {
    await assert.rejects(
      lambda.send(new TagResourceCommand({ Resource: arn, Tags: { [key]: 'outbound', team: 'x' } })),
      isNetworkTagRefusal,
    );
  }
  const tags = await lambda.send(new ListTagsCommand({ Resource: arn }));
  assert.deepEqual(tags.Tags ?? {}, {});
});

test('UpdateFunctionConfiguration with the kindling:network tag is refused', async () => {
  // The SDK drops members its model does not have, so this request is signed by hand.
  const res = await tenant.signedFetch(
    'PUT',
    '/2015-03-31/functions/f/configuration',
    { Timeout: 5, Tags: { 'kindling:network': 'outbound' } },
    { service: 'lambda' },
  );
  assert.equal(res.status, 400);
  const b = await body(res);
  assert.equal(res.headers.get('x-amzn-errortype')?.split(':')[0], 'InvalidParameterValueException');
  assert.match(String(b.message ?? b.Message), /outbound network is granted per tenant by an administrator/);
  const cfg = await lambda.send(new GetFunctionCommand({ FunctionName: 'f' }));
  assert.equal(cfg.Configuration?.Timeout, 3);
});

test('kindling tenants shows the grant (table and --json) and kindling tenants network sets it', async () => {
  const env = cliEnv(p);
  const set = await runCli(['tenants', 'network', 'acme', 'outbound', '--allow', '10.20.0.0/16'], env);
  assert.equal(set.code, 0, set.stderr);
  const ls = await runCli(['tenants'], env);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /NETWORK/);
  assert.match(ls.stdout.split('\n').find((l) => l.startsWith('acme')) ?? '', /outbound \+10\.20\.0\.0\/16/);
  const js = await runCli(['tenants', '--json'], env);
  const acme = (
    JSON.parse(js.stdout) as { name: string; networkOutbound: boolean; egressAllow: string[] }[]
  ).find((t) => t.name === 'acme');
  assert.equal(acme?.networkOutbound, true);
  assert.deepEqual(acme?.egressAllow, ['10.20.0.0/16']);
  const off = await runCli(['tenants', 'network', 'acme', 'none'], env);
  assert.equal(off.code, 0, off.stderr);
  assert.match(
    (await runCli(['tenants'], env)).stdout.split('\n').find((l) => l.startsWith('acme')) ?? '',
    /none/,
  );
});

test("kindling tenants network refuses --allow without 'outbound' before connecting", async () => {
  const r = await runCli(['tenants', 'network', 'acme', 'none', '--allow', '10.0.0.0/8'], cliEnv(p));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--allow only applies/);
});

test('a data dir from before the grant existed gains it, off for every tenant', async () => {
  const dir = tempDir('kindling-tenants-migrate-');
  const sql = SqliteSql.open(path.join(dir, 'meta.db'));
  try {
    // The schema as it was: tenants and keys only.
    await sql.migrate('tenants', [
      `CREATE TABLE tenants (
         id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, account_id TEXT NOT NULL UNIQUE,
         is_admin INTEGER NOT NULL DEFAULT 0, concurrency_limit INTEGER, created_at TEXT NOT NULL)`,
      `CREATE TABLE access_keys (
         access_key_id TEXT PRIMARY KEY, secret TEXT NOT NULL,
         tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
         session_token TEXT, expires_at INTEGER, created_at TEXT NOT NULL)`,
    ]);
    await sql.run(
      "INSERT INTO tenants (id, name, account_id, created_at) VALUES ('t-1', 'old', '111111111111', '2026-01-01')",
    );
    const store = await TenantStore.open(sql);
    const old = await store.get('old');
    assert.equal(old?.networkOutbound, false);
    assert.deepEqual(old?.egressAllow, []);
    assert.equal(
      (await store.setNetwork('old', { networkOutbound: true, egressAllow: [] })).networkOutbound,
      true,
    );
  } finally {
    await sql.close();
  }
});

async function tenantOf() {
  const t = await p.platform.tenants.get('acme');
  if (t === undefined) throw new Error('tenant acme missing');
  return t;
}
