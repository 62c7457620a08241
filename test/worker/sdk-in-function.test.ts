// End to end through a real server: a function uses the unmodified AWS SDK v3, with the credentials and
// AWS_ENDPOINT_URL its environment gets, to call the platform's own API through the sandbox's relay.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { createFunction } from '../helpers/functions.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../helpers/platform.js';

let p: TestPlatform;
let lambda: LambdaClient;

before(async () => {
  p = await startPlatform({ sandbox: 'bwrap' });
  lambda = new LambdaClient(sdkConfig(p));
});
after(async () => {
  await p.close();
});

test('a function lists its own tenant’s functions with the AWS SDK through the relayed endpoint', async () => {
  const source = `
    import { LambdaClient, ListFunctionsCommand } from '@aws-sdk/client-lambda';
    const client = new LambdaClient({});
    export const handler = async () => {
      const out = await client.send(new ListFunctionsCommand({}));
      return { endpoint: process.env.AWS_ENDPOINT_URL, names: out.Functions.map((f) => f.FunctionName) };
    };`;
  await createFunction(lambda, 'lister', source, { Timeout: 10 });
  const out = await lambda.send(new InvokeCommand({ FunctionName: 'lister', LogType: 'Tail' }));
  const body = JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8'));
  assert.equal(out.FunctionError, undefined, JSON.stringify(body));
  // The relay answers inside on the API's own origin (the server listened on port 0 here).
  assert.equal(body.endpoint, p.endpoint);
  assert.deepEqual(body.names, ['lister']);
});
