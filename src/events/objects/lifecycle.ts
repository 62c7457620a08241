// Bucket lifecycle: the rules as stored (validated again when read back) and the sweep that applies them,
// expiring objects through the store's own delete (so notifications see `LifecycleExpiration:Delete`) and
// aborting multipart uploads left incomplete. One node sweeps at a time: it holds a lease in the store.
import { z } from 'zod';
import type { ObjectStore } from './store.js';
import type { TagSet } from './types.js';

const DAY_MS = 86_400_000;

const ruleSchema = z.object({
  id: z.string(),
  enabled: z.boolean(),
  /** 'prefix': the legacy `<Rule><Prefix>` form; 'filter': `<Filter>` (answered back as given). */
  form: z.enum(['prefix', 'filter']),
  prefix: z.string(),
  tags: z.array(z.tuple([z.string(), z.string()])),
  sizeGreaterThan: z.number().int().nonnegative().optional(),
  sizeLessThan: z.number().int().positive().optional(),
  expirationDays: z.number().int().positive().optional(),
  /** Epoch milliseconds of a UTC midnight. */
  expirationDate: z.number().int().optional(),
  abortDays: z.number().int().positive().optional(),
});
export const lifecycleSchema = z.array(ruleSchema).min(1).max(1000);
export type LifecycleRule = z.infer<typeof ruleSchema>;

export const parseLifecycle = (json: string): LifecycleRule[] => lifecycleSchema.parse(JSON.parse(json));

/** S3's expiry instant: the creation time plus the days, rounded up to the next UTC midnight. */
export const expiresAt = (createdMs: number, days: number): number =>
  Math.ceil((createdMs + days * DAY_MS) / DAY_MS) * DAY_MS;

/** Whether an object falls under a rule's filter (prefix, every tag, size bounds). */
export function ruleMatches(
  rule: LifecycleRule,
  o: { key: string; size: number },
  tags: () => TagSet,
): boolean {
  if (!o.key.startsWith(rule.prefix)) return false;
  if (rule.sizeGreaterThan !== undefined && !(o.size > rule.sizeGreaterThan)) return false;
  if (rule.sizeLessThan !== undefined && !(o.size < rule.sizeLessThan)) return false;
  if (rule.tags.length > 0) {
    const have = tags();
    return rule.tags.every(([k, v]) => have.some(([hk, hv]) => hk === k && hv === v));
  }
  return true;
}

export interface LifecycleSweeperOptions {
  store: ObjectStore;
  nodeId: string;
  /** Milliseconds since the epoch ("now" for expiry; tests move it forward). */
  now?: () => number;
  /** How long a sweep's lease lasts; another node sweeps after it lapses. */
  leaseMs?: number;
  log?: (line: string) => void;
}

export interface SweepResult {
  expired: number;
  aborted: number;
}

export class LifecycleSweeper {
  readonly #o: LifecycleSweeperOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<SweepResult> | undefined;

  constructor(o: LifecycleSweeperOptions) {
    this.#o = o;
  }

