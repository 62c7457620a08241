// STS GetCallerIdentity through the unmodified SDK (outside and from inside a function), and raw requests
// for what the SDK never sends: other actions, extra parameters, unsigned calls.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { signRequest } from '../../../src/api/sigv4.js';
import { createFunction, lambdaClient } from '../../helpers/functions.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';

let p: TestPlatform;
let lambda: LambdaClient;
let sts: STSClient;
let account = '';

before(async () => {
  p = await startPlatform();
  lambda = lambdaClient(p);
  sts = new STSClient(sdkConfig(p));
  const arn = await createFunction(
    lambda,
    'whoami',
    `import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
     export const handler = async () => {
       const c = new STSClient({});
       const out = await c.send(new GetCallerIdentityCommand({}));
       return { Account: out.Account, Arn: out.Arn, UserId: out.UserId };
     };`,
  );
  account = arn.split(':')[4]!;
});
after(async () => {
  lambda.destroy();
  sts.destroy();
  await p.close();
});

test("GetCallerIdentity answers the tenant's account, an ARN and a user id", async () => {
  const out = await sts.send(new GetCallerIdentityCommand({}));
  assert.equal(out.Account, account);
  const me = await p.platform.tenants.resolveKey(p.credentials.accessKeyId);
  assert.equal(out.Arn, `arn:aws:iam::${account}:user/${me!.tenant.name}`);
  assert.match(out.UserId ?? '', /^AIDA[A-Z2-7]{17}$/);
  const again = await sts.send(new GetCallerIdentityCommand({}));
  assert.equal(again.UserId, out.UserId);
});

test("another tenant's key answers its own account", async () => {
  const t = await p.platform.tenants.create('second');
  const key = await p.platform.tenants.createKey(t.id);
  const other = new STSClient(
    sdkConfig({ ...p, credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey } }),
  );
  try {
    const out = await other.send(new GetCallerIdentityCommand({}));
    assert.equal(out.Account, t.accountId);
    assert.notEqual(out.Account, account);
    assert.equal(out.Arn, `arn:aws:iam::${t.accountId}:user/second`);
  } finally {
    other.destroy();
  }
});

test("inside a function, its own credentials answer as an assumed role in its tenant's account", async () => {
  const out = await lambda.send(new InvokeCommand({ FunctionName: 'whoami', Payload: Buffer.from('{}') }));
  const body = JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8'));
  assert.equal(out.FunctionError, undefined, JSON.stringify(body));
  assert.equal(body.Account, account);
  assert.match(body.Arn, new RegExp(`^arn:aws:sts::${account}:assumed-role/[^/]+/ASIA[A-Z0-9]+$`));
  assert.match(body.UserId, /^AROA[A-Z2-7]{17}:ASIA[A-Z0-9]+$/);
});

test('another STS action is refused with InvalidAction', async () => {
  try {
    await sts.send(
      new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${account}:role/x`, RoleSessionName: 's' }),
    );
    assert.fail('AssumeRole answered');
  } catch (e) {
    assert.equal((e as Error).name, 'InvalidAction');
  }
});

async function raw(body: string, o: { unsigned?: boolean } = {}) {
  const url = new URL('/', p.endpoint);
  const base = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
  const headers: Record<string, string> = o.unsigned
    ? base
    : signRequest({
        method: 'POST',
        url,
        headers: base,
        body,
        accessKeyId: p.credentials.accessKeyId,
        secretAccessKey: p.credentials.secretAccessKey,
        region: p.region,
        service: 'sts',
      });
  delete headers.host;
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, text: await res.text() };
}

test('a signed raw request gets the XML answer', async () => {
  const r = await raw('Action=GetCallerIdentity&Version=2011-06-15');
  assert.equal(r.status, 200);
  assert.match(r.text, new RegExp(`<Account>${account}</Account>`));
  assert.match(r.text, /^<GetCallerIdentityResponse xmlns="https:\/\/sts.amazonaws.com\/doc\/2011-06-15\/">/);
});

test('unknown actions, versions and parameters are refused in STS error XML', async () => {
  const unknown = await raw('Action=NoSuchAction&Version=2011-06-15');
  assert.equal(unknown.status, 400);
  assert.match(unknown.text, /<Code>InvalidAction<\/Code>/);
  const version = await raw('Action=GetCallerIdentity&Version=2099-01-01');
  assert.match(version.text, /<Code>InvalidAction<\/Code>/);
  const extra = await raw('Action=GetCallerIdentity&Version=2011-06-15&DurationSeconds=900');
  assert.equal(extra.status, 400);
  assert.match(extra.text, /<Code>InvalidParameterValue<\/Code><Message>DurationSeconds/);
});

test('an unsigned request is refused', async () => {
  const r = await raw('Action=GetCallerIdentity&Version=2011-06-15', { unsigned: true });
  assert.equal(r.status, 403);
  assert.match(r.text, /<Code>MissingAuthenticationToken<\/Code>/);
  assert.doesNotMatch(r.text, /<Account>/);
});
