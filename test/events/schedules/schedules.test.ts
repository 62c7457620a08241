// EventBridge schedule rules through the unmodified SDK against a real server: rule and target
// operations, validation, and a fire delivering Lambda's scheduled-event JSON as an async invocation.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  DeleteRuleCommand,
  DescribeRuleCommand,
  DisableRuleCommand,
  EnableRuleCommand,
  EventBridgeClient,
  ListRulesCommand,
  ListTargetsByRuleCommand,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { sdkConfig, type TestPlatform } from '../../helpers/platform.js';
import { rejects } from '../../helpers/sdk-errors.js';
import { platformWithSink, receive, type SinkPlatform } from '../../invoke/async/fixtures.js';

let p: TestPlatform;
let sqs: SQSClient;
let events: EventBridgeClient;
let tickArn = '';
let sinkUrl = '';

let sinkPlatform: SinkPlatform;
before(async () => {
  sinkPlatform = await platformWithSink('tick', 'tick-sink');
  ({ p, sqs, fnArn: tickArn, sinkUrl } = sinkPlatform);
  events = new EventBridgeClient(sdkConfig(p));
});
after(async () => {
  events.destroy();
  await sinkPlatform.close();
});

/** Makes a rule due now and lets the scheduler fire it (instead of waiting a minute). */
async function fireNow(ruleName: string): Promise<void> {
  const { sql } = p.platform.components;
  await sql.run('UPDATE schedule_rules SET next_fire_at = ? WHERE name = ?', [
    (await sql.now()) - 1,
    ruleName,
  ]);
  await p.platform.components.schedules.scheduler.wake();
}

test('PutRule answers the rule ARN and DescribeRule answers the rule', async () => {
  const out = await events.send(
    new PutRuleCommand({ Name: 'every-5', ScheduleExpression: 'rate(5 minutes)', Description: 'five' }),
  );
  assert.match(out.RuleArn!, /^arn:aws:events:us-east-1:\d{12}:rule\/every-5$/);
  const d = await events.send(new DescribeRuleCommand({ Name: 'every-5' }));
  assert.equal(d.Arn, out.RuleArn);
  assert.equal(d.ScheduleExpression, 'rate(5 minutes)');
  assert.equal(d.State, 'ENABLED');
  assert.equal(d.Description, 'five');
  assert.equal(d.EventBusName, 'default');
});

test('ListRules answers rules by prefix', async () => {
  await events.send(new PutRuleCommand({ Name: 'list-a', ScheduleExpression: 'cron(0 12 * * ? *)' }));
  await events.send(
    new PutRuleCommand({ Name: 'list-b', ScheduleExpression: 'rate(1 hour)', State: 'DISABLED' }),
  );
  const out = await events.send(new ListRulesCommand({ NamePrefix: 'list-' }));
  assert.deepEqual(
    out.Rules?.map((r) => [r.Name, r.State]),
    [
      ['list-a', 'ENABLED'],
      ['list-b', 'DISABLED'],
    ],
  );
});

test('ListRules pages with NextToken', async () => {
  for (const n of ['page-1', 'page-2', 'page-3'])
    await events.send(new PutRuleCommand({ Name: n, ScheduleExpression: 'rate(1 day)' }));
  const first = await events.send(new ListRulesCommand({ NamePrefix: 'page-', Limit: 2 }));
  assert.equal(first.Rules?.length, 2);
  const second = await events.send(
    new ListRulesCommand({ NamePrefix: 'page-', Limit: 2, NextToken: first.NextToken }),
  );
  assert.deepEqual(
    second.Rules?.map((r) => r.Name),
    ['page-3'],
  );
  assert.equal(second.NextToken, undefined);
});

test('DisableRule and EnableRule change the state', async () => {
  await events.send(new PutRuleCommand({ Name: 'toggle', ScheduleExpression: 'rate(1 minute)' }));
  await events.send(new DisableRuleCommand({ Name: 'toggle' }));
  assert.equal((await events.send(new DescribeRuleCommand({ Name: 'toggle' }))).State, 'DISABLED');
  await events.send(new EnableRuleCommand({ Name: 'toggle' }));
  assert.equal((await events.send(new DescribeRuleCommand({ Name: 'toggle' }))).State, 'ENABLED');
});

test('an invalid ScheduleExpression is refused with ValidationException', async () => {
  await rejects(
    events.send(new PutRuleCommand({ Name: 'bad', ScheduleExpression: 'rate(1 minutes)' })),
    'ValidationException',
    'Parameter ScheduleExpression is not valid.',
  );
});

test('an invalid cron with both day fields set is refused with ValidationException', async () => {
  await rejects(
    events.send(new PutRuleCommand({ Name: 'bad-cron', ScheduleExpression: 'cron(0 12 * * * *)' })),
    'ValidationException',
  );
});

test('PutRule without a schedule or pattern is refused with ValidationException', async () => {
  await rejects(events.send(new PutRuleCommand({ Name: 'empty' })), 'ValidationException');
});

test('an invalid rule name is refused with ValidationException', async () => {
  await rejects(
    events.send(new PutRuleCommand({ Name: 'bad name!', ScheduleExpression: 'rate(1 hour)' })),
    'ValidationException',
  );
});

