// A real web framework behind a function URL: an Express 5 app wrapped by serverless-http (neither
// written here), shipped in the function's zip with its dependencies, answering plain HTTP through
// the URL: routes and params, JSON bodies, cookies, redirects, the framework's own 404.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CreateFunctionCommand, CreateFunctionUrlConfigCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { zipDirectory } from '../../../src/cli/deploy.js';
import { functionDir } from '../../cli/helpers.js';
import { repoRoot, sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';

let p: TestPlatform;
let lambda: LambdaClient;
let url: string;

const APP = `
const express = require('express');
const serverless = require('serverless-http');
const app = express();
app.use(express.json());
app.get('/users/:id', (req, res) => res.json({ id: req.params.id, q: req.query.q ?? null }));
app.post('/echo', (req, res) => res.status(201).json({ got: req.body, type: req.get('content-type') }));
app.get('/login', (req, res) => res.cookie('session', 'abc', { httpOnly: true }).cookie('theme', 'dark').send('ok'));
app.get('/old', (req, res) => res.redirect(302, '/users/1'));
exports.handler = serverless(app);
`;

/** Copies a package and, recursively, what it depends on, from the project's node_modules. */
function copyWithDeps(name: string, into: string, seen = new Set<string>()): void {
  if (seen.has(name)) return;
  seen.add(name);
  const from = path.join(repoRoot, 'node_modules', name);
  fs.cpSync(from, path.join(into, 'node_modules', name), { recursive: true, dereference: true });
  const pkg = JSON.parse(fs.readFileSync(path.join(from, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  for (const dep of Object.keys(pkg.dependencies ?? {})) copyWithDeps(dep, into, seen);
}

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
  const dir = functionDir({ 'index.js': APP });
  copyWithDeps('express', dir);
  copyWithDeps('serverless-http', dir);
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'web',
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::000000000000:role/test',
      Timeout: 30,
      Code: { ZipFile: await zipDirectory(dir) },
    }),
  );
  url = (await lambda.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'web', AuthType: 'NONE' })))
    .FunctionUrl!;
});

after(async () => {
  lambda.destroy();
  await p.close();
});

test('Express routes, params and query strings answer through the URL', async () => {
  const res = await fetch(`${url}users/42?q=find%20me`);
  assert.equal(res.status, 200, await res.clone().text());
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  assert.deepEqual(await res.json(), { id: '42', q: 'find me' });
});

test('a JSON body reaches the app, and its status code comes back', async () => {
  const res = await fetch(`${url}echo`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hello: 'world', n: [1, 2] }),
  });
  assert.equal(res.status, 201);
  assert.deepEqual(await res.json(), { got: { hello: 'world', n: [1, 2] }, type: 'application/json' });
});

test('cookies and redirects the app sets reach the client', async () => {
  const login = await fetch(`${url}login`);
  assert.equal(await login.text(), 'ok');
  const cookies = login.headers.getSetCookie();
  assert.ok(
    cookies.some((c) => /^session=abc;.*HttpOnly/i.test(c)),
    cookies.join(' | '),
  );
  assert.ok(
    cookies.some((c) => c.startsWith('theme=dark')),
    cookies.join(' | '),
  );
  const old = await fetch(`${url}old`, { redirect: 'manual' });
  assert.equal(old.status, 302);
  assert.equal(old.headers.get('location'), '/users/1');
});

test("the framework's own 404 comes back as a 404", async () => {
  const res = await fetch(`${url}nowhere`);
  assert.equal(res.status, 404);
});
