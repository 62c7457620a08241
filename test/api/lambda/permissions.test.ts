// Resource-based policies through the unmodified SDK: AddPermission / GetPolicy / RemovePermission, and
// what they grant: another tenant's account may invoke a function (sync and async) or call its AWS_IAM
// URL only once the owner granted it, and no longer once it is removed; the function deleted and made
// again starts with no policy. Everything else stays refused, with no existence oracle across tenants.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  AddPermissionCommand,
  CreateFunctionCommand,
  CreateFunctionUrlConfigCommand,
  DeleteFunctionCommand,
  GetPolicyCommand,
  InvokeCommand,
  LambdaClient,
  RemovePermissionCommand,
} from '@aws-sdk/client-lambda';
import { KindlingClient } from '../../../src/cli/client.js';
import { zipDirectory } from '../../../src/cli/deploy.js';
import { functionDir } from '../../cli/helpers.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';

interface Key {
  accessKeyId: string;
  secretAccessKey: string;
}
interface Tenant {
  key: Key;
  account: string;
  lambda: LambdaClient;
  client: KindlingClient;
}

let p: TestPlatform;
let owner: Tenant;
let friend: Tenant;
let stranger: Tenant;

const CODE = `exports.handler = async (event, context) => ({ ran: context.invokedFunctionArn, event });`;

async function newTenant(name: string): Promise<Tenant> {
  const admin = new KindlingClient({
    endpoint: p.endpoint,
    region: p.region,
    credentials: p.credentials,
    dataDir: p.platform.config.dataDir,
  });
  const made = await admin.signedFetch('POST', '/kindling/v1/tenants', { name });
  assert.equal(made.status, 201);
  const body = (await made.json()) as { accessKey: Key; tenant: { accountId: string } };
  return {
    key: body.accessKey,
    account: body.tenant.accountId,
    lambda: new LambdaClient(sdkConfig({ endpoint: p.endpoint, credentials: body.accessKey })),
    client: new KindlingClient({
      endpoint: p.endpoint,
      region: p.region,
      credentials: body.accessKey,
      dataDir: p.platform.config.dataDir,
    }),
  };
}

async function create(t: Tenant, name: string): Promise<string> {
  const out = await t.lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::000000000000:role/test',
      Code: { ZipFile: await zipDirectory(functionDir({ 'index.js': CODE })) },
    }),
  );
  return out.FunctionArn!;
}

const errName = async (pr: Promise<unknown>) => {
  try {
    await pr;
  } catch (e) {
    return (e as { name: string }).name;
  }
  return 'no error';
};

before(async () => {
  p = await startPlatform();
  owner = await newTenant('owner');
  friend = await newTenant('friend');
  stranger = await newTenant('stranger');
});

after(async () => {
  for (const t of [owner, friend, stranger]) t.lambda.destroy();
  await p.close();
});

test('statements are added, read with a revision, refused when malformed, and removed', async () => {
  await create(owner, 'pol');
  assert.equal(
    await errName(owner.lambda.send(new GetPolicyCommand({ FunctionName: 'pol' }))),
    'ResourceNotFoundException',
  );
  const added = await owner.lambda.send(
    new AddPermissionCommand({
      FunctionName: 'pol',
      StatementId: 'friend',
      Action: 'lambda:InvokeFunction',
      Principal: friend.account,
    }),
  );
  const st = JSON.parse(added.Statement!) as { Principal: { AWS: string }; Resource: string };
  assert.equal(st.Principal.AWS, `arn:aws:iam::${friend.account}:root`);
  const pol = await owner.lambda.send(new GetPolicyCommand({ FunctionName: 'pol' }));
  assert.equal((JSON.parse(pol.Policy!) as { Statement: unknown[] }).Statement.length, 1);
  assert.ok(pol.RevisionId);
  const bad = (input: Record<string, unknown>) =>
    errName(
      owner.lambda.send(
        new AddPermissionCommand({
          FunctionName: 'pol',
          StatementId: 'x',
          Action: 'lambda:InvokeFunction',
          Principal: '*',
          ...input,
        } as never),
      ),
    );
  assert.equal(await bad({ StatementId: 'friend', Principal: friend.account }), 'ResourceConflictException');
  assert.equal(await bad({ Principal: 'someone' }), 'InvalidParameterValueException');
  assert.equal(await bad({ Action: 'lambda:GetFunction' }), 'InvalidParameterValueException');
  assert.equal(await bad({ PrincipalOrgID: 'o-123' }), 'InvalidParameterValueException');
  assert.equal(await bad({ FunctionUrlAuthType: 'NONE' }), 'InvalidParameterValueException');
  assert.equal(
    await bad({ RevisionId: '00000000-0000-0000-0000-000000000000' }),
    'PreconditionFailedException',
  );
  // A service principal (as deploy tools add for S3 or EventBridge) is recorded.
  await owner.lambda.send(
    new AddPermissionCommand({
      FunctionName: 'pol',
      StatementId: 's3',
      Action: 'lambda:InvokeFunction',
      Principal: 's3.amazonaws.com',
      SourceArn: 'arn:aws:s3:::bucket',
    }),
  );
  assert.equal(
    await errName(
      owner.lambda.send(new RemovePermissionCommand({ FunctionName: 'pol', StatementId: 'nope' })),
    ),
    'ResourceNotFoundException',
  );
  await owner.lambda.send(new RemovePermissionCommand({ FunctionName: 'pol', StatementId: 'friend' }));
  await owner.lambda.send(new RemovePermissionCommand({ FunctionName: 'pol', StatementId: 's3' }));
  assert.equal(
    await errName(owner.lambda.send(new GetPolicyCommand({ FunctionName: 'pol' }))),
    'ResourceNotFoundException',
  );
  // Another tenant cannot read or change the owner's policy: its name names nothing of theirs.
  assert.equal(
    await errName(friend.lambda.send(new GetPolicyCommand({ FunctionName: 'pol' }))),
    'ResourceNotFoundException',
  );
});

