// Redis Streams as an event source, against a real redis-server started by the test: consumer group,
// XREADGROUP → function → XACK, dead-letter stream after the allowed deliveries, RPC messages.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateEventSourceMappingCommand,
  DeleteFunctionCommand,
  GetEventSourceMappingCommand,
  LambdaClient,
} from '@aws-sdk/client-lambda';
import { Redis } from 'ioredis';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { type RedisServer, startRedis } from '../../helpers/redis.js';
import { createFunction, logging, type Seen, waitFor, watchInvocations } from './helpers.js';

let p: TestPlatform;
let lambda: LambdaClient;
let redis: RedisServer;
let r: Redis;
let seen: Seen[];

interface StreamEvent {
  eventSource: string;
  eventSourceKey: string;
  records: { stream: string; id: string; fields: Record<string, string>; deliveryCount: number }[];
}

before(async () => {
  redis = await startRedis();
  r = new Redis(redis.url);
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
  seen = watchInvocations(p);
});
after(async () => {
  // Whatever started must stop, even when a later step of before() failed.
  lambda?.destroy();
  await p?.close();
  r?.disconnect();
  await redis?.stop();
});

const eventsOf = (fn: string) => seen.filter((s) => s.functionName === fn).map((s) => s.event as StreamEvent);

function mapping(fn: string | undefined, stream: string, extra: Record<string, unknown> = {}) {
  return lambda.send(
    new CreateEventSourceMappingCommand({
      ...(fn !== undefined && { FunctionName: fn }),
      SelfManagedEventSource: { Endpoints: { REDIS_URLS: [redis.url] } as never },
      Topics: [stream],
      ...extra,
    } as never),
  );
}

async function pendingCount(stream: string, group: string): Promise<number> {
  const out = (await r.call('XPENDING', stream, group)) as [number, ...unknown[]];
  return Number(out[0]);
}

test('a Redis Streams mapping answers SelfManagedEventSource and Topics', async () => {
  await createFunction(lambda, 'rs-shape-fn', logging());
  const m = await mapping('rs-shape-fn', 'rs-shape');
  assert.deepEqual(m.SelfManagedEventSource?.Endpoints, { REDIS_URLS: [redis.url] });
  assert.deepEqual(m.Topics, ['rs-shape']);
  assert.equal(m.EventSourceArn, undefined);
  await waitFor(
    'Enabled',
    async () => (await lambda.send(new GetEventSourceMappingCommand({ UUID: m.UUID }))).State === 'Enabled',
  );
});

test('a REDIS_URLS entry that is not a redis:// URL is an InvalidParameterValueException', async () => {
  await createFunction(lambda, 'rs-badurl-fn', logging());
  await assert.rejects(
    lambda.send(
      new CreateEventSourceMappingCommand({
        FunctionName: 'rs-badurl-fn',
        SelfManagedEventSource: { Endpoints: { REDIS_URLS: ['http://127.0.0.1:1'] } as never },
        Topics: ['x'],
      }),
    ),
    (e: Error) => e.name === 'InvalidParameterValueException' && /REDIS_URLS/.test(e.message),
  );
});

test('an entry added with XADD reaches the function and is acknowledged', async () => {
  await createFunction(lambda, 'rs-e2e-fn', logging());
  // A short lease: a first attempt lost to a slow cold start on a busy machine is retried quickly.
  const m = await mapping('rs-e2e-fn', 'rs-e2e', { Tags: { 'kindling:visibility-timeout': '2' } });
  const group = `kindling-${m.UUID}`;
  await waitFor('the group', async () => {
    const groups = (await r.call('XINFO', 'GROUPS', 'rs-e2e').catch(() => [])) as unknown[];
    return groups.length > 0;
  });
  const id = (await r.call('XADD', 'rs-e2e', '*', 'order', '42', 'item', 'book')) as string;
  const [ev] = await waitFor('the event', () => eventsOf('rs-e2e-fn').length > 0 && eventsOf('rs-e2e-fn'));
  assert.equal(ev?.eventSource, 'kindling:redis-streams');
  assert.equal(ev?.eventSourceKey, `${redis.url}/rs-e2e`);
  assert.deepEqual(
    ev?.records.map(({ deliveryCount: _, ...r }) => r),
    [{ stream: 'rs-e2e', id, fields: { order: '42', item: 'book' } }],
  );
  assert.ok((ev?.records[0]?.deliveryCount ?? 0) >= 1);
  await waitFor('the ack', async () => (await pendingCount('rs-e2e', group)) === 0);
});

