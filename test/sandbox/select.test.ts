// Driver selection and the unsandboxed driver's view of a runtime image.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createSandbox } from '../../src/sandbox/select.js';
import { hostPathOf } from '../../src/sandbox/unsandboxed-driver.js';

const image = {
  files: [{ file: '/host/rt/bootstrap.js', dest: '/var/runtime/bootstrap.js' }],
  dirs: [{ path: '/host/sdk/node_modules', dest: '/var/runtime/node_modules' }],
  links: [],
  hostPaths: [],
  command: ['/usr/bin/node', '/var/runtime/bootstrap.js'],
};

test('unsandboxed, an image path maps to its host file or below its host directory, and nothing else', () => {
  assert.equal(hostPathOf(image, '/var/runtime/bootstrap.js'), '/host/rt/bootstrap.js');
  assert.equal(hostPathOf(image, '/var/runtime/node_modules'), '/host/sdk/node_modules');
  assert.equal(hostPathOf(image, '/var/runtime/node_modules/@aws-sdk'), '/host/sdk/node_modules/@aws-sdk');
  assert.equal(hostPathOf(image, '/var/runtime'), undefined);
  assert.equal(hostPathOf(image, '/var/runtime/node_modules_x'), undefined);
  assert.equal(hostPathOf(image, '/opt/nodejs/node_modules'), undefined);
});

test("sandbox 'none' selects the unsandboxed driver, says so, and removes environment dirs left behind", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-select-'));
  try {
    const envRoot = path.join(dir, 'envs');
    fs.mkdirSync(path.join(envRoot, 'env-stale'), { recursive: true });
    fs.mkdirSync(path.join(envRoot, 'keep'), { recursive: true });
    const warnings: string[] = [];
    const setup = createSandbox({
      mode: 'none',
      envRoot,
      apiSocketPath: path.join(dir, 'api.sock'),
      warn: (m) => warnings.push(m),
    });
    assert.equal(setup.driver.name, 'unsandboxed');
    assert.equal(setup.driver.isolatesTenants, false);
    assert.match(warnings.join('\n'), /UNSANDBOXED/);
    assert.ok(!fs.existsSync(path.join(envRoot, 'env-stale')));
    assert.ok(fs.existsSync(path.join(envRoot, 'keep')));
    assert.equal((await setup.describe()).sandboxed, false);
    await setup.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
