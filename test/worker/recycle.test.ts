// Restore instead of letting an environment grow: a function tagged `kindling:recycle-after-invocations`
// = N has each environment replaced by a fresh one after its Nth request; one tagged
// `kindling:recycle-above-memory-mb` = M after a request whose Max Memory Used passed M MB. Each test has a
// control (the same code without the tag keeps its environment), so it can fail.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { InvokeCommand, type LambdaClient, TagResourceCommand } from '@aws-sdk/client-lambda';
import { KindlingClient } from '../../src/cli/client.js';
import { createFunction, lambdaClient } from '../helpers/functions.js';
import { startPlatform, type TestPlatform } from '../helpers/platform.js';

let p: TestPlatform;
let lambda: LambdaClient;

before(async () => {
  p = await startPlatform({ poolTarget: 2 });
  lambda = lambdaClient(p);
});
after(async () => {
  lambda.destroy();
  await p.close();
});

interface State {
  boot: string;
  n: number;
}

async function call(name: string, event: unknown = {}): Promise<{ out: State; maxMemoryMB: number }> {
  const r = await lambda.send(
    new InvokeCommand({ FunctionName: name, Payload: JSON.stringify(event), LogType: 'Tail' }),
  );
  const text = Buffer.from(r.Payload ?? []).toString();
  assert.equal(r.FunctionError, undefined, text);
  const log = Buffer.from(r.LogResult ?? '', 'base64').toString();
  const mem = /Max Memory Used: (\d+) MB/.exec(log);
  assert.ok(mem, log);
  return { out: JSON.parse(text) as State, maxMemoryMB: Number(mem[1]) };
}

const STATE = `import { randomUUID } from 'node:crypto';
const boot = randomUUID();
const kept = [];
let n = 0;
export const handler = async (e) => {
  // Memory that stays: touched pages, so they count in the environment's use.
  if (e.growMB) kept.push(Buffer.alloc(e.growMB * 1048576).fill(1));
  return { boot, n: ++n };
};`;

/** Runs `count` requests one after another; the request counter of each answer, and its environment. */
async function series(name: string, count: number, event: unknown = {}) {
  const out: { out: State; maxMemoryMB: number }[] = [];
  for (let i = 0; i < count; i++) out.push(await call(name, event));
  return out;
}

test('with recycle-after-invocations = 3 every environment is replaced after its third request', async () => {
  await createFunction(lambda, 'recycled-3', STATE, {
    Tags: { 'kindling:recycle-after-invocations': '3' },
  });
  await createFunction(lambda, 'kept', STATE);
  const got = await series('recycled-3', 7);
  assert.deepEqual(
    got.map((g) => g.out.n),
    [1, 2, 3, 1, 2, 3, 1],
  );
  const boots = got.map((g) => g.out.boot);
  assert.equal(new Set(boots).size, 3, 'three environments');
  assert.equal(boots[0], boots[2]);
  assert.notEqual(boots[2], boots[3]);
  // Control: without the tag one environment serves all seven.
  const kept = await series('kept', 7);
  assert.deepEqual(
    kept.map((g) => g.out.n),
    [1, 2, 3, 4, 5, 6, 7],
  );
});

test('with recycle-above-memory-mb the environment is replaced after the request that took it past the mark', async () => {
  const LIMIT = 160;
  await createFunction(lambda, 'recycled-mem', STATE, {
    MemorySize: 512,
    Tags: { 'kindling:recycle-above-memory-mb': String(LIMIT) },
  });
  await createFunction(lambda, 'kept-mem', STATE, { MemorySize: 512 });
  const got = await series('recycled-mem', 6, { growMB: 40 });
  let recycles = 0;
  for (let i = 1; i < got.length; i++) {
    const over = got[i - 1]!.maxMemoryMB > LIMIT;
    if (over) recycles++;
    // Past the mark: the next request meets a fresh environment; below it: the same one.
    assert.equal(got[i]!.out.n === 1, over, JSON.stringify(got));
  }
  assert.ok(recycles >= 1, `memory passed ${LIMIT} MB at least once: ${JSON.stringify(got)}`);
  // Control: without the tag the environment keeps growing.
  const kept = await series('kept-mem', 6, { growMB: 40 });
  assert.deepEqual(
    kept.map((g) => g.out.n),
    [1, 2, 3, 4, 5, 6],
  );
  assert.ok(kept[5]!.maxMemoryMB > LIMIT, JSON.stringify(kept));
});

test('a tag added to a warm function applies to its warm environment, and recycles are counted in metrics', async () => {
  const arn = await createFunction(lambda, 'tagged-later', STATE);
  assert.deepEqual(
    (await series('tagged-later', 2)).map((g) => g.out.n),
    [1, 2],
  );
  await lambda.send(
    new TagResourceCommand({ Resource: arn, Tags: { 'kindling:recycle-after-invocations': '3' } }),
  );
  assert.deepEqual(
    (await series('tagged-later', 3)).map((g) => g.out.n),
    [3, 1, 2],
  );
  const admin = new KindlingClient({
    endpoint: p.endpoint,
    region: p.region,
    credentials: p.credentials,
    dataDir: p.platform.config.dataDir,
  });
  const text = await (await admin.signedFetch('GET', '/metrics')).text();
  assert.match(
    text,
    /^kindling_environments_recycled_total\{tenant="[^"]+",function="tagged-later",reason="invocations"\} 1$/m,
  );
});

test('lifecycle tags with values other than a whole number in range, or in another letter case, are refused', async () => {
  const bad: Record<string, string>[] = [
    { 'kindling:recycle-after-invocations': '0' },
    { 'kindling:recycle-after-invocations': '-1' },
    { 'kindling:recycle-after-invocations': '2.5' },
    { 'kindling:recycle-after-invocations': 'ten' },
    { 'kindling:recycle-after-invocations': '1000001' },
    { 'kindling:recycle-after-invocations': '' },
    { 'kindling:recycle-above-memory-mb': '10241' },
    { 'kindling:recycle-above-memory-mb': '0x10' },
    { 'Kindling:Recycle-Above-Memory-MB': '128' },
  ];
  const arn = await createFunction(lambda, 'tag-target', STATE);
  for (const [i, Tags] of bad.entries()) {
    await assert.rejects(
      createFunction(lambda, `bad-lifecycle-${i}`, STATE, { Tags }),
      (e: Error) => e.name === 'InvalidParameterValueException' && /kindling:recycle-/.test(e.message),
      JSON.stringify(Tags),
    );
    await assert.rejects(
      lambda.send(new TagResourceCommand({ Resource: arn, Tags })),
      { name: 'InvalidParameterValueException' },
      JSON.stringify(Tags),
    );
  }
});