test('entries already in the stream when the mapping is created are delivered', async () => {
  await createFunction(lambda, 'rs-backlog-fn', logging());
  for (let i = 0; i < 5; i++) await r.call('XADD', 'rs-backlog', '*', 'n', String(i));
  await mapping('rs-backlog-fn', 'rs-backlog', { Tags: { 'kindling:visibility-timeout': '2' } });
  await waitFor(
    'five records',
    () => new Set(eventsOf('rs-backlog-fn').flatMap((e) => e.records.map((x) => x.id))).size === 5,
  );
});

test('a failing entry goes to the dead-letter stream after the allowed deliveries; the others are acknowledged', async () => {
  await createFunction(
    lambda,
    'rs-dlq-fn',
    logging("if (event.records.some((r) => r.fields.kind === 'poison')) throw new Error('no'); return null;"),
  );
  const m = await mapping('rs-dlq-fn', 'rs-dlq', {
    BatchSize: 1,
    MaximumRetryAttempts: 1,
    Tags: { 'kindling:visibility-timeout': '1' },
  });
  const group = `kindling-${m.UUID}`;
  await waitFor(
    'the group',
    async () => ((await r.call('XINFO', 'GROUPS', 'rs-dlq').catch(() => [])) as unknown[]).length > 0,
  );
  const poison = (await r.call('XADD', 'rs-dlq', '*', 'kind', 'poison')) as string;
  await r.call('XADD', 'rs-dlq', '*', 'kind', 'fine');
  const dead = await waitFor('the dead-letter entry', async () => {
    const out = (await r.call('XRANGE', 'rs-dlq:dlq', '-', '+')) as [string, string[]][];
    return out.length > 0 && out;
  });
  assert.equal(dead.length, 1);
  const fields = dead[0]![1];
  const get = (k: string) => fields[fields.indexOf(k) + 1];
  assert.equal(get('kind'), 'poison');
  assert.equal(get('kindling:source-id'), poison);
  assert.equal(get('kindling:deliveries'), '3');
  const poisonTries = eventsOf('rs-dlq-fn').filter((e) => e.records.some((x) => x.id === poison));
  assert.equal(poisonTries.length, 2);
  await waitFor('nothing pending', async () => (await pendingCount('rs-dlq', group)) === 0);
});

test('an RPC entry on a Redis stream invokes the named function and replies to a stream', async () => {
  await createFunction(lambda, 'rs-rpc-fn', logging('return { sum: event.a + event.b };'));
  await mapping(undefined, 'rs-rpc', { Tags: { 'kindling:rpc': 'true' } });
  const body = JSON.stringify({
    invoke: 'rs-rpc-fn',
    args: { a: 2, b: 3 },
    replyTo: 'rs-rpc-replies',
    requestId: 'q1',
  });
  await r.call('XADD', 'rs-rpc', '*', 'body', body);
  const replies = await waitFor('the reply', async () => {
    const out = (await r.call('XRANGE', 'rs-rpc-replies', '-', '+')) as [string, string[]][];
    return out.length > 0 && out;
  });
  const fields = replies[0]![1];
  assert.deepEqual(JSON.parse(fields[fields.indexOf('body') + 1]!), {
    requestId: 'q1',
    status: 'success',
    result: { sum: 5 },
  });
});

test('an RPC entry naming an unknown function goes to the dead-letter stream', async () => {
  await mapping(undefined, 'rs-rpc-bad', { Tags: { 'kindling:rpc': 'true' } });
  await r.call('XADD', 'rs-rpc-bad', '*', 'body', JSON.stringify({ invoke: 'nope' }));
  const dead = await waitFor('the dead-letter entry', async () => {
    const out = (await r.call('XRANGE', 'rs-rpc-bad:dlq', '-', '+')) as [string, string[]][];
    return out.length > 0 && out;
  });
  const fields = dead[0]![1];
  assert.equal(fields[fields.indexOf('kindling:error-code') + 1], 'InvalidRpcMessage');
});

