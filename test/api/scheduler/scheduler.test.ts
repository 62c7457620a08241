// The EventBridge Scheduler API through the unmodified SDK against a real server: schedule operations,
// a one-time schedule firing its Input (context keywords replaced) into the function once, bad input, and
// tenants kept apart. Time is moved by making a schedule due in the store, never by waiting.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateScheduleCommand,
  type CreateScheduleCommandInput,
  DeleteScheduleCommand,
  GetScheduleCommand,
  ListScheduleGroupsCommand,
  ListSchedulesCommand,
  SchedulerClient,
  UpdateScheduleCommand,
} from '@aws-sdk/client-scheduler';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { sdkConfig, type TestPlatform } from '../../helpers/platform.js';
import { rejects } from '../../helpers/sdk-errors.js';
import { platformWithSink, receive, type SinkPlatform } from '../../invoke/async/fixtures.js';

let p: TestPlatform;
let sqs: SQSClient;
let scheduler: SchedulerClient;
let fnArn = '';
let sinkUrl = '';
const ROLE = 'arn:aws:iam::123456789012:role/scheduler';

let sinkPlatform: SinkPlatform;
before(async () => {
  sinkPlatform = await platformWithSink('scheduled', 'scheduler-sink');
  ({ p, sqs, fnArn, sinkUrl } = sinkPlatform);
  scheduler = new SchedulerClient(sdkConfig(p));
});
after(async () => {
  scheduler.destroy();
  await sinkPlatform.close();
});

const inAYear = () => {
  const d = new Date(Date.now() + 365 * 86_400_000);
  return `at(${d.toISOString().slice(0, 19)})`;
};

const schedule = (
  name: string,
  extra: Partial<CreateScheduleCommandInput> = {},
): CreateScheduleCommandInput => ({
  Name: name,
  ScheduleExpression: 'rate(1 hour)',
  FlexibleTimeWindow: { Mode: 'OFF' },
  Target: { Arn: fnArn, RoleArn: ROLE },
  ...extra,
});

/** Makes a schedule due now and lets the timer fire it (instead of waiting for it). */
async function fireNow(name: string): Promise<void> {
  const { sql } = p.platform.components;
  await sql.run('UPDATE schedule_rules SET next_fire_at = ?, tick_at = NULL WHERE name = ?', [
    (await sql.now()) - 1,
    `default/${name}`,
  ]);
  await p.platform.components.schedules.scheduler.wake();
}

test('CreateSchedule answers the ARN and GetSchedule answers the schedule', async () => {
  const start = new Date(Date.now() + 86_400_000);
  const out = await scheduler.send(
    new CreateScheduleCommand(
      schedule('nightly', {
        ScheduleExpression: 'cron(0 2 * * ? *)',
        ScheduleExpressionTimezone: 'Europe/Paris',
        FlexibleTimeWindow: { Mode: 'FLEXIBLE', MaximumWindowInMinutes: 15 },
        StartDate: start,
        Description: 'nightly job',
        Target: { Arn: fnArn, RoleArn: ROLE, Input: '{"job":"x"}', RetryPolicy: { MaximumRetryAttempts: 3 } },
      }),
    ),
  );
  assert.match(out.ScheduleArn!, /^arn:aws:scheduler:us-east-1:\d{12}:schedule\/default\/nightly$/);
  const got = await scheduler.send(new GetScheduleCommand({ Name: 'nightly' }));
  assert.equal(got.Arn, out.ScheduleArn);
  assert.equal(got.GroupName, 'default');
  assert.equal(got.ScheduleExpression, 'cron(0 2 * * ? *)');
  assert.equal(got.ScheduleExpressionTimezone, 'Europe/Paris');
  assert.deepEqual(got.FlexibleTimeWindow, { Mode: 'FLEXIBLE', MaximumWindowInMinutes: 15 });
  assert.equal(got.StartDate?.getTime(), start.getTime());
  assert.equal(got.State, 'ENABLED');
  assert.equal(got.Description, 'nightly job');
  assert.equal(got.ActionAfterCompletion, 'NONE');
  assert.deepEqual(got.Target, {
    Arn: fnArn,
    RoleArn: ROLE,
    Input: '{"job":"x"}',
    RetryPolicy: { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 3 },
  });
  assert.ok(got.CreationDate instanceof Date);
  // Its next fire is 02:00 in Paris (00:00 or 01:00 UTC), within the 15-minute window.
  const row = await p.platform.components.schedules.store.get(
    (await p.platform.tenants.get('admin'))!.id,
    'default/nightly',
  );
  const scheduled = new Date(row!.tickAt ?? row!.nextFireAt!);
  assert.ok([0, 1].includes(scheduled.getUTCHours()) && scheduled.getUTCMinutes() === 0);
  assert.ok(row!.nextFireAt! - scheduled.getTime() < 15 * 60_000);
});

