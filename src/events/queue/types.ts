// The embedded queue engine's public interface (SQS semantics, per tenant; async where it touches the
// store). Async-invoke destinations,
// DLQs and event-source-mapping pollers use it in-process; api/sqs.ts is its HTTP face. One instance per
// platform, built in server/assemble.ts (`createQueueEngine` from ./index.ts) and passed to the
// components that need it.
import type { Tenant } from '../../control/tenants.js';
import type { CrossAccountAction } from './policy.js';

/** Who owns a queue. Every lookup is scoped to one owner: another tenant's queue "does not exist". */
export type QueueOwner = Pick<Tenant, 'id' | 'accountId'>;

export interface Queue {
  /** Internal id (stable for the queue's life; a re-created queue of the same name gets a new one). */
  readonly id: number;
  readonly tenantId: string;
  readonly accountId: string;
  readonly name: string;
  /** `arn:aws:sqs:<region>:<accountId>:<name>` */
  readonly arn: string;
  readonly fifo: boolean;
  /** Seconds since the epoch, as SQS reports CreatedTimestamp. */
  readonly createdAt: number;
}

/** `http://<host>/<accountId>/<name>`; the API builds it from the request's Host. */
export const queueUrl = (base: string, q: Pick<Queue, 'accountId' | 'name'>): string =>
  `${base.replace(/\/+$/, '')}/${q.accountId}/${q.name}`;

/** A message attribute as SQS carries it; binary values are raw bytes here (base64 only on the wire). */
export interface MessageAttributeValue {
  /** `String`, `Number`, `Binary`, optionally with a custom suffix (`String.json`). */
  dataType: string;
  stringValue?: string;
  binaryValue?: Buffer;
}

export type MessageAttributes = Record<string, MessageAttributeValue>;

export interface SendInput {
  body: string;
  /** 0–900; defaults to the queue's DelaySeconds. */
  delaySeconds?: number;
  messageAttributes?: MessageAttributes;
  /** System attributes (only AWSTraceHeader is accepted by SQS). */
  messageSystemAttributes?: MessageAttributes;
  messageGroupId?: string;
  deduplicationId?: string;
  /** Reported as the SenderId attribute; defaults to the owner's account id. */
  senderId?: string;
}

export interface SendResult {
  messageId: string;
  md5OfBody: string;
  /** Present when the message has attributes. */
  md5OfMessageAttributes?: string;
  md5OfMessageSystemAttributes?: string;
  sequenceNumber?: string;
}

/** Batch calls answer per entry, as SQS does: some may fail while others succeed. */
export interface BatchResult<T> {
  successful: (T & { id: string })[];
  failed: BatchFailure[];
}

export interface BatchFailure {
  id: string;
  /** SQS's error code, e.g. `ReceiptHandleIsInvalid`, `InvalidParameterValue`. */
  code: string;
  message: string;
  senderFault: boolean;
}

export interface ReceiveOptions {
  /** 1–10; default 1. */
  maxMessages?: number;
  /** Seconds the received messages stay invisible; defaults to the queue's VisibilityTimeout. */
  visibilityTimeout?: number;
  /** Long polling: 0–20 s; defaults to the queue's ReceiveMessageWaitTimeSeconds. */
  waitTimeSeconds?: number;
  /** System attributes to return (`All`, `ApproximateReceiveCount`, `SentTimestamp`, ...); default all. */
  attributeNames?: readonly string[];
  /** Message attributes to return (`All`, `.*` suffix patterns, or names); default all. */
  messageAttributeNames?: readonly string[];
  /** Ends a long poll early (client went away, shutdown); resolves with what is there (maybe nothing). */
  signal?: AbortSignal;
}

