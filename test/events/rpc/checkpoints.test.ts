// RPC checkpoints in the store: progress survives reopening the store (and is seen by another node's
// connection); finished ones are pruned, running ones kept.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Checkpoint, CheckpointStore } from '../../../src/events/rpc/checkpoint-repo.js';
import { type SharedStore, sharedStore } from '../../helpers/shared-store.js';

const cp = (messageId: string, status: Checkpoint['status']): Checkpoint => ({
  source: 'arn:aws:sqs:us-east-1:123456789012:q',
  messageId,
  tenantId: 't-1',
  nextIndex: 1,
  total: 3,
  results: [{ ok: 1 }],
  status,
  error: null,
  replied: false,
});

async function withStore(fn: (store: SharedStore) => Promise<void>): Promise<void> {
  const store = await sharedStore();
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

test('a checkpoint reads back after the store is reopened', () =>
  withStore(async (store) => {
    const first = await store.open();
    await new CheckpointStore(first).put(cp('m1', 'running'));
    await first.close();
    const again = new CheckpointStore(await store.open());
    assert.deepEqual(await again.get(cp('m1', 'running').source, 'm1'), cp('m1', 'running'));
  }));

test('a checkpoint written through one node is resumed from by another', () =>
  withStore(async (store) => {
    const a = new CheckpointStore(await store.open());
    const b = new CheckpointStore(await store.open());
    await a.put({ ...cp('m2', 'running'), nextIndex: 2, results: [1, 2] });
    const seen = await b.get(cp('m2', 'running').source, 'm2');
    assert.equal(seen?.nextIndex, 2);
    assert.deepEqual(seen?.results, [1, 2]);
    await b.put({ ...cp('m2', 'succeeded'), nextIndex: 3, total: 3, results: [1, 2, 3], replied: true });
    assert.equal((await a.get(cp('m2', 'running').source, 'm2'))?.status, 'succeeded');
  }));

test('an unknown message has no checkpoint', () =>
  withStore(async (store) => {
    assert.equal(await new CheckpointStore(await store.open()).get('s', 'nope'), undefined);
  }));

test('pruning drops old finished checkpoints and keeps running ones', () =>
  withStore(async (s) => {
    const store = new CheckpointStore(await s.open());
    await store.put(cp('done', 'succeeded'));
    await store.put(cp('busy', 'running'));
    assert.equal(await store.prune(Date.now() + 16 * 24 * 3600_000), 1);
    assert.equal(await store.get(cp('done', 'succeeded').source, 'done'), undefined);
    assert.ok(await store.get(cp('busy', 'running').source, 'busy'));
  }));

test('pruning keeps recent finished checkpoints (a redelivery may still come)', () =>
  withStore(async (s) => {
    const store = new CheckpointStore(await s.open());
    await store.put(cp('recent', 'succeeded'));
    assert.equal(await store.prune(), 0);
  }));

test('a damaged checkpoint reads as none, so the message restarts from its first sub-event', () =>
  withStore(async (s) => {
    const sql = await s.open();
    const store = new CheckpointStore(sql);
    await store.put(cp('bad', 'running'));
    await sql.run("UPDATE rpc_checkpoints SET results = '{not json' WHERE message_id = 'bad'");
    assert.equal(await store.get(cp('bad', 'running').source, 'bad'), undefined);
  }));
