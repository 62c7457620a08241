// The admin and telemetry API over real HTTP: SigV4-signed admin routes, tenant scoping, health,
// Prometheus metrics and billing fed by real invocations through the Lambda API.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  InvokeCommand,
  LambdaClient,
  PutFunctionConcurrencyCommand,
} from '@aws-sdk/client-lambda';
import { KindlingClient } from '../../../src/cli/client.js';
import { zipDirectory } from '../../../src/cli/deploy.js';
import { ECHO_HANDLER, functionDir } from '../../cli/helpers.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';

let p: TestPlatform;
let admin: KindlingClient;

interface Key {
  accessKeyId: string;
  secretAccessKey: string;
}

const clientFor = (key: Key) =>
  new KindlingClient({
    endpoint: p.endpoint,
    region: p.region,
    credentials: key,
    dataDir: p.platform.config.dataDir,
  });

async function newTenant(name: string): Promise<{ client: KindlingClient; key: Key }> {
  const res = await admin.signedFetch('POST', '/kindling/v1/tenants', { name });
  assert.equal(res.status, 201);
  const key = ((await res.json()) as { accessKey: Key }).accessKey;
  return { client: clientFor(key), key };
}

async function deployAndInvoke(key: Key, name: string, payloads: unknown[]): Promise<void> {
  const lambda = new LambdaClient(sdkConfig({ endpoint: p.endpoint, credentials: key }));
  try {
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: name,
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: 'arn:aws:iam::000000000000:role/test',
        Code: { ZipFile: await zipDirectory(functionDir({ 'index.js': ECHO_HANDLER })) },
      }),
    );
    for (const payload of payloads) {
      await lambda.send(
        new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(payload)) }),
      );
    }
  } finally {
    lambda.destroy();
  }
}

const errorType = async (res: Response) => ((await res.json()) as { __type: string }).__type;

before(async () => {
  p = await startPlatform();
  admin = clientFor(p.credentials);
});

after(() => p.close());

test('GET /kindling/health answers without authentication', async () => {
  const res = await fetch(`${p.endpoint}/kindling/health`);
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { status: string }).status, 'ok');
});

test('an unsigned admin request is refused with MissingAuthenticationTokenException', async () => {
  const res = await fetch(`${p.endpoint}/kindling/v1/tenants`);
  assert.equal(res.status, 403);
  assert.equal(await errorType(res), 'MissingAuthenticationTokenException');
});

test('a non-admin tenant listing tenants gets AccessDeniedException 403', async () => {
  const { client } = await newTenant('nonadmin-list');
  const res = await client.signedFetch('GET', '/kindling/v1/tenants');
  assert.equal(res.status, 403);
  assert.equal(await errorType(res), 'AccessDeniedException');
});

test('a non-admin tenant can neither list the cluster’s nodes nor drain one (AccessDeniedException 403)', async () => {
  const { client } = await newTenant('nonadmin-nodes');
  const listed = await client.signedFetch('GET', '/kindling/v1/nodes');
  assert.equal(listed.status, 403);
  assert.equal(await errorType(listed), 'AccessDeniedException');
  const { nodes } = (await (await admin.signedFetch('GET', '/kindling/v1/nodes')).json()) as {
    nodes: { id: string; state: string }[];
  };
  const self = nodes[0]!;
  const drained = await client.signedFetch('POST', `/kindling/v1/nodes/${self.id}/drain`);
  assert.equal(drained.status, 403);
  assert.equal(await errorType(drained), 'AccessDeniedException');
  const after = (await (await admin.signedFetch('GET', '/kindling/v1/nodes')).json()) as {
    nodes: { id: string; state: string }[];
  };
  assert.equal(after.nodes.find((n) => n.id === self.id)?.state, 'active');
});

test('a non-admin tenant creating a tenant gets AccessDeniedException 403', async () => {
  const { client } = await newTenant('nonadmin-create');
  const res = await client.signedFetch('POST', '/kindling/v1/tenants', { name: 'sneaky' });
  assert.equal(res.status, 403);
  assert.equal(
    (await admin.admin<{ tenants: { name: string }[] }>('GET', '/kindling/v1/tenants')).tenants.some(
      (t) => t.name === 'sneaky',
    ),
    false,
  );
});

