// Draining a node through another node's admin API: it finishes what runs, takes no more, marks itself
// gone and stops; the cluster keeps answering. `kindling nodes --json` prints one object per node.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { createFunction, lambdaClient } from '../helpers/functions.js';
import { repoRoot, startPlatform, type TestPlatform } from '../helpers/platform.js';
import { adminClient, CLUSTER_HANDLER, eventually, startCluster, type TestCluster } from './helpers.js';

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

const kindling = (p: TestPlatform, ...args: string[]) =>
  promisify(execFile)(process.execPath, [path.join(repoRoot, 'bin/kindling.js'), ...args], {
    env: {
      ...process.env,
      KINDLING_ENDPOINT: p.endpoint,
      AWS_ACCESS_KEY_ID: p.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: p.credentials.secretAccessKey,
    },
  });

test('kindling nodes --json prints an array, one object per node with its address, state, load, warm environments and last heartbeat', async () => {
  const { stdout } = await kindling(a, 'nodes', '--json');
  const nodes = JSON.parse(stdout) as Array<Record<string, unknown>>;
  assert.ok(Array.isArray(nodes));
  assert.deepEqual(nodes.map((n) => n.address).sort(), [a.endpoint, b.endpoint].sort());
  for (const n of nodes) {
    for (const field of ['id', 'address', 'state', 'load', 'warmEnvironments', 'lastHeartbeat'])
      assert.ok(field in n, `${field} missing`);
  }
});

test('a drained node finishes the invocation it runs, takes no more, marks itself gone and stops', async () => {
  // Room past the 2 s sleep: under a loaded test run the default 3 s timeout was reached once (Unhandled).
  await createFunction(lambdaA, 'slow', CLUSTER_HANDLER, { Timeout: 15 });
  const bId = b.platform.config.nodeId;
  let left = false;
  b.platform.onLeft = () => {
    left = true;
  };
  // Runs on B (nothing warm anywhere: B is the least loaded from its own view).
  const running = lambdaB.send(
    new InvokeCommand({ FunctionName: 'slow', Payload: Buffer.from(JSON.stringify({ sleepMs: 2_000 })) }),
  );
  await eventually(() => b.platform.components.worker.load().running > 0);
  const drained = await adminClient(a).admin<{ node: { id: string; state: string } }>(
    'POST',
    `/kindling/v1/nodes/${bId}/drain`,
  );
  assert.equal(drained.node.id, bId);
  assert.equal(drained.node.state, 'draining');
  await eventually(() => b.platform.components.cluster.node.state !== 'active');
  const out = await running;
  assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
  assert.deepEqual(JSON.parse(Buffer.from(out.Payload!).toString()), { n: 1 });
  await eventually(() => left, 30_000);
  const row = (await a.platform.components.cluster.node.list()).find((n) => n.id === bId)!;
  assert.equal(row.state, 'gone');
  assert.equal(row.live, false);
  // The cluster still answers, on A.
  const after = await lambdaA.send(new InvokeCommand({ FunctionName: 'slow', Payload: Buffer.from('{}') }));
  assert.equal(after.FunctionError, undefined);
});

test('draining an unknown node answers ResourceNotFoundException', async () => {
  await assert.rejects(
    adminClient(a).admin('POST', '/kindling/v1/nodes/no-such-node/drain'),
    /No node no-such-node|ResourceNotFound/,
  );
});

test('on SQLite (one node) the registry lists this node alone', async () => {
  const p = await startPlatform({ store: 'sqlite' });
  try {
    const { nodes } = await adminClient(p).admin<{ nodes: Array<{ id: string; live: boolean }> }>(
      'GET',
      '/kindling/v1/nodes',
    );
    assert.deepEqual(
      nodes.map((n) => [n.id, n.live]),
      [[p.platform.config.nodeId, true]],
    );
  } finally {
    await p.close();
  }
});
