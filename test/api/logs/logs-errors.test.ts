// Bad input to the CloudWatch Logs API and tenant isolation: each mistake gets CloudWatch's error type
// in its JSON 1.1 shape, and another tenant's log group or stream is not found exactly like a missing one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CloudWatchLogsClient,
  DescribeLogGroupsCommand,
  DescribeLogStreamsCommand,
  FilterLogEventsCommand,
  GetLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { signRequest } from '../../../src/api/sigv4.js';
import { createFunction, lambdaClient } from '../../helpers/functions.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';

let p: TestPlatform;
let lambda: LambdaClient;
let owner: CloudWatchLogsClient;
let other: CloudWatchLogsClient;
let stream = '';
let ownerAccount = '';
const GROUP = '/aws/lambda/private-fn';

before(async () => {
  p = await startPlatform();
  lambda = lambdaClient(p);
  owner = new CloudWatchLogsClient(sdkConfig(p));
  const t = await p.platform.tenants.create('other-tenant');
  const key = await p.platform.tenants.createKey(t.id);
  other = new CloudWatchLogsClient(
    sdkConfig({ ...p, credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey } }),
  );
  await createFunction(
    lambda,
    'private-fn',
    'export const handler = async (e, c) => { console.log("secret-line"); return c.logStreamName; };',
  );
  const out = await lambda.send(
    new InvokeCommand({ FunctionName: 'private-fn', Payload: Buffer.from('{}') }),
  );
  stream = JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8'));
  const groups = await owner.send(new DescribeLogGroupsCommand({}));
  ownerAccount = groups.logGroups![0]!.logGroupArn!.split(':')[4]!;
});
after(async () => {
  lambda.destroy();
  owner.destroy();
  other.destroy();
  await p.close();
});

async function failure(
  client: CloudWatchLogsClient,
  cmd: object,
): Promise<{ name: string; message: string }> {
  try {
    await client.send(cmd as never);
  } catch (e) {
    return { name: (e as Error).name, message: (e as Error).message };
  }
  return { name: 'no error', message: '' };
}

/** A signed (or unsigned) raw request to the logs service. */
async function raw(
  target: string,
  body: string,
  o: { unsigned?: boolean } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const url = new URL('/', p.endpoint);
  const base = { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target };
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
        service: 'logs',
      });
  delete headers.host;
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

test("another tenant does not see a tenant's log groups", async () => {
  const out = await other.send(new DescribeLogGroupsCommand({}));
  assert.deepEqual(out.logGroups, []);
});

test("another tenant's group is ResourceNotFoundException, exactly like a missing group", async () => {
  const missing = await failure(other, new DescribeLogStreamsCommand({ logGroupName: '/aws/lambda/nope' }));
  assert.equal(missing.name, 'ResourceNotFoundException');
  for (const cmd of [
    new DescribeLogStreamsCommand({ logGroupName: GROUP }),
    new FilterLogEventsCommand({ logGroupName: GROUP }),
    new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: stream }),
    new FilterLogEventsCommand({
      logGroupIdentifier: `arn:aws:logs:${p.region}:${ownerAccount}:log-group:${GROUP}`,
    }),
  ]) {
    assert.deepEqual(await failure(other, cmd), missing);
  }
});

test("another tenant's stream name in its own group is not found either", async () => {
  await createFunction(lambda, 'shared-name', 'export const handler = async () => 1;');
  const r = await failure(
    other,
    new GetLogEventsCommand({ logGroupName: '/aws/lambda/shared-name', logStreamName: stream }),
  );
  assert.equal(r.name, 'ResourceNotFoundException');
});

test('a missing stream in an existing group is ResourceNotFoundException', async () => {
  const r = await failure(
    owner,
    new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: '2020/01/01/[$LATEST]0000' }),
  );
  assert.equal(r.name, 'ResourceNotFoundException');
  assert.match(r.message, /log stream does not exist/);
});

