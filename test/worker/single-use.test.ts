// Single-use environments through the public API: a function tagged `kindling:single-use` = `true` gets a
// fresh environment from the warming pool for every request, retired right after its answer, so nothing of
// an earlier request (module state, /tmp, processes) reaches a later one. Each test has a control: the same
// code without the tag shows what would leak, so the test can fail.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  InvokeCommand,
  type LambdaClient,
  TagResourceCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-lambda';
import { handlerZip } from '../api/lambda/zips.js';
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

const SINGLE = { 'kindling:single-use': 'true' };

async function call<T = unknown>(name: string, event: unknown = {}): Promise<{ out: T; log: string }> {
  const r = await lambda.send(
    new InvokeCommand({ FunctionName: name, Payload: JSON.stringify(event), LogType: 'Tail' }),
  );
  const text = Buffer.from(r.Payload ?? []).toString();
  assert.equal(r.FunctionError, undefined, text);
  return { out: JSON.parse(text) as T, log: Buffer.from(r.LogResult ?? '', 'base64').toString() };
}

const STATE = `import { randomUUID } from 'node:crypto';
const boot = randomUUID();
let n = 0;
export const handler = async (e) => {
  globalThis.seen = (globalThis.seen ?? 0) + 1;
  if (e.waitMs) await new Promise((r) => setTimeout(r, e.waitMs));
  return { boot, n: ++n, seen: globalThis.seen };
};`;

test('module and global state start anew for every request of a single-use function', async () => {
  await createFunction(lambda, 'single-state', STATE, { Tags: SINGLE });
  await createFunction(lambda, 'reused-state', STATE);
  const single = [];
  for (let i = 0; i < 3; i++)
    single.push((await call<{ boot: string; n: number; seen: number }>('single-state')).out);
  assert.deepEqual(
    single.map((s) => [s.n, s.seen]),
    [
      [1, 1],
      [1, 1],
      [1, 1],
    ],
  );
  assert.equal(new Set(single.map((s) => s.boot)).size, 3);
  // Control: without the tag the warm environment keeps its state.
  const a = (await call<{ boot: string; n: number; seen: number }>('reused-state')).out;
  const b = (await call<{ boot: string; n: number; seen: number }>('reused-state')).out;
  assert.deepEqual([a.n, a.seen, b.n, b.seen, b.boot], [1, 1, 2, 2, a.boot]);
});

const TMP = `import fs from 'node:fs';
export const handler = async () => {
  const before = fs.existsSync('/tmp/left-by-an-earlier-request');
  fs.writeFileSync('/tmp/left-by-an-earlier-request', 'secret');
  return { before };
};`;

test('/tmp written by an earlier request is not there for the next one', async () => {
  await createFunction(lambda, 'single-tmp', TMP, { Tags: SINGLE });
  await createFunction(lambda, 'reused-tmp', TMP);
  assert.deepEqual((await call('single-tmp')).out, { before: false });
  assert.deepEqual((await call('single-tmp')).out, { before: false });
  await call('reused-tmp');
  assert.deepEqual((await call('reused-tmp')).out, { before: true });
});

const PROCS = `import { spawn } from 'node:child_process';
import fs from 'node:fs';
export const handler = async (e) => {
  if (e.spawn) spawn('sleep', [e.spawn], { detached: true, stdio: 'ignore' }).unref();
  await new Promise((r) => setTimeout(r, 100));
  const others = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8').split('\\0').join(' ').trim();
      if (cmd.startsWith('sleep')) others.push(cmd);
    } catch {}
  }
  return { sleeping: others };
};`;

/** Host processes whose command line is exactly `sleep <arg>`. */
function hostSleepers(arg: string): number[] {
  const found: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') === `sleep\0${arg}\0`) found.push(Number(pid));
    } catch {
      // ended meanwhile
    }
  }
  return found;
}

