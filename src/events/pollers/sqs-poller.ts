// Polls one embedded queue for one mapping: leases batches, hands them to the function as Lambda's SQS
// event (or message by message to the RPC processor), deletes what succeeded. Failed messages stay
// leased and return after the visibility timeout, so the queue's redrive policy dead-letters poison
// messages. Lanes (batches in flight) follow the backlog; waiting is the engine's wake-up (this node's
// sends directly, other nodes' through the store's notifications).
import type { Tenant } from '../../control/tenants.js';
import { isDomainError, isNotFound } from '../../errors.js';
import type { Invoker } from '../../invoke/types.js';
import { FUNCTION_GONE_REASON, type Mapping, QUEUE_GONE_REASON } from '../mappings/types.js';
import type { Queue, QueueEngine, ReceivedMessage } from '../queue/types.js';
import type { Replier, RpcProcessor } from '../rpc/rpc-processor.js';
import { RateMatcher } from './rate-matching.js';
import { failedItems, sqsEvents } from './sqs-event.js';

export interface SqsPollerDeps {
  engine: QueueEngine;
  invoker: Invoker;
  tenant: Tenant;
  mapping: Mapping;
  queue: Queue;
  region: string;
  /** Set for RPC mappings: each message is handled on its own instead of one function call per batch. */
  rpc?: RpcProcessor;
  /** The function's reserved concurrency now, if any: more lanes than that would only be throttled. */
  functionLimit?: () => number | undefined;
  /** Default lane ceiling when the mapping has no ScalingConfig.MaximumConcurrency. */
  defaultConcurrency: number;
  /** The function or the queue no longer exists: the manager disables the mapping (messages stay queued). */
  onSourceGone(reason: string): void;
  /** Lambda's LastProcessingResult ('OK', 'PROBLEM: ...'), reported when it changes. */
  onResult?(result: string): void;
}

/** How long an extra lane waits for work before ending; the last lane waits indefinitely (in slices). */
const EXTRA_LANE_IDLE_MS = 1_000;
const FIRST_LANE_WAIT_MS = 20_000;
/** SQS caps one receive at 10 messages; batches above that are gathered from several receives. */
const RECEIVE_MAX = 10;
/** How long a counted backlog is reused when deciding whether to add a lane. */
const BACKLOG_FRESH_MS = 200;

export class SqsPoller {
  readonly #d: SqsPollerDeps;
  readonly #abort = new AbortController();
  readonly #rate: RateMatcher;
  readonly #lanes = new Set<Promise<void>>();
  #lastResult = '';
  #emptyWakes = 0;
  #stopped = false;
  /** The queue's backlog as last counted, reused for a moment so a busy lane does not count every batch. */
  #backlog = { n: 0, at: Number.NEGATIVE_INFINITY };

