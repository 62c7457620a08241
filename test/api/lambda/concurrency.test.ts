// Reserved concurrency set through the Lambda API is what the worker enforces: with 1 reserved, a second
// concurrent invoke waits in the buffer (briefly, here) and is then throttled with Lambda's 429.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  InvokeCommand,
  LambdaClient,
  PutFunctionConcurrencyCommand,
} from '@aws-sdk/client-lambda';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { handlerZip } from './zips.js';

let p: TestPlatform;
let lambda: LambdaClient;

before(async () => {
  p = await startPlatform({ queueWaitMs: 50 });
  lambda = new LambdaClient(sdkConfig(p));
});
after(async () => {
  lambda.destroy();
  await p.close();
});

test('with reserved concurrency 1 a second concurrent invoke is throttled with TooManyRequestsException', async () => {
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'one-at-a-time',
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::1:role/r',
      Timeout: 10,
      // Holds its slot far longer than the 50 ms the second request may wait.
      Code: {
        ZipFile: await handlerZip(
          'export const handler = async () => { await new Promise((r) => setTimeout(r, 3000)); return "done"; };',
        ),
      },
    }),
  );
  await lambda.send(
    new PutFunctionConcurrencyCommand({ FunctionName: 'one-at-a-time', ReservedConcurrentExecutions: 1 }),
  );
  const results = await Promise.allSettled([
    lambda.send(new InvokeCommand({ FunctionName: 'one-at-a-time' })),
    lambda.send(new InvokeCommand({ FunctionName: 'one-at-a-time' })),
  ]);
  const done = results.filter((r) => r.status === 'fulfilled');
  const throttled = results.filter((r) => r.status === 'rejected');
  assert.equal(done.length, 1, 'one invoke runs');
  assert.equal(throttled.length, 1, 'the other is throttled');
  const e = (throttled[0] as PromiseRejectedResult).reason as Error & Record<string, unknown>;
  assert.equal(e.name, 'TooManyRequestsException');
  assert.ok(typeof e.Reason === 'string' && e.Reason.length > 0);
});