test('the owner reads its group by ARN too', async () => {
  const out = await owner.send(
    new FilterLogEventsCommand({
      logGroupIdentifier: `arn:aws:logs:${p.region}:${ownerAccount}:log-group:${GROUP}`,
      filterPattern: 'secret-line',
    }),
  );
  assert.equal(out.events?.length, 1);
});

test('limits out of range are InvalidParameterException naming the member', async () => {
  for (const [cmd, member] of [
    [new DescribeLogGroupsCommand({ limit: 51 }), 'limit'],
    [new DescribeLogStreamsCommand({ logGroupName: GROUP, limit: 0 }), 'limit'],
    [new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: stream, limit: 10_001 }), 'limit'],
    [new FilterLogEventsCommand({ logGroupName: GROUP, limit: 0 }), 'limit'],
    [new FilterLogEventsCommand({ logGroupName: GROUP, startTime: -1 }), 'startTime'],
  ] as const) {
    const r = await failure(owner, cmd);
    assert.equal(r.name, 'InvalidParameterException', JSON.stringify(r));
    assert.match(r.message, new RegExp(`at '${member}'`));
  }
});

test('a bad nextToken is InvalidParameterException on every operation', async () => {
  for (const cmd of [
    new DescribeLogGroupsCommand({ nextToken: 'bogus' }),
    new DescribeLogStreamsCommand({ logGroupName: GROUP, nextToken: 'bogus' }),
    new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: stream, nextToken: 'f/123' }),
    new FilterLogEventsCommand({ logGroupName: GROUP, nextToken: 'e1.1' }),
  ]) {
    const r = await failure(owner, cmd);
    assert.equal(r.name, 'InvalidParameterException');
    assert.match(r.message, /nextToken is invalid/);
  }
});

test('JSON and other unsupported filter patterns are refused, naming them', async () => {
  const json = await failure(
    owner,
    new FilterLogEventsCommand({ logGroupName: GROUP, filterPattern: '{ $.a = 1 }' }),
  );
  assert.equal(json.name, 'InvalidParameterException');
  assert.match(json.message, /JSON filter patterns/);
  const open = await failure(
    owner,
    new FilterLogEventsCommand({ logGroupName: GROUP, filterPattern: '"unclosed' }),
  );
  assert.equal(open.name, 'InvalidParameterException');
});

test('mutually exclusive parameters are refused', async () => {
  const both = await failure(
    owner,
    new FilterLogEventsCommand({ logGroupName: GROUP, logStreamNames: [stream], logStreamNamePrefix: '2' }),
  );
  assert.equal(both.name, 'InvalidParameterException');
  const none = await failure(owner, new FilterLogEventsCommand({}));
  assert.equal(none.name, 'InvalidParameterException');
});

test('an unknown field is refused, never accepted and dropped', async () => {
  const r = await raw('Logs_20140328.FilterLogEvents', JSON.stringify({ logGroupName: GROUP, unmask: true }));
  assert.equal(r.status, 400);
  assert.equal(r.json.__type, 'InvalidParameterException');
  assert.match(String(r.json.message), /unmask/);
});

test('malformed JSON is SerializationException', async () => {
  const r = await raw('Logs_20140328.DescribeLogGroups', '{"limit":');
  assert.equal(r.status, 400);
  assert.equal(r.json.__type, 'SerializationException');
  const arr = await raw('Logs_20140328.DescribeLogGroups', '[]');
  assert.equal(arr.json.__type, 'SerializationException');
});

test('an unknown or unsupported operation is UnknownOperationException', async () => {
  for (const op of ['PutLogEvents', 'NoSuchThing', 'constructor']) {
    const r = await raw(`Logs_20140328.${op}`, '{}');
    assert.equal(r.status, 400);
    assert.equal(r.json.__type, 'UnknownOperationException', op);
  }
});

test('an unsigned request is refused before anything is read', async () => {
  const r = await raw('Logs_20140328.DescribeLogGroups', '{}', { unsigned: true });
  assert.equal(r.status, 403);
  assert.equal(r.json.__type, 'MissingAuthenticationTokenException');
});
