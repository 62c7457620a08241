// Two nodes in this process on one PostgreSQL database: the registry and heartbeats, placement of a sync
// Invoke on the node holding a warm environment, the forwarding signature, retries only of requests
// that never started, and concurrency limits held across nodes.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { InvokeCommand, type LambdaClient, PutFunctionConcurrencyCommand } from '@aws-sdk/client-lambda';
import { FORWARD_HEADER, signForward } from '../../src/cluster/forward-auth.js';
import { NOT_STARTED_HEADER } from '../../src/cluster/router.js';
import { rawLambda } from '../api/lambda/raw.js';
import { createFunction, lambdaClient } from '../helpers/functions.js';
import type { TestPlatform } from '../helpers/platform.js';
import {
  adminClient,
  adminTenant,
  CLUSTER_HANDLER,
  eventually,
  startCluster,
  TEST_LEASE_MS,
  type TestCluster,
} from './helpers.js';

let cluster: TestCluster;
let a: TestPlatform;
let b: TestPlatform;
let lambdaA: LambdaClient;
let lambdaB: LambdaClient;

before(async () => {
  cluster = await startCluster(2);
  [a, b] = cluster.nodes as [TestPlatform, TestPlatform];
  lambdaA = lambdaClient(a);
  lambdaB = lambdaClient(b);
});

after(async () => {
  lambdaA?.destroy();
  lambdaB?.destroy();
  await cluster?.close();
});

const nodeOf = (p: TestPlatform) => p.platform.components.cluster.node;
const routerOf = (p: TestPlatform) => p.platform.components.cluster.router;
const starts = (p: TestPlatform) => {
  const s = p.platform.components.worker.stats();
  return s.warmStarts + s.coldStarts.pool + s.coldStarts.cold;
};
const versionKeyOf = async (p: TestPlatform, name: string) =>
  (await p.platform.components.functions.get((await adminTenant(p)).id, name))!.versionKey;
const invoke = async (client: LambdaClient, name: string, event: unknown = {}) => {
  const out = await client.send(
    new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(event)), LogType: 'Tail' }),
  );
  return {
    ...out,
    body: JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8')) as Record<string, unknown>,
  };
};

