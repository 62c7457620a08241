// The embedded queue engine: SQS semantics over the platform's store (SQLite for one node, PostgreSQL for
// several). Each send or batch is one transaction, so an acknowledged message survives a process kill;
// leases are visible_at timestamps on the store's clock, so in-flight messages come back by themselves
// after a restart, or after the node that leased them died. Several engines (nodes) may serve one queue:
// the store decides who leases what (queue-repo.ts), and QueueSignals wakes the other nodes' waiters.
// This class is the facade callers hold; the concepts live beside it: queue-repo.ts (SQL), catalogue.ts
// (queues), messages.ts (send/receive/delete), waiters.ts (long polls), receipts.ts (handles),
// signals.ts (wake-ups across nodes), clock.ts (the store's clock).

import { StoreClock } from '../../store/clock.js';
import type { Sql } from '../../store/sql.js';
import { QueueCatalogue } from './catalogue.js';
import { SqsErrors } from './errors.js';
import { QueueMessages } from './messages.js';
import { MessageMoveTasks } from './move-tasks.js';
import { addPermission, allows, type CrossAccountAction, removePermission } from './policy.js';
import { QueueRepo, SCHEMA } from './queue-repo.js';
import { type QueueSignal, QueueSignals } from './signals.js';
import type {
  BatchResult,
  ListQueuesOptions,
  MoveTask,
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
  /** This node's clock (default Date.now); tests skew it to stand for a node whose clock is off. */
  localClock?: () => number;
  /** How often a queue with waiters is re-read in case a wake-up signal was lost (default 2 s, at least 1 s). */
  recheckMs?: number;
  /** How long a running move task's heartbeat may be silent before it is reported FAILED (default 30 s; tests shorten it). */
  moveTaskStaleMs?: number;
}

// Expired messages are also dropped when a receive meets them; the sweep keeps counts honest.
const SWEEP_INTERVAL_MS = 60_000;

export class StoreQueueEngine implements QueueEngine {
  readonly #catalogue: QueueCatalogue;
  readonly #messages: QueueMessages;
  readonly #waiters: QueueWaiters;
  readonly #moves: MessageMoveTasks;
  readonly #signals: QueueSignals;
  readonly #clock: StoreClock;
  readonly #sweeper: NodeJS.Timeout;
  /** Schema, clock and cross-node listener: every call waits for it (construction stays synchronous). */
  readonly #ready: Promise<void>;

