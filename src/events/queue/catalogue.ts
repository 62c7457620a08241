// The catalogue of queues: create, find (by name, URL or ARN), list, attributes, tags and dead-letter
// links. Live queues' parsed configuration is cached in memory; a change on any node drops the entry on
// every node (the engine relays `forget` from the store's notifications), and an entry older than
// CACHE_MS is read again in case a notification was lost.
import { tryDecode } from '../../uri.js';
import {
  effectiveAttributes,
  FIFO_NAME_MESSAGE,
  normalizeAttributes,
  parseQueueArn,
  parseRedriveAllowPolicy,
  type QueueConfig,
  queueConfig,
  sameAttributes,
} from './attributes.js';
import { SqsErrors } from './errors.js';
import type { QueueRepo, QueueRow } from './queue-repo.js';
import type { ListQueuesOptions, Queue, QueueCounts, QueueOwner } from './types.js';
import { validateQueueName } from './validate.js';

/** A queue with its stored attributes and parsed configuration. */
export interface Loaded {
  queue: Queue;
  stored: Record<string, string>;
  config: QueueConfig;
  modifiedAt: number;
  /** When this node read it (Date.now()). */
  readAt: number;
}

const CACHE_MS = 5_000;

/** SQS's tag quotas: 50 per queue, keys of 1–128 characters, values of up to 256. */
const MAX_TAGS = 50;

function validateTags(tags: Record<string, string>, queueName: string): void {
  if (Object.keys(tags).length > MAX_TAGS)
    throw SqsErrors.invalidParameterValue(`Too many tags added for queue ${queueName}.`);
  for (const [k, v] of Object.entries(tags)) {
    if (k.length === 0 || k.length > 128)
      throw SqsErrors.invalidParameterValue('Tag keys must be between 1 and 128 characters in length.');
    if (typeof v !== 'string' || v.length > 256)
      throw SqsErrors.invalidParameterValue('Tag values must be between 0 and 256 characters in length.');
  }
}

const KNOWN_ATTRIBUTES = [
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
  'CreatedTimestamp',
  'LastModifiedTimestamp',
  'QueueArn',
  'Policy',
  'KmsMasterKeyId',
  'KmsDataKeyReusePeriodSeconds',
  'RedriveAllowPolicy',
  'RedrivePolicy',
  'FifoQueue',
  'ContentBasedDeduplication',
  'DeduplicationScope',
  'FifoThroughputLimit',
  'SqsManagedSseEnabled',
];

export class QueueCatalogue {
  readonly #repo: QueueRepo;
  readonly #region: string;
  readonly #cache = new Map<number, Loaded>();
  readonly #names = new Map<string, number>();

  constructor(repo: QueueRepo, region: string) {
    this.#repo = repo;
    this.#region = region;
  }

  /**
   * Bumped by every forget: a read that started before one may have seen the row before the change, so
   * it answers its caller but is not cached.
   */
  #forgets = 0;

  /** Drops what this node knows of a queue (changed or deleted, maybe on another node). */
  forget(queueId: number): void {
    this.#forgets++;
    const l = this.#cache.get(queueId);
    this.#cache.delete(queueId);
    if (l) {
      this.#names.delete(`${l.queue.tenantId}\0${l.queue.name}`);
      this.#names.delete(`@${l.queue.accountId}\0${l.queue.name}`);
    }
  }

