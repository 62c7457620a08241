// Put/Get/Update/Delete/List FunctionEventInvokeConfig through the AWS SDK, and each bad input refused.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  DeleteFunctionEventInvokeConfigCommand,
  GetFunctionEventInvokeConfigCommand,
  type LambdaClient,
  ListFunctionEventInvokeConfigsCommand,
  PutFunctionEventInvokeConfigCommand,
  type PutFunctionEventInvokeConfigCommandInput,
  UpdateFunctionEventInvokeConfigCommand,
} from '@aws-sdk/client-lambda';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { rejects } from '../../helpers/sdk-errors.js';
import { clients, createFunction, createQueue, okHandler } from './fixtures.js';

let p: TestPlatform;
let lambda: LambdaClient;
let sqs: SQSClient;
let fnArn = '';
let otherFnArn = '';
let queueArn = '';

before(async () => {
  p = await startPlatform({ retryBaseMs: 50 });
  ({ lambda, sqs } = clients(sdkConfig(p)));
  fnArn = await createFunction(lambda, 'configured', okHandler);
  otherFnArn = await createFunction(lambda, 'target', okHandler);
  queueArn = (await createQueue(sqs, 'config-dest')).arn;
});
after(async () => {
  lambda.destroy();
  sqs.destroy();
  await p.close();
});

const put = (input: Partial<PutFunctionEventInvokeConfigCommandInput>) =>
  lambda.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'configured', ...input }));
test('Put stores the config and answers it with the qualified function ARN', async () => {
  const out = await put({
    MaximumRetryAttempts: 1,
    MaximumEventAgeInSeconds: 300,
    DestinationConfig: { OnFailure: { Destination: queueArn } },
  });
  assert.equal(out.FunctionArn, `${fnArn}:$LATEST`);
  assert.equal(out.MaximumRetryAttempts, 1);
  assert.equal(out.MaximumEventAgeInSeconds, 300);
  assert.equal(out.DestinationConfig?.OnFailure?.Destination, queueArn);
  assert.ok(out.LastModified instanceof Date);
});

test('Get answers the stored config', async () => {
  await put({ MaximumRetryAttempts: 0, DestinationConfig: { OnSuccess: { Destination: otherFnArn } } });
  const out = await lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'configured' }));
  assert.equal(out.MaximumRetryAttempts, 0);
  assert.equal(out.MaximumEventAgeInSeconds, undefined);
  assert.equal(out.DestinationConfig?.OnSuccess?.Destination, otherFnArn);
});

test('Put replaces the whole config', async () => {
  await put({ MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 120 });
  await put({ MaximumEventAgeInSeconds: 600 });
  const out = await lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'configured' }));
  assert.equal(out.MaximumRetryAttempts, undefined);
  assert.equal(out.MaximumEventAgeInSeconds, 600);
});

test('Update merges the given fields into the existing config', async () => {
  await put({ MaximumRetryAttempts: 1, MaximumEventAgeInSeconds: 120 });
  const out = await lambda.send(
    new UpdateFunctionEventInvokeConfigCommand({
      FunctionName: 'configured',
      DestinationConfig: { OnFailure: { Destination: queueArn } },
    }),
  );
  assert.equal(out.MaximumRetryAttempts, 1);
  assert.equal(out.MaximumEventAgeInSeconds, 120);
  assert.equal(out.DestinationConfig?.OnFailure?.Destination, queueArn);
});

test('List answers the function’s configs', async () => {
  await put({ MaximumRetryAttempts: 2 });
  const out = await lambda.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: 'configured' }));
  assert.equal(out.FunctionEventInvokeConfigs?.length, 1);
  assert.equal(out.FunctionEventInvokeConfigs?.[0]?.FunctionArn, `${fnArn}:$LATEST`);
});

test('Delete removes the config and Get then answers ResourceNotFoundException', async () => {
  await put({ MaximumRetryAttempts: 2 });
  await lambda.send(new DeleteFunctionEventInvokeConfigCommand({ FunctionName: 'configured' }));
  await rejects(
    lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'configured' })),
    'ResourceNotFoundException',
  );
});

test('Delete without a config answers ResourceNotFoundException', async () => {
  await rejects(
    lambda.send(new DeleteFunctionEventInvokeConfigCommand({ FunctionName: 'target' })),
    'ResourceNotFoundException',
  );
});

