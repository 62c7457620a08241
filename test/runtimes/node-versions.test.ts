// Runtime names run what they name: nodejs20.x, nodejs22.x and nodejs24.x each on that Node (the host's,
// or the npm packages package.json installs), each from its own warming pool, in real sandboxes; the
// bootstrap (compiled TypeScript) serves every handler style on every major.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEFAULT_RUNTIME, runtimeEntry } from '../../src/runtimes/registry.js';
import { type Harness, harness, invoke, json, spec, writeCode } from '../worker/helpers.js';

let h: Harness;
before(async () => {
  h = await harness();
});
after(async () => {
  await h.close();
});

const VERSION = 'export const handler = async () => ({ v: process.version, exec: process.execPath });';
const MAJORS = [20, 22, 24] as const;

for (const major of MAJORS) {
  test(`a nodejs${major}.x function runs on Node ${major}, from the nodejs${major}.x pool`, async () => {
    const r = await invoke(h, spec(writeCode(h, { 'index.mjs': VERSION }), { runtime: `nodejs${major}.x` }));
    assert.equal(r.functionError, undefined, r.payload.toString());
    const out = json(r) as { v: string; exec: string };
    assert.match(out.v, new RegExp(`^v${major}\\.\\d+\\.\\d+$`));
    assert.equal(`v${runtimeEntry(`nodejs${major}.x`)?.describe().version}`, out.v);
    assert.ok(h.wm.stats().pools.some((p) => p.runtimeKey === `nodejs${major}.x`));
    // A packaged Node sits where Lambda keeps its node, not at a host path of ours.
    if (runtimeEntry(`nodejs${major}.x`)?.describe().source !== 'host')
      assert.equal(out.exec, '/var/lang/bin/node');
  });

  test(`the bootstrap serves CommonJS, ESM, callbacks, errors, logs and the SDK on Node ${major}`, async () => {
    const runtime = `nodejs${major}.x`;
    const cjs = spec(
      writeCode(h, {
        'index.js': `const { S3Client } = require('@aws-sdk/client-s3');
          exports.handler = (e, ctx, cb) => { console.log('cjs', e.n); cb(null, { n: e.n, sdk: typeof S3Client, id: ctx.awsRequestId }); };`,
      }),
      { runtime },
    );
    const a = await invoke(h, cjs, { n: 3 }, { requestId: `req-${major}` });
    assert.equal(a.functionError, undefined, a.payload.toString());
    assert.deepEqual(json(a), { n: 3, sdk: 'function', id: `req-${major}` });
    assert.match(a.log, new RegExp(`req-${major}\\tINFO\\tcjs 3`));
    // No runtime warning of a newer Node (deprecations, experimental features) in the function's log.
    assert.doesNotMatch(a.log, /Warning/);

    const esm = spec(
      writeCode(h, {
        'index.mjs': `import { SQSClient } from '@aws-sdk/client-sqs';
          export const handler = async (e) => { if (e.fail) throw new RangeError('bad ' + e.fail); return typeof SQSClient; };`,
      }),
      { runtime },
    );
    assert.equal(json(await invoke(h, esm, {})), 'function');
    const err = await invoke(h, esm, { fail: 'x' });
    assert.equal(err.functionError, 'Unhandled');
    assert.equal(err.errorType, 'RangeError');
    assert.equal((json(err) as { errorMessage: string }).errorMessage, 'bad x');

    const broken = spec(writeCode(h, { 'index.mjs': 'export const handler = ;' }), { runtime });
    const init = await invoke(h, broken, {});
    assert.equal(init.functionError, 'Unhandled');
    assert.equal(init.errorType, 'Runtime.UserCodeSyntaxError');
  });
}

test('nodejs18.x is not installed here: the worker refuses it rather than run another Node', async () => {
  assert.match(
    runtimeEntry('nodejs18.x')?.describe().missing ?? '',
    /Node\.js 18 is not installed on this host/,
  );
  await assert.rejects(
    invoke(h, spec(writeCode(h, { 'index.mjs': VERSION }), { runtime: 'nodejs18.x' })),
    (e: Error & { type?: string }) =>
      e.type === 'InvalidRuntimeException' && /Node\.js 18 is not installed/.test(e.message),
  );
});

test('the default pool is the host Node', () => {
  assert.equal(DEFAULT_RUNTIME.describe().source, 'host');
  assert.equal(DEFAULT_RUNTIME.describe().version, process.versions.node);
});
