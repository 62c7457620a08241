import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metrics } from '../../src/telemetry/metrics.js';
import type { WorkerStats } from '../../src/worker/types.js';
import { record } from './records.js';

test('cold starts are counted by kind and warm starts apart', () => {
  const m = new Metrics();
  m.onInvocation(record({ start: 'pool' }));
  m.onInvocation(record({ start: 'cold' }));
  m.onInvocation(record({ start: 'warm' }));
  m.onInvocation(record({ start: 'warm' }));
  const text = m.render();
  assert.match(text, /^kindling_cold_starts_total\{tenant="t-1",function="fn",kind="pool"\} 1$/m);
  assert.match(text, /^kindling_cold_starts_total\{tenant="t-1",function="fn",kind="cold"\} 1$/m);
  assert.match(text, /^kindling_warm_starts_total\{tenant="t-1",function="fn"\} 2$/m);
  assert.match(text, /^kindling_invocations_total\{tenant="t-1",function="fn",type="RequestResponse"\} 4$/m);
});

test('the duration histogram is cumulative and ends with +Inf equal to the count', () => {
  const m = new Metrics();
  m.onInvocation(record({ durationMs: 3 }));
  m.onInvocation(record({ durationMs: 200 }));
  m.onInvocation(record({ durationMs: 2_000_000 }));
  const text = m.render();
  assert.match(text, /_bucket\{tenant="t-1",function="fn",le="0\.005"\} 1$/m);
  assert.match(text, /_bucket\{tenant="t-1",function="fn",le="0\.25"\} 2$/m);
  assert.match(text, /_bucket\{tenant="t-1",function="fn",le="900"\} 2$/m);
  assert.match(text, /_bucket\{tenant="t-1",function="fn",le="\+Inf"\} 3$/m);
  assert.match(text, /^kindling_invocation_duration_seconds_count\{tenant="t-1",function="fn"\} 3$/m);
});

test('errors are counted by error type', () => {
  const m = new Metrics();
  m.onInvocation(record({ errorType: 'Sandbox.Timedout' }));
  assert.match(
    m.render(),
    /^kindling_invocation_errors_total\{tenant="t-1",function="fn",error_type="Sandbox\.Timedout"\} 1$/m,
  );
});

test('throttles are counted under the function name taken from its ARN', () => {
  const m = new Metrics();
  m.onThrottle('t-1', 'arn:aws:lambda:us-east-1:123456789012:function:busy');
  assert.match(m.render(), /^kindling_throttles_total\{tenant="t-1",function="busy"\} 1$/m);
});

test('tenant labels use the tenant name when it is known', () => {
  const m = new Metrics({ tenantName: (id) => (id === 't-1' ? 'acme' : undefined) });
  m.onInvocation(record());
  assert.match(m.render(), /tenant="acme"/);
});

test('quotes, backslashes and newlines in label values are escaped', () => {
  const m = new Metrics({ tenantName: () => 'a"b\\c\nd' });
  m.onInvocation(record());
  assert.match(m.render(), /tenant="a\\"b\\\\c\\nd"/);
});

test('worker gauges report concurrency and pool sizes per runtime', () => {
  const stats: WorkerStats = {
    environments: { bound: 2, busy: 3, starting: 1 },
    pools: [{ runtimeKey: 'nodejs20.x', ready: 4, starting: 1, target: 5, mode: 'fixed' }],
    coldStarts: { pool: 0, cold: 0 },
    warmStarts: 0,
    recycled: 0,
  };
  const text = new Metrics({ workerStats: () => stats }).render();
  assert.match(text, /^kindling_concurrent_executions 3$/m);
  assert.match(text, /^kindling_pool_ready\{runtime="nodejs20\.x"\} 4$/m);
  assert.match(text, /^kindling_pool_target\{runtime="nodejs20\.x",mode="fixed"\} 5$/m);
});

test("clone counters of a runtime's zygote: clones by outcome, restarts, whether it is up", () => {
  const stats: WorkerStats = {
    environments: { bound: 0, busy: 0, starting: 0 },
    pools: [],
    coldStarts: { pool: 0, cold: 0 },
    warmStarts: 0,
    recycled: 0,
    clones: [{ runtime: 'python3', clones: 7, cloneFailures: 2, restarts: 1, up: false }],
  };
  const text = new Metrics({ workerStats: () => stats }).render();
  assert.match(text, /^kindling_clones_total\{runtime="python3",outcome="ok"\} 7$/m);
  assert.match(text, /^kindling_clones_total\{runtime="python3",outcome="failed"\} 2$/m);
  assert.match(text, /^kindling_zygote_restarts_total\{runtime="python3"\} 1$/m);
  assert.match(text, /^kindling_zygote_up\{runtime="python3"\} 0$/m);
  assert.match(text, /^# TYPE kindling_clones_total counter$/m);
});

test('every metric has HELP and TYPE lines', () => {
  const m = new Metrics();
  m.onInvocation(record());
  const text = m.render();
  for (const name of new Set(
    [...text.matchAll(/^(kindling_[a-z_]+?)(?:_bucket|_sum|_count)?[{ ]/gm)].map((x) => x[1]!),
  )) {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    assert.match(text, new RegExp(`^# TYPE ${base} `, 'm'), base);
  }
});

test('init durations of cold starts are observed by kind, and warm starts add none', () => {
  const m = new Metrics();
  m.onInvocation(record({ start: 'pool', initDurationMs: 20 }));
  m.onInvocation(record({ start: 'cold', initDurationMs: 300 }));
  m.onInvocation(record({ start: 'warm' }));
  const text = m.render();
  assert.match(text, /^kindling_init_duration_seconds_count\{tenant="t-1",function="fn",kind="pool"\} 1$/m);
  assert.match(text, /^kindling_init_duration_seconds_sum\{tenant="t-1",function="fn",kind="cold"\} 0\.3$/m);
  assert.doesNotMatch(text, /kindling_init_duration_seconds_count\{[^}]*kind="warm"/);
});

test("a tenant's rendering holds only that tenant's series and no platform-wide gauges", () => {
  const m = new Metrics({
    workerStats: () =>
      ({
        environments: { bound: 1, busy: 1, starting: 0 },
        pools: [],
        coldStarts: 0,
        poolHits: 0,
        warmStarts: 0,
        recycled: 0,
      }) as unknown as WorkerStats,
  });
  m.onInvocation(record({ tenantId: 't-1', functionName: 'mine', errorType: 'Unhandled' }));
  m.onInvocation(record({ tenantId: 't-2', functionName: 'theirs', errorType: 'Unhandled' }));
  m.onThrottle('t-2', 'arn:aws:lambda:us-east-1:1:function:theirs');
  const text = m.render({ tenantId: 't-1' });
  assert.match(text, /function="mine"/);
  assert.doesNotMatch(text, /theirs|t-2/);
  assert.doesNotMatch(text, /^kindling_(concurrent_executions|environments)/m);
  assert.match(m.render(), /function="theirs"/);
});
