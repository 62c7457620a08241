// PutEvents to the default bus and event-pattern rules, through the unmodified SDK against a real server:
// per-entry answers, matching events stored as async invocations before the call answers, the envelope a
// target function receives, bad entries and patterns, and tenants kept apart.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  DescribeRuleCommand,
  EventBridgeClient,
  ListRulesCommand,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
  TestEventPatternCommand,
} from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { signRequest } from '../../../src/api/sigv4.js';
import { sdkConfig, type TestPlatform } from '../../helpers/platform.js';
import { rejects } from '../../helpers/sdk-errors.js';
import { platformWithSink, receive, type SinkPlatform } from '../../invoke/async/fixtures.js';

let p: TestPlatform;
let sqs: SQSClient;
let events: EventBridgeClient;
let fnArn = '';
let sinkUrl = '';

let sinkPlatform: SinkPlatform;
before(async () => {
  sinkPlatform = await platformWithSink('on-event', 'bus-sink');
  ({ p, sqs, fnArn, sinkUrl } = sinkPlatform);
  events = new EventBridgeClient(sdkConfig(p));
});
after(async () => {
  events.destroy();
  await sinkPlatform.close();
});

/** Async invocations stored for a rule (PutEvents answers only after they are stored). */
const storedFor = async (ruleArn: string): Promise<string[]> =>
  (
    await p.platform.components.sql.all<{ payload: Buffer | string }>(
      'SELECT payload FROM async_events WHERE source_arn = ? ORDER BY id',
      [ruleArn],
    )
  ).map((r) => Buffer.from(r.payload).toString('utf8'));

async function rule(name: string, pattern: unknown, target: Record<string, string> = {}): Promise<string> {
  const { RuleArn } = await events.send(
    new PutRuleCommand({ Name: name, EventPattern: JSON.stringify(pattern) }),
  );
  await events.send(new PutTargetsCommand({ Rule: name, Targets: [{ Id: 'fn', Arn: fnArn, ...target }] }));
  return RuleArn!;
}

test('a pattern rule is described with its EventPattern and no ScheduleExpression', async () => {
  const pattern = JSON.stringify({ source: ['com.desc'] });
  const { RuleArn } = await events.send(new PutRuleCommand({ Name: 'described', EventPattern: pattern }));
  const d = await events.send(new DescribeRuleCommand({ Name: 'described' }));
  assert.equal(d.Arn, RuleArn);
  assert.equal(d.EventPattern, pattern);
  assert.equal(d.ScheduleExpression, undefined);
  const list = await events.send(new ListRulesCommand({ NamePrefix: 'described' }));
  assert.equal(list.Rules?.[0]?.EventPattern, pattern);
});

test('a matching event reaches the target function with the EventBridge envelope', async () => {
  const ruleArn = await rule('orders', {
    source: ['com.shop'],
    detail: { amount: [{ numeric: ['>', 10] }] },
  });
  const out = await events.send(
    new PutEventsCommand({
      Entries: [
        {
          Source: 'com.shop',
          DetailType: 'Order Placed',
          Detail: JSON.stringify({ amount: 25, id: 'o-1' }),
          Resources: ['arn:aws:shop:order/o-1'],
          Time: new Date('2030-05-01T10:00:00Z'),
        },
      ],
    }),
  );
  assert.equal(out.FailedEntryCount, 0);
  const eventId = out.Entries?.[0]?.EventId;
  assert.match(eventId ?? '', /^[0-9a-f-]{36}$/);
  const [m] = await receive(sqs, sinkUrl, 1);
  assert.ok(m, 'the function ran');
  const ev = JSON.parse(m.Body!).responsePayload.got;
  assert.deepEqual(ev, {
    version: '0',
    id: eventId,
    'detail-type': 'Order Placed',
    source: 'com.shop',
    account: (await p.platform.tenants.get('admin'))!.accountId,
    time: '2030-05-01T10:00:00Z',
    region: 'us-east-1',
    resources: ['arn:aws:shop:order/o-1'],
    detail: { amount: 25, id: 'o-1' },
  });
  assert.equal((await storedFor(ruleArn)).length, 1);
});

