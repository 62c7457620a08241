// Event source mappings on several nodes: poller managers on one store (one connection each, as nodes)
// split the mappings by leases, never poll one mapping on two nodes at once, take over a dead node's
// mappings once its leases run out, stop polling a mapping whose lease they lost, and pick up mappings
// created, changed and deleted through another node. Pollers here poll an empty stand-in queue.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, test } from 'node:test';
import type { Tenant } from '../../../src/control/tenants.js';
import { MappingStore } from '../../../src/events/mappings/mapping-repo.js';
import { PollerManager } from '../../../src/events/mappings/poller-manager.js';
import type { FunctionDirectory, Mapping } from '../../../src/events/mappings/types.js';
import type { QueueEngine } from '../../../src/events/queue/types.js';
import type { RpcProcessor } from '../../../src/events/rpc/rpc-processor.js';
import type { Invoker } from '../../../src/invoke/types.js';
import { type SharedStore, sharedStore } from '../../helpers/shared-store.js';

const LEASE_MS = 1_500;
const tenant = { id: 't-1', name: 't1', accountId: '123456789012', isAdmin: false } as unknown as Tenant;
const QUEUE_ARN = 'arn:aws:sqs:us-east-1:123456789012:work';
const FN_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:f';

/** An embedded queue that never has a message: pollers wait on it until stopped. */
const waitNothing = (_q: unknown, ms: number, signal?: AbortSignal) =>
  new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), Math.min(ms, 200));
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
const emptyQueue = {
  findQueue: () => ({ arn: QUEUE_ARN, name: 'work' }),
  waitForMessages: waitNothing,
  waitOrTake: (q: unknown, o: { timeoutMs: number; signal?: AbortSignal }) =>
    waitNothing(q, o.timeoutMs, o.signal),
  receive: async () => [],
  counts: () => ({ visible: 0 }),
  getAttributes: () => ({}),
} as unknown as QueueEngine;

const functions: FunctionDirectory = {
  find: async () => ({ functionArn: FN_ARN, functionName: 'f', reservedConcurrency: null, timeoutSec: 3 }),
};

let shared: SharedStore;
let nodes: { name: string; store: MappingStore; manager: PollerManager }[];

async function node(
  name: string,
  leaseMs = LEASE_MS,
): Promise<{ name: string; store: MappingStore; manager: PollerManager }> {
  const store = new MappingStore(await shared.open());
  await store.ready();
  const manager = new PollerManager({
    store,
    queues: emptyQueue,
    invoker: {} as Invoker,
    functions,
    tenants: { get: async (id) => (id === tenant.id ? tenant : undefined) },
    rpc: {} as RpcProcessor,
    region: 'us-east-1',
    defaultConcurrency: 2,
    nodeId: name,
    leaseMs,
  });
  const n = { name, store, manager };
  nodes.push(n);
  return n;
}

function mapping(over: Partial<Mapping> = {}): Mapping {
  return {
    uuid: randomUUID(),
    tenantId: tenant.id,
    accountId: tenant.accountId,
    source: { kind: 'sqs', queueArn: QUEUE_ARN },
    functionArn: FN_ARN,
    rpc: false,
    batchSize: 10,
    maximumBatchingWindowInSeconds: 0,
    enabled: true,
    state: 'Creating',
    stateTransitionReason: 'USER_INITIATED',
    reportBatchItemFailures: false,
    maximumConcurrency: null,
    maximumRetryAttempts: null,
    tags: {},
    lastModified: Date.now(),
    lastProcessingResult: 'No records processed',
    ...over,
  };
}

/** Polls `check` until it holds, asserting `invariant` at every look; fails after 20 s. */
async function until(what: string, check: () => boolean | Promise<boolean>, invariant?: () => void) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    invariant?.();
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const pollers = (uuid: string) => nodes.filter((n) => n.manager.isPolling(uuid)).map((n) => n.name);
const pollingCount = (n: { manager: PollerManager }, uuids: string[]) =>
  uuids.filter((u) => n.manager.isPolling(u)).length;
const neverTwice = (uuids: string[]) => () => {
  for (const u of uuids) assert.ok(pollers(u).length <= 1, `${u} polled by ${pollers(u).join(' and ')}`);
};

beforeEach(async () => {
  shared = await sharedStore();
  nodes = [];
});
afterEach(async () => {
  await Promise.allSettled(nodes.map((n) => n.manager.stop()));
  await shared.close();
});

test('two nodes split the mappings, each polled by one node, and the leases say which', async () => {
  const a = await node('A');
  const b = await node('B');
  const ms = [mapping(), mapping(), mapping(), mapping()];
  for (const m of ms) await a.store.insert(m);
  const uuids = ms.map((m) => m.uuid);
  await a.manager.start();
  await b.manager.start();
  await until(
    'each node polls two of the four mappings',
    () => pollingCount(a, uuids) === 2 && pollingCount(b, uuids) === 2,
    neverTwice(uuids),
  );
  const now = await a.store.sql.now();
  for (const u of uuids) assert.deepEqual([await a.store.leaseHolder(u, now)], pollers(u));
  const states = await Promise.all(uuids.map(async (u) => (await a.store.get(u))?.state));
  assert.deepEqual(states, ['Enabled', 'Enabled', 'Enabled', 'Enabled']);
});

