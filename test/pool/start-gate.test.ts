// The turn-taking of cold starts: never more than its limit at once, in arrival order, and a failed
// start gives its turn on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StartGate } from '../../src/pool/start-gate.js';

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test('no more than the limit start at once, and waiters go in arrival order', async () => {
  const gate = new StartGate(2);
  const running = new Set<number>();
  let most = 0;
  const order: number[] = [];
  const starts = Array.from({ length: 6 }, () => deferred());
  const runs = starts.map((d, i) =>
    gate.run(async () => {
      order.push(i);
      running.add(i);
      most = Math.max(most, running.size);
      try {
        await d.promise;
      } finally {
        running.delete(i);
      }
      return i;
    }),
  );
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, [0, 1]);
  assert.equal(gate.waiting, 4);
  // A failed start gives its turn to the next one.
  starts[1]!.reject(new Error('boot failed'));
  await assert.rejects(runs[1]!, /boot failed/);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, [0, 1, 2]);
  for (const d of starts) d.resolve();
  const done = await Promise.allSettled(runs);
  assert.equal(done.filter((r) => r.status === 'fulfilled').length, 5);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  assert.equal(most, 2);
  assert.equal(gate.waiting, 0);
});
