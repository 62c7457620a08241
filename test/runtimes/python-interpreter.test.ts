// The host's Python 3 behind every python3.x name: found where sandboxes can run it, its real version
// asked of the interpreter itself, and a clear reason when there is none.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';
import {
  hostPython,
  PYTHON_CANDIDATES,
  pythonMissing,
  pythonRuntimeVersionArn,
} from '../../src/runtimes/python/interpreter.js';

test('the host Python is one sandboxes can run (under /usr) and its version is the interpreter’s own', () => {
  const py = hostPython();
  assert.ok(py !== undefined, 'python3 is installed on the test host');
  assert.ok(PYTHON_CANDIDATES.includes(py.path));
  assert.ok(fs.existsSync(py.path));
  const real = execFileSync(py.path, ['-c', 'import platform; print(platform.python_version())'], {
    encoding: 'utf8',
  }).trim();
  assert.equal(py.version, real);
  assert.equal(pythonRuntimeVersionArn(py, 'us-east-1'), `arn:aws:lambda:us-east-1::runtime:python:${real}`);
  assert.equal(pythonMissing(), undefined);
});

test('with no interpreter where sandboxes look, python3.x names are unavailable and the reason says where', () => {
  const nowhere = ['/nonexistent/bin/python3'];
  assert.equal(hostPython(nowhere), undefined);
  assert.equal(
    pythonMissing(nowhere),
    'no Python 3 interpreter is installed on this host (looked for /nonexistent/bin/python3)',
  );
});

test('a file that is not a Python 3 interpreter is not taken for one', () => {
  assert.equal(hostPython(['/bin/true']), undefined);
});
