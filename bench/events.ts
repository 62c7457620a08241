// Event figures for `npm run bench`, measured against the same running server as the invoke figures:
//   - SendMessage → handler start latency with a warm environment (each handler logs how long ago the
//     message was sent; same machine, same clock);
//   - sustained queue → function throughput (SendMessageBatch of 10, BatchSize 10), nothing lost: the
//     run ends only when the queue is empty, and a message is deleted only after its batch succeeded;
//   - async Invoke (InvocationType Event) accept throughput.
import http from 'node:http';
import { type LatencyStats, request, stats, throughput } from './load.js';
import { createFunction, type KindlingClient } from './run.js';

export interface EventFigures {
  rows: [string, string, string][];
  [k: string]: unknown;
}

export const sqsHeaders = (action: string) => ({
  'content-type': 'application/x-amz-json-1.0',
  'x-amz-target': `AmazonSQS.${action}`,
});

export async function sqs(k: KindlingClient, action: string, input: unknown): Promise<any> {
  const r = await k.call('POST', '/', input, 'sqs', sqsHeaders(action));
  if (r.status !== 200) throw new Error(`${action}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function queueDepth(k: KindlingClient, url: string): Promise<number> {
  const a = await sqs(k, 'GetQueueAttributes', {
    QueueUrl: url,
    AttributeNames: [
      'ApproximateNumberOfMessages',
      'ApproximateNumberOfMessagesNotVisible',
      'ApproximateNumberOfMessagesDelayed',
    ],
  });
  return Object.values(a.Attributes as Record<string, string>).reduce((n, v) => n + Number(v), 0);
}

async function mapping(k: KindlingClient, fn: string, queueArn: string, batchSize: number): Promise<void> {
  const r = await k.call('POST', '/2015-03-31/event-source-mappings/', {
    FunctionName: fn,
    EventSourceArn: queueArn,
    BatchSize: batchSize,
  });
  if (r.status !== 202 && r.status !== 201 && r.status !== 200)
    throw new Error(`CreateEventSourceMapping: ${r.status} ${JSON.stringify(r.json)}`);
}

export async function latencyFigure(k: KindlingClient, samples: number): Promise<LatencyStats> {
  await createFunction(
    k,
    'bench-event-latency',
    `exports.handler = async (event) => { for (const r of event.Records) console.log('LAT', Date.now() - JSON.parse(r.body).sentAt); };`,
  );
  const { QueueUrl: url } = await sqs(k, 'CreateQueue', {
    QueueName: 'bench-latency',
    Attributes: { VisibilityTimeout: '60' },
  });
  const arn = (await sqs(k, 'GetQueueAttributes', { QueueUrl: url, AttributeNames: ['QueueArn'] })).Attributes
    .QueueArn;
  await mapping(k, 'bench-event-latency', arn, 1);
  // Warm the environment, then send one message at a time with a gap, as a low-rate source would.
  await sqs(k, 'SendMessage', { QueueUrl: url, MessageBody: JSON.stringify({ sentAt: Date.now() }) });
  await waitFor(async () => (await queueDepth(k, url)) === 0, 30_000, 'the warm-up message');
  for (let i = 0; i < samples; i++) {
    await sqs(k, 'SendMessage', { QueueUrl: url, MessageBody: JSON.stringify({ sentAt: Date.now() }) });
    await new Promise((r) => setTimeout(r, 15));
  }
  await waitFor(async () => (await queueDepth(k, url)) === 0, 60_000, 'latency messages');
  await new Promise((r) => setTimeout(r, 300)); // logs are stored just after each invocation
  const logs = await k.call(
    'GET',
    '/kindling/v1/functions/bench-event-latency/logs?limit=1000',
    undefined,
    'kindling',
  );
  const lat: number[] = [];
  for (const e of logs.json.events as { log: string }[]) {
    for (const m of e.log.matchAll(/\tLAT (\d+)/g)) lat.push(Number(m[1]));
  }
  return stats(lat.slice(1)); // the first one is the warm-up
}

async function throughputFigure(
  k: KindlingClient,
  messages: number,
): Promise<{ msgsPerSec: number; seconds: number; messages: number; left: number }> {
  await createFunction(
    k,
    'bench-queue-sink',
    'exports.handler = async (event) => ({ n: event.Records.length });',
  );
  const { QueueUrl: url } = await sqs(k, 'CreateQueue', {
    QueueName: 'bench-throughput',
    Attributes: { VisibilityTimeout: '60' },
  });
  const arn = (await sqs(k, 'GetQueueAttributes', { QueueUrl: url, AttributeNames: ['QueueArn'] })).Attributes
    .QueueArn;
  await mapping(k, 'bench-queue-sink', arn, 10);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const batches = Math.ceil(messages / 10);
  let next = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < batches) {
        const b = next++;
        const payload = Buffer.from(
          JSON.stringify({
            QueueUrl: url,
            Entries: Array.from({ length: 10 }, (_, i) => ({ Id: String(i), MessageBody: `m-${b}-${i}` })),
          }),
        );
        const r = await request(agent, k.signed('POST', '/', payload, 'sqs', sqsHeaders('SendMessageBatch')));
        const out = JSON.parse(r.body.toString());
        if (r.status !== 200 || (out.Failed ?? []).length)
          throw new Error(`SendMessageBatch: ${r.status} ${r.body}`);
      }
    }),
  );
  agent.destroy();
  let left = messages;
  await waitFor(
    async () => {
      left = await queueDepth(k, url);
      return left === 0;
    },
    120_000,
    'the queue to drain',
  );
  const seconds = (Date.now() - started) / 1000;
  return { msgsPerSec: Math.round(messages / seconds), seconds, messages, left };
}

export async function kindlingEventFigures(
  k: KindlingClient,
  opts: { quick: boolean },
): Promise<EventFigures> {
  const latency = await latencyFigure(k, opts.quick ? 50 : 300);
  const queue = await throughputFigure(k, opts.quick ? 5_000 : 20_000);
  await createFunction(k, 'bench-async', 'exports.handler = async () => ({ ok: true });');
  const accept = await throughput(
    k.signed(
      'POST',
      '/2015-03-31/functions/bench-async/invocations',
      Buffer.from('{"async":true}'),
      'lambda',
      {
        'x-amz-invocation-type': 'Event',
      },
    ),
    16,
    opts.quick ? 2 : 5,
  );
  return {
    eventLatency: latency,
    queueThroughput: queue,
    asyncAccept: accept,
    rows: [
      [
        'events:       SendMessage → handler start p50/p99 (ms)',
        `${latency.p50} / ${latency.p99}`,
        'target p99 <= 10 ms',
      ],
      [
        'events:       queue → function throughput (msg/s)',
        String(queue.msgsPerSec),
        `target >= 2000; ${queue.messages} sent, ${queue.left} left in the queue`,
      ],
      ['events:       async Invoke accept c=16 (req/s)', String(accept.rps), `errors ${accept.errors}`],
    ],
  };
}