/** A port nothing listens on: connecting to it is refused. */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A registry row for a node that is not running (its heartbeat as of now on the store's clock). */
async function fakeNode(
  p: TestPlatform,
  id: string,
  url: string,
  warm: Record<string, { functionArn: string; idle: number }>,
  heartbeatAgoMs = 0,
) {
  const now = await p.platform.sql.now();
  await p.platform.sql.run(
    `INSERT INTO nodes (id, url, state, running, capacity, warm, started_at, heartbeat_at)
     VALUES (?, ?, 'active', 0, 100, ?, ?, ?)`,
    [id, url, JSON.stringify(warm), now, now - heartbeatAgoMs],
  );
  await nodeOf(p).refresh();
}

test('both nodes register and heartbeat; kindling nodes lists each with address, state, load and warm environments', async () => {
  const { nodes } = await adminClient(a).admin<{ nodes: Array<Record<string, unknown>> }>(
    'GET',
    '/kindling/v1/nodes',
  );
  const ids = nodes.map((n) => n.id);
  assert.ok(ids.includes(a.platform.config.nodeId) && ids.includes(b.platform.config.nodeId));
  const mine = nodes.find((n) => n.id === b.platform.config.nodeId)!;
  assert.equal(mine.address, b.endpoint);
  assert.equal(mine.state, 'active');
  assert.equal(mine.live, true);
  assert.equal(typeof mine.load, 'number');
  assert.ok(Array.isArray(mine.warmEnvironments));
  assert.ok(!Number.isNaN(Date.parse(String(mine.lastHeartbeat))));
  // Heartbeats advance (every leaseMs/3).
  const first = (await nodeOf(a).list()).find((n) => n.id === b.platform.config.nodeId)!.heartbeatAt;
  await eventually(async () => {
    const now = (await nodeOf(a).list()).find((n) => n.id === b.platform.config.nodeId)!;
    return now.heartbeatAt > first;
  });
});

test('a node whose heartbeat is older than the lease is not live', async () => {
  await fakeNode(a, 'silent-node', 'http://127.0.0.1:9', {}, TEST_LEASE_MS * 4);
  const silent = (await nodeOf(a).list()).find((n) => n.id === 'silent-node')!;
  assert.equal(silent.live, false);
  assert.equal(
    nodeOf(a)
      .view()
      .find((n) => n.id === 'silent-node')!.live,
    false,
  );
  await a.platform.sql.run('DELETE FROM nodes WHERE id = ?', ['silent-node']);
});

test('an invoke on a node without a warm environment is forwarded to the node holding one, with its error and log tail', async () => {
  await createFunction(lambdaA, 'warm-elsewhere', CLUSTER_HANDLER);
  // First call on B: nothing is warm anywhere, the least loaded live node is B itself (a tie).
  const first = await invoke(lambdaB, 'warm-elsewhere');
  assert.deepEqual(first.body, { n: 1 });
  const vk = await versionKeyOf(a, 'warm-elsewhere');
  // A learns of B's warm environment (published after the invocation, NOTIFY).
  await eventually(
    () =>
      (nodeOf(a)
        .view()
        .find((n) => n.id === b.platform.config.nodeId)?.warm[vk]?.idle ?? 0) > 0,
  );
  const [aBefore, bBefore] = [starts(a), starts(b)];
  const forwardedBefore = routerOf(a).counts.forwarded;
  const second = await invoke(lambdaA, 'warm-elsewhere');
  // The same environment (module state kept) ran it: on B.
  assert.deepEqual(second.body, { n: 2 });
  assert.equal(starts(a), aBefore);
  assert.equal(starts(b), bBefore + 1);
  assert.equal(routerOf(a).counts.forwarded, forwardedBefore + 1);
  // Function errors and the log tail pass through the forward.
  await eventually(
    () =>
      (nodeOf(a)
        .view()
        .find((n) => n.id === b.platform.config.nodeId)?.warm[vk]?.idle ?? 0) > 0,
  );
  const failed = await invoke(lambdaA, 'warm-elsewhere', { fail: true });
  assert.equal(failed.FunctionError, 'Unhandled');
  assert.equal(failed.body.errorMessage, 'asked to fail');
  assert.match(Buffer.from(failed.LogResult ?? '', 'base64').toString('utf8'), /failing as asked/);
  assert.equal(starts(a), aBefore);
});

test('a forwarded request with a wrong, stale or replayed signature is refused', async () => {
  await createFunction(lambdaA, 'signed-forward', CLUSTER_HANDLER);
  const path = '/2015-03-31/functions/signed-forward/invocations';
  const body = '{}';
  const send = (header: string) =>
    rawLambda(b.endpoint, path, {
      method: 'POST',
      body,
      headers: { [FORWARD_HEADER]: header },
      credentials: b.credentials,
    });
  const secret = nodeOf(a).secret!;
  const input = { method: 'POST', path, body: Buffer.from(body), from: a.platform.config.nodeId };
  const wrong = await send(`t=${Date.now()},n=${'ab'.repeat(12)},from=x,sig=${'0'.repeat(64)}`);
  assert.equal(wrong.status, 403);
  assert.equal(wrong.headers.get('x-amzn-errortype'), 'InvalidSignatureException');
  const stale = await send(signForward(secret, input, Date.now() - 120_000));
  assert.equal(stale.status, 403);
  assert.match(stale.text, /stale/);
  const other = await send(signForward('not-the-cluster-secret', input));
  assert.equal(other.status, 403);
  const good = signForward(secret, input);
  const ok = await send(good);
  assert.equal(ok.status, 200, ok.text);
  const replayed = await send(good);
  assert.equal(replayed.status, 403);
  assert.match(replayed.text, /replayed/);
  // A body other than the one signed is refused.
  const tampered = await rawLambda(b.endpoint, path, {
    method: 'POST',
    body: '{"x":1}',
    headers: { [FORWARD_HEADER]: signForward(secret, input) },
    credentials: b.credentials,
  });
  assert.equal(tampered.status, 403);
});

test('a forward to a node that refused the connection (died) is retried on another node and runs once', async () => {
  await createFunction(lambdaA, 'dead-target', CLUSTER_HANDLER);
  const vk = await versionKeyOf(a, 'dead-target');
  const arn = (await a.platform.components.functions.get((await adminTenant(a)).id, 'dead-target'))!.arn;
  await fakeNode(a, 'dead-node', `http://127.0.0.1:${await closedPort()}`, {
    [vk]: { functionArn: arn, idle: 1 },
  });
  try {
    const retried = routerOf(a).counts.retried;
    const before = starts(a) + starts(b);
    const out = await invoke(lambdaA, 'dead-target');
    assert.deepEqual(out.body, { n: 1 });
    assert.equal(routerOf(a).counts.retried, retried + 1);
    assert.equal(starts(a) + starts(b), before + 1);
  } finally {
    await a.platform.sql.run('DELETE FROM nodes WHERE id = ?', ['dead-node']);
  }
});

test('a node that is draining refuses a forwarded request before starting it, and the sender runs it elsewhere', async () => {
  // A third node's row points at B: A forwards there while B drains (as when A had not yet seen B's state).
  await createFunction(lambdaA, 'to-draining', CLUSTER_HANDLER);
  const vk = await versionKeyOf(a, 'to-draining');
  const arn = (await a.platform.components.functions.get((await adminTenant(a)).id, 'to-draining'))!.arn;
  const bNode = nodeOf(b);
  // Only B's own flag: its row stays active, so the refusal (not the registry) is what is tested.
  Object.defineProperty(bNode, 'state', { configurable: true, get: () => 'draining' });
  try {
    await fakeNode(a, 'alias-of-b', b.endpoint, { [vk]: { functionArn: arn, idle: 1 } });
    const path = '/2015-03-31/functions/to-draining/invocations';
    const direct = await rawLambda(b.endpoint, path, {
      method: 'POST',
      body: '{}',
      headers: {
        [FORWARD_HEADER]: signForward(nodeOf(a).secret!, {
          method: 'POST',
          path,
          body: Buffer.from('{}'),
          from: a.platform.config.nodeId,
        }),
      },
      credentials: b.credentials,
    });
    assert.equal(direct.status, 503);
    assert.equal(direct.headers.get(NOT_STARTED_HEADER), 'draining');
    const [bBefore, received, retried] = [starts(b), routerOf(b).counts.received, routerOf(a).counts.retried];
    const out = await invoke(lambdaA, 'to-draining');
    assert.deepEqual(out.body, { n: 1 });
    assert.equal(starts(b), bBefore, 'the draining node ran nothing');
    assert.equal(routerOf(b).counts.received, received);
    assert.ok(routerOf(a).counts.retried > retried);
  } finally {
    delete (bNode as unknown as Record<string, unknown>).state;
    await a.platform.sql.run('DELETE FROM nodes WHERE id = ?', ['alias-of-b']);
  }
});

test('reserved concurrency 1 holds across two nodes: of two concurrent invocations, one gets TooManyRequests', async () => {
  await createFunction(lambdaA, 'one-at-a-time', CLUSTER_HANDLER);
  await lambdaA.send(
    new PutFunctionConcurrencyCommand({ FunctionName: 'one-at-a-time', ReservedConcurrentExecutions: 1 }),
  );
  // Each node's own invoker (no forwarding): only the database ledger can see the other's slot.
  const run = async (p: TestPlatform) =>
    p.platform.components.invoker.invokeSync(
      await adminTenant(p),
      'one-at-a-time',
      Buffer.from(JSON.stringify({ sleepMs: 3_000 })),
    );
  const results = await Promise.allSettled([run(a), run(b)]);
  const refused = results.filter((r) => r.status === 'rejected');
  assert.equal(refused.length, 1, JSON.stringify(results.map((r) => r.status)));
  assert.equal((refused[0] as PromiseRejectedResult).reason.code, 'Throttled');
  // The grants went back once idle.
  const key = `fn:${(await a.platform.components.functions.get((await adminTenant(a)).id, 'one-at-a-time'))!.arn}`;
  await eventually(async () => {
    const inUse = await a.platform.sql.get<{ n: number | null }>(
      'SELECT SUM(in_use) AS n FROM cluster_slots WHERE key = ?',
      [key],
    );
    return Number(inUse?.n ?? 0) === 0;
  });
});

test("a dead node's concurrency slots stop counting once its heartbeat lapses; a live node's count", async () => {
  await createFunction(lambdaA, 'slots-of-the-dead', CLUSTER_HANDLER);
  await lambdaA.send(
    new PutFunctionConcurrencyCommand({ FunctionName: 'slots-of-the-dead', ReservedConcurrentExecutions: 1 }),
  );
  const key = `fn:${(await a.platform.components.functions.get((await adminTenant(a)).id, 'slots-of-the-dead'))!.arn}`;
  const run = async () =>
    a.platform.components.invoker.invokeSync(await adminTenant(a), 'slots-of-the-dead', Buffer.from('{}'));
  await fakeNode(a, 'holder-alive', 'http://127.0.0.1:9', {});
  await a.platform.sql.run('INSERT INTO cluster_slots (key, node, in_use) VALUES (?, ?, 1)', [
    key,
    'holder-alive',
  ]);
  await assert.rejects(run(), (e: { code?: string }) => e.code === 'Throttled');
  // Its heartbeat lapses (it died): the slot no longer counts.
  await a.platform.sql.run('UPDATE nodes SET heartbeat_at = heartbeat_at - ? WHERE id = ?', [
    TEST_LEASE_MS * 4,
    'holder-alive',
  ]);
  const out = await run();
  assert.equal(out.functionError, undefined);
  await a.platform.sql.run('DELETE FROM nodes WHERE id = ?', ['holder-alive']);
});

test('a forward lost midway (the node took the request, then the connection reset) answers ServiceException and is not retried', async () => {
  await createFunction(lambdaA, 'lost-midway', CLUSTER_HANDLER);
  const vk = await versionKeyOf(a, 'lost-midway');
  const arn = (await a.platform.components.functions.get((await adminTenant(a)).id, 'lost-midway'))!.arn;
  // A "node" that reads the whole request, then dies before answering.
  let received = 0;
  const dying = http.createServer((req) => {
    req.resume();
    req.on('end', () => {
      received++;
      req.socket.destroy();
    });
  });
  await new Promise<void>((r) => dying.listen(0, '127.0.0.1', () => r()));
  const port = (dying.address() as AddressInfo).port;
  try {
    await fakeNode(a, 'dying-node', `http://127.0.0.1:${port}`, { [vk]: { functionArn: arn, idle: 1 } });
    const [retried, before] = [routerOf(a).counts.retried, starts(a) + starts(b)];
    const raw = await rawLambda(a.endpoint, '/2015-03-31/functions/lost-midway/invocations', {
      method: 'POST',
      body: '{}',
      credentials: a.credentials,
    });
    assert.equal(raw.status, 500, raw.text);
    assert.equal(raw.headers.get('x-amzn-errortype'), 'ServiceException');
    assert.equal(received, 1);
    assert.equal(routerOf(a).counts.retried, retried);
    assert.equal(starts(a) + starts(b), before, 'run nowhere else');
  } finally {
    dying.close();
    await a.platform.sql.run('DELETE FROM nodes WHERE id = ?', ['dying-node']);
  }
});
