// Polls one Redis stream for one mapping, as a queue: a consumer group (created with MKSTREAM when
// absent), XREADGROUP with BLOCK for new entries, leases as pending entries that XAUTOCLAIM takes back
// after the visibility timeout, XACK on success, and `<stream>:dlq` after the allowed deliveries.
//
// The event a function receives (documented in the README, "Event sources"):
//   {"eventSource":"kindling:redis-streams","eventSourceKey":"redis://host:port/stream",
//    "records":[{"stream":"orders","id":"1700000000000-0","fields":{"k":"v"},"deliveryCount":1}]}
// With ReportBatchItemFailures, `batchItemFailures[].itemIdentifier` is an entry id.
import { Redis } from 'ioredis';
import { z } from 'zod';
import type { Tenant } from '../../control/tenants.js';
import { isDomainError, isNotFound } from '../../errors.js';
import type { Invoker } from '../../invoke/types.js';
import { FUNCTION_GONE_REASON, type Mapping, type RedisSource } from '../mappings/types.js';
import type { QueueEngine } from '../queue/types.js';
import type { Replier, RpcProcessor } from '../rpc/rpc-processor.js';
import { RateMatcher } from './rate-matching.js';
import { failedItems } from './sqs-event.js';

export interface RedisPollerDeps {
  invoker: Invoker;
  tenant: Tenant;
  mapping: Mapping & { source: RedisSource };
  rpc?: RpcProcessor;
  /** For RPC replies addressed to an embedded queue (URL or ARN). */
  engine?: QueueEngine;
  defaultConcurrency: number;
  /** The function's reserved concurrency now, if any (batches in flight stay within it). */
  functionLimit?: () => number | undefined;
  /** Seconds an entry stays leased before it is claimed again. */
  visibilityTimeoutSec: number;
  /** The function or the queue no longer exists: the manager disables the mapping (messages stay queued). */
  onSourceGone(reason: string): void;
  onResult?(result: string): void;
}

export interface StreamEntry {
  id: string;
  fields: Record<string, string>;
  deliveryCount: number;
}

/** Deliveries allowed when the mapping sets no MaximumRetryAttempts (one try plus two retries). */
export const DEFAULT_MAX_DELIVERIES = 3;

// Replies are validated as they arrive: a stream holding something else must not crash the poller.
const entryReply = z.tuple([z.string(), z.array(z.string()).nullable()]);
const readReply = z.array(z.tuple([z.string(), z.array(entryReply)])).nullable();
const claimReply = z.tuple([z.string(), z.array(z.union([entryReply, z.null()]))]).rest(z.unknown());
const pendingReply = z.array(z.tuple([z.string(), z.string(), z.number(), z.number()]));

const toFields = (flat: readonly string[] | null): Record<string, string> => {
  const out: Record<string, string> = {};
  if (!flat) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
};

export const dlqStream = (stream: string): string => `${stream}:dlq`;
export const groupName = (mappingUuid: string): string => `kindling-${mappingUuid}`;

export class RedisStreamsPoller {
  readonly #d: RedisPollerDeps;
  readonly #source: RedisSource;
  readonly #group: string;
  readonly #consumer: string;
  readonly #rate: RateMatcher;
  readonly #maxDeliveries: number;
  #cmd: Redis | undefined;
  #block: Redis | undefined;
  #stopped = false;
  #inFlight = new Set<Promise<void>>();
  readonly #inFlightIds = new Set<string>();
  #slotWaiters: (() => void)[] = [];
  #claimTimer: NodeJS.Timeout | undefined;
  #claiming = false;
  #loop: Promise<void> | undefined;
  #lastResult = '';
  #loggedError = '';

