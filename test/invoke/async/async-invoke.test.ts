// Async invocation (InvocationType Event) against a real server: 202 after durable accept, retries,
// DLQ, destinations, maximum event age, throttles, the 256 KB limit.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  DeleteFunctionConcurrencyCommand,
  InvokeCommand,
  type LambdaClient,
  PutFunctionConcurrencyCommand,
  PutFunctionEventInvokeConfigCommand,
} from '@aws-sdk/client-lambda';
import { DeleteQueueCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { zipOf } from '../../api/lambda/zips.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { clients, createFunction, createQueue, failHandler, okHandler, receive, until } from './fixtures.js';

let p: TestPlatform;
let lambda: LambdaClient;
let sqs: SQSClient;

before(async () => {
  p = await startPlatform({ retryBaseMs: 50 });
  ({ lambda, sqs } = clients(sdkConfig(p)));
});
after(async () => {
  lambda.destroy();
  sqs.destroy();
  await p.close();
});

const events = () => p.platform.components.async.events;
const invokeEvent = (name: string, payload: unknown) =>
  lambda.send(
    new InvokeCommand({
      FunctionName: name,
      InvocationType: 'Event',
      Payload: Buffer.from(JSON.stringify(payload)),
    }),
  );
const body = (m: { Body?: string }) => JSON.parse(m.Body ?? 'null');
/** The event once it has finished: a destination is delivered before the event's own record is final. */
const finished = (id: string) =>
  until(async () => {
    const e = await events().byRequestId(id);
    return e?.status === 'succeeded' || e?.status === 'failed' ? e : undefined;
  });

test('an Event invoke answers 202 and the function then runs with the event', async () => {
  await createFunction(lambda, 'runs', okHandler);
  const out = await invokeEvent('runs', { hello: 'async' });
  assert.equal(out.StatusCode, 202);
  const id = out.$metadata.requestId!;
  const done = await until(async () => {
    const e = await events().byRequestId(id);
    return e && e.status !== 'queued' && e.status !== 'running' ? e : undefined;
  });
  assert.equal(done.status, 'succeeded');
  assert.equal(done.attempts, 1);
  assert.deepEqual(JSON.parse(done.lastResponse!.toString()), { ok: true, got: { hello: 'async' } });
});

test('an Event invoke answers 202 and the function then sends to a queue with the SQS SDK from inside', async () => {
  const sink = await createQueue(sqs, 'written-by-function');
  const source = `process.env.HOME = process.env.HOME || '/tmp';
const { SQSClient, SendMessageCommand } = require('@aws-sdk/client-sqs');
const sqs = new SQSClient({});
exports.handler = async (event) => {
  // The platform's endpoint as seen from inside the sandbox, with the queue's path.
  const QueueUrl = process.env.AWS_ENDPOINT_URL.replace(/\\/$/, '') + event.queuePath;
  await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: JSON.stringify(event) }));
  return 'sent';
};`;
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'writer',
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::123456789012:role/any',
      Code: { ZipFile: await zipOf([{ name: 'index.js', data: source }]) },
    }),
  );
  const out = await invokeEvent('writer', { queuePath: new URL(sink.url).pathname, n: 42 });
  assert.equal(out.StatusCode, 202);
  const [m] = await receive(sqs, sink.url, 1);
  assert.ok(m, 'the function sent a message');
  assert.equal(JSON.parse(m.Body!).n, 42);
});

test('a failing function is retried MaximumRetryAttempts times, then its event lands in the DLQ with the error attributes', async () => {
  const dlq = await createQueue(sqs, 'fails-dlq');
  await createFunction(lambda, 'fails', failHandler, { DeadLetterConfig: { TargetArn: dlq.arn } });
  const out = await invokeEvent('fails', { n: 1 });
  const [m] = await receive(sqs, dlq.url, 1);
  assert.ok(
    m,
    `a DLQ message arrived (event: ${JSON.stringify(await events().byRequestId(out.$metadata.requestId!), (k, v) => (k === 'payload' || k === 'lastResponse' ? undefined : v))})`,
  );
  assert.equal(m.Body, JSON.stringify({ n: 1 }));
  assert.equal(m.MessageAttributes?.RequestID?.StringValue, out.$metadata.requestId);
  assert.equal(m.MessageAttributes?.ErrorCode?.DataType, 'Number');
  assert.equal(m.MessageAttributes?.ErrorCode?.StringValue, '200');
  assert.equal(m.MessageAttributes?.ErrorMessage?.StringValue, 'boom: {"n":1}');
  const e = await finished(out.$metadata.requestId!);
  assert.equal(e.attempts, 3, 'one run and the default two retries');
  assert.equal(e.condition, 'RetriesExhausted');
});