  /** Sweeps every `intervalMs` (and once soon after start); a tick while a pass runs is skipped. */
  start(intervalMs: number): void {
    const tick = () => {
      if (this.#running !== undefined) return;
      this.sweep().catch((e: unknown) => this.#o.log?.(`kindling: lifecycle sweep failed: ${String(e)}`));
    };
    this.#timer = setInterval(tick, intervalMs);
    this.#timer.unref();
    setImmediate(tick).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running?.catch(() => undefined);
  }

  /**
   * One pass over every bucket with a lifecycle configuration, if this node holds the lease. `now`
   * overrides the clock for this pass (tests: "ten days from now"). Passes run one after another.
   */
  async sweep(now?: number): Promise<SweepResult> {
    while (this.#running !== undefined) await this.#running.catch(() => undefined);
    const pass = this.#sweep(now ?? (this.#o.now ?? Date.now)());
    this.#running = pass;
    try {
      return await pass;
    } finally {
      if (this.#running === pass) this.#running = undefined;
    }
  }

  async #sweep(now: number): Promise<SweepResult> {
    const done: SweepResult = { expired: 0, aborted: 0 };
    const { store } = this.#o;
    const leaseMs = this.#o.leaseMs ?? 10 * 60_000;
    const wall = Date.now();
    if (!(await store.takeLifecycleLease(this.#o.nodeId, wall, wall + leaseMs))) return done;
    let after = '';
    for (;;) {
      const batch = await store.lifecycleBuckets(after, 100);
      if (batch.length === 0) break;
      // The batch orders the buckets; each one's rules are read again when its turn comes (below).
      for (const { bucket } of batch) {
        after = bucket;
        const r = await this.#sweepBucket(bucket, now);
        done.expired += r.expired;
        done.aborted += r.aborted;
        await store.takeLifecycleLease(this.#o.nodeId, Date.now(), Date.now() + leaseMs);
      }
    }
    return done;
  }

  async #sweepBucket(bucket: string, now: number): Promise<SweepResult> {
    const { store } = this.#o;
    const done: SweepResult = { expired: 0, aborted: 0 };
    const b = await store.bucketAccess(bucket).catch(() => undefined);
    if (!b) return done;
    // Rules read earlier may be a deleted bucket's whose name another tenant has taken since: the rules
    // are read after the bucket, and the bucket is checked to be the same one (owner and creation) after
    // them and before each page of deletes, so one owner's rules never expire another's objects.
    const same = async () => {
      const now = await store.bucketAccess(bucket).catch(() => undefined);
      return now?.tenantId === b.tenantId && now.createdAt.getTime() === b.createdAt.getTime();
    };
    const json = await store.peekBucketConfig(bucket, 'lifecycle');
    if (json === null || !(await same())) return done;
    let rules: LifecycleRule[];
    try {
      rules = parseLifecycle(json).filter((r) => r.enabled);
    } catch (e) {
      this.#o.log?.(`kindling: lifecycle of bucket ${bucket} unreadable, skipped: ${String(e)}`);
      return done;
    }
    const actor = { tenantId: b.tenantId, bucket: b };
    const expiring = rules.filter((r) => r.expirationDays !== undefined || r.expirationDate !== undefined);
    if (expiring.length > 0) {
      let startAfter: string | undefined;
      for (;;) {
        const page = await store.listObjects(actor, bucket, { startAfter, maxKeys: 1000 });
        if (!(await same())) return done;
        for (const o of page.contents) {
          let tags: TagSet | undefined;
          const tagsOf = () => tags ?? [];
          if (expiring.some((r) => r.tags.length > 0))
            tags = await store.versionTags(bucket, o.key, o.version);
          const due = expiring.some(
            (r) =>
              ruleMatches(r, o, tagsOf) &&
              (r.expirationDate !== undefined
                ? now >= r.expirationDate
                : now >= expiresAt(o.lastModified.getTime(), r.expirationDays!)),
          );
          // Only the version found expired goes: an object written meanwhile under the key stays.
          if (
            due &&
            (await store.deleteObject(actor, bucket, o.key, { ifVersion: o.version, lifecycle: true }))
              .changed
          )
            done.expired++;
        }
        if (!page.isTruncated || page.last === undefined) break;
        startAfter = page.last;
      }
    }
    const aborting = rules.filter((r) => r.abortDays !== undefined);
    if (aborting.length > 0) {
      const uploads = await store.listUploads(actor, bucket);
      if (!(await same())) return done;
      for (const u of uploads) {
        const due = aborting.some(
          (r) => u.key.startsWith(r.prefix) && now >= expiresAt(u.initiated.getTime(), r.abortDays!),
        );
        if (!due) continue;
        try {
          await store.abortMultipartUpload(actor, bucket, u.key, u.uploadId);
          done.aborted++;
        } catch {
          // Completed or aborted meanwhile: nothing left to do.
        }
      }
    }
    return done;
  }
}