test("another account invokes a function only while the owner's policy grants it", async () => {
  const arn = await create(owner, 'shared');
  const invoke = (t: Tenant, FunctionName: string, type?: 'Event') =>
    t.lambda.send(
      new InvokeCommand({
        FunctionName,
        Payload: Buffer.from('{"from":"friend"}'),
        ...(type && { InvocationType: type }),
      }),
    );
  assert.equal(await errName(invoke(friend, arn)), 'AccessDeniedException');
  // A missing function of another account is refused the same way: nothing tells what exists.
  assert.equal(await errName(invoke(friend, arn.replace(':shared', ':missing'))), 'AccessDeniedException');
  await owner.lambda.send(
    new AddPermissionCommand({
      FunctionName: 'shared',
      StatementId: 'friend',
      Action: 'lambda:InvokeFunction',
      Principal: `arn:aws:iam::${friend.account}:root`,
    }),
  );
  const out = await invoke(friend, arn);
  assert.equal(out.StatusCode, 200);
  assert.deepEqual(JSON.parse(Buffer.from(out.Payload!).toString()), { ran: arn, event: { from: 'friend' } });
  assert.equal((await invoke(friend, arn, 'Event')).StatusCode, 202);
  // Granted to the friend, not to everyone; and a plain name still means the caller's own function.
  assert.equal(await errName(invoke(stranger, arn)), 'AccessDeniedException');
  assert.equal(await errName(invoke(friend, 'shared')), 'ResourceNotFoundException');
  await owner.lambda.send(new RemovePermissionCommand({ FunctionName: 'shared', StatementId: 'friend' }));
  assert.equal(await errName(invoke(friend, arn)), 'AccessDeniedException');
  // Made again under the same name, the function starts with no policy.
  await owner.lambda.send(
    new AddPermissionCommand({
      FunctionName: 'shared',
      StatementId: 'again',
      Action: 'lambda:InvokeFunction',
      Principal: friend.account,
    }),
  );
  await owner.lambda.send(new DeleteFunctionCommand({ FunctionName: 'shared' }));
  await create(owner, 'shared');
  assert.equal(await errName(invoke(friend, arn)), 'AccessDeniedException');
});

test('an AWS_IAM function URL answers another account once granted lambda:InvokeFunctionUrl', async () => {
  await create(owner, 'iamurl');
  const made = await owner.lambda.send(
    new CreateFunctionUrlConfigCommand({ FunctionName: 'iamurl', AuthType: 'AWS_IAM' }),
  );
  const path = new URL(made.FunctionUrl!).pathname;
  assert.equal((await friend.client.signedFetch('GET', path, undefined, { service: 'lambda' })).status, 403);
  await owner.lambda.send(
    new AddPermissionCommand({
      FunctionName: 'iamurl',
      StatementId: 'url',
      Action: 'lambda:InvokeFunctionUrl',
      Principal: friend.account,
      FunctionUrlAuthType: 'AWS_IAM',
    }),
  );
  const res = await friend.client.signedFetch('GET', path, undefined, { service: 'lambda' });
  assert.equal(res.status, 200, await res.clone().text());
  const e = (await res.json()) as {
    event: { requestContext: { authorizer: { iam: { accountId: string } } } };
  };
  assert.equal(e.event.requestContext.authorizer.iam.accountId, friend.account);
  assert.equal(
    (await stranger.client.signedFetch('GET', path, undefined, { service: 'lambda' })).status,
    403,
  );
});