test('a timed-out run counts as a failed attempt and is retried', async () => {
  await createFunction(
    lambda,
    'sleepy',
    'export const handler = async () => { await new Promise((r) => setTimeout(r, 5000)); };',
    { Timeout: 1 },
  );
  await lambda.send(
    new PutFunctionEventInvokeConfigCommand({ FunctionName: 'sleepy', MaximumRetryAttempts: 1 }),
  );
  const out = await invokeEvent('sleepy', {});
  const e = await until(async () => {
    const ev = await events().byRequestId(out.$metadata.requestId!);
    return ev?.status === 'failed' || ev?.status === 'succeeded' ? ev : undefined;
  });
  assert.equal(e.status, 'failed');
  assert.equal(e.condition, 'RetriesExhausted');
  assert.equal(e.attempts, 2);
  assert.equal(e.lastErrorType, 'Sandbox.Timedout');
});

test('an async run is reported to telemetry as invocation type Event', async () => {
  const seen: string[] = [];
  p.platform.components.invocations.addObserver({
    onInvocation: (r) => {
      if (r.functionName === 'observed') seen.push(r.invocationType);
    },
  });
  await createFunction(lambda, 'observed', okHandler);
  const out = await invokeEvent('observed', {});
  await until(async () =>
    (await events().byRequestId(out.$metadata.requestId!))?.status === 'succeeded' ? true : undefined,
  );
  assert.deepEqual(seen, ['Event']);
});

test('a DLQ that no longer exists leaves the event failed with a note on why it was not delivered', async () => {
  const dlq = await createQueue(sqs, 'vanishing-dlq');
  await createFunction(lambda, 'fails-nowhere', failHandler, { DeadLetterConfig: { TargetArn: dlq.arn } });
  await lambda.send(
    new PutFunctionEventInvokeConfigCommand({ FunctionName: 'fails-nowhere', MaximumRetryAttempts: 0 }),
  );
  await sqs.send(new DeleteQueueCommand({ QueueUrl: dlq.url }));
  const out = await invokeEvent('fails-nowhere', {});
  const e = await until(async () => {
    const ev = await events().byRequestId(out.$metadata.requestId!);
    return ev?.status === 'failed' ? ev : undefined;
  });
  assert.match(e.delivery ?? '', /delivery failed: queue .* does not exist/);
});

test('MaximumRetryAttempts 0 runs a failing event once before failure handling', async () => {
  const dlq = await createQueue(sqs, 'once-dlq');
  await createFunction(lambda, 'fails-once', failHandler, { DeadLetterConfig: { TargetArn: dlq.arn } });
  await lambda.send(
    new PutFunctionEventInvokeConfigCommand({ FunctionName: 'fails-once', MaximumRetryAttempts: 0 }),
  );
  const out = await invokeEvent('fails-once', { n: 2 });
  await receive(sqs, dlq.url, 1);
  assert.equal((await finished(out.$metadata.requestId!)).attempts, 1);
});

test('an on-failure queue destination receives the invocation record with RetriesExhausted', async () => {
  const dest = await createQueue(sqs, 'onfail-dest');
  const arn = await createFunction(lambda, 'fails-dest', failHandler);
  await lambda.send(
    new PutFunctionEventInvokeConfigCommand({
      FunctionName: 'fails-dest',
      MaximumRetryAttempts: 1,
      DestinationConfig: { OnFailure: { Destination: dest.arn } },
    }),
  );
  const out = await invokeEvent('fails-dest', { k: 'v' });
  const [m] = await receive(sqs, dest.url, 1);
  const rec = body(m!);
  assert.equal(rec.version, '1.0');
  assert.equal(typeof rec.timestamp, 'string');
  assert.deepEqual(rec.requestContext, {
    requestId: out.$metadata.requestId,
    functionArn: `${arn}:$LATEST`,
    condition: 'RetriesExhausted',
    approximateInvokeCount: 2,
  });
  assert.deepEqual(rec.requestPayload, { k: 'v' });
  assert.deepEqual(rec.responseContext, {
    statusCode: 200,
    executedVersion: '$LATEST',
    functionError: 'Unhandled',
  });
  assert.equal(rec.responsePayload.errorMessage, 'boom: {"k":"v"}');
});