test('Update without a config answers ResourceNotFoundException', async () => {
  await rejects(
    lambda.send(
      new UpdateFunctionEventInvokeConfigCommand({ FunctionName: 'target', MaximumRetryAttempts: 1 }),
    ),
    'ResourceNotFoundException',
  );
});

test('Put on an unknown function answers ResourceNotFoundException', async () => {
  await rejects(
    lambda.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'ghost', MaximumRetryAttempts: 1 })),
    'ResourceNotFoundException',
  );
});

test('MaximumRetryAttempts 3 is refused with ValidationException', async () => {
  await rejects(put({ MaximumRetryAttempts: 3 }), 'ValidationException');
});

test('MaximumRetryAttempts -1 is refused with ValidationException', async () => {
  await rejects(put({ MaximumRetryAttempts: -1 }), 'ValidationException');
});

test('MaximumEventAgeInSeconds 59 is refused with ValidationException', async () => {
  await rejects(put({ MaximumEventAgeInSeconds: 59 }), 'ValidationException');
});

test('MaximumEventAgeInSeconds 21601 is refused with ValidationException', async () => {
  await rejects(put({ MaximumEventAgeInSeconds: 21_601 }), 'ValidationException');
});

test('a Put with no setting at all is refused with InvalidParameterValueException', async () => {
  await rejects(put({}), 'InvalidParameterValueException');
});

test('a destination that is not an ARN is refused with InvalidParameterValueException', async () => {
  await rejects(
    put({ DestinationConfig: { OnFailure: { Destination: 'my-queue' } } }),
    'InvalidParameterValueException',
  );
});

test('an SNS topic destination is refused with InvalidParameterValueException', async () => {
  await rejects(
    put({
      DestinationConfig: {
        OnSuccess: {
          Destination: `arn:aws:sns:us-east-1:${(await p.platform.tenants.get('admin'))!.accountId}:topic`,
        },
      },
    }),
    'InvalidParameterValueException',
  );
});

test('a queue destination that does not exist is refused with InvalidParameterValueException', async () => {
  await rejects(
    put({
      DestinationConfig: { OnFailure: { Destination: queueArn.replace('config-dest', 'missing-queue') } },
    }),
    'InvalidParameterValueException',
  );
});

test('a queue of another tenant is refused as a destination', async () => {
  const other = await p.platform.tenants.create('other-tenant');
  const foreign = queueArn.replace(/:\d{12}:/, `:${other.accountId}:`);
  await rejects(
    put({ DestinationConfig: { OnFailure: { Destination: foreign } } }),
    'InvalidParameterValueException',
  );
});

test('a function destination that does not exist is refused with InvalidParameterValueException', async () => {
  await rejects(
    put({ DestinationConfig: { OnSuccess: { Destination: `${otherFnArn}-gone` } } }),
    'InvalidParameterValueException',
  );
});

test('deleting a function removes its event invoke config', async () => {
  const arn = await createFunction(lambda, 'short-lived', okHandler);
  await lambda.send(
    new PutFunctionEventInvokeConfigCommand({ FunctionName: 'short-lived', MaximumRetryAttempts: 0 }),
  );
  const { DeleteFunctionCommand } = await import('@aws-sdk/client-lambda');
  await lambda.send(new DeleteFunctionCommand({ FunctionName: 'short-lived' }));
  await createFunction(lambda, 'short-lived', okHandler);
  await rejects(
    lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: arn })),
    'ResourceNotFoundException',
  );
});

test('another tenant cannot read or set this function’s event invoke config', async () => {
  await put({ MaximumRetryAttempts: 1 });
  const other = await p.platform.tenants.create('config-other');
  const key = await p.platform.tenants.createKey(other.id);
  const { lambda: theirs, sqs: theirSqs } = clients(
    sdkConfig({
      endpoint: p.endpoint,
      credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    }),
  );
  try {
    await rejects(
      theirs.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: fnArn })),
      'ResourceNotFoundException',
    );
    await rejects(
      theirs.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: fnArn, MaximumRetryAttempts: 0 })),
      'ResourceNotFoundException',
    );
  } finally {
    theirs.destroy();
    theirSqs.destroy();
  }
});
