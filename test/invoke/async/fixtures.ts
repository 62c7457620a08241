// Shared pieces of the async-invoke and schedule tests: functions from inline handler source, queues
// with their ARNs, and waiting for messages (long polls; the caller's deadline only bounds a hang).
import { LambdaClient, PutFunctionEventInvokeConfigCommand } from '@aws-sdk/client-lambda';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { createFunction } from '../../helpers/functions.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';

export const okHandler = 'export const handler = async (event) => ({ ok: true, got: event });';
export const failHandler =
  'export const handler = async (event) => { throw new Error("boom: " + JSON.stringify(event)); };';

/** The shared helper (test/helpers/functions.ts). */
export { createFunction };

export async function createQueue(sqs: SQSClient, name: string): Promise<{ url: string; arn: string }> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  return { url: QueueUrl!, arn: attrs.Attributes!.QueueArn! };
}

/** Receives (and deletes) messages until `n` have arrived or `deadlineMs` passes; returns what came. */
export async function receive(
  sqs: SQSClient,
  url: string,
  n: number,
  deadlineMs = 30_000,
): Promise<Message[]> {
  const out: Message[] = [];
  const end = Date.now() + deadlineMs;
  while (out.length < n && Date.now() < end) {
    const r = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: Math.max(1, Math.min(5, Math.ceil((end - Date.now()) / 1000))),
        MessageAttributeNames: ['All'],
      }),
    );
    for (const m of r.Messages ?? []) {
      out.push(m);
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle! }));
    }
  }
  return out;
}

/** Resolves once `check` returns a value other than undefined, re-checking after each short pause. */
export async function until<T>(
  check: () => T | undefined | Promise<T | undefined>,
  deadlineMs = 30_000,
  what = 'condition',
): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const clients = (cfg: ReturnType<typeof sdkConfig>) => ({
  lambda: new LambdaClient(cfg),
  sqs: new SQSClient(cfg),
});

export interface SinkPlatform {
  p: TestPlatform;
  lambda: LambdaClient;
  sqs: SQSClient;
  /** The function okHandler runs as; each of its successes lands on the sink queue. */
  fnArn: string;
  sinkUrl: string;
  close(): Promise<void>;
}

/**
 * A platform (fast retries) with one function whose successful async runs go to a queue (OnSuccess): what
 * an event source delivered is read back from the sink.
 */
export async function platformWithSink(fnName: string, sinkName: string): Promise<SinkPlatform> {
  const p = await startPlatform({ retryBaseMs: 50 });
  const { lambda, sqs } = clients(sdkConfig(p));
  const sink = await createQueue(sqs, sinkName);
  const fnArn = await createFunction(lambda, fnName, okHandler);
  await lambda.send(
    new PutFunctionEventInvokeConfigCommand({
      FunctionName: fnName,
      DestinationConfig: { OnSuccess: { Destination: sink.arn } },
    }),
  );
  return {
    p,
    lambda,
    sqs,
    fnArn,
    sinkUrl: sink.url,
    async close() {
      lambda.destroy();
      sqs.destroy();
      await p.close();
    },
  };
}