test('a non-admin tenant reading the pool gets AccessDeniedException 403', async () => {
  const { client } = await newTenant('nonadmin-pool');
  const res = await client.signedFetch('GET', '/kindling/v1/pool');
  assert.equal(res.status, 403);
});

test('a non-admin tenant setting the pool target gets AccessDeniedException 403', async () => {
  const { client } = await newTenant('nonadmin-poolset');
  const res = await client.signedFetch('PUT', '/kindling/v1/pool/nodejs20.x', { target: 3 });
  assert.equal(res.status, 403);
});

test('the admin tenant’s short-lived session key (a function’s credentials) cannot administer', async () => {
  const adminTenant = (await p.platform.tenants.get('admin'))!;
  const session = await p.platform.tenants.createSessionKey(adminTenant.id, 60_000);
  const client = new KindlingClient({
    endpoint: p.endpoint,
    region: p.region,
    credentials: {
      accessKeyId: session.accessKeyId,
      secretAccessKey: session.secretAccessKey,
      sessionToken: session.sessionToken!,
    },
    dataDir: p.platform.config.dataDir,
  });
  const res = await client.signedFetch('GET', '/kindling/v1/tenants');
  assert.equal(res.status, 403);
  assert.equal(await errorType(res), 'AccessDeniedException');
});

test('a created tenant is listed and its key authenticates', async () => {
  const { client } = await newTenant('lifecycle');
  const list = await admin.admin<{ tenants: { name: string; isAdmin: boolean }[] }>(
    'GET',
    '/kindling/v1/tenants',
  );
  assert.deepEqual(list.tenants.find((t) => t.name === 'lifecycle')?.isAdmin, false);
  const res = await client.signedFetch('GET', '/kindling/v1/billing');
  assert.equal(res.status, 200);
});

test('a tenant’s keys can be created, listed and deleted, and a deleted key no longer authenticates', async () => {
  await newTenant('keys');
  const key = await admin.admin<Key>('POST', '/kindling/v1/tenants/keys/keys');
  const listed = await admin.admin<{ keys: { accessKeyId: string }[] }>(
    'GET',
    '/kindling/v1/tenants/keys/keys',
  );
  assert.ok(listed.keys.some((k) => k.accessKeyId === key.accessKeyId));
  assert.equal((await clientFor(key).signedFetch('GET', '/kindling/v1/billing')).status, 200);
  assert.equal(
    (await admin.signedFetch('DELETE', `/kindling/v1/tenants/keys/keys/${key.accessKeyId}`)).status,
    204,
  );
  const res = await clientFor(key).signedFetch('GET', '/kindling/v1/billing');
  assert.equal(res.status, 403);
  assert.equal(await errorType(res), 'UnrecognizedClientException');
});

test('a key listing never includes secrets', async () => {
  await newTenant('nosecrets');
  const text = await (await admin.signedFetch('GET', '/kindling/v1/tenants/nosecrets/keys')).text();
  assert.doesNotMatch(text, /secret/i);
});

test('deleting another tenant’s key through a tenant path is ResourceNotFoundException', async () => {
  const a = await newTenant('owner-a');
  await newTenant('owner-b');
  const res = await admin.signedFetch('DELETE', `/kindling/v1/tenants/owner-b/keys/${a.key.accessKeyId}`);
  assert.equal(res.status, 404);
  assert.equal((await a.client.signedFetch('GET', '/kindling/v1/billing')).status, 200);
});

test('the concurrency limit of a tenant can be set and cleared', async () => {
  await newTenant('limits');
  const set = await admin.admin<{ tenant: { concurrencyLimit: number | null } }>(
    'PUT',
    '/kindling/v1/tenants/limits/concurrency',
    { limit: 7 },
  );
  assert.equal(set.tenant.concurrencyLimit, 7);
  assert.equal((await p.platform.tenants.get('limits'))?.concurrencyLimit, 7);
  const cleared = await admin.admin<{ tenant: { concurrencyLimit: number | null } }>(
    'PUT',
    '/kindling/v1/tenants/limits/concurrency',
    { limit: null },
  );
  assert.equal(cleared.tenant.concurrencyLimit, null);
});

