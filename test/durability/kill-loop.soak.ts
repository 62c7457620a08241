// `npm run soak`: the kill loop for minutes, not part of `npm test`. Tune with KINDLING_SOAK_SECONDS
// (default 300), KINDLING_SOAK_KILLS (default: as many as fit), KINDLING_SOAK_SEED and
// KINDLING_SOAK_MAX_UPTIME_MS (default 5000, the longest the load runs between two kills).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { killLoop } from './kill-loop.js';

const env = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number`);
  return v;
};

test('soak: SIGKILLs at random points for minutes lose nothing acknowledged', async (t) => {
  const seconds = env('KINDLING_SOAK_SECONDS', 300);
  const seed = env('KINDLING_SOAK_SEED', Date.now() % 1_000_000);
  t.diagnostic(`seed ${seed} (replay with KINDLING_SOAK_SEED=${seed})`);
  const r = await killLoop({
    seed,
    kills: env('KINDLING_SOAK_KILLS', Number.MAX_SAFE_INTEGER),
    durationMs: seconds * 1000,
    minUptimeMs: 0,
    maxUptimeMs: env('KINDLING_SOAK_MAX_UPTIME_MS', 5_000),
    drainMs: 300_000,
    log: (line) => t.diagnostic(line),
  });
  t.diagnostic(
    `${r.kills} kills, ${r.acceptedEvents} events and ${r.acceptedMessages} messages acknowledged`,
  );
  assert.deepEqual(
    r.lostEvents,
    [],
    `${r.lostEvents.length} of ${r.acceptedEvents} acknowledged events never ran`,
  );
  assert.deepEqual(
    r.lostMessages,
    [],
    `${r.lostMessages.length} of ${r.acceptedMessages} acknowledged messages were never receivable`,
  );
});
