// The embedded queue engine: SQS semantics over the platform's SQLite store (WAL). Each send or batch is
// one transaction, so an acknowledged message survives a process kill; leases are visible_at timestamps,
// so in-flight messages come back by themselves after a restart. Waiters are woken in-process.
// This class is the facade callers hold; the concepts live beside it: queue-repo.ts (SQL), catalogue.ts
// (queues), messages.ts (send/receive/delete), waiters.ts (long polls), receipts.ts (handles).
import type { Db } from '../../store/database.js';
import { QueueCatalogue } from './catalogue.js';
import { SqsErrors } from './errors.js';
import { QueueMessages } from './messages.js';
import { SqliteQueueRepo } from './queue-repo.js';
import type {
  BatchResult,
  ListQueuesOptions,
  Queue,
  QueueCounts,
  QueueEngine,
  QueueOwner,
  ReceivedMessage,
  ReceiveOptions,
  SendInput,
  SendResult,
} from './types.js';
import { QueueWaiters } from './waiters.js';

export interface QueueEngineOptions {
  region: string;
}

// Expired messages are also dropped when a receive meets them; the sweep keeps counts honest.
const SWEEP_INTERVAL_MS = 60_000;

export class SqliteQueueEngine implements QueueEngine {
  readonly #catalogue: QueueCatalogue;
  readonly #messages: QueueMessages;
  readonly #waiters: QueueWaiters;
  readonly #sweeper: NodeJS.Timeout;

  constructor(db: Db, opts: QueueEngineOptions) {
    const repo = new SqliteQueueRepo(db);
    this.#catalogue = new QueueCatalogue(repo, opts.region);
    this.#waiters = new QueueWaiters(repo, this.#catalogue);
    this.#messages = new QueueMessages(repo, this.#catalogue, this.#waiters);
    this.#sweeper = setInterval(() => this.sweepExpired(), SWEEP_INTERVAL_MS);
    this.#sweeper.unref();
  }

  // ---- queues ----

  createQueue(
    owner: QueueOwner,
    name: string,
    attributes: Record<string, string> = {},
    tags: Record<string, string> = {},
  ): Queue {
    return this.#catalogue.createQueue(owner, name, attributes, tags);
  }

  findQueue(owner: QueueOwner, ref: string): Queue | undefined {
    return this.#catalogue.findQueue(owner, ref);
  }

  getQueue(owner: QueueOwner, ref: string): Queue {
    const q = this.findQueue(owner, ref);
    if (!q) throw SqsErrors.queueDoesNotExist();
    return q;
  }

  listQueues(owner: QueueOwner, opts: ListQueuesOptions = {}): { queues: Queue[]; nextToken?: string } {
    return this.#catalogue.listQueues(owner, opts);
  }

  deleteQueue(queue: Queue): void {
    this.#catalogue.deleteQueue(queue);
    this.#messages.forget(queue.id);
    // Waiters on the deleted queue wake up and find it gone.
    this.#waiters.notify(queue.id);
  }

  purgeQueue(queue: Queue): void {
    this.#messages.purge(queue);
  }

  getAttributes(queue: Queue, names: readonly string[] = ['All']): Record<string, string> {
    return this.#catalogue.getAttributes(queue, names, () => this.counts(queue));
  }

  setAttributes(queue: Queue, attributes: Record<string, string>): void {
    this.#catalogue.setAttributes(queue, attributes);
  }

  deadLetterSources(queue: Queue): Queue[] {
    return this.#catalogue.deadLetterSources(queue);
  }

  tagQueue(queue: Queue, tags: Record<string, string>): void {
    this.#catalogue.tagQueue(queue, tags);
  }

  untagQueue(queue: Queue, keys: readonly string[]): void {
    this.#catalogue.untagQueue(queue, keys);
  }

  listTags(queue: Queue): Record<string, string> {
    return this.#catalogue.listTags(queue);
  }

  // ---- messages ----

  send(queue: Queue, input: SendInput): SendResult {
    return this.#messages.send(queue, input);
  }

  sendBatch(queue: Queue, entries: readonly (SendInput & { id: string })[]): BatchResult<SendResult> {
    return this.#messages.sendBatch(queue, entries);
  }

  receive(queue: Queue, opts: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    return this.#messages.receive(queue, opts);
  }

  deleteMessage(queue: Queue, receiptHandle: string): void {
    this.#messages.deleteMessage(queue, receiptHandle);
  }

  deleteBatch(queue: Queue, entries: readonly { id: string; receiptHandle: string }[]): BatchResult<object> {
    return this.#messages.deleteBatch(queue, entries);
  }

  changeVisibility(queue: Queue, receiptHandle: string, visibilityTimeout: number): void {
    this.#messages.changeVisibility(queue, receiptHandle, visibilityTimeout);
  }

  changeVisibilityBatch(
    queue: Queue,
    entries: readonly { id: string; receiptHandle: string; visibilityTimeout: number }[],
  ): BatchResult<object> {
    return this.#messages.changeVisibilityBatch(queue, entries);
  }

  counts(queue: Queue): QueueCounts {
    return this.#messages.counts(queue);
  }

  // ---- wake-ups ----

  onMessage(queue: Queue, listener: () => void): () => void {
    return this.#waiters.onMessage(queue.id, listener);
  }

  waitForMessages(queue: Queue, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return this.#messages.waitForMessages(queue, timeoutMs, signal);
  }

  /** Deletes messages past their retention period and expired deduplication ids; returns messages deleted. */
  sweepExpired(now = Date.now()): number {
    return this.#messages.sweepExpired(now);
  }

  /** Ends every long poll and timer; the store stays open (the platform closes it). */
  close(): void {
    this.#waiters.close();
    clearInterval(this.#sweeper);
  }
}