test('only matching events are stored, each before PutEvents answers', async () => {
  const ruleArn = await rule('only-eu', { source: ['com.only'], detail: { region: [{ prefix: 'eu-' }] } });
  const entry = (region: string) => ({
    Source: 'com.only',
    DetailType: 'x',
    Detail: JSON.stringify({ region }),
  });
  const out = await events.send(
    new PutEventsCommand({ Entries: [entry('eu-west-1'), entry('us-east-1'), entry('eu-north-1')] }),
  );
  assert.equal(out.FailedEntryCount, 0);
  const stored = (await storedFor(ruleArn)).map((s) => JSON.parse(s).detail.region);
  assert.deepEqual(stored.sort(), ['eu-north-1', 'eu-west-1']);
  await receive(sqs, sinkUrl, 2);
});

test('a target with Input or InputPath receives that instead of the envelope', async () => {
  const a = await rule('with-input', { source: ['com.input'] }, { Input: '{"fixed":1}' });
  await events.send(new PutRuleCommand({ Name: 'with-path', EventPattern: '{"source":["com.input"]}' }));
  await events.send(
    new PutTargetsCommand({ Rule: 'with-path', Targets: [{ Id: 'fn', Arn: fnArn, InputPath: '$.detail' }] }),
  );
  const b = (await events.send(new DescribeRuleCommand({ Name: 'with-path' }))).Arn!;
  await events.send(
    new PutEventsCommand({ Entries: [{ Source: 'com.input', DetailType: 'x', Detail: '{"k":"v"}' }] }),
  );
  assert.deepEqual(JSON.parse((await storedFor(a))[0]!), { fixed: 1 });
  assert.deepEqual(JSON.parse((await storedFor(b))[0]!), { k: 'v' });
  await receive(sqs, sinkUrl, 2);
});

test('a disabled rule matches nothing', async () => {
  const ruleArn = await rule('disabled-rule', { source: ['com.disabled'] });
  await events.send(
    new PutRuleCommand({
      Name: 'disabled-rule',
      EventPattern: '{"source":["com.disabled"]}',
      State: 'DISABLED',
    }),
  );
  await events.send(
    new PutEventsCommand({ Entries: [{ Source: 'com.disabled', DetailType: 'x', Detail: '{}' }] }),
  );
  assert.deepEqual(await storedFor(ruleArn), []);
});

test('malformed entries fail one by one while the others are accepted', async () => {
  const out = await events.send(
    new PutEventsCommand({
      Entries: [
        { Source: 'com.ok', DetailType: 'x', Detail: '{}' },
        { DetailType: 'x', Detail: '{}' },
        { Source: 'com.ok', DetailType: 'x' },
        { Source: 'com.ok', DetailType: 'x', Detail: '[1,2]' },
        { Source: 'com.ok', DetailType: 'x', Detail: '{nope' },
        { Source: 'com.ok', Detail: '{}' },
        { Source: 'aws.s3', DetailType: 'x', Detail: '{}' },
        { Source: 'com.ok', DetailType: 'x', Detail: '{}', EventBusName: 'orders' },
        { Source: 'com.ok', DetailType: 'x', Detail: `{"a":${'['.repeat(5000)}${']'.repeat(5000)}}` },
      ],
    }),
  );
  assert.equal(out.FailedEntryCount, 8);
  const codes = out.Entries!.map((e) => e.ErrorCode ?? 'ok');
  assert.deepEqual(codes, [
    'ok',
    'InvalidArgument',
    'InvalidArgument',
    'MalformedDetail',
    'MalformedDetail',
    'InvalidArgument',
    'NotAuthorizedForSourceException',
    'InvalidArgument',
    'MalformedDetail',
  ]);
  assert.match(out.Entries![1]!.ErrorMessage!, /Source/);
  assert.match(out.Entries![2]!.ErrorMessage!, /Detail/);
  assert.ok(out.Entries![0]!.EventId);
});

test('entries over 256 KB in total are refused with ValidationException', async () => {
  const big = JSON.stringify({ pad: 'x'.repeat(100_000) });
  await rejects(
    events.send(
      new PutEventsCommand({
        Entries: [1, 2, 3].map(() => ({ Source: 'com.big', DetailType: 'x', Detail: big })),
      }),
    ),
    'ValidationException',
    /over the limit/,
  );
});

