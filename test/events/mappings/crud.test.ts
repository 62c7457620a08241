// Event source mapping CRUD through the unmodified Lambda SDK, and the validation errors Lambda answers.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateEventSourceMappingCommand,
  DeleteEventSourceMappingCommand,
  GetEventSourceMappingCommand,
  LambdaClient,
  ListEventSourceMappingsCommand,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { createFunction, logging, waitFor } from './helpers.js';

let p: TestPlatform;
let lambda: LambdaClient;
let sqs: SQSClient;
let otherLambda: LambdaClient;
let otherSqs: SQSClient;
let fnArn = '';
let otherFnArn = '';
let otherQueueArn = '';

async function queueArn(client: SQSClient, name: string): Promise<string> {
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: name }));
  const a = await client.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  return a.Attributes?.QueueArn ?? '';
}

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
  sqs = new SQSClient(sdkConfig(p));
  const other = await p.platform.tenants.create('other');
  const key = await p.platform.tenants.createKey(other.id);
  const otherCfg = sdkConfig({ endpoint: p.endpoint, credentials: key });
  otherLambda = new LambdaClient(otherCfg);
  otherSqs = new SQSClient(otherCfg);
  fnArn = await createFunction(lambda, 'crud-fn', logging());
  otherFnArn = await createFunction(otherLambda, 'theirs', logging());
  otherQueueArn = await queueArn(otherSqs, 'their-queue');
});
after(async () => {
  for (const c of [lambda, sqs, otherLambda, otherSqs]) c.destroy();
  await p.close();
});

const isError = (name: string, message?: RegExp) => (e: Error) => {
  assert.equal(e.name, name, e.message);
  if (message) assert.match(e.message, message);
  return true;
};