test('an on-success queue destination receives the invocation record with the result', async () => {
  const dest = await createQueue(sqs, 'onsuccess-dest');
  await createFunction(lambda, 'ok-dest', okHandler);
  await lambda.send(
    new PutFunctionEventInvokeConfigCommand({
      FunctionName: 'ok-dest',
      DestinationConfig: { OnSuccess: { Destination: dest.arn } },
    }),
  );
  const out = await invokeEvent('ok-dest', { x: 1 });
  const [m] = await receive(sqs, dest.url, 1);
  const rec = body(m!);
  assert.equal(rec.requestContext.condition, 'Success');
  assert.equal(rec.requestContext.requestId, out.$metadata.requestId);
  assert.equal(rec.requestContext.approximateInvokeCount, 1);
  assert.deepEqual(rec.responseContext, { statusCode: 200, executedVersion: '$LATEST' });
  assert.deepEqual(rec.responsePayload, { ok: true, got: { x: 1 } });
});

test('an on-success function destination is invoked asynchronously with the invocation record', async () => {
  // The destination function forwards what it got to a queue through its own on-success destination.
  const sink = await createQueue(sqs, 'fn-success-sink');
  const recorder = await createFunction(lambda, 'recorder-s', okHandler);
  await lambda.send(
    new PutFunctionEventInvokeConfigCommand({
      FunctionName: 'recorder-s',
      DestinationConfig: { OnSuccess: { Destination: sink.arn } },
    }),
  );
  await createFunction(lambda, 'ok-to-fn', okHandler);
  await lambda.send(
    new PutFunctionEventInvokeConfigCommand({
      FunctionName: 'ok-to-fn',
      DestinationConfig: { OnSuccess: { Destination: recorder } },
    }),
  );
  const out = await invokeEvent('ok-to-fn', { chained: true });
  const [m] = await receive(sqs, sink.url, 1);
  const got = body(m!).responsePayload.got;
  assert.equal(got.requestContext.condition, 'Success');
  assert.equal(got.requestContext.requestId, out.$metadata.requestId);
  assert.deepEqual(got.responsePayload, { ok: true, got: { chained: true } });
  const hop = (await events().recent((await p.platform.tenants.get('admin'))!.id, 'recorder-s', 1))[0]!;
  assert.equal(hop.source.kind, 'destination');
});

test('an on-failure function destination is invoked asynchronously with the invocation record', async () => {
  const sink = await createQueue(sqs, 'fn-failure-sink');
  const recorder = await createFunction(lambda, 'recorder-f', okHandler);
  await lambda.send(
    new PutFunctionEventInvokeConfigCommand({
      FunctionName: 'recorder-f',
      DestinationConfig: { OnSuccess: { Destination: sink.arn } },
    }),
  );
  await createFunction(lambda, 'fails-to-fn', failHandler);
  await lambda.send(
    new PutFunctionEventInvokeConfigCommand({
      FunctionName: 'fails-to-fn',
      MaximumRetryAttempts: 0,
      DestinationConfig: { OnFailure: { Destination: recorder } },
    }),
  );
  await invokeEvent('fails-to-fn', { doomed: true });
  const [m] = await receive(sqs, sink.url, 1);
  const got = body(m!).responsePayload.got;
  assert.equal(got.requestContext.condition, 'RetriesExhausted');
  assert.deepEqual(got.requestPayload, { doomed: true });
});

test('a function that is its own on-success destination stops after 16 invocations (recursive loop detection)', async () => {
  // A small constant result keeps each hop's record small (it nests the previous record as its request).
  const arn = await createFunction(lambda, 'looper', 'export const handler = async () => ({ ok: true });');
  await lambda.send(
    new PutFunctionEventInvokeConfigCommand({
      FunctionName: 'looper',
      DestinationConfig: { OnSuccess: { Destination: arn } },
    }),
  );
  await invokeEvent('looper', { round: 0 });
  const tenantId = (await p.platform.tenants.get('admin'))!.id;
  const last = await until(async () =>
    (await events().recent(tenantId, 'looper', 100)).find((e) => e.delivery?.includes('recursive loop')),
  );
  assert.equal(last.chainDepth, 15);
  const all = await events().recent(tenantId, 'looper', 100);
  assert.equal(all.length, 16);
  assert.ok(all.every((e) => e.status === 'succeeded'));
});

test('an invocation record over 256 KB is not sent to a function destination, and the event says why', async () => {
  // Echoing doubles the record on each hop (it carries the event as request and as response).
  const arn = await createFunction(lambda, 'echo-loop', okHandler);
  await lambda.send(
    new PutFunctionEventInvokeConfigCommand({
      FunctionName: 'echo-loop',
      DestinationConfig: { OnSuccess: { Destination: arn } },
    }),
  );
  await invokeEvent('echo-loop', { seed: 'x'.repeat(1000) });
  const tenantId = (await p.platform.tenants.get('admin'))!.id;
  const stopped = await until(async () =>
    (await events().recent(tenantId, 'echo-loop', 20)).find((e) =>
      e.delivery?.includes('exceeds the async payload limit'),
    ),
  );
  assert.ok(stopped.payload.length <= 262_144);
});

