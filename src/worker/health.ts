// Health: idle environments and ready pool sandboxes are pinged; one that does not answer is replaced.
import type { WarmingPool } from '../pool/warming-pool.js';
import type { EnvSlot } from './env-slot.js';

export async function checkHealth(
  idle: EnvSlot[],
  pools: Iterable<WarmingPool>,
  retire: (slot: EnvSlot) => void,
  timeoutMs: number,
): Promise<void> {
  // A frozen environment cannot answer; it cannot fail either (its exit would still be seen).
  const checks = idle
    .filter((slot) => !slot.frozen)
    .map(async (slot) => {
      if (await slot.env.ping(timeoutMs)) return;
      if (slot.state === 'bound') retire(slot);
    });
  await Promise.all([...checks, ...[...pools].map((p) => p.healthCheck(timeoutMs))]);
}