test('ListSchedules answers by prefix and state, in pages', async () => {
  for (const n of ['list-a', 'list-b', 'list-c'])
    await scheduler.send(new CreateScheduleCommand(schedule(n, n === 'list-b' ? { State: 'DISABLED' } : {})));
  const all = await scheduler.send(new ListSchedulesCommand({ NamePrefix: 'list-' }));
  assert.deepEqual(
    all.Schedules?.map((s) => [s.Name, s.State, s.Target?.Arn]),
    [
      ['list-a', 'ENABLED', fnArn],
      ['list-b', 'DISABLED', fnArn],
      ['list-c', 'ENABLED', fnArn],
    ],
  );
  const disabled = await scheduler.send(new ListSchedulesCommand({ NamePrefix: 'list-', State: 'DISABLED' }));
  assert.deepEqual(
    disabled.Schedules?.map((s) => s.Name),
    ['list-b'],
  );
  const first = await scheduler.send(new ListSchedulesCommand({ NamePrefix: 'list-', MaxResults: 2 }));
  assert.equal(first.Schedules?.length, 2);
  const second = await scheduler.send(
    new ListSchedulesCommand({ NamePrefix: 'list-', MaxResults: 2, NextToken: first.NextToken }),
  );
  assert.deepEqual(
    second.Schedules?.map((s) => s.Name),
    ['list-c'],
  );
  assert.equal(second.NextToken, undefined);
});

test('UpdateSchedule replaces the schedule; DeleteSchedule removes it', async () => {
  await scheduler.send(new CreateScheduleCommand(schedule('changing', { Description: 'old' })));
  await scheduler.send(
    new UpdateScheduleCommand(
      schedule('changing', { ScheduleExpression: 'rate(5 minutes)', State: 'DISABLED' }),
    ),
  );
  const got = await scheduler.send(new GetScheduleCommand({ Name: 'changing' }));
  assert.equal(got.ScheduleExpression, 'rate(5 minutes)');
  assert.equal(got.State, 'DISABLED');
  assert.equal(got.Description, undefined, 'what the update left out is not kept');
  await scheduler.send(new DeleteScheduleCommand({ Name: 'changing' }));
  await rejects(scheduler.send(new GetScheduleCommand({ Name: 'changing' })), 'ResourceNotFoundException');
  await rejects(scheduler.send(new DeleteScheduleCommand({ Name: 'changing' })), 'ResourceNotFoundException');
  await rejects(scheduler.send(new UpdateScheduleCommand(schedule('changing'))), 'ResourceNotFoundException');
});

test('creating a schedule that exists answers ConflictException', async () => {
  await scheduler.send(new CreateScheduleCommand(schedule('twice')));
  await rejects(scheduler.send(new CreateScheduleCommand(schedule('twice'))), 'ConflictException');
});

