// The ES-module loader is initialised in an environment only when something needs it: a CommonJS function's
// environment never carries it (memory per idle environment, issue 11), and sandboxes started after an
// ES-module function was bound on this node initialise it before their bind (an ES-module pool hit).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fn, type Harness, harness, invoke, json, spec, writeCode } from '../worker/helpers.js';

// Modules Node loads only once its ES-module loader has run an import.
const ESM_LOADED = "process.moduleLoadList.some((m) => m.endsWith('esm/module_job'))";

let h: Harness;
before(async () => {
  // No pool: every environment below is started for its own request, in this order.
  h = await harness({ poolTarget: 0, poolMin: 0 });
});
after(async () => {
  await h.close();
});

test('a CommonJS function runs without the ES-module loader until an ES-module function is bound here', async () => {
  const cjs = (tag: string) =>
    spec(
      writeCode(h, { 'index.js': `exports.handler = async () => ({ tag: '${tag}', esm: ${ESM_LOADED} });` }),
    );

  const before = await invoke(h, cjs('first'));
  assert.equal(before.functionError, undefined, before.payload.toString());
  assert.deepEqual(json(before), { tag: 'first', esm: false });

  const esm = await invoke(h, fn(h, `export const handler = async () => ({ esm: ${ESM_LOADED} });`));
  assert.equal(esm.functionError, undefined, esm.payload.toString());
  assert.deepEqual(json(esm), { esm: true });

  // Started after that bind: warmed with the ES-module loader, and still runs CommonJS as before.
  const later = await invoke(h, cjs('later'));
  assert.equal(later.functionError, undefined, later.payload.toString());
  assert.deepEqual(json(later), { tag: 'later', esm: true });
});
