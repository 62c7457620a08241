// The short kill loop of `npm test`: a few SIGKILLs at seeded random points under async-invoke and queue
// load; nothing acknowledged is lost. `npm run soak` runs the long one (kill-loop.soak.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { killLoop } from './kill-loop.js';

test('a server SIGKILLed repeatedly under load loses no acknowledged async invoke and no acknowledged message', async (t) => {
  const r = await killLoop({
    seed: 7,
    kills: 3,
    durationMs: 60_000,
    minUptimeMs: 300,
    maxUptimeMs: 2_500,
    fromFirstAck: true,
    drainMs: 60_000,
    log: (line) => t.diagnostic(line),
  });
  t.diagnostic(
    `${r.kills} kills, ${r.acceptedEvents} events and ${r.acceptedMessages} messages acknowledged`,
  );
  assert.equal(r.kills, 3);
  assert.ok(r.acceptedEvents > 0 && r.acceptedMessages > 0, 'the load got acknowledgements before the kills');
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
