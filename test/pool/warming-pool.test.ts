// The warming pool with real bubblewrap sandboxes: demand-following and fixed targets, refills, and
// replacement of sandboxes that die while waiting.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { WarmingPool } from '../../src/pool/warming-pool.js';
import { NodeRuntime } from '../../src/runtimes/node/runtime.js';
import type { ExecutionEnvironment } from '../../src/runtimes/runtime.js';
import { BwrapDriver } from '../../src/sandbox/bwrap-driver.js';

let dir: string;
let driver: BwrapDriver;
let runtime: NodeRuntime;

/** Kills an environment's sandbox from outside, as a crash would. */
function kill(env: ExecutionEnvironment | undefined): void {
  (env as unknown as { rt: { sandbox: { kill(): void } } } | undefined)?.rt.sandbox.kill();
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-pool-'));
  // As the platform makes its data dir: traversable by the sandboxes' unprivileged uids (when root).
  fs.chmodSync(dir, 0o711);
  fs.mkdirSync(path.join(dir, 'run'));
  driver = new BwrapDriver(
    {
      envRoot: path.join(dir, 'envs'),
      apiSocketPath: path.join(dir, 'run', 'api.sock'),
    },
    { version: null, parents: {}, warnings: [] },
  );
  runtime = new NodeRuntime({ cacheDir: path.join(dir, 'runtime'), warn: () => {}, sdk: false });
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const key = { runtime: 'nodejs20.x', networkOutbound: false, tmpSizeMB: 64 };

test('following demand, the target is the peak of sandboxes taken per window, within min..max', async () => {
  const pool = new WarmingPool({ runtime, driver, key, min: 1, max: 3, windowMs: 60_000 });
  pool.start();
  try {
    assert.equal(pool.target(), 1);
    await until(() => pool.stats().ready === 1);
    const taken = [pool.take(), pool.take()];
    assert.ok(taken[0] !== undefined, 'the first take is a pool hit');
    assert.equal(taken[1], undefined, 'the second finds the pool empty');
    assert.equal(pool.target(), 2);
    for (let i = 0; i < 5; i++) pool.take();
    assert.deepEqual(
      { ...pool.stats(), ready: 0, starting: 0 },
      { runtimeKey: 'nodejs20.x+tmp64', ready: 0, starting: 0, target: 3, mode: 'demand' },
    );
    await until(() => pool.stats().ready === 3);
    await Promise.all(taken.map((rp) => rp?.retire()));
  } finally {
    await pool.close();
  }
});

test('a fixed target holds regardless of demand, and lowering it retires the surplus', async () => {
  const pool = new WarmingPool({ runtime, driver, key, min: 0, max: 8, target: 2 });
  pool.start();
  try {
    await until(() => pool.stats().ready === 2);
    assert.equal(pool.stats().mode, 'fixed');
    pool.setTarget(1);
    assert.equal(pool.stats().ready, 1);
    pool.setTarget(undefined);
    assert.equal(pool.stats().mode, 'demand');
  } finally {
    await pool.close();
  }
});

test('a ready sandbox that dies while waiting is replaced', async () => {
  const pool = new WarmingPool({ runtime, driver, key, min: 0, max: 2, target: 1 });
  pool.start();
  try {
    await until(() => pool.stats().ready === 1);
    const victim = pool.take();
    pool.setTarget(1);
    await until(() => pool.stats().ready === 1);
    kill(victim);
    await victim?.retire();
    // Kill the one now in the pool from outside, as a crash would.
    const inPool = (pool as unknown as { ready: ExecutionEnvironment[] }).ready[0];
    kill(inPool);
    await until(
      () => pool.stats().ready === 1 && (pool as unknown as { ready: unknown[] }).ready[0] !== inPool,
    );
  } finally {
    await pool.close();
  }
});