  constructor(deps: RedisPollerDeps) {
    this.#d = deps;
    this.#source = deps.mapping.source;
    this.#group = groupName(deps.mapping.uuid);
    this.#consumer = `kindling-${deps.mapping.uuid}`;
    this.#rate = new RateMatcher({
      maxConcurrency: deps.mapping.maximumConcurrency ?? deps.defaultConcurrency,
    });
    const retries = deps.mapping.maximumRetryAttempts;
    this.#maxDeliveries =
      retries === null ? DEFAULT_MAX_DELIVERIES : retries < 0 ? Number.POSITIVE_INFINITY : retries + 1;
  }

  get lanes(): number {
    return this.#rate.active;
  }

  start(): void {
    const url = this.#source.urls[0]!;
    const onError = (e: Error) => {
      // ioredis reconnects by itself; say so once per distinct error rather than on every retry.
      if (e.message !== this.#loggedError) {
        this.#loggedError = e.message;
        console.error(`kindling: redis ${url} for mapping ${this.#d.mapping.uuid}: ${e.message}`);
        this.#result(`PROBLEM: ${e.message}`);
      }
    };
    // RESP2: replies keep the classic array shapes the schemas below expect (RESP3 turns XREADGROUP into a map).
    // Acks and claims give up after a while when Redis is unreachable, so stopping never hangs on them;
    // the blocking connection has no such limit (its XREADGROUP BLOCK is meant to wait).
    this.#cmd = new Redis(url, {
      lazyConnect: false,
      maxRetriesPerRequest: null,
      protocol: 2,
      commandTimeout: 10_000,
    });
    this.#cmd.on('error', onError);
    this.#block = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: null, protocol: 2 });
    this.#block.on('error', onError);
    this.#loop = this.#readLoop().catch((e) => {
      if (!this.#stopped) console.error(`kindling: redis poller ${this.#d.mapping.uuid} stopped:`, e);
    });
    const every = Math.min(5_000, Math.max(100, (this.#d.visibilityTimeoutSec * 1000) / 2));
    this.#claimTimer = setInterval(() => void this.#claim(), every);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#claimTimer) clearInterval(this.#claimTimer);
    for (const w of this.#slotWaiters.splice(0)) w();
    // Disconnecting ends a BLOCKed XREADGROUP at once; the command connection finishes acks first.
    this.#block?.disconnect();
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    this.#cmd?.disconnect();
    await this.#loop;
  }

  async #ensureGroup(): Promise<void> {
    try {
      const from = this.#d.mapping.startingPosition === 'LATEST' ? '$' : '0';
      await this.#cmd!.call('XGROUP', 'CREATE', this.#source.stream, this.#group, from, 'MKSTREAM');
    } catch (e) {
      if (!String((e as Error).message).includes('BUSYGROUP')) throw e;
    }
  }

  async #readLoop(): Promise<void> {
    while (!this.#stopped) {
      try {
        await this.#ensureGroup();
        break;
      } catch {
        await sleep(500);
      }
    }
    const { batchSize, maximumBatchingWindowInSeconds } = this.#d.mapping;
    while (!this.#stopped) {
      await this.#slot();
      if (this.#stopped) break;
      let entries: StreamEntry[];
      try {
        entries = await this.#read(batchSize, 5_000);
        const windowEnd = Date.now() + maximumBatchingWindowInSeconds * 1000;
        while (entries.length > 0 && entries.length < batchSize && !this.#stopped) {
          const left = windowEnd - Date.now();
          if (left <= 0) break;
          const more = await this.#read(batchSize - entries.length, Math.max(1, left));
          if (more.length === 0) break;
          entries.push(...more);
        }
      } catch (e) {
        this.#freeSlot();
        if (this.#stopped) break;
        if (!String((e as Error).message).includes('Connection is closed'))
          this.#result(`PROBLEM: ${(e as Error).message}`);
        // The group may have been deleted with the stream: recreate it and go on.
        await sleep(200);
        await this.#ensureGroup().catch(() => undefined);
        continue;
      }
      if (entries.length === 0) {
        this.#freeSlot();
        continue;
      }
      this.#run(entries);
    }
  }

  async #read(count: number, blockMs: number): Promise<StreamEntry[]> {
    const raw = await this.#block!.call(
      'XREADGROUP',
      'GROUP',
      this.#group,
      this.#consumer,
      'COUNT',
      count,
      'BLOCK',
      blockMs,
      'STREAMS',
      this.#source.stream,
      '>',
    );
    const parsed = readReply.safeParse(raw);
    if (!parsed.success) throw new Error('unexpected XREADGROUP reply');
    return (parsed.data ?? []).flatMap(([, items]) =>
      items.map(([id, flat]) => ({ id, fields: toFields(flat), deliveryCount: 1 })),
    );
  }

  /** Waits for a free lane (batches in flight are bounded by the rate matcher's ceiling). */
  async #slot(): Promise<void> {
    while (
      !this.#stopped &&
      (this.#rate.active >= this.#rate.ceiling ||
        this.#rate.active >= (this.#d.functionLimit?.() ?? Infinity))
    ) {
      await new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
    }
    this.#rate.laneStarted();
  }

  #freeSlot(): void {
    this.#rate.laneEnded();
    this.#slotWaiters.shift()?.();
  }

  #run(entries: StreamEntry[]): void {
    for (const e of entries) this.#inFlightIds.add(e.id);
    const p = this.#handle(entries)
      .catch((e) => console.error(`kindling: redis batch for mapping ${this.#d.mapping.uuid} failed:`, e))
      .finally(() => {
        for (const e of entries) this.#inFlightIds.delete(e.id);
        this.#inFlight.delete(p);
        this.#freeSlot();
      });
    this.#inFlight.add(p);
  }

  /** Takes back entries whose lease ran out; dead-letters those delivered too often. */
  async #claim(): Promise<void> {
    if (this.#claiming || this.#stopped || !this.#cmd) return;
    this.#claiming = true;
    try {
      const cmd = this.#cmd;
      // Entries being processed here keep their lease: XCLAIM JUSTID resets their idle time without
      // counting a delivery, so XAUTOCLAIM never hands them out a second time (here or on another node).
      if (this.#inFlightIds.size > 0) {
        await cmd.call(
          'XCLAIM',
          this.#source.stream,
          this.#group,
          this.#consumer,
          0,
          ...this.#inFlightIds,
          'JUSTID',
        );
      }
      if (this.#rate.active >= this.#rate.ceiling) return;
      const raw = await cmd.call(
        'XAUTOCLAIM',
        this.#source.stream,
        this.#group,
        this.#consumer,
        this.#d.visibilityTimeoutSec * 1000,
        '0-0',
        'COUNT',
        this.#d.mapping.batchSize,
      );
      const parsed = claimReply.safeParse(raw);
      if (!parsed.success) return;
      const claimed = parsed.data[1].flatMap((e) =>
        e && !this.#inFlightIds.has(e[0]) ? [{ id: e[0], fields: toFields(e[1]), deliveryCount: 1 }] : [],
      );
      if (claimed.length === 0) return;
      const first = claimed[0]!.id;
      const last = claimed[claimed.length - 1]!.id;
      const pending = pendingReply.safeParse(
        await cmd.call(
          'XPENDING',
          this.#source.stream,
          this.#group,
          first,
          last,
          claimed.length,
          this.#consumer,
        ),
      );
      const counts = new Map((pending.success ? pending.data : []).map(([id, , , n]) => [id, n]));
      const live: StreamEntry[] = [];
      for (const e of claimed) {
        e.deliveryCount = counts.get(e.id) ?? 1;
        if (e.deliveryCount > this.#maxDeliveries)
          await this.#deadLetter(e, 'MaxDeliveriesExceeded', `delivered ${e.deliveryCount - 1} times`);
        else live.push(e);
      }
      if (live.length > 0 && !this.#stopped) {
        this.#rate.laneStarted();
        this.#run(live);
      }
    } catch {
      // Redis unreachable: the connection's error handler reports it; the next tick tries again.
    } finally {
      this.#claiming = false;
    }
  }

  async #deadLetter(e: StreamEntry, code: string, reason: string): Promise<void> {
    const cmd = this.#cmd!;
    const flat = Object.entries(e.fields).flat();
    await cmd.call(
      'XADD',
      dlqStream(this.#source.stream),
      '*',
      ...flat,
      'kindling:source-id',
      e.id,
      'kindling:deliveries',
      String(e.deliveryCount),
      'kindling:error-code',
      code,
      'kindling:error-message',
      reason.slice(0, 1000),
    );
    await cmd.call('XACK', this.#source.stream, this.#group, e.id);
  }

  async #ack(entries: readonly StreamEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.#cmd!.call('XACK', this.#source.stream, this.#group, ...entries.map((e) => e.id));
  }

  async #handle(entries: StreamEntry[]): Promise<void> {
    if (this.#d.rpc) return this.#handleRpc(entries);
    const { invoker, tenant, mapping } = this.#d;
    const event = {
      eventSource: 'kindling:redis-streams',
      eventSourceKey: `${this.#source.urls[0]!.replace(/\/+$/, '')}/${this.#source.stream}`,
      records: entries.map((e) => ({
        stream: this.#source.stream,
        id: e.id,
        fields: e.fields,
        deliveryCount: e.deliveryCount,
      })),
    };
    const payload = Buffer.from(JSON.stringify(event));
    for (;;) {
      try {
        const res = await invoker.invokeSync(tenant, mapping.functionArn!, payload);
        if (res.functionError) {
          this.#result(`PROBLEM: Function call failed (${res.errorType ?? res.functionError})`);
          return; // pending until claimed again after the visibility timeout
        }
        this.#rate.succeeded();
        this.#result('OK');
        if (!mapping.reportBatchItemFailures) return await this.#ack(entries);
        const failed = failedItems(res.payload, new Set(entries.map((e) => e.id)));
        if (failed !== 'all') await this.#ack(entries.filter((e) => !failed.has(e.id)));
        return;
      } catch (e) {
        if (isDomainError(e, 'Throttled') && !this.#stopped) {
          await sleep(this.#rate.throttled());
          continue;
        }
        if (isNotFound(e)) {
          this.#result('PROBLEM: Function not found');
          // Read nothing more: entries taken now would only spend deliveries until the manager stops us.
          if (!this.#stopped) {
            this.#stopped = true;
            this.#block?.disconnect();
            this.#d.onSourceGone(FUNCTION_GONE_REASON);
          }
          return;
        }
        this.#result(`PROBLEM: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
    }
  }

  async #handleRpc(entries: StreamEntry[]): Promise<void> {
    const { tenant, engine } = this.#d;
    const rpc = this.#d.rpc!;
    const cmd = this.#cmd!;
    const reply: Replier = async (replyTo, body) => {
      if (engine && /^(arn:aws:sqs:|https?:\/\/)/.test(replyTo))
        await engine.send(await engine.getQueue(tenant, replyTo), { body });
      else await cmd.call('XADD', replyTo, '*', 'body', body);
    };
    // Per consumer group: two mappings of one stream (even two tenants') each see every entry.
    const source = `redis:${this.#source.urls[0]}/${this.#source.stream}#${this.#group}`;
    await Promise.all(
      entries.map(async (e) => {
        const body = e.fields.body;
        if (body === undefined) return this.#deadLetter(e, 'InvalidRpcMessage', "entry has no 'body' field");
        const delivery = {
          source,
          messageId: e.id,
          body,
          finalAttempt: e.deliveryCount >= this.#maxDeliveries,
        };
        let out = await rpc.process(tenant, delivery, reply);
        // Throttled: resume from the checkpoint after a pause rather than spending a delivery.
        while (out.kind === 'retry' && out.throttled && !this.#stopped) {
          await sleep(this.#rate.throttled());
          out = await rpc.process(tenant, delivery, reply);
        }
        if (out.kind === 'done') await this.#ack([e]);
        else if (out.kind === 'reject') await this.#deadLetter(e, 'InvalidRpcMessage', out.reason);
      }),
    );
  }

  #result(r: string): void {
    if (r === this.#lastResult) return;
    this.#lastResult = r;
    this.#d.onResult?.(r);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