test('a node that dies without giving its leases back has its mappings taken over once they run out', async () => {
  const a = await node('A');
  const b = await node('B');
  const ms = [mapping(), mapping(), mapping(), mapping()];
  for (const m of ms) await a.store.insert(m);
  const uuids = ms.map((m) => m.uuid);
  await a.manager.start();
  await b.manager.start();
  await until('the mappings are split', () => pollingCount(a, uuids) === 2 && pollingCount(b, uuids) === 2);
  const aHeld = uuids.filter((u) => a.manager.isPolling(u));
  // A dies: its pollers stop, its leases stay until they run out (store clock).
  await a.manager.stop({ keepLeases: true });
  assert.equal(pollingCount(b, aHeld), 0, 'B waits for the dead node’s leases to run out');
  const died = Date.now();
  await until('B polls all four', () => pollingCount(b, uuids) === 4, neverTwice(uuids));
  assert.ok(Date.now() - died < LEASE_MS * 10, 'taken over within a few lease periods');
});

test('a node that loses a mapping’s lease stops polling that mapping', async () => {
  const a = await node('A');
  const m = mapping();
  await a.store.insert(m);
  await a.manager.start();
  await until('A polls it', () => a.manager.isPolling(m.uuid));
  // Another node holds the lease now (as after A failed to renew in time).
  await a.store.sql.run(
    'UPDATE event_source_mapping_leases SET node_id = ?, lease_until = ? WHERE uuid = ?',
    ['elsewhere', (await a.store.sql.now()) + 60_000, m.uuid],
  );
  await until('A stops polling it', () => !a.manager.isPolling(m.uuid));
});

test('a node that cannot renew its leases stops polling before they run out', async () => {
  const a = await node('A');
  const m = mapping();
  await a.store.insert(m);
  await a.manager.start();
  await until('A polls it', () => a.manager.isPolling(m.uuid));
  // The store stops answering A (PostgreSQL unreachable from this node).
  const sql = a.store.sql;
  const fail = async () => {
    throw new Error('store unavailable');
  };
  sql.run = fail;
  sql.get = fail;
  sql.all = fail;
  sql.tx = fail;
  sql.now = fail;
  const cut = Date.now();
  await until('A stops polling it', () => !a.manager.isPolling(m.uuid));
  assert.ok(Date.now() - cut < LEASE_MS + 1_000, 'stopped within the lease it last had');
});

test('a mapping created, changed and deleted through one node is picked up by the node polling it', async () => {
  const a = await node('A');
  const b = await node('B');
  await b.manager.start();
  await a.manager.start();
  // Both are live; A writes, and whichever node takes the lease polls it.
  const m = mapping();
  await a.store.insert(m);
  await a.manager.changed(m.uuid);
  await until('one node polls the new mapping', () => pollers(m.uuid).length === 1, neverTwice([m.uuid]));
  await until('its state is Enabled', async () => (await a.store.get(m.uuid))?.state === 'Enabled');
  // Disabled through A: whichever node polls it stops.
  const disabled = { ...(await a.store.get(m.uuid))!, enabled: false, state: 'Disabling' as const };
  disabled.lastModified++;
  await a.store.save(disabled);
  await a.manager.changed(m.uuid);
  await until('no node polls it', () => pollers(m.uuid).length === 0);
  await until('its state is Disabled', async () => (await b.store.get(m.uuid))?.state === 'Disabled');
  // Re-enabled, then deleted through B.
  const enabled = { ...(await b.store.get(m.uuid))!, enabled: true, state: 'Enabling' as const };
  enabled.lastModified++;
  await b.store.save(enabled);
  await b.manager.changed(m.uuid);
  await until('one node polls it again', () => pollers(m.uuid).length === 1, neverTwice([m.uuid]));
  await b.store.save({ ...(await b.store.get(m.uuid))!, state: 'Deleting' });
  await b.manager.changed(m.uuid);
  await until('no node polls it and it is gone', async () => {
    return pollers(m.uuid).length === 0 && (await a.store.get(m.uuid)) === undefined;
  });
});

test('a node already polling its share polls a mapping created through it at once, not at its next rescan', async () => {
  // Rescans every 10 minutes: only the change itself can start the second mapping within the wait.
  const a = await node('A', 1_800_000);
  const first = mapping();
  await a.store.insert(first);
  await a.manager.start();
  await until('A polls the first mapping', () => a.manager.isPolling(first.uuid));
  const second = mapping();
  await a.store.insert(second);
  await a.manager.changed(second.uuid);
  await until('A polls the second mapping too', () => a.manager.isPolling(second.uuid));
  assert.ok(a.manager.isPolling(first.uuid));
});