test('more than ten entries, or none, are refused with ValidationException', async () => {
  const e = { Source: 'a.b', DetailType: 'x', Detail: '{}' };
  await rejects(events.send(new PutEventsCommand({ Entries: Array(11).fill(e) })), 'ValidationException');
  await rejects(events.send(new PutEventsCommand({ Entries: [] })), 'ValidationException');
});

test('a malformed EventPattern is refused with InvalidEventPatternException', async () => {
  for (const pattern of ['{"source": "a"}', '{"source": [{"numeric": [">", "x"]}]}', '{nope', '{}']) {
    await rejects(
      events.send(new PutRuleCommand({ Name: 'bad-pattern', EventPattern: pattern })),
      'InvalidEventPatternException',
    );
  }
  await rejects(events.send(new DescribeRuleCommand({ Name: 'bad-pattern' })), 'ResourceNotFoundException');
});

test('TestEventPattern answers whether an event matches', async () => {
  const event = JSON.stringify({
    id: '1',
    account: '123456789012',
    source: 'com.t',
    time: '2030-01-01T00:00:00Z',
    region: 'us-east-1',
    resources: [],
    'detail-type': 'x',
    detail: { n: 5 },
  });
  const yes = await events.send(
    new TestEventPatternCommand({ Event: event, EventPattern: '{"detail":{"n":[{"numeric":[">",1]}]}}' }),
  );
  assert.equal(yes.Result, true);
  const no = await events.send(
    new TestEventPatternCommand({ Event: event, EventPattern: '{"detail":{"n":[{"exists":false}]}}' }),
  );
  assert.equal(no.Result, false);
  await rejects(
    events.send(new TestEventPatternCommand({ Event: '{"source":"a"}', EventPattern: '{"source":["a"]}' })),
    'ValidationException',
  );
});

/** A signed EventBridge call the SDK would not make (unknown operations and fields). */
async function rawCall(
  op: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const url = new URL(`${p.endpoint}/`);
  const text = JSON.stringify(body);
  const headers = signRequest({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `AWSEvents.${op}` },
    body: text,
    accessKeyId: p.credentials.accessKeyId,
    secretAccessKey: p.credentials.secretAccessKey,
    region: p.region,
    service: 'events',
  });
  delete headers.host;
  const res = await fetch(url, { method: 'POST', headers, body: text });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

test('unknown fields and unknown operations are refused by name', async () => {
  await rejects(
    events.send(
      new PutEventsCommand({
        Entries: [{ Source: 'a.b', DetailType: 'x', Detail: '{}', TraceHeader: 'Root=1-abc' }],
      }),
    ),
    'ValidationException',
    /TraceHeader/,
  );
  const entry = { Source: 'a.b', DetailType: 'x', Detail: '{}' };
  const field = await rawCall('PutEvents', { Entries: [entry], EndpointId: 'abc.xyz' });
  assert.equal(field.status, 400);
  assert.equal(field.json.__type, 'ValidationException');
  assert.match(String(field.json.message), /EndpointId/);
  const op = await rawCall('CreateEventBus', { Name: 'orders' });
  assert.equal(op.status, 400);
  assert.equal(op.json.__type, 'UnknownOperationException');
  assert.match(String(op.json.message), /CreateEventBus/);
});

test("another tenant's events match none of this tenant's rules, and its rules are not found", async () => {
  const ruleArn = await rule('private-pattern', { source: ['com.private'] });
  const other = await p.platform.tenants.create('bus-other');
  const key = await p.platform.tenants.createKey(other.id);
  const theirs = new EventBridgeClient(
    sdkConfig({
      endpoint: p.endpoint,
      credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    }),
  );
  try {
    const out = await theirs.send(
      new PutEventsCommand({ Entries: [{ Source: 'com.private', DetailType: 'x', Detail: '{}' }] }),
    );
    assert.equal(out.FailedEntryCount, 0);
    assert.deepEqual(await storedFor(ruleArn), []);
    await rejects(
      theirs.send(new DescribeRuleCommand({ Name: 'private-pattern' })),
      'ResourceNotFoundException',
    );
    await theirs.send(new PutRuleCommand({ Name: 'steal', EventPattern: '{"source":["com.private"]}' }));
    const t = await theirs.send(new PutTargetsCommand({ Rule: 'steal', Targets: [{ Id: 'x', Arn: fnArn }] }));
    assert.equal(t.FailedEntryCount, 1);
  } finally {
    theirs.destroy();
  }
});
