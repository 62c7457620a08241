// `_X_AMZN_TRACE_ID` as Lambda sets it for every invocation even without active tracing: X-Ray's header
// format, a new trace per invocation, in a real sandbox.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { traceHeader } from '../../src/ids.js';
import { fn, type Harness, harness, invoke, json } from './helpers.js';

const FORMAT = /^Root=1-([0-9a-f]{8})-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/;

let h: Harness;
before(async () => {
  h = await harness();
});
after(async () => {
  await h.close();
});

test('two invocations of a warm function see two different well-formed _X_AMZN_TRACE_ID values', async () => {
  const s = fn(h, 'export const handler = async () => process.env._X_AMZN_TRACE_ID ?? null;');
  const before = Math.floor(Date.now() / 1000);
  const a = json(await invoke(h, s));
  const b = await invoke(h, s);
  const after = Math.floor(Date.now() / 1000);
  assert.equal(b.start, 'warm');
  for (const v of [a, json(b)]) {
    const m = FORMAT.exec(String(v));
    assert.ok(m, `not an X-Ray trace header: ${v}`);
    const epoch = Number.parseInt(m[1]!, 16);
    assert.ok(epoch >= before && epoch <= after, `epoch ${epoch} outside ${before}..${after}`);
  }
  assert.notEqual(a, json(b));
});

test('init code runs without a trace id, and the handler gets the one its caller passed', async () => {
  const s = fn(
    h,
    `const atInit = process.env._X_AMZN_TRACE_ID ?? null;
     export const handler = async () => ({ atInit, now: process.env._X_AMZN_TRACE_ID });`,
  );
  const traceId = traceHeader();
  const out = json(await invoke(h, s, {}, { traceId })) as { atInit: unknown; now: string };
  assert.equal(out.atInit, null);
  assert.equal(out.now, traceId);
});

test('the trace id is in process.env the way any variable is: enumerated, inspected, copied, inherited, writable', async () => {
  const s = fn(
    h,
    `import { execFileSync } from 'node:child_process';
     import util from 'node:util';
     export const handler = async () => {
       const k = '_X_AMZN_TRACE_ID';
       const out = {
         value: process.env[k],
         has: k in process.env,
         own: Object.hasOwn(process.env, k),
         keys: Object.keys(process.env).includes(k),
         spread: { ...process.env }[k],
         json: JSON.parse(JSON.stringify(process.env))[k],
         inspected: util.inspect(process.env).includes(process.env[k]),
         child: execFileSync(process.execPath, ['-p', 'process.env._X_AMZN_TRACE_ID']).toString().trim(),
         other: process.env.MY_VAR,
       };
       process.env[k] = 'mine';
       out.written = process.env[k];
       delete process.env[k];
       out.deleted = k in process.env;
       process.env.MY_VAR = 7;
       out.coerced = process.env.MY_VAR;
       return out;
     };`,
    { environment: { MY_VAR: 'hello' } },
  );
  const traceId = traceHeader();
  const out = json(await invoke(h, s, {}, { traceId }));
  assert.deepEqual(out, {
    value: traceId,
    has: true,
    own: true,
    keys: true,
    spread: traceId,
    json: traceId,
    inspected: true,
    child: traceId,
    other: 'hello',
    written: 'mine',
    deleted: false,
    coerced: '7',
  });
  // The next invocation gets its own again.
  const next = traceHeader();
  assert.equal((json(await invoke(h, s, {}, { traceId: next })) as { value: string }).value, next);
});

test('trace headers carry the current epoch seconds as 8 hex digits', () => {
  assert.match(traceHeader(Date.UTC(2026, 0, 1)), /^Root=1-6955b900-/);
  assert.match(traceHeader(), FORMAT);
});

test('trace headers stay distinct across refills of their random pool', () => {
  const seen = new Set<string>();
  // 4 KB of pool is ~200 headers: this crosses several refills.
  for (let i = 0; i < 1000; i++) {
    const t = traceHeader(0);
    assert.match(t, FORMAT);
    seen.add(t.slice(t.indexOf('-', 7) + 1));
  }
  assert.equal(seen.size, 1000);
});
