// Messages: send (with FIFO deduplication), receive (leases, dead-letter moves, long polling), delete,
// visibility changes and counts. Each send, batch or receive is one transaction in the queue repo.
import { createHash, randomUUID } from 'node:crypto';
import type { Loaded, QueueCatalogue } from './catalogue.js';
import { SqsError, SqsErrors } from './errors.js';
import { md5Hex, md5OfMessageAttributes } from './md5.js';
import { type SqliteQueueRepo, toStored } from './queue-repo.js';
import { decodeReceipt, receiptToken, sameToken, sequenceNumber } from './receipts.js';
import { toReceived } from './received.js';
import type {
  BatchFailure,
  BatchResult,
  Queue,
  QueueCounts,
  ReceivedMessage,
  ReceiveOptions,
  SendInput,
  SendResult,
} from './types.js';
import { validateBatchIds, validateSend } from './validate.js';
import type { QueueWaiters } from './waiters.js';

const DEDUP_WINDOW_MS = 5 * 60_000;

const batchFailure = (id: string, err: SqsError): BatchFailure => ({
  id,
  code: err.queryCode,
  message: err.message,
  senderFault: err.senderFault,
});

export class QueueMessages {
  readonly #repo: SqliteQueueRepo;
  readonly #catalogue: QueueCatalogue;
  readonly #waiters: QueueWaiters;
  // Messages per queue, counted once then kept up to date after each commit: COUNT(*) is a full scan
  // and pollers ask for the backlog on every full batch.
  readonly #totals = new Map<number, number>();

  constructor(repo: SqliteQueueRepo, catalogue: QueueCatalogue, waiters: QueueWaiters) {
    this.#repo = repo;
    this.#catalogue = catalogue;
    this.#waiters = waiters;
  }

