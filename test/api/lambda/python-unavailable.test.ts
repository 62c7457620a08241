// A host where no Python 3 can run refuses python3.x names when they are named (CreateFunction,
// UpdateFunctionConfiguration), with Lambda's InvalidParameterValueException saying why, rather than
// accepting the function and failing every invoke. Node functions are untouched.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  LambdaClient,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { createFunction } from '../../helpers/functions.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { zipOf } from './zips.js';

let p: TestPlatform;
let lambda: LambdaClient;

before(async () => {
  // This test file runs in its own process: the interpreter it names exists nowhere.
  process.env.KINDLING_PYTHON = '/nonexistent/bin/python3';
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
});
after(async () => {
  lambda.destroy();
  await p.close();
  delete process.env.KINDLING_PYTHON;
});

const refused = (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
  assert.equal(e.name, 'InvalidParameterValueException');
  assert.equal(e.$metadata?.httpStatusCode, 400);
  assert.match(
    e.message,
    /python3\.1[12] is not supported: no Python 3 interpreter is installed on this host \(looked for \/nonexistent\/bin\/python3\)/,
  );
  return true;
};

test('CreateFunction with a python3.x runtime is refused when no Python 3 can run here', async () => {
  const zip = await zipOf([
    { name: 'lambda_function.py', data: 'def lambda_handler(e, c):\n    return 1\n' },
  ]);
  await assert.rejects(
    lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'py-nowhere',
        Runtime: 'python3.12',
        Handler: 'lambda_function.lambda_handler',
        Role: 'arn:aws:iam::123456789012:role/any',
        Code: { ZipFile: zip },
      }),
    ),
    refused,
  );
});

test('UpdateFunctionConfiguration to a python3.x runtime is refused there too; Node functions still deploy', async () => {
  await createFunction(lambda, 'node-here', 'export const handler = async () => 1;');
  await assert.rejects(
    lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'node-here', Runtime: 'python3.11' })),
    refused,
  );
});