test('a one-time schedule fires its Input, context keywords replaced, once, and is deleted after', async () => {
  const { ScheduleArn } = await scheduler.send(
    new CreateScheduleCommand(
      schedule('once', {
        ScheduleExpression: inAYear(),
        ActionAfterCompletion: 'DELETE',
        Target: {
          Arn: fnArn,
          RoleArn: ROLE,
          Input: '{"arn":"<aws.scheduler.schedule-arn>","at":"<aws.scheduler.scheduled-time>"}',
        },
      }),
    ),
  );
  await fireNow('once');
  const [m] = await receive(sqs, sinkUrl, 1);
  assert.ok(m, 'the function ran');
  const got = JSON.parse(m.Body!).responsePayload.got;
  assert.equal(got.arn, ScheduleArn);
  assert.match(got.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  await rejects(scheduler.send(new GetScheduleCommand({ Name: 'once' })), 'ResourceNotFoundException');
});

test('a schedule without Input sends the function {}', async () => {
  await scheduler.send(new CreateScheduleCommand(schedule('no-input')));
  await fireNow('no-input');
  const [m] = await receive(sqs, sinkUrl, 1);
  assert.deepEqual(JSON.parse(m!.Body!).responsePayload.got, {});
  // A recurring schedule stays, with its next fire ahead.
  const got = await scheduler.send(new GetScheduleCommand({ Name: 'no-input' }));
  assert.equal(got.State, 'ENABLED');
});

test('bad expressions, time zones, windows and dates are refused with ValidationException', async () => {
  const bad: [string, Partial<CreateScheduleCommandInput>][] = [
    ['rate(1 minutes)', {}],
    ['cron(0 12 * * * *)', {}],
    ['at(2030-02-30T10:00:00)', {}],
    ['at(2030-01-01 10:00)', {}],
    ['rate(1 hour)', { ScheduleExpressionTimezone: 'Mars/Olympus' }],
    ['rate(1 hour)', { FlexibleTimeWindow: { Mode: 'FLEXIBLE' } }],
    ['rate(1 hour)', { FlexibleTimeWindow: { Mode: 'OFF', MaximumWindowInMinutes: 5 } }],
    [
      'rate(1 hour)',
      { StartDate: new Date(Date.now() + 7200_000), EndDate: new Date(Date.now() + 3600_000) },
    ],
    ['rate(1 hour)', { EndDate: new Date(Date.now() - 3600_000) }],
    ['rate(1 hour)', { Target: { Arn: 'arn:aws:sqs:us-east-1:123456789012:q', RoleArn: ROLE } }],
  ];
  for (const [expr, extra] of bad) {
    await rejects(
      scheduler.send(new CreateScheduleCommand(schedule('bad', { ScheduleExpression: expr, ...extra }))),
      'ValidationException',
    );
  }
});

test('a one-time schedule in the past is refused with ValidationException', async () => {
  await rejects(
    scheduler.send(
      new CreateScheduleCommand(schedule('past', { ScheduleExpression: 'at(2020-01-01T00:00:00)' })),
    ),
    'ValidationException',
    /past/,
  );
});

test('settings Kindling does not implement are refused by name', async () => {
  await rejects(
    scheduler.send(
      new CreateScheduleCommand(
        schedule('dlq', {
          Target: { Arn: fnArn, RoleArn: ROLE, DeadLetterConfig: { Arn: 'arn:aws:sqs:us-east-1:1:q' } },
        }),
      ),
    ),
    'ValidationException',
    /DeadLetterConfig/,
  );
  await rejects(
    scheduler.send(
      new CreateScheduleCommand(schedule('kms', { KmsKeyArn: 'arn:aws:kms:us-east-1:1:key/x' })),
    ),
    'ValidationException',
    /KmsKeyArn/,
  );
  await rejects(
    scheduler.send(new CreateScheduleCommand(schedule('grouped', { GroupName: 'team' }))),
    'ResourceNotFoundException',
    /team/,
  );
  await rejects(
    scheduler.send(new ListScheduleGroupsCommand({})),
    'UnknownOperationException',
    /ListScheduleGroups/,
  );
});

test("another tenant's schedules are not found and its functions cannot be targeted", async () => {
  await scheduler.send(new CreateScheduleCommand(schedule('private')));
  const other = await p.platform.tenants.create('scheduler-other');
  const key = await p.platform.tenants.createKey(other.id);
  const theirs = new SchedulerClient(
    sdkConfig({
      endpoint: p.endpoint,
      credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    }),
  );
  try {
    await rejects(theirs.send(new GetScheduleCommand({ Name: 'private' })), 'ResourceNotFoundException');
    await rejects(theirs.send(new DeleteScheduleCommand({ Name: 'private' })), 'ResourceNotFoundException');
    await rejects(theirs.send(new UpdateScheduleCommand(schedule('private'))), 'ResourceNotFoundException');
    assert.deepEqual((await theirs.send(new ListSchedulesCommand({}))).Schedules, []);
    await rejects(
      theirs.send(new CreateScheduleCommand(schedule('steal'))),
      'ValidationException',
      /does not exist/,
    );
    // Their own schedule of the same name is theirs alone.
    await rejects(
      theirs.send(
        new CreateScheduleCommand(
          schedule('private', { Target: { Arn: fnArn.replace('scheduled', 'nope'), RoleArn: ROLE } }),
        ),
      ),
      'ValidationException',
    );
  } finally {
    theirs.destroy();
  }
});
