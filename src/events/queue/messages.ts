// Messages: send (with FIFO deduplication), receive (leases, dead-letter moves, long polling), delete,
// visibility changes and counts. Each send, batch or receive is one transaction in the queue repo, with a
// few statements whatever the batch size; deletes and visibility changes are one compare-and-set
// statement on the receipt, so a message leased on one node is deleted or extended from any other.
import { createHash, randomUUID } from 'node:crypto';
import type { StoreClock } from '../../store/clock.js';
import type { Loaded, QueueCatalogue } from './catalogue.js';
import { SqsError, SqsErrors } from './errors.js';
import { md5Hex, md5OfMessageAttributes } from './md5.js';
import { type MessageRow, type NewMessage, type QueueRepo, toStored } from './queue-repo.js';
import { decodeReceipt, type Receipt, receiptToken, sequenceNumber } from './receipts.js';
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
import type { Handoff, QueueWaiters } from './waiters.js';

const DEDUP_WINDOW_MS = 5 * 60_000;
/** SQS's limit on a batch's messages together, whatever the queue's MaximumMessageSize. */
const MAX_BATCH_BYTES = 1_048_576;
/** SQS allows one PurgeQueue per queue every 60 seconds. */
const PURGE_COOLDOWN_MS = 60_000;
/** ChangeMessageVisibility: 12 hours from the receive at most. */
const MAX_VISIBILITY_MS = 43_200_000;
/** A queue's message count is read again after this long (other nodes send and delete too). */
const TOTAL_MS = 1_000;
/** Sends retried after another node claimed one of their deduplication ids first. */
const DEDUP_ATTEMPTS = 5;
/** More than any node's estimate of the store's clock is off by (clock.ts: half a round trip). */
const CLOCK_SLACK_MS = 1_000;

/** Another node committed a deduplication id this send also claims: roll back and look again. */
class DeduplicationRace extends Error {}

/** A move task was cancelled (or failed) while a batch was under way: the batch rolls back. */
class TaskStopped extends Error {}

/** What one step of a move task did. */
export interface MoveStep {
  moved: number;
  /** No receivable message sent before the task began is left. */
  done: boolean;
  /** The task is no longer RUNNING (cancelled): nothing was moved. */
  stopped: boolean;
  /** A message's destination (its original source queue) no longer exists. */
  missingDestination: boolean;
}

/** Tells this node's waiters and the other nodes that the queue may have messages receivable at `at`. */
export type Announce = (queueId: number, at: number) => void;

const batchFailure = (id: string, err: SqsError): BatchFailure => ({
  id,
  code: err.queryCode,
  message: err.message,
  senderFault: err.senderFault,
});

export class QueueMessages {
  readonly #repo: QueueRepo;
  readonly #catalogue: QueueCatalogue;
  readonly #waiters: QueueWaiters;
  readonly #clock: StoreClock;
  readonly #announce: Announce;
  // Messages per queue, counted then kept up to date after this node's commits for TOTAL_MS: COUNT(*)
  // scans and pollers ask for the backlog on every full batch.
  readonly #totals = new Map<number, { n: number; at: number }>();

  constructor(
    repo: QueueRepo,
    catalogue: QueueCatalogue,
    waiters: QueueWaiters,
    clock: StoreClock,
    announce: Announce,
  ) {
    this.#repo = repo;
    this.#catalogue = catalogue;
    this.#waiters = waiters;
    this.#clock = clock;
    this.#announce = announce;
  }

