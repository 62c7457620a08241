// RPC checkpoints in SQLite: progress survives reopening the store; finished ones are pruned, running ones kept.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { type Checkpoint, CheckpointStore } from '../../../src/events/rpc/checkpoint-repo.js';
import { openDatabase } from '../../../src/store/database.js';
import { tempDir } from '../../helpers/platform.js';

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

function withStore(fn: (file: string) => void): void {
  const dir = tempDir('kindling-cp-');
  try {
    fn(path.join(dir, 'db'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a checkpoint reads back after the store is reopened', () =>
  withStore((file) => {
    const db = openDatabase(file);
    new CheckpointStore(db).put(cp('m1', 'running'));
    db.close();
    const again = openDatabase(file);
    assert.deepEqual(new CheckpointStore(again).get(cp('m1', 'running').source, 'm1'), cp('m1', 'running'));
    again.close();
  }));

test('an unknown message has no checkpoint', () =>
  withStore((file) => {
    const db = openDatabase(file);
    assert.equal(new CheckpointStore(db).get('s', 'nope'), undefined);
    db.close();
  }));

test('pruning drops old finished checkpoints and keeps running ones', () =>
  withStore((file) => {
    const db = openDatabase(file);
    const store = new CheckpointStore(db);
    store.put(cp('done', 'succeeded'));
    store.put(cp('busy', 'running'));
    assert.equal(store.prune(Date.now() + 16 * 24 * 3600_000), 1);
    assert.equal(store.get(cp('done', 'succeeded').source, 'done'), undefined);
    assert.ok(store.get(cp('busy', 'running').source, 'busy'));
    db.close();
  }));

test('pruning keeps recent finished checkpoints (a redelivery may still come)', () =>
  withStore((file) => {
    const db = openDatabase(file);
    const store = new CheckpointStore(db);
    store.put(cp('recent', 'succeeded'));
    assert.equal(store.prune(), 0);
    db.close();
  }));

test('a damaged checkpoint reads as none, so the message restarts from its first sub-event', () =>
  withStore((file) => {
    const db = openDatabase(file);
    const store = new CheckpointStore(db);
    store.put(cp('bad', 'running'));
    db.prepare("UPDATE rpc_checkpoints SET results = '{not json' WHERE message_id = 'bad'").run();
    assert.equal(store.get(cp('bad', 'running').source, 'bad'), undefined);
    db.close();
  }));
