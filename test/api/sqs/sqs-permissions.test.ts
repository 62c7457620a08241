// Queue permissions: AddPermission/RemovePermission and the Policy attribute, enforced for other tenants
// signing as themselves. A grant opens exactly the granted actions on that one queue; everything else
// (and every queue without a grant) answers as a missing queue does.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import {
  AddPermissionCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  RemovePermissionCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { signRequest } from '../../../src/api/sigv4.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { failure } from '../../helpers/sdk-errors.js';

let p: TestPlatform;
let owner: SQSClient;
let other: SQSClient;
let third: SQSClient;
let otherKey: { accessKeyId: string; secretAccessKey: string };
let otherAccount = '';
let thirdAccount = '';
let ownerAccount = '';

async function tenantClient(
  name: string,
): Promise<{ client: SQSClient; account: string; key: typeof otherKey }> {
  const t = await p.platform.tenants.create(name);
  const key = await p.platform.tenants.createKey(t.id);
  const creds = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
  return { client: new SQSClient(sdkConfig({ ...p, credentials: creds })), account: t.accountId, key: creds };
}

before(async () => {
  p = await startPlatform();
  owner = new SQSClient(sdkConfig(p));
  const o = await tenantClient('grantee');
  other = o.client;
  otherAccount = o.account;
  otherKey = o.key;
  const t = await tenantClient('bystander');
  third = t.client;
  thirdAccount = t.account;
});
after(async () => {
  owner.destroy();
  other.destroy();
  third.destroy();
  await p.close();
});

async function createQueue(name: string): Promise<string> {
  const url = (await owner.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  ownerAccount = url.split('/').at(-2)!;
  return url;
}

async function policyOf(url: string): Promise<Record<string, unknown> | undefined> {
  const a = await owner.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['Policy'] }));
  return a.Attributes?.Policy ? (JSON.parse(a.Attributes.Policy) as Record<string, unknown>) : undefined;
}