export interface ReceivedMessage {
  messageId: string;
  /** Unguessable; invalid once the message has been received again or deleted. */
  receiptHandle: string;
  body: string;
  md5OfBody: string;
  md5OfMessageAttributes?: string;
  /**
   * System attributes, named as SQS and Lambda's SQS event name them: ApproximateReceiveCount,
   * SentTimestamp (ms), ApproximateFirstReceiveTimestamp (ms), SenderId, MessageGroupId, ...
   */
  attributes: Record<string, string>;
  messageAttributes: MessageAttributes;
}

export interface QueueCounts {
  /** ApproximateNumberOfMessages */
  visible: number;
  /** ApproximateNumberOfMessagesNotVisible */
  inFlight: number;
  /** ApproximateNumberOfMessagesDelayed */
  delayed: number;
}

export interface ListQueuesOptions {
  prefix?: string;
  /** 1–1000; without it, up to 1000 queues and no paging. */
  maxResults?: number;
  nextToken?: string;
}

export interface RedrivePolicy {
  deadLetterTargetArn: string;
  maxReceiveCount: number;
}

/** A message move task as ListMessageMoveTasks reports it. */
export interface MoveTask {
  /** RUNNING, COMPLETED, CANCELLING, CANCELLED or FAILED. */
  status: string;
  /** Only while RUNNING. */
  taskHandle?: string;
  sourceArn: string;
  destinationArn?: string;
  maxNumberOfMessagesPerSecond?: number;
  approximateNumberOfMessagesMoved: number;
  approximateNumberOfMessagesToMove: number;
  failureReason?: string;
  /** ms since the epoch. */
  startedTimestamp: number;
}

/** What another account may be granted on a queue (the batch calls go under their single action). */
export type { CrossAccountAction } from './policy.js';

export interface QueueEngine {
  /**
   * Creates a queue, or returns the existing one when its attributes equal the given ones
   * (SQS: QueueAlreadyExists when they differ). Attribute names and values are SQS's
   * (VisibilityTimeout, DelaySeconds, MessageRetentionPeriod, MaximumMessageSize,
   * ReceiveMessageWaitTimeSeconds, RedrivePolicy as JSON, FifoQueue, ContentBasedDeduplication).
   */
  createQueue(
    owner: QueueOwner,
    name: string,
    attributes?: Record<string, string>,
    tags?: Record<string, string>,
  ): Promise<Queue>;
  /** By name, queue URL (`.../<accountId>/<name>`) or ARN; throws QueueDoesNotExist (also for other owners). */
  getQueue(owner: QueueOwner, nameUrlOrArn: string): Promise<Queue>;
  /**
   * As getQueue, and when the reference (URL or ARN) names another account's queue whose policy grants
   * the caller's account `action`, that queue; without such a grant, QueueDoesNotExist as for a missing one.
   */
  getQueueFor(caller: QueueOwner, nameUrlOrArn: string, action: CrossAccountAction): Promise<Queue>;
  /** GetQueueUrl with QueueOwnerAWSAccountId: another account's queue by name, if its policy grants GetQueueUrl. */
  getQueueOf(caller: QueueOwner, ownerAccountId: string, name: string): Promise<Queue>;
  /** AddPermission: a policy statement labelled `label` granting `actions` to `accountIds`. */
  addPermission(
    queue: Queue,
    label: string | undefined,
    accountIds: readonly string[] | undefined,
    actions: readonly string[] | undefined,
  ): Promise<void>;
  /** RemovePermission: drops the statement labelled `label` (the Policy attribute goes when none is left). */
  removePermission(queue: Queue, label: string | undefined): Promise<void>;
  /** StartMessageMoveTask: returns the task handle. The move runs in the background on this node. */
  startMoveTask(
    owner: QueueOwner,
    sourceArn: string | undefined,
    destinationArn: string | undefined,
    maxPerSecond: number | undefined,
  ): Promise<string>;
  /** ListMessageMoveTasks: the source's newest tasks first (1–10, default 1). */
  listMoveTasks(
    owner: QueueOwner,
    sourceArn: string | undefined,
    maxResults: number | undefined,
  ): Promise<MoveTask[]>;
  /** CancelMessageMoveTask: returns the number of messages moved so far. */
  cancelMoveTask(owner: QueueOwner, taskHandle: string | undefined): Promise<number>;
  /** As getQueue, but undefined instead of throwing. */
  findQueue(owner: QueueOwner, nameUrlOrArn: string): Promise<Queue | undefined>;
  listQueues(owner: QueueOwner, opts?: ListQueuesOptions): Promise<{ queues: Queue[]; nextToken?: string }>;
  deleteQueue(queue: Queue): Promise<void>;
  /** Once per queue every 60 s (PurgeQueueInProgress otherwise), as on SQS. */
  purgeQueue(queue: Queue): Promise<void>;
  /** SQS's attribute names; `All` (or no names) gives every attribute including the Approximate* counts. */
  getAttributes(queue: Queue, names?: readonly string[]): Promise<Record<string, string>>;
  setAttributes(queue: Queue, attributes: Record<string, string>): Promise<void>;
  /** Queues whose RedrivePolicy names this one as dead-letter target (ListDeadLetterSourceQueues). */
  deadLetterSources(queue: Queue): Promise<Queue[]>;
  tagQueue(queue: Queue, tags: Record<string, string>): Promise<void>;
  untagQueue(queue: Queue, keys: readonly string[]): Promise<void>;
  listTags(queue: Queue): Promise<Record<string, string>>;

