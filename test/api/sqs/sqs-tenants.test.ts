// Tenant isolation on the SQS API: a second tenant's key cannot find, read or write the first tenant's queues.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';

let p: TestPlatform;
let owner: SQSClient;
let other: SQSClient;
let ownerUrl = '';

before(async () => {
  p = await startPlatform();
  owner = new SQSClient(sdkConfig(p));
  const t = await p.platform.tenants.create('other-tenant');
  const key = await p.platform.tenants.createKey(t.id);
  other = new SQSClient(
    sdkConfig({ ...p, credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey } }),
  );
  ownerUrl = (await owner.send(new CreateQueueCommand({ QueueName: 'private' }))).QueueUrl!;
  await owner.send(new SendMessageCommand({ QueueUrl: ownerUrl, MessageBody: 'secret' }));
});
after(async () => {
  owner.destroy();
  other.destroy();
  await p.close();
});

async function errorName(cmd: object): Promise<string> {
  try {
    await other.send(cmd as never);
  } catch (e) {
    return (e as Error).name;
  }
  return 'no error';
}

test("another tenant cannot look up a tenant's queue by name", async () => {
  assert.equal(await errorName(new GetQueueUrlCommand({ QueueName: 'private' })), 'QueueDoesNotExist');
});

test("another tenant cannot look up a tenant's queue by naming its account", async () => {
  const account = ownerUrl.split('/').at(-2)!;
  assert.equal(
    await errorName(new GetQueueUrlCommand({ QueueName: 'private', QueueOwnerAWSAccountId: account })),
    'QueueDoesNotExist',
  );
});

test("another tenant cannot receive from a tenant's queue by URL", async () => {
  assert.equal(await errorName(new ReceiveMessageCommand({ QueueUrl: ownerUrl })), 'QueueDoesNotExist');
});

test("another tenant cannot send to a tenant's queue by URL", async () => {
  assert.equal(
    await errorName(new SendMessageCommand({ QueueUrl: ownerUrl, MessageBody: 'intruder' })),
    'QueueDoesNotExist',
  );
});

test("another tenant cannot read a tenant's queue attributes by URL", async () => {
  assert.equal(
    await errorName(new GetQueueAttributesCommand({ QueueUrl: ownerUrl, AttributeNames: ['All'] })),
    'QueueDoesNotExist',
  );
});

test("another tenant cannot purge or delete a tenant's queue", async () => {
  assert.equal(await errorName(new PurgeQueueCommand({ QueueUrl: ownerUrl })), 'QueueDoesNotExist');
  assert.equal(await errorName(new DeleteQueueCommand({ QueueUrl: ownerUrl })), 'QueueDoesNotExist');
  const a = await owner.send(
    new GetQueueAttributesCommand({ QueueUrl: ownerUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
  );
  assert.equal(a.Attributes?.ApproximateNumberOfMessages, '1');
});

test("another tenant's ListQueues does not show a tenant's queues", async () => {
  const listed = await other.send(new ListQueuesCommand({}));
  assert.equal(listed.QueueUrls, undefined);
});

test('two tenants may each have a queue of the same name, kept apart', async () => {
  const theirs = (await owner.send(new CreateQueueCommand({ QueueName: 'twin' }))).QueueUrl!;
  await owner.send(new SendMessageCommand({ QueueUrl: theirs, MessageBody: 'owners' }));
  const mine = (await other.send(new CreateQueueCommand({ QueueName: 'twin' }))).QueueUrl!;
  assert.notEqual(mine, theirs);
  await other.send(new SendMessageCommand({ QueueUrl: mine, MessageBody: 'theirs' }));
  const got = await other.send(new ReceiveMessageCommand({ QueueUrl: mine, MaxNumberOfMessages: 10 }));
  assert.deepEqual(
    got.Messages?.map((m) => m.Body),
    ['theirs'],
  );
});

test("a receipt handle from a tenant's queue is invalid on another tenant's queue", async () => {
  const mine = (await other.send(new CreateQueueCommand({ QueueName: 'handles' }))).QueueUrl!;
  const got = await owner.send(new ReceiveMessageCommand({ QueueUrl: ownerUrl, VisibilityTimeout: 0 }));
  const handle = got.Messages?.[0]?.ReceiptHandle;
  assert.ok(handle);
  assert.equal(
    await errorName(new DeleteMessageCommand({ QueueUrl: mine, ReceiptHandle: handle })),
    'ReceiptHandleIsInvalid',
  );
});