test('DescribeRule of an unknown rule answers ResourceNotFoundException', async () => {
  await rejects(events.send(new DescribeRuleCommand({ Name: 'nope' })), 'ResourceNotFoundException');
});

test('PutTargets on an unknown rule answers ResourceNotFoundException', async () => {
  await rejects(
    events.send(new PutTargetsCommand({ Rule: 'nope', Targets: [{ Id: 't', Arn: tickArn }] })),
    'ResourceNotFoundException',
  );
});

test('PutTargets stores Lambda targets and ListTargetsByRule answers them', async () => {
  await events.send(new PutRuleCommand({ Name: 'with-targets', ScheduleExpression: 'rate(1 hour)' }));
  const out = await events.send(
    new PutTargetsCommand({
      Rule: 'with-targets',
      Targets: [{ Id: 't1', Arn: tickArn, Input: '{"fixed":true}' }],
    }),
  );
  assert.equal(out.FailedEntryCount, 0);
  const list = await events.send(new ListTargetsByRuleCommand({ Rule: 'with-targets' }));
  assert.deepEqual(list.Targets, [{ Id: 't1', Arn: tickArn, Input: '{"fixed":true}' }]);
});

test('a target that is not a Lambda function fails as its own entry', async () => {
  await events.send(new PutRuleCommand({ Name: 'sqs-target', ScheduleExpression: 'rate(1 hour)' }));
  const out = await events.send(
    new PutTargetsCommand({
      Rule: 'sqs-target',
      Targets: [
        { Id: 'q', Arn: 'arn:aws:sqs:us-east-1:123456789012:q' },
        { Id: 'f', Arn: tickArn },
      ],
    }),
  );
  assert.equal(out.FailedEntryCount, 1);
  assert.equal(out.FailedEntries?.[0]?.TargetId, 'q');
});

test('a target whose Input is not JSON is refused with ValidationException', async () => {
  await events.send(new PutRuleCommand({ Name: 'bad-input', ScheduleExpression: 'rate(1 hour)' }));
  await rejects(
    events.send(
      new PutTargetsCommand({ Rule: 'bad-input', Targets: [{ Id: 't', Arn: tickArn, Input: '{nope' }] }),
    ),
    'ValidationException',
  );
});

test('DeleteRule is refused while the rule has targets', async () => {
  await events.send(new PutRuleCommand({ Name: 'sticky', ScheduleExpression: 'rate(1 hour)' }));
  await events.send(new PutTargetsCommand({ Rule: 'sticky', Targets: [{ Id: 't', Arn: tickArn }] }));
  await rejects(
    events.send(new DeleteRuleCommand({ Name: 'sticky' })),
    'ValidationException',
    "Rule can't be deleted since it has targets.",
  );
});

test('RemoveTargets then DeleteRule removes the rule', async () => {
  await events.send(new PutRuleCommand({ Name: 'gone', ScheduleExpression: 'rate(1 hour)' }));
  await events.send(new PutTargetsCommand({ Rule: 'gone', Targets: [{ Id: 't', Arn: tickArn }] }));
  const removed = await events.send(new RemoveTargetsCommand({ Rule: 'gone', Ids: ['t'] }));
  assert.equal(removed.FailedEntryCount, 0);
  await events.send(new DeleteRuleCommand({ Name: 'gone' }));
  await rejects(events.send(new DescribeRuleCommand({ Name: 'gone' })), 'ResourceNotFoundException');
});

test('a rule on another event bus is refused with ResourceNotFoundException', async () => {
  await rejects(
    events.send(
      new PutRuleCommand({ Name: 'custom-bus', ScheduleExpression: 'rate(1 hour)', EventBusName: 'orders' }),
    ),
    'ResourceNotFoundException',
  );
});