test('a negative concurrency limit is a ValidationException', async () => {
  await newTenant('badlimit');
  const res = await admin.signedFetch('PUT', '/kindling/v1/tenants/badlimit/concurrency', { limit: -1 });
  assert.equal(res.status, 400);
  assert.equal(await errorType(res), 'ValidationException');
});

test('a non-integer concurrency limit is a ValidationException', async () => {
  await newTenant('fraclimit');
  const res = await admin.signedFetch('PUT', '/kindling/v1/tenants/fraclimit/concurrency', { limit: 1.5 });
  assert.equal(res.status, 400);
});

test('a body that is not JSON is InvalidRequestContentException', async () => {
  const res = await admin.signedFetch('POST', '/kindling/v1/tenants', '{nope');
  assert.equal(res.status, 400);
  assert.equal(await errorType(res), 'InvalidRequestContentException');
});

test('creating a tenant without a name is a ValidationException', async () => {
  const res = await admin.signedFetch('POST', '/kindling/v1/tenants', {});
  assert.equal(res.status, 400);
  assert.equal(await errorType(res), 'ValidationException');
});

test('creating a tenant with an invalid name is InvalidParameterValueException', async () => {
  const res = await admin.signedFetch('POST', '/kindling/v1/tenants', { name: 'has spaces' });
  assert.equal(res.status, 400);
  assert.equal(await errorType(res), 'InvalidParameterValueException');
});

test('creating a tenant that exists is ResourceConflictException', async () => {
  await newTenant('twice');
  const res = await admin.signedFetch('POST', '/kindling/v1/tenants', { name: 'twice' });
  assert.equal(res.status, 409);
});

test('a deleted tenant is gone and its keys stop working', async () => {
  const { client } = await newTenant('deleted');
  assert.equal((await admin.signedFetch('DELETE', '/kindling/v1/tenants/deleted')).status, 204);
  assert.equal((await admin.signedFetch('GET', '/kindling/v1/tenants/deleted')).status, 404);
  assert.equal((await client.signedFetch('GET', '/kindling/v1/billing')).status, 403);
});

test('the admin cannot delete its own tenant', async () => {
  const res = await admin.signedFetch('DELETE', '/kindling/v1/tenants/admin');
  assert.equal(res.status, 400);
  assert.ok(await p.platform.tenants.get('admin'));
});

test('an unknown admin route is 404', async () => {
  const res = await admin.signedFetch('GET', '/kindling/v1/nothing-here');
  assert.equal(res.status, 404);
});

test('GET /kindling/v1/pool reports the runtime pools and start counters', async () => {
  const stats = await admin.admin<{ pools: { runtimeKey: string }[]; coldStarts: { pool: number } }>(
    'GET',
    '/kindling/v1/pool',
  );
  assert.ok(stats.pools.some((x) => x.runtimeKey === 'nodejs20.x'));
  assert.equal(typeof stats.coldStarts.pool, 'number');
});

test('PUT /kindling/v1/pool/{runtime} fixes the target; a null target returns it to demand', async () => {
  const fixed = await admin.admin<{ pool: { target: number; mode: string } }>(
    'PUT',
    '/kindling/v1/pool/nodejs20.x',
    { target: 2 },
  );
  assert.deepEqual([fixed.pool.target, fixed.pool.mode], [2, 'fixed']);
  const auto = await admin.admin<{ pool: { mode: string } }>('PUT', '/kindling/v1/pool/nodejs20.x', {
    target: null,
  });
  assert.equal(auto.pool.mode, 'demand');
});

test('GET /kindling/v1/doctor reports the isolation the running server uses', async () => {
  const report = await admin.admin<{ driver: string; sandboxed: boolean }>('GET', '/kindling/v1/doctor');
  assert.ok(report.driver === 'bwrap' || report.driver === 'unsandboxed');
  assert.equal(report.sandboxed, report.driver === 'bwrap');
});

test('a non-admin tenant asking for the doctor report gets AccessDeniedException 403', async () => {
  const { client } = await newTenant('nonadmin-doctor');
  const res = await client.signedFetch('GET', '/kindling/v1/doctor');
  assert.equal(res.status, 403);
});

