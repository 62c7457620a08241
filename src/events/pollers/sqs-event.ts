// Lambda's SQS event JSON built from leased messages, and the function's partial-batch answer
// (ReportBatchItemFailures) read back as Lambda reads it: anything malformed fails the whole batch.
import { z } from 'zod';
import type { MessageAttributes, ReceivedMessage } from '../queue/types.js';

/** Lambda's synchronous invocation payload limit; an event source's batch never exceeds it. */
export const MAX_EVENT_BYTES = 6 * 1024 * 1024;

export function sqsEvent(messages: readonly ReceivedMessage[], queueArn: string, region: string): string {
  return `{"Records":[${messages.map((m) => sqsRecord(m, queueArn, region)).join(',')}]}`;
}

/**
 * The batch as one or more events of at most MAX_EVENT_BYTES each (Lambda caps a batch at the payload
 * limit), with the messages each one carries. A single record above the limit travels alone.
 */
export function sqsEvents(
  messages: readonly ReceivedMessage[],
  queueArn: string,
  region: string,
): { payload: Buffer; messages: ReceivedMessage[] }[] {
  const out: { payload: Buffer; messages: ReceivedMessage[] }[] = [];
  let parts: string[] = [];
  let group: ReceivedMessage[] = [];
  let size = 0;
  const flush = () => {
    if (group.length === 0) return;
    out.push({ payload: Buffer.from(`{"Records":[${parts.join(',')}]}`), messages: group });
    parts = [];
    group = [];
    size = 0;
  };
  for (const m of messages) {
    const rec = sqsRecord(m, queueArn, region);
    const bytes = Buffer.byteLength(rec) + 1;
    if (size + bytes + 16 > MAX_EVENT_BYTES) flush();
    parts.push(rec);
    group.push(m);
    size += bytes;
  }
  flush();
  return out;
}

function sqsRecord(m: ReceivedMessage, queueArn: string, region: string): string {
  return JSON.stringify({
    messageId: m.messageId,
    receiptHandle: m.receiptHandle,
    body: m.body,
    attributes: m.attributes,
    messageAttributes: lambdaAttributes(m.messageAttributes),
    md5OfBody: m.md5OfBody,
    ...(m.md5OfMessageAttributes !== undefined && { md5OfMessageAttributes: m.md5OfMessageAttributes }),
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  });
}

/** Lambda's event spells attributes in camelCase with list members, binary as base64. */
function lambdaAttributes(attrs: MessageAttributes): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(attrs)) {
    out[name] = {
      ...(v.stringValue !== undefined && { stringValue: v.stringValue }),
      ...(v.binaryValue !== undefined && { binaryValue: v.binaryValue.toString('base64') }),
      stringListValues: [],
      binaryListValues: [],
      dataType: v.dataType,
    };
  }
  return out;
}

const batchResponse = z
  .object({
    batchItemFailures: z.array(z.object({ itemIdentifier: z.string().min(1) }).loose()),
  })
  .loose();

/**
 * With ReportBatchItemFailures: the ids the function reported as failed, or 'all' when the answer is
 * malformed or names an id that was not in the batch (Lambda then treats the whole batch as failed).
 * An empty or null answer, or one without batchItemFailures, means every item succeeded.
 */
export function failedItems(payload: Buffer, ids: ReadonlySet<string>): Set<string> | 'all' {
  const text = payload.toString('utf8').trim();
  if (text === '' || text === 'null') return new Set();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return 'all';
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return 'all';
  if (!('batchItemFailures' in json) || (json as { batchItemFailures: unknown }).batchItemFailures === null) {
    return new Set();
  }
  const r = batchResponse.safeParse(json);
  if (!r.success) return 'all';
  const failed = new Set<string>();
  for (const f of r.data.batchItemFailures) {
    if (!ids.has(f.itemIdentifier)) return 'all';
    failed.add(f.itemIdentifier);
  }
  return failed;
}
