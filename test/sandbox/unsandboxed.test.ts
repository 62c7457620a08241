// The unsandboxed development driver: functions still run, isolation is reported as absent, and a second
// tenant is refused.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { asLambda } from '../helpers/lambda-errors.js';
import { fn, type Harness, harness, invoke, json } from '../worker/helpers.js';

let h: Harness;
before(async () => {
  h = await harness({ sandbox: 'none' });
});
after(async () => {
  await h.close();
});

test('without a sandbox a function still runs, with its code at LAMBDA_TASK_ROOT', async () => {
  const s = fn(
    h,
    "import fs from 'node:fs'; export const handler = async () => ({ root: process.env.LAMBDA_TASK_ROOT, files: fs.readdirSync(process.env.LAMBDA_TASK_ROOT) });",
  );
  const r = await invoke(h, s);
  assert.equal(r.functionError, undefined, r.payload.toString());
  const v = json(r) as { root: string; files: string[] };
  assert.ok(v.root.startsWith(h.dir));
  assert.deepEqual(v.files, ['index.mjs']);
  assert.equal(h.wm.driverName, 'unsandboxed');
});

test('unsandboxed, the worker refuses to serve a second tenant', async () => {
  await invoke(h, fn(h, 'export const handler = async () => 1;', { tenantId: 'tenant-a' }));
  await assert.rejects(
    invoke(h, fn(h, 'export const handler = async () => 1;', { tenantId: 'tenant-other' })),
    (e) => asLambda(e).type === 'ServiceException',
  );
});

test('doctor reports no isolation, loudly', async () => {
  const r = await h.wm.doctor();
  assert.equal(r.driver, 'unsandboxed');
  assert.equal(r.sandboxed, false);
  assert.ok(r.warnings.some((w) => w.startsWith('UNSANDBOXED')));
});