test('a pool target above the maximum is a ValidationException', async () => {
  const res = await admin.signedFetch('PUT', '/kindling/v1/pool/nodejs20.x', { target: 100000 });
  assert.equal(res.status, 400);
});

test('metrics count invocations and cold starts by kind, then warm starts', async () => {
  const { key } = await newTenant('metered');
  await deployAndInvoke(key, 'counted', [{ a: 1 }, { a: 2 }]);
  const text = await (await admin.signedFetch('GET', '/metrics')).text();
  assert.match(
    text,
    /^kindling_invocations_total\{tenant="metered",function="counted",type="RequestResponse"\} 2$/m,
  );
  assert.match(
    text,
    /^kindling_cold_starts_total\{tenant="metered",function="counted",kind="(pool|cold)"\} 1$/m,
  );
  assert.match(text, /^kindling_warm_starts_total\{tenant="metered",function="counted"\} 1$/m);
  assert.match(
    text,
    /^kindling_invocation_duration_seconds_count\{tenant="metered",function="counted"\} 2$/m,
  );
  assert.match(text, /^kindling_pool_target\{runtime="nodejs20\.x",mode="\w+"\} \d+$/m);
  assert.match(text, /^kindling_concurrent_executions \d+$/m);
});

test('asynchronous invocations are counted with type Event and their logs are stored', async () => {
  const { key, client } = await newTenant('async-seen');
  await deployAndInvoke(key, 'later', []);
  const lambda = new LambdaClient(sdkConfig({ endpoint: p.endpoint, credentials: key }));
  try {
    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: 'later',
        InvocationType: 'Event',
        Payload: Buffer.from('{"marker":"async-1"}'),
      }),
    );
    assert.equal(out.StatusCode, 202);
  } finally {
    lambda.destroy();
  }
  // The event runs after the 202: wait for its log; the bound only turns a hang into a failure.
  const giveUp = Date.now() + 30_000;
  for (;;) {
    if (Date.now() > giveUp) assert.fail('the async invocation was never logged');
    const logs = await client.admin<{ events: { log: string }[] }>(
      'GET',
      '/kindling/v1/functions/later/logs',
    );
    if (logs.events.some((e) => e.log.includes('async-1'))) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const text = await (await admin.signedFetch('GET', '/metrics')).text();
  assert.match(text, /^kindling_invocations_total\{tenant="async-seen",function="later",type="Event"\} 1$/m);
});

test('metrics count function errors by error type', async () => {
  const { key } = await newTenant('erring');
  await deployAndInvoke(key, 'fails', [{ fail: true }]);
  const text = await (await admin.signedFetch('GET', '/metrics')).text();
  assert.match(
    text,
    /^kindling_invocation_errors_total\{tenant="erring",function="fails",error_type="Error"\} 1$/m,
  );
});

test('metrics count throttled requests of a function', async () => {
  const { key } = await newTenant('throttled');
  await deployAndInvoke(key, 'blocked', []);
  const lambda = new LambdaClient(sdkConfig({ endpoint: p.endpoint, credentials: key }));
  try {
    await lambda.send(
      new PutFunctionConcurrencyCommand({ FunctionName: 'blocked', ReservedConcurrentExecutions: 0 }),
    );
    await assert.rejects(lambda.send(new InvokeCommand({ FunctionName: 'blocked' })), {
      name: 'TooManyRequestsException',
    });
  } finally {
    lambda.destroy();
  }
  const text = await (await admin.signedFetch('GET', '/metrics')).text();
  assert.match(text, /^kindling_throttles_total\{tenant="throttled",function="blocked"\} 1$/m);
});

test('metrics signed by a non-admin tenant are refused', async () => {
  const { client } = await newTenant('peeker');
  const res = await client.signedFetch('GET', '/metrics');
  assert.equal(res.status, 403);
});

test('without a configured metrics token, no bearer token opens /metrics', async () => {
  const res = await fetch(`${p.endpoint}/metrics`, {
    headers: { authorization: 'Bearer anything-at-all-123456' },
  });
  assert.equal(res.status, 403);
});