test('an event older than MaximumEventAgeInSeconds is discarded to the on-failure destination with EventAgeExceeded', async () => {
  const dest = await createQueue(sqs, 'age-dest');
  await createFunction(lambda, 'aging', okHandler);
  await lambda.send(
    new PutFunctionConcurrencyCommand({ FunctionName: 'aging', ReservedConcurrentExecutions: 0 }),
  );
  await lambda.send(
    new PutFunctionEventInvokeConfigCommand({
      FunctionName: 'aging',
      MaximumEventAgeInSeconds: 60,
      DestinationConfig: { OnFailure: { Destination: dest.arn } },
    }),
  );
  const out = await invokeEvent('aging', { old: true });
  const id = out.$metadata.requestId!;
  await until(
    async () => (((await events().byRequestId(id))?.throttles ?? 0) >= 1 ? true : undefined),
    30_000,
    'a throttled attempt',
  );
  // Age the stored event past the limit instead of waiting a minute.
  await p.platform.sql.run(
    'UPDATE async_events SET enqueued_at = enqueued_at - 120000 WHERE request_id = ?',
    [id],
  );
  const [m] = await receive(sqs, dest.url, 1);
  assert.ok(
    m,
    `a record arrived (event: ${JSON.stringify(await events().byRequestId(id), (k, v) => (k === 'payload' || k === 'lastResponse' ? undefined : v))})`,
  );
  const rec = body(m);
  assert.equal(rec.requestContext.condition, 'EventAgeExceeded');
  assert.equal(rec.requestContext.requestId, id);
  assert.equal((await finished(id)).status, 'failed');
});

test('throttled events (reserved concurrency 0) are retried, not lost, and run once concurrency is allowed', async () => {
  await createFunction(lambda, 'throttled', okHandler);
  await lambda.send(
    new PutFunctionConcurrencyCommand({ FunctionName: 'throttled', ReservedConcurrentExecutions: 0 }),
  );
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push((await invokeEvent('throttled', { i })).$metadata.requestId!);
  await until(
    async () =>
      (await Promise.all(ids.map((id) => events().byRequestId(id)))).every((e) => (e?.throttles ?? 0) >= 2)
        ? true
        : undefined,
    30_000,
    'throttles',
  );
  for (const id of ids) assert.equal((await events().byRequestId(id))!.status === 'succeeded', false);
  await lambda.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'throttled' }));
  for (const id of ids) {
    const e = await until(async () => {
      const ev = await events().byRequestId(id);
      return ev?.status === 'succeeded' || ev?.status === 'failed' ? ev : undefined;
    });
    assert.equal(e.status, 'succeeded');
    assert.equal(e.attempts, 1, 'throttles do not use up retries');
  }
});

test('an Event payload over 256 KB is refused with 413 RequestEntityTooLargeException', async () => {
  await createFunction(lambda, 'big', okHandler);
  const payload = Buffer.from(JSON.stringify({ s: 'x'.repeat(262_145 - 8) }));
  assert.equal(payload.length, 262_145);
  await assert.rejects(
    lambda.send(new InvokeCommand({ FunctionName: 'big', InvocationType: 'Event', Payload: payload })),
    (e: { name: string; $metadata: { httpStatusCode?: number } }) =>
      e.name === 'RequestEntityTooLargeException' && e.$metadata.httpStatusCode === 413,
  );
});

test('an Event payload of exactly 256 KB is accepted', async () => {
  await createFunction(lambda, 'big-ok', okHandler);
  const payload = Buffer.from(JSON.stringify({ s: 'x'.repeat(262_144 - 8) }));
  assert.equal(payload.length, 262_144);
  const out = await lambda.send(
    new InvokeCommand({ FunctionName: 'big-ok', InvocationType: 'Event', Payload: payload }),
  );
  assert.equal(out.StatusCode, 202);
});

test('an Event invoke of an unknown function answers 404 and stores nothing', async () => {
  await assert.rejects(invokeEvent('nope', {}), { name: 'ResourceNotFoundException' });
  const stored = await p.platform.sql.get<{ n: number }>(
    "SELECT COUNT(*) AS n FROM async_events WHERE function_name = 'nope'",
  );
  assert.equal(stored?.n, 0);
});