  constructor(deps: SqsPollerDeps) {
    this.#d = deps;
    this.#rate = new RateMatcher({
      maxConcurrency: deps.mapping.maximumConcurrency ?? deps.defaultConcurrency,
    });
  }

  get lanes(): number {
    return this.#rate.active;
  }

  start(): void {
    this.#spawn();
  }

  /** Stops leasing; batches in flight finish (their results are still deleted) before it resolves. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    while (this.#lanes.size > 0) await Promise.allSettled([...this.#lanes]);
  }

  #spawn(): void {
    this.#rate.laneStarted();
    const lane: Promise<void> = this.#lane().then(
      () => this.#laneEnded(lane, false),
      (e) => {
        console.error(`kindling: poller for mapping ${this.#d.mapping.uuid} failed:`, e);
        this.#laneEnded(lane, true);
      },
    );
    this.#lanes.add(lane);
  }

  #laneEnded(lane: Promise<void>, crashed: boolean): void {
    this.#lanes.delete(lane);
    this.#rate.laneEnded();
    // A lane that died on an unexpected error is replaced, so the mapping never silently stops.
    if (crashed && !this.#stopped && this.#rate.active === 0) this.#spawn();
  }

  /** The function or queue is gone: every lane stops leasing, and the manager disables the mapping. */
  #halt(reason: string): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#abort.abort();
    this.#d.onSourceGone(reason);
  }

  async #lane(): Promise<void> {
    // This lane's last batch was full: more are likely waiting, so the next is leased without a wait first.
    let busy = false;
    while (!this.#stopped) {
      const last = this.#rate.active <= 1;
      const waitMs = last ? FIRST_LANE_WAIT_MS : EXTRA_LANE_IDLE_MS;
      const waitStart = Date.now();
      const batch = await this.#collect(waitMs, busy);
      // A batch of one says nothing of a backlog (BatchSize 1 fills every batch): only larger full ones count.
      busy =
        batch !== null &&
        batch.length > 1 &&
        batch.length >= Math.min(this.#d.mapping.batchSize, RECEIVE_MAX);
      if (batch === null || batch.length === 0) {
        if (batch === null && Date.now() - waitStart < waitMs / 2 && !this.#stopped) {
          // The engine answers at once for a deleted queue (or while closing): don't spin on it.
          const q = await this.#d.engine.findQueue(this.#d.tenant, this.#d.queue.arn);
          if (!q || q.id !== this.#d.queue.id) {
            this.#halt(QUEUE_GONE_REASON);
            return;
          }
          await delay(100, this.#abort.signal);
        }
        if (this.#rate.shouldShrink()) return;
        // Woken but another lane took the messages (or none were leasable, e.g. a FIFO group in flight):
        // a short, growing pause keeps that rare case from spinning.
        if (batch !== null && !this.#stopped)
          await delay(Math.min(100, 2 ** this.#emptyWakes++), this.#abort.signal);
        continue;
      }
      this.#emptyWakes = 0;
      // A full batch suggests a backlog: ask the engine how deep before adding a lane.
      if (
        batch.length >= Math.min(this.#d.mapping.batchSize, RECEIVE_MAX) &&
        this.#rate.active < this.#rate.ceiling &&
        !this.#stopped
      ) {
        if (this.#rate.shouldGrow(await this.#backlogNow(), this.#d.functionLimit?.())) this.#spawn();
      }
      const keepGoing = await this.#process(batch);
      if (!keepGoing) return;
      if (this.#rate.overCeiling() && this.#rate.shouldShrink()) return;
    }
  }

  async #backlogNow(): Promise<number> {
    if (Date.now() - this.#backlog.at >= BACKLOG_FRESH_MS)
      this.#backlog = { n: (await this.#d.engine.counts(this.#d.queue)).visible, at: Date.now() };
    return this.#backlog.n;
  }

  /**
   * Waits for messages (unless `busy`: the last batch was full, so it leases at once and spares the wait's
   * look at the store), then leases up to BatchSize of them within the batching window; null: none came.
   */
  async #collect(waitMs: number, busy: boolean): Promise<ReceivedMessage[] | null> {
    const { engine, queue, mapping } = this.#d;
    const signal = this.#abort.signal;
    const batch: ReceivedMessage[] = [];
    if (!busy) {
      // A send on this node may hand its messages straight to this lane, already leased.
      const woke = await engine.waitOrTake(queue, {
        timeoutMs: waitMs,
        max: Math.min(RECEIVE_MAX, mapping.batchSize),
        signal,
      });
      if (Array.isArray(woke)) {
        batch.push(...woke);
        // Without a batching window, what the send handed over is the batch: no receive after it.
        if (mapping.maximumBatchingWindowInSeconds === 0 && batch.length > 0) return batch;
      } else if (!woke || this.#stopped) return null;
    }
    const windowEnd = Date.now() + mapping.maximumBatchingWindowInSeconds * 1000;
    while (batch.length < mapping.batchSize && !this.#stopped) {
      const got = await engine.receive(queue, {
        maxMessages: Math.min(RECEIVE_MAX, mapping.batchSize - batch.length),
        waitTimeSeconds: 0,
        signal,
      });
      batch.push(...got);
      if (batch.length >= mapping.batchSize) break;
      // A full receive means more are likely waiting: take them without waiting.
      if (got.length === RECEIVE_MAX) continue;
      const left = windowEnd - Date.now();
      if (left <= 0) break;
      if (!(await engine.waitForMessages(queue, left, signal))) break;
    }
    return batch;
  }

  /** Returns false when this lane should end (the function is gone). */
  async #process(batch: ReceivedMessage[]): Promise<boolean> {
    return this.#d.rpc ? this.#processRpc(batch) : this.#processFunction(batch);
  }

  async #processFunction(all: ReceivedMessage[]): Promise<boolean> {
    const { queue, region } = this.#d;
    const leasedAt = Date.now();
    // Usually one event; a batch whose bodies exceed the payload limit goes as several.
    for (const { payload, messages } of sqsEvents(all, queue.arn, region)) {
      if (!(await this.#invokeBatch(payload, messages, leasedAt))) return false;
    }
    return true;
  }

  async #invokeBatch(payload: Buffer, batch: ReceivedMessage[], leasedAt: number): Promise<boolean> {
    const { invoker, tenant, mapping } = this.#d;
    for (;;) {
      try {
        const res = await invoker.invokeSync(tenant, mapping.functionArn!, payload);
        if (res.functionError) {
          this.#result(`PROBLEM: Function call failed (${res.errorType ?? res.functionError})`);
          return true; // the whole batch returns after the visibility timeout
        }
        this.#rate.succeeded();
        this.#result('OK');
        if (!mapping.reportBatchItemFailures) {
          await this.#delete(batch);
          return true;
        }
        const failed = failedItems(res.payload, new Set(batch.map((m) => m.messageId)));
        if (failed !== 'all') await this.#delete(batch.filter((m) => !failed.has(m.messageId)));
        return true;
      } catch (e) {
        if (isDomainError(e, 'Throttled')) {
          // Throttled: keep the lease and try again after a pause (a throttle is not a delivery failure),
          // unless the lease is about to run out anyway.
          const pause = this.#rate.throttled();
          if (this.#stopped || Date.now() + pause >= leasedAt + (await this.#visibilityMs())) return true;
          await delay(pause, this.#abort.signal);
          continue;
        }
        if (isNotFound(e)) {
          await this.#release(batch);
          this.#result('PROBLEM: Function not found');
          this.#halt(FUNCTION_GONE_REASON);
          return false;
        }
        this.#result(`PROBLEM: ${e instanceof Error ? e.message : String(e)}`);
        return true;
      }
    }
  }

  async #processRpc(batch: ReceivedMessage[]): Promise<boolean> {
    const { engine, queue, tenant } = this.#d;
    const rpc = this.#d.rpc!;
    const maxReceives = await this.#maxReceiveCount();
    const reply: Replier = async (replyTo, body) => {
      await engine.send(await engine.getQueue(tenant, replyTo), { body });
    };
    const leasedAt = Date.now();
    // An aggregate may run longer than one lease: keep extending the lease of messages still running.
    const visibilityMs = await this.#visibilityMs();
    const running = new Set(batch);
    const heartbeat =
      visibilityMs >= 1000
        ? // #extend reports its own failures: a lost extension only lets the lease run out early.
          setInterval(() => void this.#extend([...running], visibilityMs / 1000), visibilityMs / 2)
        : undefined;
    heartbeat?.unref();
    const outcomes = await Promise.all(
      batch.map(async (m) => {
        const receives = Number(m.attributes.ApproximateReceiveCount ?? '1');
        const delivery = {
          source: queue.arn,
          messageId: m.messageId,
          body: m.body,
          finalAttempt: maxReceives !== undefined && receives >= maxReceives,
        };
        try {
          for (;;) {
            const outcome = await rpc.process(tenant, delivery, reply);
            if (outcome.kind !== 'retry' || !outcome.throttled) return { m, outcome };
            // Throttled: resume from the checkpoint for up to one lease, without spending a delivery.
            const pause = this.#rate.throttled();
            if (this.#stopped || Date.now() + pause >= leasedAt + visibilityMs) return { m, outcome };
            await delay(pause, this.#abort.signal);
          }
        } finally {
          running.delete(m);
        }
      }),
    ).finally(() => clearInterval(heartbeat));
    const done: ReceivedMessage[] = [];
    for (const { m, outcome } of outcomes) {
      if (outcome.kind === 'done') done.push(m);
      else if (outcome.kind === 'reject') await this.#deadLetter(m, outcome.reason);
    }
    await this.#delete(done);
    return true;
  }

  /** Invalid RPC messages skip the retries: straight to the queue's dead-letter queue, or dropped without one. */
  async #deadLetter(m: ReceivedMessage, reason: string): Promise<void> {
    const { engine, queue, tenant } = this.#d;
    const dlqArn = (await this.#redrive())?.deadLetterTargetArn;
    const dlq = dlqArn ? await engine.findQueue(tenant, dlqArn) : undefined;
    if (dlq) {
      await engine.send(dlq, {
        body: m.body,
        messageAttributes: {
          ...m.messageAttributes,
          ErrorCode: { dataType: 'String', stringValue: 'InvalidRpcMessage' },
          ErrorMessage: { dataType: 'String', stringValue: reason.slice(0, 1000) },
        },
      });
    } else {
      console.error(
        `kindling: dropping invalid RPC message ${m.messageId} from ${queue.arn} (no dead-letter queue): ${reason}`,
      );
    }
    await this.#delete([m]);
  }

  async #redrive(): Promise<{ deadLetterTargetArn: string; maxReceiveCount: number } | undefined> {
    const raw = (await this.#d.engine.getAttributes(this.#d.queue, ['RedrivePolicy'])).RedrivePolicy;
    if (!raw) return undefined;
    try {
      const p = JSON.parse(raw) as { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown };
      if (typeof p.deadLetterTargetArn !== 'string') return undefined;
      return { deadLetterTargetArn: p.deadLetterTargetArn, maxReceiveCount: Number(p.maxReceiveCount) };
    } catch {
      return undefined;
    }
  }

  async #maxReceiveCount(): Promise<number | undefined> {
    const n = (await this.#redrive())?.maxReceiveCount;
    return n !== undefined && Number.isFinite(n) ? n : undefined;
  }

  async #visibilityMs(): Promise<number> {
    const v = Number(
      (await this.#d.engine.getAttributes(this.#d.queue, ['VisibilityTimeout'])).VisibilityTimeout ?? '30',
    );
    return (Number.isFinite(v) ? v : 30) * 1000;
  }

  async #delete(messages: readonly ReceivedMessage[]): Promise<void> {
    for (let i = 0; i < messages.length; i += RECEIVE_MAX) {
      const entries = messages
        .slice(i, i + RECEIVE_MAX)
        .map((m, j) => ({ id: String(j), receiptHandle: m.receiptHandle }));
      await this.#d.engine.deleteBatch(this.#d.queue, entries);
    }
  }

  /** Extends the lease of messages still being worked on (stale handles are skipped by the engine). */
  async #extend(messages: readonly ReceivedMessage[], seconds: number): Promise<void> {
    try {
      for (let i = 0; i < messages.length; i += RECEIVE_MAX) {
        const entries = messages
          .slice(i, i + RECEIVE_MAX)
          .map((m, j) => ({ id: String(j), receiptHandle: m.receiptHandle, visibilityTimeout: seconds }));
        await this.#d.engine.changeVisibilityBatch(this.#d.queue, entries);
      }
    } catch (e) {
      console.error(`kindling: extending leases on ${this.#d.queue.arn} failed: ${(e as Error).message}`);
    }
  }

  /** Makes leased messages visible again at once (the mapping is stopping for good). */
  async #release(messages: readonly ReceivedMessage[]): Promise<void> {
    for (let i = 0; i < messages.length; i += RECEIVE_MAX) {
      const entries = messages
        .slice(i, i + RECEIVE_MAX)
        .map((m, j) => ({ id: String(j), receiptHandle: m.receiptHandle, visibilityTimeout: 0 }));
      await this.#d.engine.changeVisibilityBatch(this.#d.queue, entries);
    }
  }

  #result(r: string): void {
    if (r === this.#lastResult) return;
    this.#lastResult = r;
    this.#d.onResult?.(r);
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
