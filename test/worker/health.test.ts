// Health checks without sandboxes: idle environments are pinged a few at a time (hundreds that went idle
// together, pinged together on a busy host, answered late and were retired healthy); a silent one is
// retired, a frozen one or one taken for a request meanwhile is not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ExecutionEnvironment } from '../../src/runtimes/runtime.js';
import { EnvSlot } from '../../src/worker/env-slot.js';
import { checkHealth } from '../../src/worker/health.js';

function slots(n: number, answer: (i: number) => boolean) {
  let running = 0;
  let most = 0;
  const list = Array.from({ length: n }, (_, i) => {
    const env = {
      id: `env-${i}`,
      state: 'bound',
      async ping() {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        return answer(i);
      },
    };
    return new EnvSlot(env as unknown as ExecutionEnvironment);
  });
  return { list, most: () => most };
}

test('idle environments are pinged 8 at a time, and only the silent ones are retired', async () => {
  const { list, most } = slots(40, (i) => i % 10 !== 3);
  list[13]!.frozen = true; // would not answer either, but a frozen one is not asked
  const retired: string[] = [];
  await checkHealth(list, [], (s) => retired.push(s.id), 100);
  assert.equal(most(), 8);
  assert.deepEqual(retired.sort(), ['env-23', 'env-3', 'env-33']);
});