test('a fire sends Lambda’s scheduled-event JSON to the target function as an async invocation', async () => {
  const { RuleArn } = await events.send(
    new PutRuleCommand({ Name: 'fires', ScheduleExpression: 'rate(1 hour)' }),
  );
  await events.send(new PutTargetsCommand({ Rule: 'fires', Targets: [{ Id: 'tick', Arn: tickArn }] }));
  await fireNow('fires');
  const [m] = await receive(sqs, sinkUrl, 1);
  assert.ok(m, 'the function ran');
  const record = JSON.parse(m.Body!);
  const ev = record.responsePayload.got;
  assert.equal(ev.version, '0');
  assert.match(ev.id, /^[0-9a-f-]{36}$/);
  assert.equal(ev['detail-type'], 'Scheduled Event');
  assert.equal(ev.source, 'aws.events');
  assert.equal(ev.account, (await p.platform.tenants.get('admin'))!.accountId);
  assert.match(ev.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(ev.region, 'us-east-1');
  assert.deepEqual(ev.resources, [RuleArn]);
  assert.deepEqual(ev.detail, {});
  assert.deepEqual(Object.keys(ev).sort(), [
    'account',
    'detail',
    'detail-type',
    'id',
    'region',
    'resources',
    'source',
    'time',
    'version',
  ]);
});

test('a target with Input receives that JSON instead of the scheduled event', async () => {
  await events.send(new PutRuleCommand({ Name: 'fires-input', ScheduleExpression: 'rate(1 hour)' }));
  await events.send(
    new PutTargetsCommand({
      Rule: 'fires-input',
      Targets: [{ Id: 'tick', Arn: tickArn, Input: '{"custom":42}' }],
    }),
  );
  await fireNow('fires-input');
  const [m] = await receive(sqs, sinkUrl, 1);
  assert.deepEqual(JSON.parse(m!.Body!).responsePayload.got, { custom: 42 });
});

test('a fire advances the rule’s next fire time past now', async () => {
  await events.send(new PutRuleCommand({ Name: 'advances', ScheduleExpression: 'rate(1 minute)' }));
  await fireNow('advances');
  const rule = (await p.platform.components.schedules.store.get(
    (await p.platform.tenants.get('admin'))!.id,
    'advances',
  ))!;
  assert.ok(rule.nextFireAt! > Date.now());
  assert.ok(rule.lastFiredAt !== undefined);
});

test('a disabled rule does not fire', async () => {
  await events.send(
    new PutRuleCommand({ Name: 'quiet', ScheduleExpression: 'rate(1 minute)', State: 'DISABLED' }),
  );
  await events.send(new PutTargetsCommand({ Rule: 'quiet', Targets: [{ Id: 'tick', Arn: tickArn }] }));
  await fireNow('quiet');
  const rule = (await p.platform.components.schedules.store.get(
    (await p.platform.tenants.get('admin'))!.id,
    'quiet',
  ))!;
  assert.equal(rule.lastFiredAt, undefined);
});

test('a target with InputPath receives that part of the scheduled event', async () => {
  const { RuleArn } = await events.send(
    new PutRuleCommand({ Name: 'fires-path', ScheduleExpression: 'rate(1 hour)' }),
  );
  await events.send(
    new PutTargetsCommand({
      Rule: 'fires-path',
      Targets: [{ Id: 'tick', Arn: tickArn, InputPath: '$.resources[0]' }],
    }),
  );
  await fireNow('fires-path');
  const [m] = await receive(sqs, sinkUrl, 1);
  assert.equal(JSON.parse(m!.Body!).responsePayload.got, RuleArn);
});

test('another tenant sees none of the rules and cannot target the functions of this one', async () => {
  const other = await p.platform.tenants.create('schedules-other');
  const key = await p.platform.tenants.createKey(other.id);
  const theirs = new EventBridgeClient(
    sdkConfig({
      endpoint: p.endpoint,
      credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    }),
  );
  try {
    await events.send(new PutRuleCommand({ Name: 'private', ScheduleExpression: 'rate(1 hour)' }));
    await rejects(theirs.send(new DescribeRuleCommand({ Name: 'private' })), 'ResourceNotFoundException');
    assert.deepEqual((await theirs.send(new ListRulesCommand({}))).Rules, []);
    await theirs.send(new PutRuleCommand({ Name: 'mine', ScheduleExpression: 'rate(1 hour)' }));
    const out = await theirs.send(
      new PutTargetsCommand({ Rule: 'mine', Targets: [{ Id: 'steal', Arn: tickArn }] }),
    );
    assert.equal(out.FailedEntryCount, 1);
  } finally {
    theirs.destroy();
  }
});

test('EnableRule of an unknown rule answers ResourceNotFoundException', async () => {
  await rejects(events.send(new EnableRuleCommand({ Name: 'missing-rule' })), 'ResourceNotFoundException');
});

test('a sixth target on a rule is refused with LimitExceededException', async () => {
  await events.send(new PutRuleCommand({ Name: 'crowded', ScheduleExpression: 'rate(1 hour)' }));
  const five = Array.from({ length: 5 }, (_, i) => ({ Id: `t${i}`, Arn: tickArn }));
  assert.equal(
    (await events.send(new PutTargetsCommand({ Rule: 'crowded', Targets: five }))).FailedEntryCount,
    0,
  );
  await rejects(
    events.send(new PutTargetsCommand({ Rule: 'crowded', Targets: [{ Id: 't5', Arn: tickArn }] })),
    'LimitExceededException',
  );
});

test('RemoveTargets of an unknown target id fails that entry', async () => {
  await events.send(new PutRuleCommand({ Name: 'no-such-target', ScheduleExpression: 'rate(1 hour)' }));
  const out = await events.send(new RemoveTargetsCommand({ Rule: 'no-such-target', Ids: ['ghost'] }));
  assert.equal(out.FailedEntryCount, 1);
  assert.equal(out.FailedEntries?.[0]?.TargetId, 'ghost');
});

test('a target with both Input and InputPath is refused with ValidationException', async () => {
  await events.send(new PutRuleCommand({ Name: 'both-inputs', ScheduleExpression: 'rate(1 hour)' }));
  await rejects(
    events.send(
      new PutTargetsCommand({
        Rule: 'both-inputs',
        Targets: [{ Id: 't', Arn: tickArn, Input: '{}', InputPath: '$.detail' }],
      }),
    ),
    'ValidationException',
  );
});