test('a mapping to an unreachable Redis reports the problem in LastProcessingResult', async () => {
  await createFunction(lambda, 'rs-down-fn', logging());
  const m = await lambda.send(
    new CreateEventSourceMappingCommand({
      FunctionName: 'rs-down-fn',
      // Port 1 on loopback: nothing listens there.
      SelfManagedEventSource: { Endpoints: { REDIS_URLS: ['redis://127.0.0.1:1'] } as never },
      Topics: ['nowhere'],
    }),
  );
  const got = await waitFor('a PROBLEM result', async () => {
    const g = await lambda.send(new GetEventSourceMappingCommand({ UUID: m.UUID }));
    return /^PROBLEM/.test(g.LastProcessingResult ?? '') && g;
  });
  assert.match(got.LastProcessingResult ?? '', /ECONNREFUSED/);
});

test('StartingPosition LATEST skips the entries already in the stream', async () => {
  await createFunction(lambda, 'rs-latest-fn', logging());
  await r.call('XADD', 'rs-latest', '*', 'n', 'old');
  const m = await mapping('rs-latest-fn', 'rs-latest', { StartingPosition: 'LATEST' });
  assert.equal(m.StartingPosition, 'LATEST');
  await waitFor(
    'the group',
    async () => ((await r.call('XINFO', 'GROUPS', 'rs-latest').catch(() => [])) as unknown[]).length > 0,
  );
  await r.call('XADD', 'rs-latest', '*', 'n', 'new');
  await waitFor('the new entry', () => eventsOf('rs-latest-fn').length > 0);
  assert.deepEqual(
    eventsOf('rs-latest-fn').flatMap((e) => e.records.map((x) => x.fields.n)),
    ['new'],
  );
});

test('a Redis mapping whose function is deleted stops, Disabled, and the entry stays in the stream unacknowledged', async () => {
  await createFunction(lambda, 'rs-gone-fn', logging());
  const m = await mapping('rs-gone-fn', 'rs-gone');
  await waitFor(
    'Enabled',
    async () => (await lambda.send(new GetEventSourceMappingCommand({ UUID: m.UUID }))).State === 'Enabled',
  );
  await lambda.send(new DeleteFunctionCommand({ FunctionName: 'rs-gone-fn' }));
  await r.call('XADD', 'rs-gone', '*', 'k', 'v');
  const got = await waitFor('Disabled', async () => {
    const g = await lambda.send(new GetEventSourceMappingCommand({ UUID: m.UUID }));
    return g.State === 'Disabled' && g;
  });
  assert.match(got.StateTransitionReason ?? '', /Function not found/);
  assert.equal(await pendingCount('rs-gone', `kindling-${m.UUID}`), 1);
  assert.equal(Number(await r.call('XLEN', 'rs-gone:dlq')), 0);
});

test('two tenants’ RPC mappings of one stream each run the entry with their own function', async () => {
  const other = await p.platform.tenants.create('rs-other');
  const otherLambda = new LambdaClient(
    sdkConfig({ endpoint: p.endpoint, credentials: await p.platform.tenants.createKey(other.id) }),
  );
  try {
    await createFunction(lambda, 'rs-shared', logging("return 'mine';"));
    await createFunction(otherLambda, 'rs-shared', logging("return 'theirs';"));
    const rpc = {
      SelfManagedEventSource: { Endpoints: { REDIS_URLS: [redis.url] } as never },
      Topics: ['rs-two'],
      Tags: { 'kindling:rpc': 'true' },
    };
    const a = await lambda.send(new CreateEventSourceMappingCommand(rpc as never));
    const b = await otherLambda.send(new CreateEventSourceMappingCommand(rpc as never));
    for (const m of [a, b]) {
      await waitFor('its group', async () =>
        ((await r.call('XINFO', 'GROUPS', 'rs-two').catch(() => [])) as string[][]).some((g) =>
          g.includes(`kindling-${m.UUID}`),
        ),
      );
    }
    await r.call(
      'XADD',
      'rs-two',
      '*',
      'body',
      JSON.stringify({ invoke: 'rs-shared', replyTo: 'rs-two-replies' }),
    );
    const replies = await waitFor('two replies', async () => {
      const out = (await r.call('XRANGE', 'rs-two-replies', '-', '+')) as [string, string[]][];
      return out.length >= 2 && out;
    });
    const results = replies.map(([, f]) => JSON.parse(f[f.indexOf('body') + 1]!).result).sort();
    assert.deepEqual(results, ['mine', 'theirs']);
  } finally {
    otherLambda.destroy();
  }
});
