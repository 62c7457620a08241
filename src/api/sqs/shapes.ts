// SQS's operation shapes: the JSON protocol's input schemas (the query protocol is converted into
// them), validated once per call, and the conversions to and from the queue engine's types.
import { z } from 'zod';
import { SqsErrors } from '../../events/queue/errors.js';
import type { MessageAttributes, ReceivedMessage, SendInput, SendResult } from '../../events/queue/types.js';

export const attributeValue = z.object({
  DataType: z.string(),
  StringValue: z.string().optional(),
  BinaryValue: z.string().optional(),
  StringListValues: z.array(z.string()).optional(),
  BinaryListValues: z.array(z.string()).optional(),
});
export const messageAttributes = z.record(z.string(), attributeValue);
export const stringMap = z.record(z.string(), z.string());
export const names = z.array(z.string());
export const int = z.number().int();
export const queueUrlField = { QueueUrl: z.string().optional() };

export const sendEntry = {
  MessageBody: z.string(),
  DelaySeconds: int.optional(),
  MessageAttributes: messageAttributes.optional(),
  MessageSystemAttributes: messageAttributes.optional(),
  MessageDeduplicationId: z.string().optional(),
  MessageGroupId: z.string().optional(),
};

export const schemas = {
  CreateQueue: z.object({
    QueueName: z.string(),
    Attributes: stringMap.optional(),
    tags: stringMap.optional(),
  }),
  GetQueueUrl: z.object({ QueueName: z.string(), QueueOwnerAWSAccountId: z.string().optional() }),
  ListQueues: z.object({
    QueueNamePrefix: z.string().optional(),
    NextToken: z.string().optional(),
    MaxResults: int.optional(),
  }),
  DeleteQueue: z.object(queueUrlField),
  PurgeQueue: z.object(queueUrlField),
  GetQueueAttributes: z.object({ ...queueUrlField, AttributeNames: names.optional() }),
  SetQueueAttributes: z.object({ ...queueUrlField, Attributes: stringMap }),
  TagQueue: z.object({ ...queueUrlField, Tags: stringMap }),
  UntagQueue: z.object({ ...queueUrlField, TagKeys: names }),
  ListQueueTags: z.object(queueUrlField),
  ListDeadLetterSourceQueues: z.object({
    ...queueUrlField,
    NextToken: z.string().optional(),
    MaxResults: int.optional(),
  }),
  SendMessage: z.object({ ...queueUrlField, ...sendEntry }),
  SendMessageBatch: z.object({
    ...queueUrlField,
    Entries: z.array(z.object({ Id: z.string(), ...sendEntry })),
  }),
  ReceiveMessage: z.object({
    ...queueUrlField,
    AttributeNames: names.optional(),
    MessageSystemAttributeNames: names.optional(),
    MessageAttributeNames: names.optional(),
    MaxNumberOfMessages: int.optional(),
    VisibilityTimeout: int.optional(),
    WaitTimeSeconds: int.optional(),
    ReceiveRequestAttemptId: z.string().optional(),
  }),
  DeleteMessage: z.object({ ...queueUrlField, ReceiptHandle: z.string() }),
  DeleteMessageBatch: z.object({
    ...queueUrlField,
    Entries: z.array(z.object({ Id: z.string(), ReceiptHandle: z.string() })),
  }),
  ChangeMessageVisibility: z.object({ ...queueUrlField, ReceiptHandle: z.string(), VisibilityTimeout: int }),
  ChangeMessageVisibilityBatch: z.object({
    ...queueUrlField,
    Entries: z.array(z.object({ Id: z.string(), ReceiptHandle: z.string(), VisibilityTimeout: int })),
  }),
  AddPermission: z.object({ ...queueUrlField, Label: z.string(), AWSAccountIds: names, Actions: names }),
  RemovePermission: z.object({ ...queueUrlField, Label: z.string() }),
  StartMessageMoveTask: z.object({
    SourceArn: z.string(),
    DestinationArn: z.string().optional(),
    MaxNumberOfMessagesPerSecond: int.optional(),
  }),
  ListMessageMoveTasks: z.object({ SourceArn: z.string(), MaxResults: int.optional() }),
  CancelMessageMoveTask: z.object({ TaskHandle: z.string() }),
} as const;

export type Action = keyof typeof schemas;
export type Input<A extends Action> = z.infer<(typeof schemas)[A]>;

