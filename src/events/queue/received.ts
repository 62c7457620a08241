// A leased message as a receive answers it: the system attributes asked for, the message attributes that
// match the names asked for (and their digest), and a receipt handle naming this lease.
import { md5OfMessageAttributes } from './md5.js';
import { fromStored, type MessageRow } from './queue-repo.js';
import { encodeReceipt, sequenceNumber } from './receipts.js';
import type { MessageAttributes, Queue, ReceivedMessage } from './types.js';

export function toReceived(
  queue: Queue,
  r: MessageRow,
  token: Buffer,
  now: number,
  attributeNames: readonly string[] | undefined,
  messageAttributeNames: readonly string[] | undefined,
): ReceivedMessage {
  const system: Record<string, string> = {
    SenderId: r.sender_id,
    SentTimestamp: String(r.sent_at),
    ApproximateReceiveCount: String(r.receive_count + 1),
    ApproximateFirstReceiveTimestamp: String(r.first_received_at ?? now),
  };
  if (r.source_arn) system.DeadLetterQueueSourceArn = r.source_arn;
  if (r.group_id !== null) system.MessageGroupId = r.group_id;
  if (queue.fifo) {
    if (r.dedup_id !== null) system.MessageDeduplicationId = r.dedup_id;
    system.SequenceNumber = sequenceNumber(r.seq);
  }
  if (r.system_attributes) {
    const trace = fromStored(r.system_attributes).AWSTraceHeader?.stringValue;
    if (trace) system.AWSTraceHeader = trace;
  }
  const allSys = !attributeNames || attributeNames.includes('All');
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(system)) if (allSys || attributeNames!.includes(k)) attributes[k] = v;

  const userAttrs = fromStored(r.attributes);
  const messageAttributes: MessageAttributes = {};
  for (const [k, v] of Object.entries(userAttrs)) {
    if (
      !messageAttributeNames ||
      messageAttributeNames.some(
        (p) => p === 'All' || p === '.*' || p === k || (p.endsWith('.*') && k.startsWith(p.slice(0, -1))),
      )
    ) {
      messageAttributes[k] = v;
    }
  }
  const msg: ReceivedMessage = {
    messageId: r.message_id,
    receiptHandle: encodeReceipt(r.seq, queue.id, token),
    body: r.body,
    md5OfBody: r.md5_body,
    attributes,
    messageAttributes,
  };
  // SQS reports the digest of the attributes returned, which are all or some of them.
  const md5 =
    Object.keys(messageAttributes).length === Object.keys(userAttrs).length
      ? r.md5_attributes
      : md5OfMessageAttributes(messageAttributes);
  if (md5 && Object.keys(messageAttributes).length > 0) msg.md5OfMessageAttributes = md5;
  return msg;
}