test('a tenant reads its own series at /kindling/v1/metrics and nothing of other tenants or the pools', async () => {
  const mine = await newTenant('metrics-own');
  const other = await newTenant('metrics-other');
  await deployAndInvoke(mine.key, 'my-fn', [{}]);
  await deployAndInvoke(other.key, 'secret-fn-name', [{}]);
  const res = await mine.client.signedFetch('GET', '/kindling/v1/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  assert.match(
    text,
    /^kindling_invocations_total\{tenant="metrics-own",function="my-fn",type="RequestResponse"\} 1$/m,
  );
  assert.doesNotMatch(text, /secret-fn-name|metrics-other/);
  // Only this tenant's label appears on any series.
  for (const m of text.matchAll(/tenant="([^"]*)"/g)) assert.equal(m[1], 'metrics-own');
  assert.doesNotMatch(text, /^kindling_(pool_|environments|concurrent_executions)/m);
});

test('the admin sees only its own tenant at /kindling/v1/metrics; all tenants are at /metrics', async () => {
  const text = await (await admin.signedFetch('GET', '/kindling/v1/metrics')).text();
  for (const m of text.matchAll(/tenant="([^"]*)"/g)) assert.equal(m[1], 'admin');
});

test('billing records accumulate GB-ms per tenant and function', async () => {
  const { key, client } = await newTenant('billed');
  await deployAndInvoke(key, 'paid', [{}, {}, {}]);
  const out = await client.admin<{
    records: { functionName: string; invocations: number; billedDurationMs: number; gbMs: number }[];
  }>('GET', '/kindling/v1/billing');
  const rec = out.records.find((r) => r.functionName === 'paid');
  assert.ok(rec, JSON.stringify(out));
  assert.equal(rec.invocations, 3);
  assert.ok(rec.billedDurationMs >= 3);
  assert.equal(rec.gbMs, (128 / 1024) * rec.billedDurationMs);
});

test('a tenant’s billing shows only its own records', async () => {
  const a = await newTenant('bill-a');
  const b = await newTenant('bill-b');
  await deployAndInvoke(a.key, 'mine', [{}]);
  const out = await b.client.admin<{ records: unknown[] }>('GET', '/kindling/v1/billing');
  assert.deepEqual(out.records, []);
});

test('a tenant asking for another tenant’s billing gets AccessDeniedException', async () => {
  const { client } = await newTenant('bill-nosy');
  const res = await client.signedFetch('GET', '/kindling/v1/billing?tenant=admin');
  assert.equal(res.status, 403);
});

test('the admin sees every tenant’s billing records', async () => {
  const { key } = await newTenant('bill-seen');
  await deployAndInvoke(key, 'seen', [{}]);
  const out = await admin.admin<{ records: { tenant: string }[] }>('GET', '/kindling/v1/billing');
  assert.ok(out.records.some((r) => r.tenant === 'bill-seen'));
});

test('a billing time bound that is not a time is a ValidationException', async () => {
  const res = await admin.signedFetch('GET', '/kindling/v1/billing?from=yesterday-ish');
  assert.equal(res.status, 400);
});

test('function logs are scoped to the caller’s tenant', async () => {
  const a = await newTenant('logs-a');
  const b = await newTenant('logs-b');
  await deployAndInvoke(a.key, 'same-name', [{ secret: 'of-a' }]);
  const own = await a.client.admin<{ events: { log: string }[] }>(
    'GET',
    '/kindling/v1/functions/same-name/logs',
  );
  assert.match(own.events[0]?.log ?? '', /of-a/);
  const other = await b.client.admin<{ events: unknown[] }>('GET', '/kindling/v1/functions/same-name/logs');
  assert.deepEqual(other.events, []);
});

test('a logs limit of zero is a ValidationException', async () => {
  const res = await admin.signedFetch('GET', '/kindling/v1/functions/any/logs?limit=0');
  assert.equal(res.status, 400);
});

test('a logs request for an invalid function name is a ValidationException', async () => {
  const res = await admin.signedFetch(
    'GET',
    `/kindling/v1/functions/${encodeURIComponent('bad name!')}/logs`,
  );
  assert.equal(res.status, 400);
});
