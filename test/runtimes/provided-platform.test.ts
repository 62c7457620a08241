// A custom runtime through the whole platform: CreateFunction with the unmodified AWS SDK and
// `kindling deploy --runtime provided.al2023`, a zip whose bootstrap keeps its executable bit, Invoke answers
// (and a runtime-reported error) as the SDK sees them, and GetFunction reporting the runtime.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  waitUntilFunctionActiveV2,
} from '@aws-sdk/client-lambda';
import { zipDirectory } from '../../src/cli/deploy.js';
import { cliEnv, functionDir, runCli } from '../cli/helpers.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../helpers/platform.js';

let p: TestPlatform;
let lambda: LambdaClient;
before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
});
after(async () => {
  lambda.destroy();
  await p.close();
});

/** Lambda's tutorial shape: bash and curl; the event's "fail" makes it report an error through /error. */
const BOOTSTRAP = `#!/bin/bash
set -euo pipefail
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  ID=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  if [[ "$EVENT" == *fail* ]]; then
    curl -sS -o /dev/null -H 'Lambda-Runtime-Function-Error-Type: Runtime.AskedToFail' "$API/invocation/$ID/error" \\
      -d '{"errorMessage":"asked to fail","errorType":"AskedToFail"}'
  else
    curl -sS -o /dev/null "$API/invocation/$ID/response" -d "{\\"handler\\":\\"$_HANDLER\\",\\"event\\":$EVENT}"
  fi
done
`;

function bootstrapDir(): string {
  const dir = functionDir({ bootstrap: BOOTSTRAP });
  fs.chmodSync(path.join(dir, 'bootstrap'), 0o755);
  return dir;
}

test('a provided.al2023 function created with the AWS SDK answers Invoke and reports errors as Lambda does', async () => {
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'custom-sdk',
      Runtime: 'provided.al2023',
      Handler: 'function.handler',
      Role: 'arn:aws:iam::123456789012:role/x',
      Code: { ZipFile: await zipDirectory(bootstrapDir()) },
    }),
  );
  await waitUntilFunctionActiveV2({ client: lambda, maxWaitTime: 30 }, { FunctionName: 'custom-sdk' });
  const c = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'custom-sdk' }));
  assert.equal(c.Runtime, 'provided.al2023');
  const ok = await lambda.send(
    new InvokeCommand({ FunctionName: 'custom-sdk', Payload: Buffer.from(JSON.stringify({ a: 1 })) }),
  );
  assert.equal(ok.FunctionError, undefined);
  assert.deepEqual(JSON.parse(Buffer.from(ok.Payload!).toString()), {
    handler: 'function.handler',
    event: { a: 1 },
  });
  const bad = await lambda.send(
    new InvokeCommand({ FunctionName: 'custom-sdk', Payload: Buffer.from(JSON.stringify({ fail: true })) }),
  );
  assert.equal(bad.FunctionError, 'Unhandled');
  assert.deepEqual(JSON.parse(Buffer.from(bad.Payload!).toString()), {
    errorMessage: 'asked to fail',
    errorType: 'AskedToFail',
  });
});

test('provided.al2 is accepted as well; an unknown provided name is refused', async () => {
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'custom-al2',
      Runtime: 'provided.al2',
      Handler: 'x.y',
      Role: 'arn:aws:iam::123456789012:role/x',
      Code: { ZipFile: await zipDirectory(bootstrapDir()) },
    }),
  );
  await waitUntilFunctionActiveV2({ client: lambda, maxWaitTime: 30 }, { FunctionName: 'custom-al2' });
  const r = await lambda.send(new InvokeCommand({ FunctionName: 'custom-al2', Payload: Buffer.from('[1]') }));
  assert.deepEqual(JSON.parse(Buffer.from(r.Payload!).toString()), { handler: 'x.y', event: [1] });
  await assert.rejects(
    lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'custom-al1',
        Runtime: 'provided' as never,
        Handler: 'x.y',
        Role: 'arn:aws:iam::123456789012:role/x',
        Code: { ZipFile: await zipDirectory(bootstrapDir()) },
      }),
    ),
    (e: Error) => e.name === 'ValidationException' || e.name === 'InvalidParameterValueException',
  );
});

test('kindling deploy --runtime provided.al2023 deploys a directory with an executable bootstrap', async () => {
  const env = cliEnv(p);
  const r = await runCli(
    [
      'deploy',
      bootstrapDir(),
      '--name',
      'custom-cli',
      '--runtime',
      'provided.al2023',
      '--handler',
      'function.handler',
    ],
    env,
  );
  assert.equal(r.code, 0, r.stderr);
  const out = await runCli(['invoke', 'custom-cli', '--payload', '{"from":"cli"}'], env);
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), { handler: 'function.handler', event: { from: 'cli' } });
});