  #fresh(l: Loaded | undefined): Loaded | undefined {
    return l && Date.now() - l.readAt < CACHE_MS ? l : undefined;
  }

  #toQueue(r: QueueRow): Queue {
    return {
      id: r.id,
      tenantId: r.tenant_id,
      accountId: r.account_id,
      name: r.name,
      arn: `arn:aws:sqs:${this.#region}:${r.account_id}:${r.name}`,
      fifo: r.name.endsWith('.fifo'),
      createdAt: Math.floor(r.created_at / 1000),
    };
  }

  /** `since`: the forget count when the read of `r` started (undefined: `r` was just written here). */
  #load(r: QueueRow, since?: number): Loaded {
    const stored = JSON.parse(r.attributes) as Record<string, string>;
    const loaded: Loaded = {
      queue: this.#toQueue(r),
      stored,
      config: queueConfig(stored, r.name.endsWith('.fifo')),
      modifiedAt: r.modified_at,
      readAt: Date.now(),
    };
    if (since === undefined || since === this.#forgets) this.#cache.set(r.id, loaded);
    return loaded;
  }

  /** The queue's live state; throws QueueDoesNotExist once it has been deleted. */
  loaded(queue: Queue): Promise<Loaded> {
    return this.loadedById(queue.id);
  }

  async loadedById(queueId: number): Promise<Loaded> {
    const hit = this.#fresh(this.#cache.get(queueId));
    if (hit) return hit;
    const since = this.#forgets;
    const row = await this.#repo.queueById(queueId);
    if (!row) {
      this.forget(queueId);
      throw SqsErrors.queueDoesNotExist();
    }
    return this.#load(row, since);
  }

  /** The cached state of a queue by id, without touching the store. */
  cached(queueId: number): Loaded | undefined {
    return this.#cache.get(queueId);
  }

  async createQueue(
    owner: QueueOwner,
    name: string,
    attributes: Record<string, string> = {},
    tags: Record<string, string> = {},
  ): Promise<Queue> {
    if (typeof name !== 'string')
      throw SqsErrors.missingParameter('The request must contain the parameter QueueName.');
    validateQueueName(name);
    validateTags(tags, name);
    const fifo = name.endsWith('.fifo');
    if (fifo && attributes.FifoQueue !== 'true') throw SqsErrors.invalidParameterValue(FIFO_NAME_MESSAGE);
    const given = normalizeAttributes(attributes, fifo, true);
    await this.#checkRedriveTarget(
      owner,
      given.RedrivePolicy,
      fifo,
      `arn:aws:sqs:${this.#region}:${owner.accountId}:${name}`,
    );
    const stored = { ...given };
    if (stored.RedrivePolicy === '') delete stored.RedrivePolicy;
    // Insert-or-read: two nodes creating the same queue at once end with one queue, as SQS does.
    const inserted = await this.#repo.insertQueue(
      owner.id,
      owner.accountId,
      name,
      JSON.stringify(stored),
      JSON.stringify(tags),
      Date.now(),
    );
    if (inserted) return this.#load(inserted).queue;
    const since = this.#forgets;
    const existing = await this.#repo.queueByName(owner.id, name);
    if (!existing) throw SqsErrors.queueDoesNotExist(); // created and deleted in between
    if (!sameAttributes(given, JSON.parse(existing.attributes) as Record<string, string>, fifo))
      throw SqsErrors.queueNameExists(name);
    return this.#load(existing, since).queue;
  }

  async #checkRedriveTarget(
    owner: QueueOwner,
    policy: string | undefined,
    fifo: boolean,
    sourceArn: string,
  ): Promise<void> {
    if (!policy) return;
    const arn = (JSON.parse(policy) as { deadLetterTargetArn: string }).deadLetterTargetArn;
    const target = await this.byArn(owner, arn);
    const bad = (reason: string) =>
      SqsErrors.invalidParameterValue(
        `Value ${policy} for parameter RedrivePolicy is invalid. Reason: ${reason}`,
      );
    if (!target) throw bad('Dead letter target does not exist.');
    if (target.fifo !== fifo)
      throw bad('Dead-letter queue must be of the same type (FIFO or standard) as the source queue.');
    // The dead-letter queue's RedriveAllowPolicy decides which sources may use it.
    const allow = (await this.loaded(target)).stored.RedriveAllowPolicy;
    if (allow) {
      const a = parseRedriveAllowPolicy(allow);
      if (
        a.redrivePermission === 'denyAll' ||
        (a.redrivePermission === 'byQueue' && !a.sourceQueueArns?.includes(sourceArn))
      )
        throw bad(
          `The dead-letter queue's RedriveAllowPolicy does not allow ${sourceArn} as a source queue.`,
        );
    }
  }

  async #byName(owner: QueueOwner, name: string): Promise<Queue | undefined> {
    // Every API call resolves its queue by name: keep live queues' ids in memory (dropped on delete).
    const key = `${owner.id}\0${name}`;
    const id = this.#names.get(key);
    const hit = id === undefined ? undefined : this.#fresh(this.#cache.get(id));
    if (hit) return hit.queue;
    const since = this.#forgets;
    const row = await this.#repo.queueByName(owner.id, name);
    if (!row) {
      this.#names.delete(key);
      return undefined;
    }
    if (since === this.#forgets) this.#names.set(key, row.id);
    return this.#load(row, since).queue;
  }

  async byArn(owner: QueueOwner, arn: string): Promise<Queue | undefined> {
    const parsed = parseQueueArn(arn);
    if (!parsed || parsed.accountId !== owner.accountId || parsed.region !== this.#region) return undefined;
    return this.#byName(owner, parsed.name);
  }

  async findQueue(owner: QueueOwner, ref: string): Promise<Queue | undefined> {
    if (typeof ref !== 'string' || ref === '') return undefined;
    if (ref.startsWith('arn:')) return this.byArn(owner, ref);
    if (ref.includes('/')) {
      // A queue URL (any host) or a bare path: the last two segments are account id and name.
      let path = ref;
      if (/^[a-z]+:\/\//i.test(ref)) {
        try {
          path = new URL(ref).pathname;
        } catch {
          return undefined;
        }
      }
      const parts = path.split('/').filter(Boolean);
      if (parts.length !== 2 || parts[0] !== owner.accountId) return undefined;
      // A malformed escape names no queue (it is not a 500).
      const name = tryDecode(parts[1]!);
      return name === undefined ? undefined : this.#byName(owner, name);
    }
    return this.#byName(owner, ref);
  }

  /**
   * The queue a URL or ARN names in another account than the caller's (undefined for the caller's own, or
   * none): only for a policy check, never answered to the caller before that check passes.
   */
  async foreign(caller: QueueOwner, ref: string): Promise<Loaded | undefined> {
    let account: string | undefined;
    let name: string | undefined;
    if (typeof ref !== 'string') return undefined;
    if (ref.startsWith('arn:')) {
      const parsed = parseQueueArn(ref);
      if (!parsed || parsed.region !== this.#region) return undefined;
      account = parsed.accountId;
      name = parsed.name;
    } else if (ref.includes('/')) {
      let path = ref;
      if (/^[a-z]+:\/\//i.test(ref)) {
        try {
          path = new URL(ref).pathname;
        } catch {
          return undefined;
        }
      }
      const parts = path.split('/').filter(Boolean);
      if (parts.length !== 2) return undefined;
      account = parts[0];
      name = tryDecode(parts[1]!);
    }
    if (account === undefined || name === undefined || account === caller.accountId) return undefined;
    return this.byAccount(account, name);
  }

  /** A queue by its owner's account id and name. */
  async byAccount(accountId: string, name: string): Promise<Loaded | undefined> {
    if (!/^\d{12}$/.test(accountId)) return undefined;
    const key = `@${accountId}\0${name}`;
    const id = this.#names.get(key);
    const hit = id === undefined ? undefined : this.#fresh(this.#cache.get(id));
    if (hit) return hit;
    const since = this.#forgets;
    const row = await this.#repo.queueByAccount(accountId, name);
    if (!row) {
      this.#names.delete(key);
      return undefined;
    }
    if (since === this.#forgets) this.#names.set(key, row.id);
    return this.#load(row, since);
  }

  async listQueues(
    owner: QueueOwner,
    opts: ListQueuesOptions = {},
  ): Promise<{ queues: Queue[]; nextToken?: string }> {
    const limit = opts.maxResults ?? 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw SqsErrors.invalidParameterValue(
        `Value ${limit} for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.`,
      );
    }
    let after = '';
    if (opts.nextToken) {
      try {
        after = Buffer.from(opts.nextToken, 'base64url').toString('utf8');
      } catch {
        after = '';
      }
      if (!after) throw SqsErrors.invalidParameterValue('Invalid NextToken value.');
    }
    const prefix = opts.prefix ?? '';
    const since = this.#forgets;
    const rows = (await this.#repo.listQueues(owner.id, prefix, after, limit + 1)).filter((r) =>
      r.name.startsWith(prefix),
    );
    const page = rows.slice(0, limit);
    const queues = page.map((r) => this.#load(r, since).queue);
    const last = page[page.length - 1];
    return opts.maxResults !== undefined && rows.length > limit && last
      ? { queues, nextToken: Buffer.from(last.name, 'utf8').toString('base64url') }
      : { queues };
  }

  /** Deletes the queue and its messages and forgets it. */
  async deleteQueue(queue: Queue): Promise<void> {
    await this.loaded(queue);
    await this.#repo.deleteQueue(queue.id);
    this.forget(queue.id);
    this.#names.delete(`${queue.tenantId}\0${queue.name}`);
    this.#names.delete(`@${queue.accountId}\0${queue.name}`);
  }

  async getAttributes(
    queue: Queue,
    names: readonly string[],
    counts: () => Promise<QueueCounts>,
  ): Promise<Record<string, string>> {
    const l = await this.loaded(queue);
    const all = names.length === 0 || names.includes('All');
    const want = (n: string) => all || names.includes(n);
    const out: Record<string, string> = {};
    const eff = effectiveAttributes(l.stored, queue.fifo);
    if (!all) {
      const known = new Set([...Object.keys(eff), ...KNOWN_ATTRIBUTES]);
      for (const n of names) if (!known.has(n)) throw SqsErrors.invalidAttributeName(n);
    }
    if (want('QueueArn')) out.QueueArn = queue.arn;
    if (
      want('ApproximateNumberOfMessages') ||
      want('ApproximateNumberOfMessagesNotVisible') ||
      want('ApproximateNumberOfMessagesDelayed')
    ) {
      const c = await counts();
      if (want('ApproximateNumberOfMessages')) out.ApproximateNumberOfMessages = String(c.visible);
      if (want('ApproximateNumberOfMessagesNotVisible'))
        out.ApproximateNumberOfMessagesNotVisible = String(c.inFlight);
      if (want('ApproximateNumberOfMessagesDelayed'))
        out.ApproximateNumberOfMessagesDelayed = String(c.delayed);
    }
    if (want('CreatedTimestamp')) out.CreatedTimestamp = String(queue.createdAt);
    if (want('LastModifiedTimestamp')) out.LastModifiedTimestamp = String(Math.floor(l.modifiedAt / 1000));
    for (const [k, v] of Object.entries(eff)) if (want(k)) out[k] = v;
    return out;
  }

  async setAttributes(queue: Queue, attributes: Record<string, string>): Promise<void> {
    const l = await this.loaded(queue);
    const given = normalizeAttributes(attributes, queue.fifo, false);
    await this.#checkRedriveTarget(
      { id: queue.tenantId, accountId: queue.accountId },
      given.RedrivePolicy,
      queue.fifo,
      queue.arn,
    );
    const next = { ...l.stored, ...given };
    if (next.RedrivePolicy === '') delete next.RedrivePolicy;
    if (next.Policy === '') delete next.Policy;
    const now = Date.now();
    await this.#repo.setQueueAttributes(queue.id, JSON.stringify(next), now);
    this.#cache.set(queue.id, {
      ...l,
      stored: next,
      config: queueConfig(next, queue.fifo),
      modifiedAt: now,
      readAt: Date.now(),
    });
  }

  /**
   * AddPermission/RemovePermission: rewrites the Policy attribute from its current stored text, in one
   * transaction with the row locked, so two nodes adding permissions at once both keep theirs.
   */
  async updatePolicy(queue: Queue, change: (current: string | undefined) => string): Promise<void> {
    await this.loaded(queue);
    const now = Date.now();
    const next = await this.#repo.tx(async (r) => {
      const row = await r.queueByIdForUpdate(queue.id);
      if (!row) throw SqsErrors.queueDoesNotExist();
      const stored = JSON.parse(row.attributes) as Record<string, string>;
      const policy = change(stored.Policy);
      if (policy === '') delete stored.Policy;
      else stored.Policy = policy;
      await r.setQueueAttributes(queue.id, JSON.stringify(stored), now);
      return stored;
    });
    const l = await this.loaded(queue);
    this.#cache.set(queue.id, {
      ...l,
      stored: next,
      config: queueConfig(next, queue.fifo),
      modifiedAt: now,
      readAt: Date.now(),
    });
  }

  async deadLetterSources(queue: Queue): Promise<Queue[]> {
    return (await this.#repo.tenantQueues(queue.tenantId))
      .filter((r) => {
        const p = (JSON.parse(r.attributes) as Record<string, string>).RedrivePolicy;
        return (
          p !== undefined &&
          (JSON.parse(p) as { deadLetterTargetArn: string }).deadLetterTargetArn === queue.arn
        );
      })
      .map((r) => this.#toQueue(r));
  }

  async tagQueue(queue: Queue, tags: Record<string, string>): Promise<void> {
    await this.loaded(queue);
    if (Object.keys(tags).length === 0)
      throw SqsErrors.missingParameter('The request must contain the parameter Tags.');
    validateTags(tags, queue.name);
    const merged = { ...(await this.listTags(queue)), ...tags };
    if (Object.keys(merged).length > MAX_TAGS)
      throw SqsErrors.invalidParameterValue(`Too many tags added for queue ${queue.name}.`);
    await this.#repo.setQueueTags(queue.id, JSON.stringify(merged));
  }

  async untagQueue(queue: Queue, keys: readonly string[]): Promise<void> {
    if (keys.length === 0 || keys.some((k) => k.length === 0 || k.length > 128))
      throw SqsErrors.invalidParameterValue('Tag keys must be between 1 and 128 characters in length.');
    const tags = await this.listTags(queue);
    for (const k of keys) delete tags[k];
    await this.#repo.setQueueTags(queue.id, JSON.stringify(tags));
  }

  async listTags(queue: Queue): Promise<Record<string, string>> {
    await this.loaded(queue);
    const row = await this.#repo.queueById(queue.id);
    if (!row) throw SqsErrors.queueDoesNotExist();
    return JSON.parse(row.tags) as Record<string, string>;
  }
}