test('CreateEventSourceMapping answers Lambda’s shape with defaults, and the mapping becomes Enabled', async () => {
  const arn = await queueArn(sqs, 'crud-create');
  const out = await lambda.send(
    new CreateEventSourceMappingCommand({ FunctionName: 'crud-fn', EventSourceArn: arn }),
  );
  assert.match(out.UUID ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(out.EventSourceArn, arn);
  assert.equal(out.FunctionArn, fnArn);
  assert.equal(out.BatchSize, 10);
  assert.equal(out.MaximumBatchingWindowInSeconds, 0);
  assert.equal(out.State, 'Creating');
  assert.ok(out.LastModified instanceof Date);
  const got = await waitFor('Enabled', async () => {
    const g = await lambda.send(new GetEventSourceMappingCommand({ UUID: out.UUID }));
    return g.State === 'Enabled' && g;
  });
  assert.equal(got.UUID, out.UUID);
});

test('CreateEventSourceMapping keeps BatchSize, window, ReportBatchItemFailures and MaximumConcurrency', async () => {
  const arn = await queueArn(sqs, 'crud-options');
  const out = await lambda.send(
    new CreateEventSourceMappingCommand({
      FunctionName: fnArn,
      EventSourceArn: arn,
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 2,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
    }),
  );
  const got = await lambda.send(new GetEventSourceMappingCommand({ UUID: out.UUID }));
  assert.equal(got.BatchSize, 100);
  assert.equal(got.MaximumBatchingWindowInSeconds, 2);
  assert.deepEqual(got.FunctionResponseTypes, ['ReportBatchItemFailures']);
  assert.equal(got.ScalingConfig?.MaximumConcurrency, 5);
});

test('ListEventSourceMappings filters by EventSourceArn and by FunctionName', async () => {
  const a = await queueArn(sqs, 'crud-list-a');
  const b = await queueArn(sqs, 'crud-list-b');
  await createFunction(lambda, 'crud-list-fn', logging());
  const ma = await lambda.send(
    new CreateEventSourceMappingCommand({ FunctionName: 'crud-list-fn', EventSourceArn: a }),
  );
  const mb = await lambda.send(
    new CreateEventSourceMappingCommand({ FunctionName: 'crud-fn', EventSourceArn: b }),
  );
  const byQueue = await lambda.send(new ListEventSourceMappingsCommand({ EventSourceArn: b }));
  assert.deepEqual(
    byQueue.EventSourceMappings?.map((m) => m.UUID),
    [mb.UUID],
  );
  const byFn = await lambda.send(new ListEventSourceMappingsCommand({ FunctionName: 'crud-list-fn' }));
  assert.deepEqual(
    byFn.EventSourceMappings?.map((m) => m.UUID),
    [ma.UUID],
  );
});

test('ListEventSourceMappings pages with MaxItems and NextMarker', async () => {
  const all = await lambda.send(new ListEventSourceMappingsCommand({}));
  const n = all.EventSourceMappings?.length ?? 0;
  assert.ok(n >= 2);
  const first = await lambda.send(new ListEventSourceMappingsCommand({ MaxItems: 1 }));
  assert.equal(first.EventSourceMappings?.length, 1);
  assert.ok(first.NextMarker);
  const second = await lambda.send(
    new ListEventSourceMappingsCommand({ MaxItems: 1, Marker: first.NextMarker }),
  );
  assert.notEqual(second.EventSourceMappings?.[0]?.UUID, first.EventSourceMappings?.[0]?.UUID);
});

test('UpdateEventSourceMapping with Enabled false makes it Disabled and keeps the new BatchSize', async () => {
  const arn = await queueArn(sqs, 'crud-update');
  const out = await lambda.send(
    new CreateEventSourceMappingCommand({ FunctionName: 'crud-fn', EventSourceArn: arn }),
  );
  const upd = await lambda.send(
    new UpdateEventSourceMappingCommand({ UUID: out.UUID, Enabled: false, BatchSize: 5 }),
  );
  assert.equal(upd.BatchSize, 5);
  const got = await waitFor('Disabled', async () => {
    const g = await lambda.send(new GetEventSourceMappingCommand({ UUID: out.UUID }));
    return g.State === 'Disabled' && g;
  });
  assert.equal(got.BatchSize, 5);
});

test('DeleteEventSourceMapping answers Deleting, after which the mapping is not found', async () => {
  const arn = await queueArn(sqs, 'crud-delete');
  const out = await lambda.send(
    new CreateEventSourceMappingCommand({ FunctionName: 'crud-fn', EventSourceArn: arn }),
  );
  const del = await lambda.send(new DeleteEventSourceMappingCommand({ UUID: out.UUID }));
  assert.equal(del.State, 'Deleting');
  await waitFor('deleted', async () => {
    try {
      await lambda.send(new GetEventSourceMappingCommand({ UUID: out.UUID }));
      return false;
    } catch (e) {
      return (e as Error).name === 'ResourceNotFoundException';
    }
  });
});

test('a second mapping of the same queue to the same function is a ResourceConflictException', async () => {
  const arn = await queueArn(sqs, 'crud-dup');
  await lambda.send(new CreateEventSourceMappingCommand({ FunctionName: 'crud-fn', EventSourceArn: arn }));
  await assert.rejects(
    lambda.send(new CreateEventSourceMappingCommand({ FunctionName: 'crud-fn', EventSourceArn: arn })),
    isError('ResourceConflictException', /already exists/),
  );
});

test('a queue that does not exist is an InvalidParameterValueException', async () => {
  const arn = `arn:aws:sqs:us-east-1:${fnArn.split(':')[4]}:no-such-queue`;
  await assert.rejects(
    lambda.send(new CreateEventSourceMappingCommand({ FunctionName: 'crud-fn', EventSourceArn: arn })),
    isError('InvalidParameterValueException', /NonExistentQueue/),
  );
});

test('another tenant’s queue is refused as if it did not exist', async () => {
  await assert.rejects(
    lambda.send(
      new CreateEventSourceMappingCommand({ FunctionName: 'crud-fn', EventSourceArn: otherQueueArn }),
    ),
    isError('InvalidParameterValueException', /NonExistentQueue/),
  );
});

test('another tenant’s function is a ResourceNotFoundException', async () => {
  const arn = await queueArn(sqs, 'crud-other-fn');
  await assert.rejects(
    lambda.send(new CreateEventSourceMappingCommand({ FunctionName: otherFnArn, EventSourceArn: arn })),
    isError('ResourceNotFoundException', /Function not found/),
  );
});

test('a function that does not exist is a ResourceNotFoundException', async () => {
  const arn = await queueArn(sqs, 'crud-no-fn');
  await assert.rejects(
    lambda.send(new CreateEventSourceMappingCommand({ FunctionName: 'nope', EventSourceArn: arn })),
    isError('ResourceNotFoundException', /Function not found/),
  );
});

test('BatchSize 0 is a ValidationException', async () => {
  const arn = await queueArn(sqs, 'crud-bs0');
  await assert.rejects(
    lambda.send(
      new CreateEventSourceMappingCommand({ FunctionName: 'crud-fn', EventSourceArn: arn, BatchSize: 0 }),
    ),
    isError(
      'ValidationException',
      /at 'batchSize' failed to satisfy constraint: Member must have value greater than or equal to 1/,
    ),
  );
});

test('BatchSize above 10000 is a ValidationException', async () => {
  const arn = await queueArn(sqs, 'crud-bsmax');
  await assert.rejects(
    lambda.send(
      new CreateEventSourceMappingCommand({
        FunctionName: 'crud-fn',
        EventSourceArn: arn,
        BatchSize: 10_001,
      }),
    ),
    isError('ValidationException', /Member must have value less than or equal to 10000/),
  );
});

test('BatchSize above 10 without a batching window is an InvalidParameterValueException', async () => {
  const arn = await queueArn(sqs, 'crud-bswin');
  await assert.rejects(
    lambda.send(
      new CreateEventSourceMappingCommand({ FunctionName: 'crud-fn', EventSourceArn: arn, BatchSize: 11 }),
    ),
    isError('InvalidParameterValueException', /batch window/),
  );
});

test('a queue visibility timeout shorter than the function timeout is an InvalidParameterValueException', async () => {
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: 'crud-short-lease', Attributes: { VisibilityTimeout: '5' } }),
  );
  const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  await assert.rejects(
    lambda.send(
      new CreateEventSourceMappingCommand({
        FunctionName: 'crud-fn',
        EventSourceArn: a.Attributes?.QueueArn,
      }),
    ),
    isError(
      'InvalidParameterValueException',
      /Queue visibility timeout: 5 seconds is less than Function timeout: 10 seconds/,
    ),
  );
});

test('StartingPosition on an SQS source is an InvalidParameterValueException', async () => {
  const arn = await queueArn(sqs, 'crud-startpos');
  await assert.rejects(
    lambda.send(
      new CreateEventSourceMappingCommand({
        FunctionName: 'crud-fn',
        EventSourceArn: arn,
        StartingPosition: 'LATEST',
      }),
    ),
    isError('InvalidParameterValueException', /StartingPosition/),
  );
});

test('another tenant’s mapping is not found by Get, Update or Delete', async () => {
  const arn = await queueArn(sqs, 'crud-hidden');
  const out = await lambda.send(
    new CreateEventSourceMappingCommand({ FunctionName: 'crud-fn', EventSourceArn: arn }),
  );
  for (const cmd of [
    new GetEventSourceMappingCommand({ UUID: out.UUID }),
    new UpdateEventSourceMappingCommand({ UUID: out.UUID, Enabled: false }),
    new DeleteEventSourceMappingCommand({ UUID: out.UUID }),
  ]) {
    await assert.rejects(otherLambda.send(cmd as never), isError('ResourceNotFoundException'));
  }
});
