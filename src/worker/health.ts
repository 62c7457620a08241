// Health: idle environments and ready pool sandboxes are pinged; one that does not answer is replaced.
import type { WarmingPool } from '../pool/warming-pool.js';
import type { EnvSlot } from './env-slot.js';

/**
 * Pings at once at most this many: hundreds of environments that went idle together, pinged together
 * on a busy host, answered late and were retired healthy.
 */
const PINGS_AT_ONCE = 8;

export async function checkHealth(
  idle: EnvSlot[],
  pools: Iterable<WarmingPool>,
  retire: (slot: EnvSlot) => void,
  timeoutMs: number,
): Promise<void> {
  // A frozen environment cannot answer; it cannot fail either (its exit would still be seen).
  const due = idle.filter((slot) => !slot.frozen);
  const lane = async () => {
    for (let slot = due.pop(); slot !== undefined; slot = due.pop()) {
      // Frozen or taken for a request since the check began: nothing to ask.
      if (slot.frozen || slot.state !== 'bound') continue;
      if (await slot.env.ping(timeoutMs)) continue;
      if (slot.state === 'bound') retire(slot);
    }
  };
  await Promise.all([
    ...Array.from({ length: PINGS_AT_ONCE }, lane),
    ...[...pools].map((p) => p.healthCheck(timeoutMs)),
  ]);
}
