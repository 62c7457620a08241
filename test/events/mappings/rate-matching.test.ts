// Rate matching: batches in flight follow the backlog, bounded by ScalingConfig.MaximumConcurrency;
// a throttled function is backed off from, never counted as a failed delivery.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateEventSourceMappingCommand,
  GetEventSourceMappingCommand,
  LambdaClient,
  PutFunctionConcurrencyCommand,
} from '@aws-sdk/client-lambda';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { RateMatcher } from '../../../src/events/pollers/rate-matching.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { createFunction, logging, recordsOf, type Seen, waitFor, watchInvocations } from './helpers.js';

test('the rate matcher adds lanes while a backlog is visible, up to its maximum', () => {
  const r = new RateMatcher({ maxConcurrency: 3 });
  r.laneStarted();
  assert.equal(r.shouldGrow(50), true);
  r.laneStarted();
  r.laneStarted();
  assert.equal(r.shouldGrow(50), false);
});

test('the rate matcher adds no lane when nothing is visible', () => {
  const r = new RateMatcher({ maxConcurrency: 3 });
  r.laneStarted();
  assert.equal(r.shouldGrow(0), false);
});

test('the rate matcher adds no lane beyond the function’s own concurrency limit', () => {
  const r = new RateMatcher({ maxConcurrency: 10 });
  r.laneStarted();
  r.laneStarted();
  assert.equal(r.shouldGrow(50, 2), false);
  assert.equal(r.shouldGrow(50, 3), true);
});

test('the last lane never shrinks away; extra lanes do', () => {
  const r = new RateMatcher({ maxConcurrency: 3 });
  r.laneStarted();
  assert.equal(r.shouldShrink(), false);
  r.laneStarted();
  assert.equal(r.shouldShrink(), true);
});

test('a throttle lowers the ceiling below the lanes in flight, and successes raise it again', () => {
  const r = new RateMatcher({ maxConcurrency: 4, recoverAfter: 2 });
  for (let i = 0; i < 4; i++) r.laneStarted();
  assert.ok(r.throttled() > 0);
  assert.equal(r.ceiling, 3);
  assert.equal(r.overCeiling(), true);
  r.succeeded();
  r.succeeded();
  assert.equal(r.ceiling, 4);
});

test('repeated throttles pause longer, up to a cap', () => {
  const r = new RateMatcher({ maxConcurrency: 2 });
  r.laneStarted();
  const pauses = Array.from({ length: 12 }, () => r.throttled());
  assert.ok(pauses[1]! > pauses[0]!);
  assert.equal(Math.max(...pauses), 2_000);
});

let p: TestPlatform;
let lambda: LambdaClient;
let sqs: SQSClient;
let seen: Seen[];
let throttles = 0;

async function queue(name: string, attributes: Record<string, string> = {}) {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  return { url: QueueUrl ?? '', arn: a.Attributes?.QueueArn ?? '' };
}

async function fill(url: string, n: number, prefix: string) {
  for (let i = 0; i < n; i += 10) {
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: Array.from({ length: Math.min(10, n - i) }, (_, j) => ({
          Id: String(j),
          MessageBody: `${prefix}-${i + j}`,
        })),
      }),
    );
  }
}