  constructor(sql: Sql, opts: QueueEngineOptions) {
    const repo = new QueueRepo(sql);
    const clock = new StoreClock(sql, opts.localClock);
    const signals = new QueueSignals(sql);
    this.#clock = clock;
    this.#signals = signals;
    this.#catalogue = new QueueCatalogue(repo, opts.region);
    this.#waiters = new QueueWaiters(repo, this.#catalogue, this.#clock, opts.recheckMs);
    this.#messages = new QueueMessages(repo, this.#catalogue, this.#waiters, this.#clock, (queueId, at) => {
      this.#waiters.afterChange(queueId, at);
      this.#signals.publish({ kind: 'messages', queueId, at });
    });
    this.#moves = new MessageMoveTasks(repo, this.#catalogue, this.#messages, clock, opts.moveTaskStaleMs);
    this.#ready = (async () => {
      await sql.migrate('queue', SCHEMA);
      await clock.start();
      await signals.listen((s) => this.#onSignal(s));
    })();
    // A failed start is reported by every call that waits for it; don't also crash on it here.
    this.#ready.catch(() => {});
    this.#sweeper = setInterval(() => {
      this.sweepExpired().catch((e: unknown) =>
        console.error(`kindling: sweeping expired queue messages failed: ${(e as Error).message}`),
      );
    }, SWEEP_INTERVAL_MS);
    this.#sweeper.unref();
  }

  /** Resolves once the schema is in place and the engine hears other nodes. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Another node changed a queue: forget what this node cached, and wake waiters that may now receive. */
  #onSignal(s: QueueSignal): void {
    if (s.kind === 'messages') {
      this.#waiters.afterChange(s.queueId, s.at);
      return;
    }
    if (s.queueId < 0) {
      // Signals may have been lost (the store's listener reconnected): everyone looks again.
      this.#waiters.notifyAll();
      return;
    }
    this.#catalogue.forget(s.queueId);
    this.#messages.forget(s.queueId);
    this.#waiters.notify(s.queueId);
  }

  #changed(queueId: number): void {
    this.#signals.publish({ kind: 'changed', queueId });
  }

  // ---- queues ----

  async createQueue(
    owner: QueueOwner,
    name: string,
    attributes: Record<string, string> = {},
    tags: Record<string, string> = {},
  ): Promise<Queue> {
    await this.#ready;
    return this.#catalogue.createQueue(owner, name, attributes, tags);
  }

  async findQueue(owner: QueueOwner, ref: string): Promise<Queue | undefined> {
    await this.#ready;
    return this.#catalogue.findQueue(owner, ref);
  }

  async getQueue(owner: QueueOwner, ref: string): Promise<Queue> {
    const q = await this.findQueue(owner, ref);
    if (!q) throw SqsErrors.queueDoesNotExist();
    return q;
  }

  async getQueueFor(caller: QueueOwner, ref: string, action: CrossAccountAction): Promise<Queue> {
    const own = await this.findQueue(caller, ref);
    if (own) return own;
    // Only a miss among the caller's own queues looks further: the common path reads nothing more.
    const l = await this.#catalogue.foreign(caller, ref);
    if (l && allows(l.config.policy, caller.accountId, action, l.queue.arn)) return l.queue;
    throw SqsErrors.queueDoesNotExist();
  }

  async getQueueOf(caller: QueueOwner, ownerAccountId: string, name: string): Promise<Queue> {
    await this.#ready;
    if (ownerAccountId === caller.accountId) return this.getQueue(caller, name);
    const l = await this.#catalogue.byAccount(ownerAccountId, name);
    if (l && allows(l.config.policy, caller.accountId, 'GetQueueUrl', l.queue.arn)) return l.queue;
    throw SqsErrors.queueDoesNotExist();
  }

  async addPermission(
    queue: Queue,
    label: string | undefined,
    accountIds: readonly string[] | undefined,
    actions: readonly string[] | undefined,
  ): Promise<void> {
    await this.#ready;
    await this.#catalogue.updatePolicy(queue, (current) =>
      addPermission(current, queue.arn, label, accountIds, actions),
    );
    this.#changed(queue.id);
  }

  async removePermission(queue: Queue, label: string | undefined): Promise<void> {
    await this.#ready;
    await this.#catalogue.updatePolicy(queue, (current) => removePermission(current, label));
    this.#changed(queue.id);
  }

  async startMoveTask(
    owner: QueueOwner,
    sourceArn: string | undefined,
    destinationArn: string | undefined,
    maxPerSecond: number | undefined,
  ): Promise<string> {
    await this.#ready;
    return this.#moves.start(owner, sourceArn, destinationArn, maxPerSecond);
  }

  async listMoveTasks(
    owner: QueueOwner,
    sourceArn: string | undefined,
    maxResults: number | undefined,
  ): Promise<MoveTask[]> {
    await this.#ready;
    return this.#moves.list(owner, sourceArn, maxResults);
  }

  async cancelMoveTask(owner: QueueOwner, taskHandle: string | undefined): Promise<number> {
    await this.#ready;
    return this.#moves.cancel(owner, taskHandle);
  }

  async listQueues(
    owner: QueueOwner,
    opts: ListQueuesOptions = {},
  ): Promise<{ queues: Queue[]; nextToken?: string }> {
    await this.#ready;
    return this.#catalogue.listQueues(owner, opts);
  }

  async deleteQueue(queue: Queue): Promise<void> {
    await this.#ready;
    await this.#catalogue.deleteQueue(queue);
    this.#messages.forget(queue.id);
    // Waiters on the deleted queue wake up and find it gone, here and on the other nodes.
    this.#waiters.notify(queue.id);
    this.#changed(queue.id);
  }

  async purgeQueue(queue: Queue): Promise<void> {
    await this.#ready;
    await this.#messages.purge(queue);
    this.#changed(queue.id);
  }

  async getAttributes(queue: Queue, names: readonly string[] = ['All']): Promise<Record<string, string>> {
    await this.#ready;
    return this.#catalogue.getAttributes(queue, names, () => this.counts(queue));
  }

  async setAttributes(queue: Queue, attributes: Record<string, string>): Promise<void> {
    await this.#ready;
    await this.#catalogue.setAttributes(queue, attributes);
    this.#changed(queue.id);
  }

  async deadLetterSources(queue: Queue): Promise<Queue[]> {
    await this.#ready;
    return this.#catalogue.deadLetterSources(queue);
  }

  async tagQueue(queue: Queue, tags: Record<string, string>): Promise<void> {
    await this.#ready;
    await this.#catalogue.tagQueue(queue, tags);
  }

  async untagQueue(queue: Queue, keys: readonly string[]): Promise<void> {
    await this.#ready;
    await this.#catalogue.untagQueue(queue, keys);
  }

  async listTags(queue: Queue): Promise<Record<string, string>> {
    await this.#ready;
    return this.#catalogue.listTags(queue);
  }

  // ---- messages ----

  async send(queue: Queue, input: SendInput): Promise<SendResult> {
    await this.#ready;
    return this.#messages.send(queue, input);
  }

  async sendBatch(
    queue: Queue,
    entries: readonly (SendInput & { id: string })[],
  ): Promise<BatchResult<SendResult>> {
    await this.#ready;
    return this.#messages.sendBatch(queue, entries);
  }

  async receive(queue: Queue, opts: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    await this.#ready;
    return this.#messages.receive(queue, opts);
  }

  async deleteMessage(queue: Queue, receiptHandle: string): Promise<void> {
    await this.#ready;
    await this.#messages.deleteMessage(queue, receiptHandle);
  }

  async deleteBatch(
    queue: Queue,
    entries: readonly { id: string; receiptHandle: string }[],
  ): Promise<BatchResult<object>> {
    await this.#ready;
    return this.#messages.deleteBatch(queue, entries);
  }

  async changeVisibility(queue: Queue, receiptHandle: string, visibilityTimeout: number): Promise<void> {
    await this.#ready;
    await this.#messages.changeVisibility(queue, receiptHandle, visibilityTimeout);
  }

  async changeVisibilityBatch(
    queue: Queue,
    entries: readonly { id: string; receiptHandle: string; visibilityTimeout: number }[],
  ): Promise<BatchResult<object>> {
    await this.#ready;
    return this.#messages.changeVisibilityBatch(queue, entries);
  }

  async counts(queue: Queue): Promise<QueueCounts> {
    await this.#ready;
    return this.#messages.counts(queue);
  }

  // ---- wake-ups ----

  onMessage(queue: Queue, listener: () => void): () => void {
    return this.#waiters.onMessage(queue.id, listener);
  }

  async waitForMessages(queue: Queue, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    await this.#ready;
    return this.#messages.waitForMessages(queue, timeoutMs, signal);
  }

  async waitOrTake(
    queue: Queue,
    opts: { timeoutMs: number; max: number; signal?: AbortSignal },
  ): Promise<ReceivedMessage[] | boolean> {
    await this.#ready;
    return this.#messages.waitOrTake(queue, opts);
  }

  /** Deletes messages past their retention period and expired deduplication ids; returns messages deleted. */
  async sweepExpired(now?: number): Promise<number> {
    await this.#ready;
    return this.#messages.sweepExpired(now);
  }

  /** Ends every long poll and timer; the store stays open (the platform closes it). */
  close(): void {
    this.#moves.close();
    this.#waiters.close();
    this.#signals.close();
    this.#clock.stop();
    clearInterval(this.#sweeper);
  }
}