test('AddPermission writes SQS’s policy statement and lets the grantee send, and only send', async () => {
  const url = await createQueue('shared-send');
  await owner.send(
    new AddPermissionCommand({
      QueueUrl: url,
      Label: 'grantee-send',
      AWSAccountIds: [otherAccount],
      Actions: ['SendMessage'],
    }),
  );
  const policy = await policyOf(url);
  const arn = `arn:aws:sqs:${p.region}:${ownerAccount}:shared-send`;
  assert.equal(policy?.Version, '2012-10-17');
  assert.equal(policy?.Id, `${arn}/SQSDefaultPolicy`);
  assert.deepEqual(policy?.Statement, [
    {
      Sid: 'grantee-send',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${otherAccount}:root` },
      Action: 'SQS:SendMessage',
      Resource: arn,
    },
  ]);

  await other.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'from the grantee' }));
  await other.send(
    new SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: 'a', MessageBody: 'batched' }] }),
  );
  const got = await owner.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: 10,
      MessageSystemAttributeNames: ['SenderId'],
    }),
  );
  assert.deepEqual(got.Messages?.map((m) => m.Body).sort(), ['batched', 'from the grantee']);
  // The owner learns the sender's account, never another tenant's access key id.
  for (const m of got.Messages ?? []) assert.equal(m.Attributes?.SenderId, otherAccount);

  // The attack: a grant for SendMessage used for everything else answers as a missing queue.
  for (const cmd of [
    new ReceiveMessageCommand({ QueueUrl: url }),
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }),
    new PurgeQueueCommand({ QueueUrl: url }),
    new DeleteQueueCommand({ QueueUrl: url }),
    new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { Policy: '' } }),
    new AddPermissionCommand({ QueueUrl: url, Label: 'x', AWSAccountIds: [otherAccount], Actions: ['*'] }),
    new GetQueueUrlCommand({ QueueName: 'shared-send', QueueOwnerAWSAccountId: ownerAccount }),
  ]) {
    assert.equal((await failure(other, cmd)).name, 'QueueDoesNotExist', cmd.constructor.name);
  }
  // A tenant the grant does not name sees nothing at all.
  assert.equal(
    (await failure(third, new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' }))).name,
    'QueueDoesNotExist',
  );
});

test('a removed permission answers as a missing queue again; the last one removes Policy', async () => {
  const url = await createQueue('revoked');
  await owner.send(
    new AddPermissionCommand({
      QueueUrl: url,
      Label: 'send',
      AWSAccountIds: [otherAccount],
      Actions: ['SendMessage'],
    }),
  );
  await owner.send(
    new AddPermissionCommand({
      QueueUrl: url,
      Label: 'attrs',
      AWSAccountIds: [otherAccount],
      Actions: ['GetQueueAttributes'],
    }),
  );
  await other.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'allowed' }));
  await owner.send(new RemovePermissionCommand({ QueueUrl: url, Label: 'send' }));
  assert.equal(
    (await failure(other, new SendMessageCommand({ QueueUrl: url, MessageBody: 'again' }))).name,
    'QueueDoesNotExist',
  );
  const a = await other.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
  );
  assert.equal(a.Attributes?.ApproximateNumberOfMessages, '1');
  await owner.send(new RemovePermissionCommand({ QueueUrl: url, Label: 'attrs' }));
  assert.equal(await policyOf(url), undefined);
  const missing = await failure(owner, new RemovePermissionCommand({ QueueUrl: url, Label: 'attrs' }));
  assert.equal(missing.name, 'InvalidParameterValue');
  assert.equal(
    missing.message,
    "Value attrs for parameter Label is invalid. Reason: can't find label on existing policy.",
  );
});

test('a grantee receives, deletes and changes visibility with those grants, and finds the URL by owner account', async () => {
  const url = await createQueue('worker-pool');
  await owner.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'job' }));
  await owner.send(
    new AddPermissionCommand({
      QueueUrl: url,
      Label: 'consumer',
      AWSAccountIds: [otherAccount],
      Actions: ['ReceiveMessage', 'DeleteMessage', 'ChangeMessageVisibility', 'GetQueueUrl'],
    }),
  );
  const found = await other.send(
    new GetQueueUrlCommand({ QueueName: 'worker-pool', QueueOwnerAWSAccountId: ownerAccount }),
  );
  assert.equal(found.QueueUrl, url);
  const got = await other.send(new ReceiveMessageCommand({ QueueUrl: url }));
  const handle = got.Messages?.[0]?.ReceiptHandle;
  assert.equal(got.Messages?.[0]?.Body, 'job');
  await other.send(
    new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: handle, VisibilityTimeout: 60 }),
  );
  await other.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: handle }));
  const left = await owner.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  assert.equal(left.Attributes?.ApproximateNumberOfMessages, '0');
  assert.equal(left.Attributes?.ApproximateNumberOfMessagesNotVisible, '0');
  // Without a grant for SendMessage the grantee cannot write to it.
  assert.equal(
    (await failure(other, new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' }))).name,
    'QueueDoesNotExist',
  );
});

test('AddPermission refuses as SQS does: duplicate label, too many actions, owner-only actions, bad ids', async () => {
  const url = await createQueue('limits');
  const add = (over: Partial<{ Label: string; AWSAccountIds: string[]; Actions: string[] }>) =>
    failure(
      owner,
      new AddPermissionCommand({
        QueueUrl: url,
        Label: 'l1',
        AWSAccountIds: [otherAccount],
        Actions: ['SendMessage'],
        ...over,
      }),
    );
  assert.equal((await add({})).name, 'no error');
  assert.deepEqual(await add({}), {
    name: 'InvalidParameterValue',
    message: 'Value l1 for parameter Label is invalid. Reason: Already exists.',
    status: 400,
  });
  assert.deepEqual(await add({ Label: 'l2', Actions: Array(8).fill('SendMessage') }), {
    name: 'OverLimit',
    message: '8 Actions were found, maximum allowed is 7.',
    status: 403,
  });
  assert.equal(
    (await add({ Label: 'l3', Actions: ['DeleteQueue'] })).message,
    'Value SQS:DeleteQueue for parameter ActionName is invalid. Reason: Only the queue owner is allowed to invoke this action.',
  );
  assert.equal(
    (await add({ Label: 'l4', AWSAccountIds: ['12345'] })).message,
    'Value [12345] for parameter PrincipalId is invalid. Reason: Unable to verify.',
  );
  assert.equal((await add({ Label: 'bad label!' })).name, 'InvalidParameterValue');
  assert.equal((await add({ Label: 'l5', Actions: [] })).name, 'MissingParameter');
  for (let i = 2; i <= 20; i++) assert.equal((await add({ Label: `s${i}` })).name, 'no error');
  assert.equal((await add({ Label: 's21' })).name, 'OverLimit');
});

test('a policy set with SetQueueAttributes: "*" opens the queue to every tenant, Deny wins, unsupported parts are refused', async () => {
  const url = await createQueue('public-inbox');
  const arn = `arn:aws:sqs:${p.region}:${ownerAccount}:public-inbox`;
  const policy = (statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });
  await owner.send(
    new SetQueueAttributesCommand({
      QueueUrl: url,
      Attributes: {
        Policy: policy([
          { Effect: 'Allow', Principal: '*', Action: 'sqs:SendMessage', Resource: arn },
          { Effect: 'Deny', Principal: { AWS: [thirdAccount] }, Action: 'sqs:*', Resource: arn },
        ]),
      },
    }),
  );
  await other.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'anyone may post' }));
  assert.equal(
    (await failure(third, new SendMessageCommand({ QueueUrl: url, MessageBody: 'denied' }))).name,
    'QueueDoesNotExist',
  );
  // "*" grants only what it names: the queue's messages stay the owner's.
  assert.equal(
    (await failure(other, new ReceiveMessageCommand({ QueueUrl: url }))).name,
    'QueueDoesNotExist',
  );

  // A wildcard action never reaches the owner's own operations.
  await owner.send(
    new SetQueueAttributesCommand({
      QueueUrl: url,
      Attributes: {
        Policy: policy([{ Effect: 'Allow', Principal: { AWS: otherAccount }, Action: '*', Resource: '*' }]),
      },
    }),
  );
  await other.send(new ReceiveMessageCommand({ QueueUrl: url }));
  for (const cmd of [
    new DeleteQueueCommand({ QueueUrl: url }),
    new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { VisibilityTimeout: '1' } }),
  ]) {
    assert.equal((await failure(other, cmd)).name, 'QueueDoesNotExist');
  }

  const refused = async (statement: object, reason: RegExp) => {
    const f = await failure(
      owner,
      new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { Policy: policy([statement]) } }),
    );
    assert.equal(f.name, 'InvalidAttributeValue', JSON.stringify(statement));
    assert.match(f.message, /^Invalid value for the parameter Policy\. Reason: /);
    assert.match(f.message, reason);
  };
  const base = { Effect: 'Allow', Principal: '*', Action: 'sqs:SendMessage', Resource: arn };
  await refused(
    { ...base, Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } },
    /Condition \(IpAddress aws:SourceIp\)/,
  );
  await refused({ ...base, Principal: { Service: 's3.amazonaws.com' } }, /Principal type Service/);
  await refused({ ...base, NotAction: 'sqs:ReceiveMessage' }, /NotAction/);
  await refused({ ...base, Action: 's3:GetObject' }, /s3:GetObject/);
  await refused({ ...base, Effect: 'Maybe' }, /Effect/);
  const notJson = await failure(
    owner,
    new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { Policy: '{not json' } }),
  );
  assert.equal(notJson.name, 'InvalidAttributeValue');
  // The refused policies changed nothing: the last good one still holds.
  await other.send(new ReceiveMessageCommand({ QueueUrl: url }));
});

test('boto3 (query protocol): the owner grants SendMessage, the grantee sends with its own key', async () => {
  const url = await createQueue('boto-shared');
  const script = `
import boto3, json, os, sys
def client(key, secret):
    return boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'], region_name='us-east-1',
                        aws_access_key_id=key, aws_secret_access_key=secret)
owner = client(os.environ['OWNER_KEY'], os.environ['OWNER_SECRET'])
other = client(os.environ['OTHER_KEY'], os.environ['OTHER_SECRET'])
url = os.environ['URL']
owner.add_permission(QueueUrl=url, Label='boto', AWSAccountIds=[os.environ['OTHER_ACCOUNT']], Actions=['SendMessage'])
other.send_message(QueueUrl=url, MessageBody='via boto3')
try:
    other.receive_message(QueueUrl=url)
    denied = 'no error'
except Exception as e:
    denied = e.response['Error']['Code']
try:
    owner.add_permission(QueueUrl=url, Label='boto', AWSAccountIds=[os.environ['OTHER_ACCOUNT']], Actions=['SendMessage'])
    dup = 'no error'
except Exception as e:
    dup = e.response['Error']['Code'] + ': ' + e.response['Error']['Message']
print(json.dumps({'denied': denied, 'dup': dup}))
`;
  const { stdout } = await promisify(execFile)('/usr/bin/python3', ['-c', script], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ENDPOINT: p.endpoint,
      URL: url,
      OWNER_KEY: p.credentials.accessKeyId,
      OWNER_SECRET: p.credentials.secretAccessKey,
      OTHER_KEY: otherKey.accessKeyId,
      OTHER_SECRET: otherKey.secretAccessKey,
      OTHER_ACCOUNT: otherAccount,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    },
  });
  const out = JSON.parse(stdout) as { denied: string; dup: string };
  assert.equal(out.denied, 'AWS.SimpleQueueService.NonExistentQueue');
  assert.equal(
    out.dup,
    'InvalidParameterValue: Value boto for parameter Label is invalid. Reason: Already exists.',
  );
  const got = await owner.send(new ReceiveMessageCommand({ QueueUrl: url }));
  assert.equal(got.Messages?.[0]?.Body, 'via boto3');
});

test('the query protocol answers AddPermission errors in its XML shape', async () => {
  const url = await createQueue('xml-perm');
  const query = async (params: Record<string, string>) => {
    const u = new URL('/', p.endpoint);
    const body = new URLSearchParams({ Version: '2012-11-05', ...params }).toString();
    const headers = signRequest({
      method: 'POST',
      url: u,
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body,
      accessKeyId: p.credentials.accessKeyId,
      secretAccessKey: p.credentials.secretAccessKey,
      region: p.region,
      service: 'sqs',
    });
    delete headers.host;
    const res = await fetch(u, { method: 'POST', headers, body });
    return { status: res.status, xml: await res.text() };
  };
  const params = {
    Action: 'AddPermission',
    QueueUrl: url,
    Label: 'xml',
    'AWSAccountId.1': otherAccount,
    'ActionName.1': 'SendMessage',
    'ActionName.2': 'ReceiveMessage',
  };
  const ok = await query(params);
  assert.equal(ok.status, 200, ok.xml);
  assert.match(
    ok.xml,
    /<AddPermissionResponse xmlns="http:\/\/queue\.amazonaws\.com\/doc\/2012-11-05\/"><ResponseMetadata>/,
  );
  const statement = ((await policyOf(url))?.Statement as Record<string, unknown>[] | undefined)?.[0];
  assert.deepEqual(statement?.Action, ['SQS:SendMessage', 'SQS:ReceiveMessage']);
  const dup = await query(params);
  assert.equal(dup.status, 400);
  assert.match(
    dup.xml,
    /<Type>Sender<\/Type><Code>InvalidParameterValue<\/Code><Message>Value xml for parameter Label is invalid\. Reason: Already exists\.<\/Message>/,
  );
  const over = await query({
    ...params,
    Label: 'many',
    ...Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`ActionName.${i + 1}`, 'SendMessage'])),
  });
  assert.equal(over.status, 403);
  assert.match(over.xml, /<Code>OverLimit<\/Code>/);
});