  /** Durable once it resolves (one transaction). Validates body/attributes as SQS does. */
  send(queue: Queue, input: SendInput): Promise<SendResult>;
  /** 1–10 entries with distinct ids; the whole batch is one transaction (one multi-row INSERT). */
  sendBatch(queue: Queue, entries: readonly (SendInput & { id: string })[]): Promise<BatchResult<SendResult>>;
  /**
   * Leases up to maxMessages visible messages; engines on other nodes never lease the same ones while
   * they are invisible. With waitTimeSeconds > 0 it waits (woken by this node or another through the
   * store's notifications, no polling) until at least one message is available or the time is up. A message received more
   * than its queue's RedrivePolicy.maxReceiveCount times moves to the dead-letter queue instead.
   */
  receive(queue: Queue, opts?: ReceiveOptions): Promise<ReceivedMessage[]>;
  /** Throws ReceiptHandleIsInvalid for a malformed or foreign handle; a stale handle is a no-op, as on SQS. */
  deleteMessage(queue: Queue, receiptHandle: string): Promise<void>;
  deleteBatch(
    queue: Queue,
    entries: readonly { id: string; receiptHandle: string }[],
  ): Promise<BatchResult<object>>;
  /** 0–43200 s; 0 makes the message visible now. Throws MessageNotInflight for a stale handle. */
  changeVisibility(queue: Queue, receiptHandle: string, visibilityTimeout: number): Promise<void>;
  changeVisibilityBatch(
    queue: Queue,
    entries: readonly { id: string; receiptHandle: string; visibilityTimeout: number }[],
  ): Promise<BatchResult<object>>;
  counts(queue: Queue): Promise<QueueCounts>;

  /**
   * Calls `listener` (after the commit, on this node or another) whenever messages may have become receivable on
   * the queue: a send, a visibility change to 0, a delay or visibility timeout running out. Returns
   * the unsubscribe function. Listeners must not throw or block.
   */
  onMessage(queue: Queue, listener: () => void): () => void;
  /**
   * Resolves true as soon as the queue has a receivable message (at once if it already has one), or
   * false when `timeoutMs` passes or `signal` aborts. For pollers that lease with receive() after.
   */
  waitForMessages(queue: Queue, timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /**
   * As waitForMessages, but a send on this node may hand up to `max` new messages straight to the waiter,
   * already leased with the queue's visibility timeout (standard queues): resolves those messages, or
   * whether messages are receivable.
   */
  waitOrTake(
    queue: Queue,
    opts: { timeoutMs: number; max: number; signal?: AbortSignal },
  ): Promise<ReceivedMessage[] | boolean>;
}