  /** The result, message and deduplication key of one entry, before anything is stored. */
  #prepare(
    l: Loaded,
    input: SendInput,
    now: number,
  ): { result: SendResult; message: NewMessage; dedupKey: string | undefined } {
    const md5OfBody = md5Hex(input.body);
    const md5Attrs = md5OfMessageAttributes(input.messageAttributes);
    const md5Sys = md5OfMessageAttributes(input.messageSystemAttributes);
    const result: SendResult = { messageId: randomUUID(), md5OfBody };
    if (md5Attrs) result.md5OfMessageAttributes = md5Attrs;
    if (md5Sys) result.md5OfMessageSystemAttributes = md5Sys;
    let dedupKey: string | undefined;
    let dedupId: string | null = null;
    if (l.config.fifo) {
      dedupId = input.deduplicationId ?? createHash('sha256').update(input.body).digest('hex');
      dedupKey =
        l.config.deduplicationScope === 'messageGroup' ? `${input.messageGroupId}\0${dedupId}` : dedupId;
    }
    const delay = input.delaySeconds ?? l.config.delaySeconds;
    const message: NewMessage = {
      queueId: l.queue.id,
      messageId: result.messageId,
      body: input.body,
      attributes: toStored(input.messageAttributes),
      md5Body: md5OfBody,
      md5Attributes: md5Attrs ?? null,
      systemAttributes: toStored(input.messageSystemAttributes),
      senderId: input.senderId ?? l.queue.accountId,
      sentAt: now,
      // Undelayed: visible from before it was sent, by more than two nodes' estimates of the store's clock
      // can differ, so a receive on another node right after the send returns finds it (as on SQS).
      visibleAt: delay > 0 ? now + delay * 1000 : now - CLOCK_SLACK_MS,
      expiresAt: now + l.config.messageRetentionPeriod * 1000,
      groupId: input.messageGroupId ?? null,
      dedupId,
    };
    return { result, message, dedupKey };
  }

  /**
   * A receiver of this node is waiting on the queue: the first messages of this send that are visible at
   * once go to it already leased (the INSERT writes the lease), sparing it a receive round trip.
   */
  #handOff(
    l: Loaded,
    prepared: { message: NewMessage }[],
    now: number,
  ): { h: Handoff; leased: number[] } | undefined {
    const ready = prepared.flatMap((p, i) => (p.message.visibleAt <= now ? [i] : []));
    if (ready.length === 0) return undefined;
    const h = this.#waiters.takeHandoff(l.queue.id);
    if (!h) return undefined;
    const leased = ready.slice(0, h.max);
    const receipt = receiptToken(now);
    for (const i of leased) {
      const m = prepared[i]!.message;
      m.visibleAt = now + h.visibilityMs;
      m.lease = { receipt, at: now };
    }
    return { h, leased };
  }

  #deliver(
    l: Loaded,
    { h, leased }: { h: Handoff; leased: number[] },
    prepared: { message: NewMessage }[],
    seqs: number[],
    now: number,
  ): void {
    const out: ReceivedMessage[] = [];
    for (const i of leased) {
      const m = prepared[i]!.message;
      const row: MessageRow = {
        seq: seqs[i]!,
        message_id: m.messageId,
        body: m.body,
        attributes: m.attributes,
        md5_body: m.md5Body,
        md5_attributes: m.md5Attributes,
        system_attributes: m.systemAttributes,
        sender_id: m.senderId,
        sent_at: m.sentAt,
        expires_at: m.expiresAt,
        // As a receive reports it: the count before this receive.
        receive_count: 0,
        first_received_at: now,
        source_arn: null,
        group_id: m.groupId,
        dedup_id: m.dedupId,
      };
      out.push(toReceived(l.queue, row, m.lease!.receipt, now, h.attributeNames, h.messageAttributeNames));
    }
    this.#waiters.afterLease(l.queue.id, now + h.visibilityMs);
    h.deliver(out);
  }

  /**
   * Waits for messages like waitForMessages, offering to take new ones straight from a send of this node
   * (standard queues): resolves the messages handed over (already leased), or whether some are receivable.
   */
  async waitOrTake(
    queue: Queue,
    opts: { timeoutMs: number; max: number; signal?: AbortSignal },
  ): Promise<ReceivedMessage[] | boolean> {
    let l: Loaded;
    try {
      l = await this.#catalogue.loaded(queue);
    } catch (e) {
      if (e instanceof SqsError) return false; // deleted
      throw e;
    }
    if (l.config.fifo) return this.#waiters.waitForMessages(queue.id, opts.timeoutMs, opts.signal);
    let deliver!: (m: ReceivedMessage[]) => void;
    const handed = new Promise<ReceivedMessage[]>((resolve) => {
      deliver = resolve;
    });
    const h: Handoff = {
      max: opts.max,
      visibilityMs: l.config.visibilityTimeout * 1000,
      attributeNames: undefined,
      messageAttributeNames: undefined,
      taken: false,
      deliver,
    };
    const withdraw = this.#waiters.offerHandoff(queue.id, h);
    try {
      const woke = await Promise.race([
        this.#waiters.waitForMessages(queue.id, opts.timeoutMs, opts.signal),
        handed,
      ]);
      // Taken by a send while the wait ended some other way: its delivery is on its way, and leased.
      if (h.taken) return await handed;
      return woke;
    } finally {
      withdraw();
    }
  }

  /**
   * Stores entries in one transaction (one multi-row INSERT); a FIFO duplicate, within the deduplication
   * interval on any node or earlier in the same batch, answers the original instead, as SQS does.
   */
  async #store(
    l: Loaded,
    inputs: readonly SendInput[],
  ): Promise<{ results: SendResult[]; earliest: number; inserted: number }> {
    for (let attempt = 1; ; attempt++) {
      const now = this.#clock.now();
      const prepared = inputs.map((input) => this.#prepare(l, input, now));
      if (!l.config.fifo) {
        // No deduplication: the one multi-row INSERT is the transaction.
        const handoff = this.#handOff(l, prepared, now);
        let seqs: number[];
        try {
          seqs = await this.#repo.insertMessages(prepared.map((p) => p.message));
        } catch (e) {
          handoff?.h.deliver([]);
          throw e;
        }
        if (handoff) this.#deliver(l, handoff, prepared, seqs, now);
        const earliest = Math.min(...prepared.map((p) => p.message.visibleAt));
        return { results: prepared.map((p) => p.result), earliest, inserted: prepared.length };
      }
      try {
        return await this.#repo.tx(async (r) => {
          const keys = [...new Set(prepared.flatMap((p) => (p.dedupKey === undefined ? [] : [p.dedupKey])))];
          const live = await r.findDuplicates(l.queue.id, keys, now);
          const fresh: typeof prepared = [];
          const firstOfKey = new Map<string, (typeof prepared)[number]>();
          const copies: [(typeof prepared)[number], (typeof prepared)[number]][] = [];
          for (const p of prepared) {
            const key = p.dedupKey;
            const dup = key === undefined ? undefined : live.get(key);
            if (dup) {
              p.result.messageId = dup.message_id;
              p.result.sequenceNumber = sequenceNumber(dup.seq);
              continue;
            }
            const first = key === undefined ? undefined : firstOfKey.get(key);
            if (first) {
              copies.push([p, first]);
              continue;
            }
            if (key !== undefined) firstOfKey.set(key, p);
            fresh.push(p);
          }
          const seqs = await r.insertMessages(fresh.map((p) => p.message));
          const claims: { key: string; messageId: string; seq: number }[] = [];
          fresh.forEach((p, i) => {
            if (p.dedupKey === undefined) return;
            p.result.sequenceNumber = sequenceNumber(seqs[i]!);
            claims.push({ key: p.dedupKey, messageId: p.message.messageId, seq: seqs[i]! });
          });
          if (!(await r.claimDeduplication(l.queue.id, claims, now, now + DEDUP_WINDOW_MS)))
            throw new DeduplicationRace();
          for (const [p, first] of copies) {
            p.result.messageId = first.result.messageId;
            p.result.sequenceNumber = first.result.sequenceNumber;
          }
          const earliest = Math.min(Number.POSITIVE_INFINITY, ...fresh.map((p) => p.message.visibleAt));
          return { results: prepared.map((p) => p.result), earliest, inserted: fresh.length };
        });
      } catch (e) {
        if (e instanceof DeduplicationRace && attempt < DEDUP_ATTEMPTS) continue;
        throw e;
      }
    }
  }

  async send(queue: Queue, input: SendInput): Promise<SendResult> {
    const l = await this.#catalogue.loaded(queue);
    validateSend(input, l.config);
    const { results, earliest, inserted } = await this.#store(l, [input]);
    if (inserted > 0) {
      this.#adjust(queue.id, inserted);
      this.#announce(queue.id, earliest);
    }
    return results[0]!;
  }

  async sendBatch(
    queue: Queue,
    entries: readonly (SendInput & { id: string })[],
  ): Promise<BatchResult<SendResult>> {
    const l = await this.#catalogue.loaded(queue);
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
    if (total > MAX_BATCH_BYTES) throw SqsErrors.batchRequestTooLong(total);
    if (valid.length === 0) return { successful: [], failed };
    const { results, earliest, inserted } = await this.#store(l, valid);
    this.#adjust(queue.id, inserted);
    if (inserted > 0) this.#announce(queue.id, earliest);
    return { successful: valid.map((entry, i) => ({ id: entry.id, ...results[i]! })), failed };
  }

  /** One transaction: lock visible messages, move poison ones to the DLQ, lease the rest. */
  async #receiveNow(
    l: Loaded,
    max: number,
    visibilityTimeout: number,
    attributeNames: readonly string[] | undefined,
    messageAttributeNames: readonly string[] | undefined,
  ): Promise<ReceivedMessage[]> {
    const queue = l.queue;
    const redrive = l.config.redrivePolicy;
    const dlq = redrive
      ? await this.#catalogue.byArn(
          { id: queue.tenantId, accountId: queue.accountId },
          redrive.deadLetterTargetArn,
        )
      : undefined;
    const dlqLoaded = dlq && dlq.id !== queue.id ? await this.#catalogue.loaded(dlq) : undefined;
    const now = this.#clock.now();
    const token = receiptToken(now);
    if (!l.config.fifo && !dlqLoaded) {
      // Nothing to dead-letter and no group order: one statement, one round trip.
      const rows = await this.#repo.leaseNext(queue.id, now, max, now + visibilityTimeout * 1000, token);
      if (rows.length > 0) this.#waiters.afterLease(queue.id, now + visibilityTimeout * 1000);
      return rows.map((m) => toReceived(queue, m, token, now, attributeNames, messageAttributeNames));
    }
    let moved = 0;
    let expired = 0;
    const out = await this.#repo.tx(async (r) => {
      moved = 0;
      expired = 0;
      const got: ReceivedMessage[] = [];
      // Poison messages and expired ones are skipped, so keep reading until the batch is full or the queue is drained.
      // A message leased with visibility 0 is visible again at once: never hand it out twice in one call.
      const leased = new Set<number>();
      for (let round = 0; got.length < max && round < 100; round++) {
        const rows = (
          await r.lockVisible(queue.id, l.config.fifo, now, max - got.length + leased.size)
        ).filter((m) => !leased.has(m.seq));
        if (rows.length === 0) break;
        const stale: number[] = [];
        const poison: number[] = [];
        const lease: typeof rows = [];
        for (const m of rows) {
          if (got.length + lease.length >= max) break;
          if (m.expires_at <= now) stale.push(m.seq);
          else if (redrive && dlqLoaded && m.receive_count >= redrive.maxReceiveCount) poison.push(m.seq);
          else lease.push(m);
        }
        expired += await r.deleteSeqs(stale);
        if (dlqLoaded && poison.length > 0) {
          // The move is part of this transaction: a message is in exactly one of the two queues.
          await r.moveToDeadLetter(
            poison,
            dlqLoaded.queue.id,
            now,
            queue.arn,
            dlqLoaded.config.messageRetentionPeriod * 1000,
          );
          moved += poison.length;
        }
        await r.lease(
          lease.map((m) => m.seq),
          now + visibilityTimeout * 1000,
          now,
          token,
        );
        for (const m of lease) {
          leased.add(m.seq);
          got.push(toReceived(queue, m, token, now, attributeNames, messageAttributeNames));
        }
        // Nothing skipped: the rows asked for were all there was.
        if (stale.length + poison.length === 0) break;
      }
      return got;
    });
    this.#adjust(queue.id, -moved - expired);
    if (moved && dlqLoaded) {
      this.#adjust(dlqLoaded.queue.id, moved);
      this.#announce(dlqLoaded.queue.id, 0);
    }
    if (out.length > 0) this.#waiters.afterLease(queue.id, now + visibilityTimeout * 1000);
    return out;
  }

  async receive(queue: Queue, opts: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    const l = await this.#catalogue.loaded(queue);
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
      const current = await this.#catalogue.loaded(queue);
      const got = await this.#receiveNow(current, max, vt, opts.attributeNames, opts.messageAttributeNames);
      const left = deadline - Date.now();
      if (got.length > 0 || left <= 0 || opts.signal?.aborted || this.#waiters.closed) return got;
      await this.waitForMessages(queue, left, opts.signal);
    }
  }

  async waitForMessages(queue: Queue, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.#catalogue.loaded(queue);
    } catch (e) {
      if (e instanceof SqsError) return false; // deleted
      throw e;
    }
    return this.#waiters.waitForMessages(queue.id, timeoutMs, signal);
  }

  #handle(queue: Queue, receiptHandle: string): Receipt {
    const h = decodeReceipt(receiptHandle);
    if (!h || h.queueId !== queue.id) throw SqsErrors.receiptHandleIsInvalid(String(receiptHandle));
    return h;
  }

  async deleteMessage(queue: Queue, receiptHandle: string): Promise<void> {
    await this.#catalogue.loaded(queue);
    const h = this.#handle(queue, receiptHandle);
    // As on SQS, a stale handle (message received again since) succeeds without deleting.
    const deleted = await this.#repo.deleteLeased(queue.id, [h]);
    this.#adjust(queue.id, -deleted);
    // Deleting a FIFO message unblocks the rest of its group.
    if (deleted > 0 && queue.fifo) this.#announce(queue.id, 0);
  }

  async deleteBatch(
    queue: Queue,
    entries: readonly { id: string; receiptHandle: string }[],
  ): Promise<BatchResult<object>> {
    await this.#catalogue.loaded(queue);
    validateBatchIds(entries, 'DeleteMessageBatchRequestEntry');
    const result: BatchResult<object> = { successful: [], failed: [] };
    const handles: { seq: number; token: Buffer }[] = [];
    for (const e of entries) {
      try {
        handles.push(this.#handle(queue, e.receiptHandle));
        result.successful.push({ id: e.id });
      } catch (err) {
        if (!(err instanceof SqsError)) throw err;
        result.failed.push(batchFailure(e.id, err));
      }
    }
    const deleted = await this.#repo.deleteLeased(queue.id, handles);
    this.#adjust(queue.id, -deleted);
    if (deleted > 0 && queue.fifo) this.#announce(queue.id, 0);
    return result;
  }

  async #changeOne(queue: Queue, receiptHandle: string, timeout: number, now: number): Promise<number> {
    if (!Number.isInteger(timeout) || timeout < 0) {
      throw SqsErrors.invalidParameterValue(
        `Value ${timeout} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.`,
      );
    }
    const h = this.#handle(queue, receiptHandle);
    const at = now + timeout * 1000;
    // As on SQS, a message stays invisible at most 12 hours from the receive that returned this handle.
    if (Math.floor((at - h.receivedAt) / 1000) * 1000 > MAX_VISIBILITY_MS) {
      throw SqsErrors.invalidParameterValue(
        `Value ${timeout} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds].`,
      );
    }
    // Only while this handle is the message's latest and it is still in flight (on whichever node leased it).
    if (!(await this.#repo.setVisibleAt(queue.id, h.seq, h.token, at, now)))
      throw SqsErrors.messageNotInflight();
    return at;
  }

  async changeVisibility(queue: Queue, receiptHandle: string, visibilityTimeout: number): Promise<void> {
    await this.#catalogue.loaded(queue);
    const at = await this.#changeOne(queue, receiptHandle, visibilityTimeout, this.#clock.now());
    this.#announce(queue.id, at);
  }

  async changeVisibilityBatch(
    queue: Queue,
    entries: readonly { id: string; receiptHandle: string; visibilityTimeout: number }[],
  ): Promise<BatchResult<object>> {
    await this.#catalogue.loaded(queue);
    validateBatchIds(entries, 'ChangeMessageVisibilityBatchRequestEntry');
    const now = this.#clock.now();
    let earliest = Number.POSITIVE_INFINITY;
    const result: BatchResult<object> = { successful: [], failed: [] };
    // Each entry is its own compare-and-set: entries are independent, as on SQS.
    for (const e of entries) {
      try {
        earliest = Math.min(
          earliest,
          await this.#changeOne(queue, e.receiptHandle, e.visibilityTimeout, now),
        );
        result.successful.push({ id: e.id });
      } catch (err) {
        if (!(err instanceof SqsError)) throw err;
        result.failed.push(batchFailure(e.id, err));
      }
    }
    if (result.successful.length > 0) this.#announce(queue.id, earliest);
    return result;
  }

  async counts(queue: Queue): Promise<QueueCounts> {
    await this.#catalogue.loaded(queue);
    let total = this.#totals.get(queue.id);
    if (total === undefined || Date.now() - total.at >= TOTAL_MS) {
      total = { n: await this.#repo.total(queue.id), at: Date.now() };
      this.#totals.set(queue.id, total);
    }
    const r = await this.#repo.invisibleCounts(queue.id, this.#clock.now());
    return {
      visible: Math.max(0, total.n - r.inFlight - r.delayed),
      inFlight: r.inFlight,
      delayed: r.delayed,
    };
  }

  async purge(queue: Queue): Promise<void> {
    await this.#catalogue.loaded(queue);
    if (!(await this.#repo.purge(queue.id, this.#clock.now(), PURGE_COOLDOWN_MS)))
      throw SqsErrors.purgeQueueInProgress(queue.name);
    this.#totals.delete(queue.id);
  }

  /**
   * One step of a message move task: up to `max` receivable messages of `source` sent before the task
   * began go to their destinations as new messages (new ids; body, attributes and sender kept), in one
   * transaction with the task's progress, so a message is in exactly one queue and counted once; nothing
   * moves once the task is no longer RUNNING. `destination` maps a message's DeadLetterQueueSourceArn (or
   * null) to the queue it goes to, resolved before the transaction (no reads on the store inside it).
   */
  async moveBatch(
    source: Queue,
    task: { id: string; maxSeq: number },
    max: number,
    destination: (sourceArn: string | null) => Loaded | undefined,
  ): Promise<MoveStep> {
    const step: MoveStep = { moved: 0, done: false, stopped: false, missingDestination: false };
    const into = new Map<number, number>();
    try {
      await this.#repo.tx(async (r) => {
        step.moved = 0;
        step.missingDestination = false;
        into.clear();
        const now = this.#clock.now();
        const rows = await r.movable(source.id, now, task.maxSeq, max, true);
        if (rows.length === 0) {
          step.done = true;
          return;
        }
        const fresh: NewMessage[] = [];
        const seqs: number[] = [];
        for (const m of rows) {
          const d = destination(m.source_arn);
          if (!d) {
            step.missingDestination = true;
            break;
          }
          seqs.push(m.seq);
          into.set(d.queue.id, (into.get(d.queue.id) ?? 0) + 1);
          fresh.push({
            queueId: d.queue.id,
            messageId: randomUUID(),
            body: m.body,
            attributes: m.attributes,
            md5Body: m.md5_body,
            md5Attributes: m.md5_attributes,
            systemAttributes: m.system_attributes,
            senderId: m.sender_id,
            sentAt: now,
            visibleAt: now - CLOCK_SLACK_MS,
            expiresAt: now + d.config.messageRetentionPeriod * 1000,
            groupId: m.group_id,
            dedupId: m.dedup_id,
          });
        }
        await r.insertMessages(fresh);
        await r.deleteSeqs(seqs);
        if (!(await r.moveTaskProgress(task.id, seqs.length, now))) throw new TaskStopped();
        step.moved = seqs.length;
      });
    } catch (e) {
      if (!(e instanceof TaskStopped)) throw e;
      return { moved: 0, done: false, stopped: true, missingDestination: false };
    }
    this.#adjust(source.id, -step.moved);
    for (const [queueId, n] of into) {
      this.#adjust(queueId, n);
      this.#announce(queueId, 0);
    }
    return step;
  }

  /** A deleted queue's count is dropped. */
  forget(queueId: number): void {
    this.#totals.delete(queueId);
  }

  /** Deletes messages past their retention period and expired deduplication ids; returns messages deleted. */
  async sweepExpired(now = this.#clock.now()): Promise<number> {
    const deleted = await this.#repo.sweepExpired(now);
    // Totals are recounted on next use rather than tracked per queue here.
    if (deleted > 0) this.#totals.clear();
    return deleted;
  }

  #adjust(queueId: number, delta: number): void {
    const total = this.#totals.get(queueId);
    if (total !== undefined && delta !== 0) total.n += delta;
  }
}