async function eventually(check: () => boolean, ms = 20_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

test('a process an earlier request left running is gone: not visible to the next request, ended on the host', async () => {
  await createFunction(lambda, 'single-procs', PROCS, { Tags: SINGLE });
  await createFunction(lambda, 'reused-procs', PROCS);
  const mark = `3599.${process.pid}${Date.now() % 100000}`;
  assert.deepEqual((await call('single-procs', { spawn: mark })).out, { sleeping: [`sleep ${mark}`] });
  assert.deepEqual((await call('single-procs')).out, { sleeping: [] });
  assert.ok(await eventually(() => hostSleepers(mark).length === 0), 'the retired sandbox kept its process');
  // Control: a reused environment still has the process (and the host too, until it is retired).
  const control = `${mark}1`;
  await call('reused-procs', { spawn: control });
  assert.deepEqual((await call('reused-procs')).out, { sleeping: [`sleep ${control}`] });
  assert.equal(hostSleepers(control).length, 1);
});

test('N concurrent requests get N environments, served from the pool, each retired after its answer', async () => {
  const arn = await createFunction(lambda, 'single-burst', STATE, { Tags: SINGLE });
  const worker = p.platform.components.worker;
  const fromPoolBefore = worker.stats().coldStarts.pool;
  const results = await Promise.all(
    [0, 1, 2, 3].map(() => call<{ boot: string; n: number }>('single-burst', { waitMs: 400 })),
  );
  assert.equal(new Set(results.map((r) => r.out.boot)).size, 4);
  for (const r of results) {
    assert.equal(r.out.n, 1);
    assert.match(r.log, /Init Duration: [\d.]+ ms/);
  }
  assert.ok(worker.stats().coldStarts.pool > fromPoolBefore, 'no request was served from the warming pool');
  assert.ok(
    await eventually(() => !worker.environments().some((e) => e.functionArn === arn)),
    'an environment of the single-use function was kept',
  );
});

test('tagging a warm function single-use retires its warm environment; untagging reuses environments again', async () => {
  const arn = await createFunction(lambda, 'toggled', STATE);
  await call('toggled');
  assert.equal((await call<{ n: number }>('toggled')).out.n, 2);
  await lambda.send(new TagResourceCommand({ Resource: arn, Tags: SINGLE }));
  assert.equal((await call<{ n: number }>('toggled')).out.n, 1);
  assert.equal((await call<{ n: number }>('toggled')).out.n, 1);
  await lambda.send(new UntagResourceCommand({ Resource: arn, TagKeys: ['kindling:single-use'] }));
  assert.equal((await call<{ n: number }>('toggled')).out.n, 1);
  assert.equal((await call<{ n: number }>('toggled')).out.n, 2);
});

test('kindling:single-use = false keeps environments warm as usual', async () => {
  await createFunction(lambda, 'not-single', STATE, { Tags: { 'kindling:single-use': 'false' } });
  await call('not-single');
  assert.equal((await call<{ n: number }>('not-single')).out.n, 2);
});

const refusedTag = (e: Error & { $metadata: { httpStatusCode?: number } }) =>
  e.name === 'InvalidParameterValueException' &&
  e.$metadata.httpStatusCode === 400 &&
  /write kindling:single-use = true \(or false\)/.test(e.message);

test('a single-use tag whose value is not true or false is refused at CreateFunction and TagResource', async () => {
  await assert.rejects(
    lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'bad-single',
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: 'arn:aws:iam::123456789012:role/any',
        Code: { ZipFile: await handlerZip(STATE) },
        Tags: { 'kindling:single-use': 'yes' },
      }),
    ),
    refusedTag,
  );
  const arn = await createFunction(lambda, 'tag-later', STATE);
  await assert.rejects(
    lambda.send(new TagResourceCommand({ Resource: arn, Tags: { 'kindling:single-use': 'TRUE' } })),
    refusedTag,
  );
});

test('a single-use tag spelt in another letter case is refused, not ignored', async () => {
  const arn = await createFunction(lambda, 'tag-case', STATE);
  await assert.rejects(
    lambda.send(new TagResourceCommand({ Resource: arn, Tags: { 'Kindling:Single-Use': 'true' } })),
    refusedTag,
  );
});