/** Maps the first schema problem to SQS's wording: a missing parameter, or an invalid value. */
export function validate<A extends Action>(action: A, input: unknown): Input<A> {
  const r = schemas[action].safeParse(input);
  if (r.success) return r.data as Input<A>;
  const issue = r.error.issues[0]!;
  const name = issue.path.map(String).join('.') || 'request';
  let value: unknown = input;
  for (const p of issue.path)
    value =
      value && typeof value === 'object'
        ? (value as Record<PropertyKey, unknown>)[p as PropertyKey]
        : undefined;
  if (value === undefined)
    throw SqsErrors.missingParameter(`The request must contain the parameter ${name}.`);
  throw SqsErrors.invalidParameterValue(`Value ${JSON.stringify(value)} for parameter ${name} is invalid.`);
}

// ---- conversions between wire shapes and the engine's ----

export const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function toAttributes(
  attrs: z.infer<typeof messageAttributes> | undefined,
): MessageAttributes | undefined {
  if (!attrs) return undefined;
  const out: MessageAttributes = {};
  for (const [name, a] of Object.entries(attrs)) {
    if (a.StringListValues?.length || a.BinaryListValues?.length) {
      throw SqsErrors.invalidParameterValue(
        `Message attribute list values in MessageAttribute '${name}' are not supported.`,
      );
    }
    const v: MessageAttributes[string] = { dataType: a.DataType };
    if (a.StringValue !== undefined) v.stringValue = a.StringValue;
    if (a.BinaryValue !== undefined) {
      if (!BASE64.test(a.BinaryValue) || a.BinaryValue.length % 4 !== 0) {
        throw SqsErrors.invalidParameterValue(
          `Message (user) attribute '${name}' has an invalid binary value: not base64.`,
        );
      }
      v.binaryValue = Buffer.from(a.BinaryValue, 'base64');
    }
    out[name] = v;
  }
  return out;
}

export function fromAttributes(attrs: MessageAttributes): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [name, a] of Object.entries(attrs)) {
    out[name] =
      a.binaryValue !== undefined
        ? { BinaryValue: a.binaryValue.toString('base64'), DataType: a.dataType }
        : { StringValue: a.stringValue ?? '', DataType: a.dataType };
  }
  return out;
}

export function toSendInput(e: Input<'SendMessage'>, senderId: string): SendInput {
  const input: SendInput = { body: e.MessageBody, senderId };
  if (e.DelaySeconds !== undefined) input.delaySeconds = e.DelaySeconds;
  const ma = toAttributes(e.MessageAttributes);
  if (ma) input.messageAttributes = ma;
  const sa = toAttributes(e.MessageSystemAttributes);
  if (sa) input.messageSystemAttributes = sa;
  if (e.MessageGroupId !== undefined) input.messageGroupId = e.MessageGroupId;
  if (e.MessageDeduplicationId !== undefined) input.deduplicationId = e.MessageDeduplicationId;
  return input;
}

export function sendOutput(r: SendResult) {
  const out: Record<string, string> = { MessageId: r.messageId, MD5OfMessageBody: r.md5OfBody };
  if (r.md5OfMessageAttributes) out.MD5OfMessageAttributes = r.md5OfMessageAttributes;
  if (r.md5OfMessageSystemAttributes) out.MD5OfMessageSystemAttributes = r.md5OfMessageSystemAttributes;
  if (r.sequenceNumber) out.SequenceNumber = r.sequenceNumber;
  return out;
}

export function receivedOutput(m: ReceivedMessage): Record<string, unknown> {
  const out: Record<string, unknown> = {
    MessageId: m.messageId,
    ReceiptHandle: m.receiptHandle,
    MD5OfBody: m.md5OfBody,
    Body: m.body,
  };
  if (Object.keys(m.attributes).length > 0) out.Attributes = m.attributes;
  if (Object.keys(m.messageAttributes).length > 0) {
    out.MD5OfMessageAttributes = m.md5OfMessageAttributes;
    out.MessageAttributes = fromAttributes(m.messageAttributes);
  }
  return out;
}

export const batchFailures = (
  failed: { id: string; code: string; message: string; senderFault: boolean }[],
) => failed.map((f) => ({ Id: f.id, SenderFault: f.senderFault, Code: f.code, Message: f.message }));
