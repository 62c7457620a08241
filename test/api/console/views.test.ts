// The console's environments view over real metrics: one tenant's functions only, and names that are
// special to JavaScript objects (`__proto__`, `constructor`) counted like any other.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ConsoleViewDeps, environments } from '../../../src/api/console/views.js';
import type { Tenant } from '../../../src/control/tenant-types.js';
import { Metrics } from '../../../src/telemetry/metrics.js';
import type { InvocationRecord } from '../../../src/telemetry/types.js';

const tenant = (id: string, accountId: string, isAdmin = false): Tenant => ({
  id,
  name: id,
  accountId,
  isAdmin,
  concurrencyLimit: null,
  networkOutbound: false,
  egressAllow: [],
  createdAt: new Date(0).toISOString(),
});

const record = (
  tenantId: string,
  functionName: string,
  start: InvocationRecord['start'],
): InvocationRecord => ({
  tenantId,
  accountId: '111111111111',
  functionName,
  functionArn: `arn:aws:lambda:us-east-1:111111111111:function:${functionName}`,
  version: '$LATEST',
  requestId: 'r',
  invocationType: 'RequestResponse',
  start,
  timestamp: 0,
  durationMs: 1,
  billedDurationMs: 1,
  memoryMB: 128,
  maxMemoryUsedMB: 40,
  ...(start !== 'warm' && { initDurationMs: 20 }),
  log: '',
});

test('the environments view counts one tenant’s functions only, whatever they are named', async () => {
  const metrics = new Metrics();
  for (const name of ['__proto__', 'constructor', 'hasOwnProperty', 'plain']) {
    metrics.onInvocation(record('t1', name, 'cold'));
    metrics.onInvocation(record('t1', name, 'warm'));
  }
  metrics.onInvocation(record('t2', 'theirs', 'pool'));
  const deps = {
    telemetry: { metrics },
    environments: () => [
      { state: 'bound', functionArn: 'arn:aws:lambda:us-east-1:111111111111:function:__proto__' },
      { state: 'busy', functionArn: 'arn:aws:lambda:us-east-1:222222222222:function:theirs' },
      { state: 'ready' },
    ],
    workerStats: () => ({
      pools: [{ runtimeKey: 'nodejs20.x', ready: 1, starting: 0, target: 1, mode: 'demand' }],
    }),
  } as unknown as ConsoleViewDeps;
  const v = await environments(deps, tenant('t1', '111111111111'));
  assert.deepEqual(
    v.functions.map((f) => f.name),
    ['__proto__', 'constructor', 'hasOwnProperty', 'plain'],
  );
  for (const f of v.functions) {
    assert.equal(f.invocations, 2, f.name);
    assert.equal(f.coldStarts, 1, f.name);
    assert.equal(f.warmStarts, 1, f.name);
    assert.equal(f.avgInitMs, 20, f.name);
  }
  assert.deepEqual(v.functions[0]!.environments, { bound: 1, busy: 0, other: 0 });
  assert.equal(v.pools, null, 'pool sizes are platform-wide: not for a tenant');
  assert.equal(({} as Record<string, unknown>).invocations, undefined, 'no object prototype was touched');
  const admin = await environments(deps, tenant('t9', '999999999999', true));
  assert.deepEqual(admin.functions, []);
  assert.equal(admin.pools?.length, 1);
});