async function visibleAndInFlight(url: string): Promise<number> {
  const a =
    (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes ??
    {};
  return Number(a.ApproximateNumberOfMessages) + Number(a.ApproximateNumberOfMessagesNotVisible);
}

const part = () => p.platform.components.mappings;

before(async () => {
  // No waiting for a free slot: a call over the function's reserved concurrency is a 429 at once.
  p = await startPlatform({ queueWaitMs: 0 });
  lambda = new LambdaClient(sdkConfig(p));
  sqs = new SQSClient(sdkConfig(p));
  seen = watchInvocations(p);
  p.platform.components.invocations.addObserver({ onInvocation() {}, onThrottle: () => void throttles++ });
});
after(async () => {
  lambda.destroy();
  sqs.destroy();
  await p.close();
});

test('a backlog raises the batches in flight to MaximumConcurrency and no further; an empty queue brings them back to one', async () => {
  const q = await queue('rm-scale');
  await createFunction(
    lambda,
    'rm-scale-fn',
    logging('await new Promise((r) => setTimeout(r, 40)); return null;'),
  );
  await fill(q.url, 80, 'scale');
  const m = await lambda.send(
    new CreateEventSourceMappingCommand({
      FunctionName: 'rm-scale-fn',
      EventSourceArn: q.arn,
      BatchSize: 1,
      ScalingConfig: { MaximumConcurrency: 3 },
    }),
  );
  const uuid = m.UUID!;
  let most = 0;
  await waitFor(
    'the backlog to drain',
    async () => {
      most = Math.max(most, part().pollers.lanes(uuid));
      return (await visibleAndInFlight(q.url)) === 0;
    },
    30_000,
  );
  assert.ok(most >= 2, `at most ${most} lane(s) in flight`);
  assert.ok(most <= 3, `${most} lanes in flight`);
  await waitFor('one lane again', () => part().pollers.lanes(uuid) === 1);
});

test('a function’s reserved concurrency bounds the batches in flight', async () => {
  const q = await queue('rm-reserved');
  await createFunction(
    lambda,
    'rm-reserved-fn',
    logging('await new Promise((r) => setTimeout(r, 40)); return null;'),
  );
  await lambda.send(
    new PutFunctionConcurrencyCommand({ FunctionName: 'rm-reserved-fn', ReservedConcurrentExecutions: 2 }),
  );
  await fill(q.url, 60, 'res');
  const m = await lambda.send(
    new CreateEventSourceMappingCommand({
      FunctionName: 'rm-reserved-fn',
      EventSourceArn: q.arn,
      BatchSize: 1,
      ScalingConfig: { MaximumConcurrency: 6 },
    }),
  );
  let most = 0;
  await waitFor(
    'the backlog to drain',
    async () => {
      most = Math.max(most, part().pollers.lanes(m.UUID!));
      return (await visibleAndInFlight(q.url)) === 0;
    },
    60_000,
  );
  assert.ok(most <= 2, `${most} lanes in flight`);
  assert.equal(new Set(recordsOf(seen, 'rm-reserved-fn').map((r) => r.body)).size, 60);
});

test('a tenant at its concurrency limit is backed off from: no message is redelivered or dead-lettered', async () => {
  // The tenant's limit is not the function's: the poller only learns of it from the 429s.
  const tenant = await p.platform.tenants.create('rm-limited');
  await p.platform.tenants.setConcurrencyLimit(tenant.id, 1);
  const cfg = sdkConfig({ endpoint: p.endpoint, credentials: await p.platform.tenants.createKey(tenant.id) });
  const tLambda = new LambdaClient(cfg);
  const tSqs = new SQSClient(cfg);
  try {
    const mk = async (name: string, attributes: Record<string, string> = {}) => {
      const { QueueUrl } = await tSqs.send(
        new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
      );
      const a = await tSqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
      return { url: QueueUrl ?? '', arn: a.Attributes?.QueueArn ?? '' };
    };
    const dlq = await mk('rm-throttle-dlq');
    const q = await mk('rm-throttle', {
      VisibilityTimeout: '30',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 1 }),
    });
    await createFunction(
      tLambda,
      'rm-throttle-fn',
      logging('await new Promise((r) => setTimeout(r, 30)); return null;'),
    );
    for (let i = 0; i < 40; i += 10) {
      await tSqs.send(
        new SendMessageBatchCommand({
          QueueUrl: q.url,
          Entries: Array.from({ length: 10 }, (_, j) => ({ Id: String(j), MessageBody: `thr-${i + j}` })),
        }),
      );
    }
    await tLambda.send(
      new CreateEventSourceMappingCommand({
        FunctionName: 'rm-throttle-fn',
        EventSourceArn: q.arn,
        BatchSize: 1,
        ScalingConfig: { MaximumConcurrency: 6 },
      }),
    );
    await waitFor(
      'all forty',
      () => new Set(recordsOf(seen, 'rm-throttle-fn').map((r) => r.body)).size === 40,
      60_000,
    );
    assert.ok(throttles > 0, 'the mapping was never throttled: the test did not exercise backing off');
    const recs = recordsOf(seen, 'rm-throttle-fn');
    assert.equal(recs.length, 40);
    assert.ok(recs.every((r) => r.attributes.ApproximateReceiveCount === '1'));
    const d =
      (await tSqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.url, AttributeNames: ['All'] })))
        .Attributes ?? {};
    assert.equal(Number(d.ApproximateNumberOfMessages) + Number(d.ApproximateNumberOfMessagesNotVisible), 0);
  } finally {
    tLambda.destroy();
    tSqs.destroy();
  }
});

test('a mapping whose queue is deleted stops, Disabled with the reason', async () => {
  const q = await queue('rm-gone-queue');
  await createFunction(lambda, 'rm-gone-queue-fn', logging());
  const m = await lambda.send(
    new CreateEventSourceMappingCommand({ FunctionName: 'rm-gone-queue-fn', EventSourceArn: q.arn }),
  );
  await waitFor(
    'Enabled',
    async () => (await lambda.send(new GetEventSourceMappingCommand({ UUID: m.UUID }))).State === 'Enabled',
  );
  await sqs.send(new DeleteQueueCommand({ QueueUrl: q.url }));
  const got = await waitFor('Disabled', async () => {
    const g = await lambda.send(new GetEventSourceMappingCommand({ UUID: m.UUID }));
    return g.State === 'Disabled' && g;
  });
  assert.match(got.StateTransitionReason ?? '', /Queue not found/);
  // The mapping is stored Disabled first, then reconciled: its poller stops just after, not with the write.
  await waitFor('the poller to stop', () => !part().pollers.isPolling(m.UUID!));
});