  /** Inserts one message (inside the caller's transaction); a FIFO duplicate answers the original instead. */
  #insert(
    l: Loaded,
    input: SendInput,
    now: number,
  ): { result: SendResult; visibleAt: number; inserted: boolean } {
    const md5OfBody = md5Hex(input.body);
    const md5Attrs = md5OfMessageAttributes(input.messageAttributes);
    const md5Sys = md5OfMessageAttributes(input.messageSystemAttributes);
    const result: SendResult = { messageId: '', md5OfBody };
    if (md5Attrs) result.md5OfMessageAttributes = md5Attrs;
    if (md5Sys) result.md5OfMessageSystemAttributes = md5Sys;
    let dedupKey: string | undefined;
    let dedupId: string | null = null;
    if (l.config.fifo) {
      dedupId = input.deduplicationId ?? createHash('sha256').update(input.body).digest('hex');
      dedupKey =
        l.config.deduplicationScope === 'messageGroup' ? `${input.messageGroupId}\0${dedupId}` : dedupId;
      // Accepted but not delivered again, as SQS does within its deduplication interval.
      const dup = this.#repo.findDuplicate(l.queue.id, dedupKey, now);
      if (dup) {
        result.messageId = dup.message_id;
        result.sequenceNumber = sequenceNumber(dup.seq);
        return { result, visibleAt: Number.POSITIVE_INFINITY, inserted: false };
      }
    }
    result.messageId = randomUUID();
    const delay = input.delaySeconds ?? l.config.delaySeconds;
    const visibleAt = now + delay * 1000;
    const seq = this.#repo.insertMessage({
      queueId: l.queue.id,
      messageId: result.messageId,
      body: input.body,
      attributes: toStored(input.messageAttributes),
      md5Body: md5OfBody,
      md5Attributes: md5Attrs ?? null,
      systemAttributes: toStored(input.messageSystemAttributes),
      senderId: input.senderId ?? l.queue.accountId,
      sentAt: now,
      visibleAt,
      expiresAt: now + l.config.messageRetentionPeriod * 1000,
      groupId: input.messageGroupId ?? null,
      dedupId,
    });
    if (dedupKey !== undefined) {
      result.sequenceNumber = sequenceNumber(seq);
      this.#repo.rememberDeduplication(l.queue.id, dedupKey, result.messageId, seq, now + DEDUP_WINDOW_MS);
    }
    return { result, visibleAt, inserted: true };
  }

  send(queue: Queue, input: SendInput): SendResult {
    const l = this.#catalogue.loaded(queue);
    validateSend(input, l.config);
    const now = Date.now();
    const { result, visibleAt, inserted } = this.#repo.transaction(() => this.#insert(l, input, now));
    if (inserted) {
      this.#adjust(queue.id, 1);
      this.#waiters.afterChange(queue.id, visibleAt);
    }
    return result;
  }

  sendBatch(queue: Queue, entries: readonly (SendInput & { id: string })[]): BatchResult<SendResult> {
    const l = this.#catalogue.loaded(queue);
    validateBatchIds(entries, 'SendMessageBatchRequestEntry');
    const failed: BatchFailure[] = [];
    const valid: (SendInput & { id: string })[] = [];
    let total = 0;
    for (const entry of entries) {
      try {
        total += validateSend(entry, l.config);
        valid.push(entry);
      } catch (e) {
        if (!(e instanceof SqsError)) throw e;
        failed.push(batchFailure(entry.id, e));
      }
    }
    if (total > l.config.maximumMessageSize) throw SqsErrors.batchRequestTooLong(total);
    const now = Date.now();
    let earliest = Number.POSITIVE_INFINITY;
    let inserted = 0;
    const successful = this.#repo.transaction(() =>
      valid.map((entry) => {
        const r = this.#insert(l, entry, now);
        earliest = Math.min(earliest, r.visibleAt);
        if (r.inserted) inserted++;
        return { id: entry.id, ...r.result };
      }),
    );
    this.#adjust(queue.id, inserted);
    if (successful.length > 0) this.#waiters.afterChange(queue.id, earliest);
    return { successful, failed };
  }

  /** One transaction: pick visible messages, move poison ones to the DLQ, lease the rest. */
  #receiveNow(
    l: Loaded,
    max: number,
    visibilityTimeout: number,
    attributeNames: readonly string[] | undefined,
    messageAttributeNames: readonly string[] | undefined,
  ): ReceivedMessage[] {
    const queue = l.queue;
    const redrive = l.config.redrivePolicy;
    const dlq = redrive
      ? this.#catalogue.byArn({ id: queue.tenantId, accountId: queue.accountId }, redrive.deadLetterTargetArn)
      : undefined;
    const dlqLoaded = dlq && dlq.id !== queue.id ? this.#catalogue.loaded(dlq) : undefined;
    let moved = 0;
    let expired = 0;
    const out = this.#repo.transaction(() => {
      const now = Date.now();
      const got: ReceivedMessage[] = [];
      // Poison messages and expired ones are skipped, so keep reading until the batch is full or the queue is drained.
      // A message leased with visibility 0 is visible again at once: never hand it out twice in one call.
      const leased = new Set<number>();
      for (let round = 0; got.length < max && round < 100; round++) {
        const rows = this.#repo
          .visibleMessages(queue.id, l.config.fifo, now, max - got.length + leased.size)
          .filter((r) => !leased.has(r.seq));
        if (rows.length === 0) break;
        let skipped = 0;
        for (const r of rows) {
          if (got.length >= max) break;
          if (r.expires_at <= now) {
            this.#repo.deleteMessage(r.seq);
            expired++;
            skipped++;
            continue;
          }
          if (redrive && dlqLoaded && r.receive_count >= redrive.maxReceiveCount) {
            this.#repo.moveToDeadLetter(
              r.seq,
              dlqLoaded.queue.id,
              now,
              queue.arn,
              r.sent_at + dlqLoaded.config.messageRetentionPeriod * 1000,
            );
            moved++;
            skipped++;
            continue;
          }
          const token = receiptToken();
          this.#repo.lease(r.seq, now + visibilityTimeout * 1000, now, token);
          leased.add(r.seq);
          got.push(toReceived(queue, r, token, now, attributeNames, messageAttributeNames));
        }
        // Nothing skipped: the rows asked for were all there was.
        if (skipped === 0) break;
      }
      return got;
    });
    this.#adjust(queue.id, -moved - expired);
    if (moved && dlqLoaded) {
      this.#adjust(dlqLoaded.queue.id, moved);
      this.#waiters.afterChange(dlqLoaded.queue.id, 0);
    }
    if (out.length > 0) this.#waiters.afterLease(queue.id, Date.now() + visibilityTimeout * 1000);
    return out;
  }

  async receive(queue: Queue, opts: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    const l = this.#catalogue.loaded(queue);
    const max = opts.maxMessages ?? 1;
    if (!Number.isInteger(max) || max < 1 || max > 10) {
      throw SqsErrors.invalidParameterValue(
        `Value ${max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.`,
      );
    }
    const vt = opts.visibilityTimeout ?? l.config.visibilityTimeout;
    if (!Number.isInteger(vt) || vt < 0 || vt > 43_200) {
      throw SqsErrors.invalidParameterValue(
        `Value ${vt} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.`,
      );
    }
    const wait = opts.waitTimeSeconds ?? l.config.receiveMessageWaitTimeSeconds;
    if (!Number.isInteger(wait) || wait < 0 || wait > 20) {
      throw SqsErrors.invalidParameterValue(
        `Value ${wait} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.`,
      );
    }
    const deadline = Date.now() + wait * 1000;
    for (;;) {
      const current = this.#catalogue.loaded(queue);
      const got = this.#receiveNow(current, max, vt, opts.attributeNames, opts.messageAttributeNames);
      const left = deadline - Date.now();
      if (got.length > 0 || left <= 0 || opts.signal?.aborted || this.#waiters.closed) return got;
      await this.waitForMessages(queue, left, opts.signal);
    }
  }

  waitForMessages(queue: Queue, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    try {
      this.#catalogue.loaded(queue); // the waiters read the cached config
    } catch {
      return Promise.resolve(false); // deleted
    }
    return this.#waiters.waitForMessages(queue.id, timeoutMs, signal);
  }

  #handle(queue: Queue, receiptHandle: string): { seq: number; token: Buffer } {
    const h = decodeReceipt(receiptHandle);
    if (!h || h.queueId !== queue.id) throw SqsErrors.receiptHandleIsInvalid(String(receiptHandle));
    return h;
  }

  /** The message a handle names while the handle is still its latest; undefined when stale or gone. */
  #current(queue: Queue, h: { seq: number; token: Buffer }): { visible_at: number } | undefined {
    const row = this.#repo.messageLease(h.seq);
    if (!row || row.queue_id !== queue.id) return undefined;
    return sameToken(row.receipt, h.token) ? row : undefined;
  }

  deleteMessage(queue: Queue, receiptHandle: string): void {
    this.#catalogue.loaded(queue);
    const h = this.#handle(queue, receiptHandle);
    // As on SQS, a stale handle (message received again since) succeeds without deleting.
    if (this.#current(queue, h)) {
      this.#adjust(queue.id, -this.#repo.deleteMessage(h.seq));
      // Deleting a FIFO message unblocks the rest of its group.
      if (queue.fifo) this.#waiters.afterChange(queue.id, 0);
    }
  }

  deleteBatch(queue: Queue, entries: readonly { id: string; receiptHandle: string }[]): BatchResult<object> {
    this.#catalogue.loaded(queue);
    validateBatchIds(entries, 'DeleteMessageBatchRequestEntry');
    let deleted = 0;
    const out = this.#repo.transaction(() => {
      const result: BatchResult<object> = { successful: [], failed: [] };
      for (const e of entries) {
        try {
          const h = this.#handle(queue, e.receiptHandle);
          if (this.#current(queue, h)) deleted += this.#repo.deleteMessage(h.seq);
          result.successful.push({ id: e.id });
        } catch (err) {
          if (!(err instanceof SqsError)) throw err;
          result.failed.push(batchFailure(e.id, err));
        }
      }
      return result;
    });
    this.#adjust(queue.id, -deleted);
    if (deleted > 0 && queue.fifo) this.#waiters.afterChange(queue.id, 0);
    return out;
  }

  #changeOne(queue: Queue, receiptHandle: string, timeout: number, now: number): number {
    if (!Number.isInteger(timeout) || timeout < 0 || timeout > 43_200) {
      throw SqsErrors.invalidParameterValue(
        `Value ${timeout} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.`,
      );
    }
    const h = this.#handle(queue, receiptHandle);
    const row = this.#current(queue, h);
    if (!row || row.visible_at <= now) throw SqsErrors.messageNotInflight();
    const at = now + timeout * 1000;
    this.#repo.setVisibleAt(h.seq, at);
    return at;
  }

  changeVisibility(queue: Queue, receiptHandle: string, visibilityTimeout: number): void {
    this.#catalogue.loaded(queue);
    const at = this.#changeOne(queue, receiptHandle, visibilityTimeout, Date.now());
    this.#waiters.afterChange(queue.id, at);
  }

  changeVisibilityBatch(
    queue: Queue,
    entries: readonly { id: string; receiptHandle: string; visibilityTimeout: number }[],
  ): BatchResult<object> {
    this.#catalogue.loaded(queue);
    validateBatchIds(entries, 'ChangeMessageVisibilityBatchRequestEntry');
    const now = Date.now();
    let earliest = Number.POSITIVE_INFINITY;
    const result = this.#repo.transaction(() => {
      const r: BatchResult<object> = { successful: [], failed: [] };
      for (const e of entries) {
        try {
          earliest = Math.min(earliest, this.#changeOne(queue, e.receiptHandle, e.visibilityTimeout, now));
          r.successful.push({ id: e.id });
        } catch (err) {
          if (!(err instanceof SqsError)) throw err;
          r.failed.push(batchFailure(e.id, err));
        }
      }
      return r;
    });
    if (result.successful.length > 0) this.#waiters.afterChange(queue.id, earliest);
    return result;
  }

  counts(queue: Queue): QueueCounts {
    this.#catalogue.loaded(queue);
    let total = this.#totals.get(queue.id);
    if (total === undefined) {
      total = this.#repo.total(queue.id);
      this.#totals.set(queue.id, total);
    }
    const r = this.#repo.invisibleCounts(queue.id, Date.now());
    return { visible: Math.max(0, total - r.inFlight - r.delayed), inFlight: r.inFlight, delayed: r.delayed };
  }

  purge(queue: Queue): void {
    this.#catalogue.loaded(queue);
    this.#repo.purge(queue.id);
    this.#totals.set(queue.id, 0);
  }

  /** A deleted queue's count is dropped. */
  forget(queueId: number): void {
    this.#totals.delete(queueId);
  }

  /** Deletes messages past their retention period and expired deduplication ids; returns messages deleted. */
  sweepExpired(now = Date.now()): number {
    const deleted = this.#repo.sweepExpired(now);
    // Totals are recounted on next use rather than tracked per queue here.
    if (deleted > 0) this.#totals.clear();
    return deleted;
  }

  #adjust(queueId: number, delta: number): void {
    const total = this.#totals.get(queueId);
    if (total !== undefined && delta !== 0) this.#totals.set(queueId, total + delta);
  }
}
