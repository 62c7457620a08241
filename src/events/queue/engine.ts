// The embedded queue engine: SQS semantics over the platform's SQLite store (WAL). Each send or batch is
// one transaction, so an acknowledged message survives a process kill; leases are visible_at timestamps,
// so in-flight messages come back by themselves after a restart. Waiters are woken in-process.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Statement } from 'better-sqlite3';
import { type Db, migrate } from '../../store/database.js';
import { tryDecode } from '../../uri.js';
import {
  effectiveAttributes,
  FIFO_NAME_MESSAGE,
  normalizeAttributes,
  parseQueueArn,
  type QueueConfig,
  queueConfig,
  sameAttributes,
} from './attributes.js';
import { SqsError, SqsErrors } from './errors.js';
import { md5Hex, md5OfMessageAttributes } from './md5.js';
import type {
  BatchFailure,
  BatchResult,
  ListQueuesOptions,
  MessageAttributes,
  Queue,
  QueueCounts,
  QueueEngine,
  QueueOwner,
  ReceivedMessage,
  ReceiveOptions,
  SendInput,
  SendResult,
} from './types.js';
import { validateBatchIds, validateQueueName, validateSend } from './validate.js';

export interface QueueEngineOptions {
  region: string;
}

const SCHEMA = [
  `CREATE TABLE sqs_queues (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     tenant_id TEXT NOT NULL, account_id TEXT NOT NULL, name TEXT NOT NULL,
     attributes TEXT NOT NULL DEFAULT '{}', tags TEXT NOT NULL DEFAULT '{}',
     created_at INTEGER NOT NULL, modified_at INTEGER NOT NULL,
     UNIQUE (tenant_id, name))`,
  // visible_at (ms) is the lease: a message is receivable when visible_at <= now. receive_count = 0
  // with a future visible_at means "delayed"; > 0 means "in flight".
  `CREATE TABLE sqs_messages (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     queue_id INTEGER NOT NULL,
     message_id TEXT NOT NULL,
     body TEXT NOT NULL,
     attributes TEXT,
     md5_body TEXT NOT NULL, md5_attributes TEXT,
     system_attributes TEXT,
     sender_id TEXT NOT NULL,
     sent_at INTEGER NOT NULL,
     visible_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     receive_count INTEGER NOT NULL DEFAULT 0,
     first_received_at INTEGER,
     receipt BLOB,
     source_arn TEXT)`,
  'CREATE INDEX sqs_messages_receive ON sqs_messages (queue_id, visible_at, receive_count)',
  // FIFO: message groups, deduplication within 5 minutes, and receive in send order (seq) per queue.
  'ALTER TABLE sqs_messages ADD COLUMN group_id TEXT',
  'ALTER TABLE sqs_messages ADD COLUMN dedup_id TEXT',
  'CREATE INDEX sqs_messages_groups ON sqs_messages (queue_id, group_id, visible_at) WHERE group_id IS NOT NULL',
  `CREATE TABLE sqs_dedup (
     queue_id INTEGER NOT NULL, dedup_key TEXT NOT NULL, message_id TEXT NOT NULL, seq INTEGER NOT NULL,
     expires_at INTEGER NOT NULL, PRIMARY KEY (queue_id, dedup_key)) WITHOUT ROWID`,
];

const MESSAGE_COLUMNS = `m.seq, m.message_id, m.body, m.attributes, m.md5_body, m.md5_attributes, m.system_attributes,
  m.sender_id, m.sent_at, m.expires_at, m.receive_count, m.first_received_at, m.source_arn, m.group_id, m.dedup_id`;

const DEDUP_WINDOW_MS = 5 * 60_000;
/** SQS sequence numbers are large decimal strings, increasing per queue. */
const sequenceNumber = (seq: number): string => (10n ** 19n + BigInt(seq)).toString();

interface QueueRow {
  id: number;
  tenant_id: string;
  account_id: string;
  name: string;
  attributes: string;
  tags: string;
  created_at: number;
  modified_at: number;
}

interface MessageRow {
  seq: number;
  message_id: string;
  body: string;
  attributes: string | null;
  md5_body: string;
  md5_attributes: string | null;
  system_attributes: string | null;
  sender_id: string;
  sent_at: number;
  expires_at: number;
  receive_count: number;
  first_received_at: number | null;
  source_arn: string | null;
  group_id: string | null;
  dedup_id: string | null;
}

interface Loaded {
  queue: Queue;
  stored: Record<string, string>;
  config: QueueConfig;
  modifiedAt: number;
}

interface Watch {
  listeners: Set<() => void>;
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
}

/** Stored form of message attributes: binary values as base64. */
type StoredAttributes = Record<string, { t: string; s?: string; b?: string }>;

const toStored = (a: MessageAttributes | undefined): string | null => {
  if (!a || Object.keys(a).length === 0) return null;
  const out: StoredAttributes = {};
  for (const [k, v] of Object.entries(a)) {
    out[k] =
      v.binaryValue !== undefined
        ? { t: v.dataType, b: v.binaryValue.toString('base64') }
        : { t: v.dataType, s: v.stringValue ?? '' };
  }
  return JSON.stringify(out);
};

const fromStored = (s: string | null): MessageAttributes => {
  if (!s) return {};
  const out: MessageAttributes = {};
  for (const [k, v] of Object.entries(JSON.parse(s) as StoredAttributes)) {
    out[k] =
      v.b !== undefined
        ? { dataType: v.t, binaryValue: Buffer.from(v.b, 'base64') }
        : { dataType: v.t, stringValue: v.s ?? '' };
  }
  return out;
};

// Receipt handle: seq (8 bytes) + queue id (4) + a random token (18) that changes on every receive.
const TOKEN_BYTES = 18;
function encodeReceipt(seq: number, queueId: number, token: Buffer): string {
  const b = Buffer.allocUnsafe(12 + TOKEN_BYTES);
  b.writeBigUInt64BE(BigInt(seq), 0);
  b.writeUInt32BE(queueId, 8);
  token.copy(b, 12);
  return b.toString('base64url');
}
function decodeReceipt(handle: string): { seq: number; queueId: number; token: Buffer } | undefined {
  if (typeof handle !== 'string' || handle.length > 1024 || !/^[A-Za-z0-9_-]+$/.test(handle))
    return undefined;
  const b = Buffer.from(handle, 'base64url');
  if (b.length !== 12 + TOKEN_BYTES) return undefined;
  return { seq: Number(b.readBigUInt64BE(0)), queueId: b.readUInt32BE(8), token: b.subarray(12) };
}

// Receipt tokens come from a pooled random buffer: one getrandom call per 227 tokens, not per message.
let pool = Buffer.alloc(0);
let poolAt = 0;
function receiptToken(): Buffer {
  if (poolAt + TOKEN_BYTES > pool.length) {
    pool = randomBytes(TOKEN_BYTES * 227);
    poolAt = 0;
  }
  const t = Buffer.from(pool.subarray(poolAt, poolAt + TOKEN_BYTES));
  poolAt += TOKEN_BYTES;
  return t;
}

// Expired messages are also dropped when a receive meets them; the sweep keeps counts honest.
const SWEEP_INTERVAL_MS = 60_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

export class SqliteQueueEngine implements QueueEngine {
  readonly #db: Db;
  readonly #region: string;
  readonly #cache = new Map<number, Loaded>();
  readonly #watches = new Map<number, Watch>();
  // Messages per queue, counted once then kept up to date after each commit: COUNT(*) is a full scan
  // and pollers ask for the backlog on every full batch.
  readonly #totals = new Map<number, number>();
  readonly #names = new Map<string, number>();
  readonly #sweeper: NodeJS.Timeout;
  readonly #closing = new AbortController();
  readonly #s: Record<
    | 'queueByName'
    | 'queueById'
    | 'insertQueue'
    | 'updateQueueAttrs'
    | 'updateQueueTags'
    | 'deleteQueue'
    | 'deleteQueueMessages'
    | 'listQueues'
    | 'insertMessage'
    | 'selectVisible'
    | 'leaseMessage'
    | 'moveMessage'
    | 'deleteExpired'
    | 'messageBySeq'
    | 'deleteMessage'
    | 'setVisibility'
    | 'counts'
    | 'total'
    | 'selectVisibleFifo'
    | 'dedupGet'
    | 'dedupPut'
    | 'sweepMessages'
    | 'sweepDedup'
    | 'nextVisible'
    | 'hasVisible',
    Statement
  >;

  constructor(db: Db, opts: QueueEngineOptions) {
    this.#db = db;
    this.#region = opts.region;
    // Every long poll listens on this signal.
    setMaxListeners(0, this.#closing.signal);
    this.#sweeper = setInterval(() => this.sweepExpired(), SWEEP_INTERVAL_MS);
    this.#sweeper.unref();
    migrate(db, 'queue', SCHEMA);
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      queueByName: p('SELECT * FROM sqs_queues WHERE tenant_id = ? AND name = ?'),
      queueById: p('SELECT * FROM sqs_queues WHERE id = ?'),
      insertQueue: p(
        'INSERT INTO sqs_queues (tenant_id, account_id, name, attributes, tags, created_at, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      updateQueueAttrs: p('UPDATE sqs_queues SET attributes = ?, modified_at = ? WHERE id = ?'),
      updateQueueTags: p('UPDATE sqs_queues SET tags = ? WHERE id = ?'),
      deleteQueue: p('DELETE FROM sqs_queues WHERE id = ?'),
      deleteQueueMessages: p('DELETE FROM sqs_messages WHERE queue_id = ?'),
      listQueues: p(
        'SELECT * FROM sqs_queues WHERE tenant_id = ? AND name >= ? AND name > ? ORDER BY name LIMIT ?',
      ),
      insertMessage: p(
        `INSERT INTO sqs_messages (queue_id, message_id, body, attributes, md5_body, md5_attributes, system_attributes,
           sender_id, sent_at, visible_at, expires_at, group_id, dedup_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      // A FIFO group is blocked while one of its messages is in flight or an earlier one is not yet visible.
      selectVisibleFifo: p(
        `SELECT ${MESSAGE_COLUMNS} FROM sqs_messages m
          WHERE m.queue_id = @queue AND m.visible_at <= @now AND m.group_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM sqs_messages i
                             WHERE i.queue_id = @queue AND i.group_id = m.group_id AND i.visible_at > @now
                               AND (i.receive_count > 0 OR i.seq < m.seq))
          ORDER BY m.seq LIMIT @limit`,
      ),
      dedupGet: p(
        'SELECT message_id, seq FROM sqs_dedup WHERE queue_id = ? AND dedup_key = ? AND expires_at > ?',
      ),
      dedupPut: p(
        'INSERT OR REPLACE INTO sqs_dedup (queue_id, dedup_key, message_id, seq, expires_at) VALUES (?, ?, ?, ?, ?)',
      ),
      sweepMessages: p('DELETE FROM sqs_messages WHERE expires_at <= ?'),
      sweepDedup: p('DELETE FROM sqs_dedup WHERE expires_at <= ?'),
      selectVisible: p(
        `SELECT ${MESSAGE_COLUMNS} FROM sqs_messages m WHERE queue_id = ? AND visible_at <= ? ORDER BY visible_at LIMIT ?`,
      ),
      leaseMessage: p(
        `UPDATE sqs_messages SET visible_at = ?, receive_count = receive_count + 1,
           first_received_at = COALESCE(first_received_at, ?), receipt = ? WHERE seq = ?`,
      ),
      moveMessage: p(
        `UPDATE sqs_messages SET queue_id = ?, visible_at = ?, receive_count = 0, first_received_at = NULL, receipt = NULL,
           source_arn = ?, expires_at = ? WHERE seq = ?`,
      ),
      deleteExpired: p('DELETE FROM sqs_messages WHERE seq = ?'),
      messageBySeq: p('SELECT queue_id, receipt, visible_at FROM sqs_messages WHERE seq = ?'),
      deleteMessage: p('DELETE FROM sqs_messages WHERE seq = ?'),
      setVisibility: p('UPDATE sqs_messages SET visible_at = ? WHERE seq = ?'),
      // Only the invisible range is scanned (small: leases and delays); the total is kept in memory.
      counts: p(
        `SELECT COALESCE(SUM(receive_count > 0), 0) AS inFlight, COALESCE(SUM(receive_count = 0), 0) AS delayed
           FROM sqs_messages WHERE queue_id = ? AND visible_at > ?`,
      ),
      total: p('SELECT COUNT(*) AS n FROM sqs_messages WHERE queue_id = ?'),
      nextVisible: p('SELECT MIN(visible_at) AS at FROM sqs_messages WHERE queue_id = ? AND visible_at > ?'),
      hasVisible: p('SELECT 1 FROM sqs_messages WHERE queue_id = ? AND visible_at <= ? LIMIT 1'),
    };
  }

  // ---- queues ----

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

  #load(r: QueueRow): Loaded {
    const stored = JSON.parse(r.attributes) as Record<string, string>;
    const loaded: Loaded = {
      queue: this.#toQueue(r),
      stored,
      config: queueConfig(stored, r.name.endsWith('.fifo')),
      modifiedAt: r.modified_at,
    };
    this.#cache.set(r.id, loaded);
    return loaded;
  }

  /** The queue's live state; throws QueueDoesNotExist once it has been deleted. */
  #loaded(queue: Queue): Loaded {
    const hit = this.#cache.get(queue.id);
    if (hit) return hit;
    const row = this.#s.queueById.get(queue.id) as QueueRow | undefined;
    if (!row) throw SqsErrors.queueDoesNotExist();
    return this.#load(row);
  }

  createQueue(
    owner: QueueOwner,
    name: string,
    attributes: Record<string, string> = {},
    tags: Record<string, string> = {},
  ): Queue {
    if (typeof name !== 'string')
      throw SqsErrors.missingParameter('The request must contain the parameter QueueName.');
    validateQueueName(name);
    const fifo = name.endsWith('.fifo');
    if (fifo && attributes.FifoQueue !== 'true') throw SqsErrors.invalidParameterValue(FIFO_NAME_MESSAGE);
    const given = normalizeAttributes(attributes, fifo, true);
    this.#checkRedriveTarget(owner, given.RedrivePolicy, fifo);
    return this.#db.transaction(() => {
      const existing = this.#s.queueByName.get(owner.id, name) as QueueRow | undefined;
      if (existing) {
        if (!sameAttributes(given, JSON.parse(existing.attributes) as Record<string, string>, fifo))
          throw SqsErrors.queueNameExists(name);
        return this.#toQueue(existing);
      }
      const now = Date.now();
      if (given.RedrivePolicy === '') delete given.RedrivePolicy;
      const info = this.#s.insertQueue.run(
        owner.id,
        owner.accountId,
        name,
        JSON.stringify(given),
        JSON.stringify(tags),
        now,
        now,
      );
      return this.#load(this.#s.queueById.get(Number(info.lastInsertRowid)) as QueueRow).queue;
    })();
  }

  #checkRedriveTarget(owner: QueueOwner, policy: string | undefined, fifo: boolean): void {
    if (!policy) return;
    const arn = (JSON.parse(policy) as { deadLetterTargetArn: string }).deadLetterTargetArn;
    const target = this.#byArn(owner, arn);
    const bad = (reason: string) =>
      SqsErrors.invalidParameterValue(
        `Value ${policy} for parameter RedrivePolicy is invalid. Reason: ${reason}`,
      );
    if (!target) throw bad('Dead letter target does not exist.');
    if (target.fifo !== fifo)
      throw bad('Dead-letter queue must be of the same type (FIFO or standard) as the source queue.');
  }

  #byName(owner: QueueOwner, name: string): Queue | undefined {
    // Every API call resolves its queue by name: keep live queues' ids in memory (dropped on delete).
    const key = `${owner.id}\0${name}`;
    const id = this.#names.get(key);
    const hit = id === undefined ? undefined : this.#cache.get(id);
    if (hit) return hit.queue;
    const row = this.#s.queueByName.get(owner.id, name) as QueueRow | undefined;
    if (!row) return undefined;
    this.#names.set(key, row.id);
    return (this.#cache.get(row.id) ?? this.#load(row)).queue;
  }

  #byArn(owner: QueueOwner, arn: string): Queue | undefined {
    const parsed = parseQueueArn(arn);
    if (!parsed || parsed.accountId !== owner.accountId || parsed.region !== this.#region) return undefined;
    return this.#byName(owner, parsed.name);
  }

  findQueue(owner: QueueOwner, ref: string): Queue | undefined {
    if (typeof ref !== 'string' || ref === '') return undefined;
    if (ref.startsWith('arn:')) return this.#byArn(owner, ref);
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

  getQueue(owner: QueueOwner, ref: string): Queue {
    const q = this.findQueue(owner, ref);
    if (!q) throw SqsErrors.queueDoesNotExist();
    return q;
  }

  listQueues(owner: QueueOwner, opts: ListQueuesOptions = {}): { queues: Queue[]; nextToken?: string } {
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
    const rows = (this.#s.listQueues.all(owner.id, prefix, after, limit + 1) as QueueRow[]).filter((r) =>
      r.name.startsWith(prefix),
    );
    const page = rows.slice(0, limit);
    const queues = page.map((r) => (this.#cache.get(r.id) ?? this.#load(r)).queue);
    const last = page[page.length - 1];
    return opts.maxResults !== undefined && rows.length > limit && last
      ? { queues, nextToken: Buffer.from(last.name, 'utf8').toString('base64url') }
      : { queues };
  }

  deleteQueue(queue: Queue): void {
    this.#loaded(queue);
    this.#db.transaction(() => {
      this.#s.deleteQueueMessages.run(queue.id);
      this.#s.deleteQueue.run(queue.id);
    })();
    this.#cache.delete(queue.id);
    this.#totals.delete(queue.id);
    this.#names.delete(`${queue.tenantId}\0${queue.name}`);
    // Waiters on the deleted queue wake up and find it gone.
    this.#notify(queue.id);
  }

  purgeQueue(queue: Queue): void {
    this.#loaded(queue);
    this.#s.deleteQueueMessages.run(queue.id);
    this.#totals.set(queue.id, 0);
  }

  getAttributes(queue: Queue, names: readonly string[] = ['All']): Record<string, string> {
    const l = this.#loaded(queue);
    const all = names.length === 0 || names.includes('All');
    const want = (n: string) => all || names.includes(n);
    const out: Record<string, string> = {};
    const eff = effectiveAttributes(l.stored, queue.fifo);
    if (!all) {
      const known = new Set([
        ...Object.keys(eff),
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
      ]);
      for (const n of names) if (!known.has(n)) throw SqsErrors.invalidAttributeName(n);
    }
    if (want('QueueArn')) out.QueueArn = queue.arn;
    if (
      want('ApproximateNumberOfMessages') ||
      want('ApproximateNumberOfMessagesNotVisible') ||
      want('ApproximateNumberOfMessagesDelayed')
    ) {
      const c = this.counts(queue);
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

  setAttributes(queue: Queue, attributes: Record<string, string>): void {
    const l = this.#loaded(queue);
    const given = normalizeAttributes(attributes, queue.fifo, false);
    this.#checkRedriveTarget(
      { id: queue.tenantId, accountId: queue.accountId },
      given.RedrivePolicy,
      queue.fifo,
    );
    const next = { ...l.stored, ...given };
    if (next.RedrivePolicy === '') delete next.RedrivePolicy;
    if (next.Policy === '') delete next.Policy;
    const now = Date.now();
    this.#s.updateQueueAttrs.run(JSON.stringify(next), now, queue.id);
    this.#cache.set(queue.id, { ...l, stored: next, config: queueConfig(next, queue.fifo), modifiedAt: now });
  }

  deadLetterSources(queue: Queue): Queue[] {
    const rows = this.#db
      .prepare(
        `SELECT * FROM sqs_queues WHERE tenant_id = ? AND json_extract(attributes, '$.RedrivePolicy') IS NOT NULL ORDER BY name`,
      )
      .all(queue.tenantId) as QueueRow[];
    return rows
      .filter((r) => {
        const p = (JSON.parse(r.attributes) as Record<string, string>).RedrivePolicy;
        return (
          p !== undefined &&
          (JSON.parse(p) as { deadLetterTargetArn: string }).deadLetterTargetArn === queue.arn
        );
      })
      .map((r) => this.#toQueue(r));
  }

  tagQueue(queue: Queue, tags: Record<string, string>): void {
    this.#loaded(queue);
    const merged = { ...this.listTags(queue), ...tags };
    if (Object.keys(merged).length > 50)
      throw SqsErrors.invalidParameterValue('Too many tags added for queue.');
    this.#s.updateQueueTags.run(JSON.stringify(merged), queue.id);
  }

  untagQueue(queue: Queue, keys: readonly string[]): void {
    const tags = this.listTags(queue);
    for (const k of keys) delete tags[k];
    this.#s.updateQueueTags.run(JSON.stringify(tags), queue.id);
  }

  listTags(queue: Queue): Record<string, string> {
    this.#loaded(queue);
    const row = this.#s.queueById.get(queue.id) as QueueRow | undefined;
    if (!row) throw SqsErrors.queueDoesNotExist();
    return JSON.parse(row.tags) as Record<string, string>;
  }

  // ---- messages ----

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
      const dup = this.#s.dedupGet.get(l.queue.id, dedupKey, now) as
        | { message_id: string; seq: number }
        | undefined;
      if (dup) {
        result.messageId = dup.message_id;
        result.sequenceNumber = sequenceNumber(dup.seq);
        return { result, visibleAt: Number.POSITIVE_INFINITY, inserted: false };
      }
    }
    result.messageId = randomUUID();
    const delay = input.delaySeconds ?? l.config.delaySeconds;
    const visibleAt = now + delay * 1000;
    const info = this.#s.insertMessage.run(
      l.queue.id,
      result.messageId,
      input.body,
      toStored(input.messageAttributes),
      md5OfBody,
      md5Attrs ?? null,
      toStored(input.messageSystemAttributes),
      input.senderId ?? l.queue.accountId,
      now,
      visibleAt,
      now + l.config.messageRetentionPeriod * 1000,
      input.messageGroupId ?? null,
      dedupId,
    );
    if (dedupKey !== undefined) {
      const seq = Number(info.lastInsertRowid);
      result.sequenceNumber = sequenceNumber(seq);
      this.#s.dedupPut.run(l.queue.id, dedupKey, result.messageId, seq, now + DEDUP_WINDOW_MS);
    }
    return { result, visibleAt, inserted: true };
  }

  readonly #insertTx = (l: Loaded, input: SendInput, now: number) =>
    this.#db.transaction(() => this.#insert(l, input, now))();

  send(queue: Queue, input: SendInput): SendResult {
    const l = this.#loaded(queue);
    validateSend(input, l.config);
    const { result, visibleAt, inserted } = this.#insertTx(l, input, Date.now());
    if (inserted) {
      this.#adjust(queue.id, 1);
      this.#afterChange(queue.id, visibleAt);
    }
    return result;
  }

  sendBatch(queue: Queue, entries: readonly (SendInput & { id: string })[]): BatchResult<SendResult> {
    const l = this.#loaded(queue);
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
        failed.push({ id: entry.id, code: e.queryCode, message: e.message, senderFault: e.senderFault });
      }
    }
    if (total > l.config.maximumMessageSize) throw SqsErrors.batchRequestTooLong(total);
    const now = Date.now();
    let earliest = Number.POSITIVE_INFINITY;
    let inserted = 0;
    const successful = this.#db.transaction(() =>
      valid.map((entry) => {
        const r = this.#insert(l, entry, now);
        earliest = Math.min(earliest, r.visibleAt);
        if (r.inserted) inserted++;
        return { id: entry.id, ...r.result };
      }),
    )();
    this.#adjust(queue.id, inserted);
    if (successful.length > 0) this.#afterChange(queue.id, earliest);
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
      ? this.#byArn({ id: queue.tenantId, accountId: queue.accountId }, redrive.deadLetterTargetArn)
      : undefined;
    const dlqLoaded = dlq && dlq.id !== queue.id ? this.#loaded(dlq) : undefined;
    let moved = 0;
    let expired = 0;
    const out = this.#db.transaction(() => {
      const now = Date.now();
      const got: ReceivedMessage[] = [];
      // Poison messages and expired ones are skipped, so keep reading until the batch is full or the queue is drained.
      // A message leased with visibility 0 is visible again at once: never hand it out twice in one call.
      const leased = new Set<number>();
      for (let round = 0; got.length < max && round < 100; round++) {
        const rows = this.#visibleRows(l, now, max - got.length + leased.size).filter(
          (r) => !leased.has(r.seq),
        );
        if (rows.length === 0) break;
        let skipped = 0;
        for (const r of rows) {
          if (got.length >= max) break;
          if (r.expires_at <= now) {
            this.#s.deleteExpired.run(r.seq);
            expired++;
            skipped++;
            continue;
          }
          if (redrive && dlqLoaded && r.receive_count >= redrive.maxReceiveCount) {
            this.#s.moveMessage.run(
              dlqLoaded.queue.id,
              now,
              queue.arn,
              r.sent_at + dlqLoaded.config.messageRetentionPeriod * 1000,
              r.seq,
            );
            moved++;
            skipped++;
            continue;
          }
          const token = receiptToken();
          this.#s.leaseMessage.run(now + visibilityTimeout * 1000, now, token, r.seq);
          leased.add(r.seq);
          got.push(this.#toReceived(queue, r, token, now, attributeNames, messageAttributeNames));
        }
        // Nothing skipped: the rows asked for were all there was.
        if (skipped === 0) break;
      }
      return got;
    })();
    this.#adjust(queue.id, -moved - expired);
    if (moved && dlqLoaded) {
      this.#adjust(dlqLoaded.queue.id, moved);
      this.#afterChange(dlqLoaded.queue.id, 0);
    }
    if (out.length > 0) this.#afterLease(queue.id, Date.now() + visibilityTimeout * 1000);
    return out;
  }

  #visibleRows(l: Loaded, now: number, limit: number): MessageRow[] {
    return (
      l.config.fifo
        ? this.#s.selectVisibleFifo.all({ queue: l.queue.id, now, limit })
        : this.#s.selectVisible.all(l.queue.id, now, limit)
    ) as MessageRow[];
  }

  #toReceived(
    queue: Queue,
    r: MessageRow,
    token: Buffer,
    now: number,
    attributeNames: readonly string[] | undefined,
    messageAttributeNames: readonly string[] | undefined,
  ): ReceivedMessage {
    const system: Record<string, string> = {
      SenderId: r.sender_id,
      SentTimestamp: String(r.sent_at),
      ApproximateReceiveCount: String(r.receive_count + 1),
      ApproximateFirstReceiveTimestamp: String(r.first_received_at ?? now),
    };
    if (r.source_arn) system.DeadLetterQueueSourceArn = r.source_arn;
    if (r.group_id !== null) system.MessageGroupId = r.group_id;
    if (queue.fifo) {
      if (r.dedup_id !== null) system.MessageDeduplicationId = r.dedup_id;
      system.SequenceNumber = sequenceNumber(r.seq);
    }
    if (r.system_attributes) {
      const trace = fromStored(r.system_attributes).AWSTraceHeader?.stringValue;
      if (trace) system.AWSTraceHeader = trace;
    }
    const allSys = !attributeNames || attributeNames.includes('All');
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(system)) if (allSys || attributeNames!.includes(k)) attributes[k] = v;

    const userAttrs = fromStored(r.attributes);
    const messageAttributes: MessageAttributes = {};
    for (const [k, v] of Object.entries(userAttrs)) {
      if (
        !messageAttributeNames ||
        messageAttributeNames.some(
          (p) => p === 'All' || p === '.*' || p === k || (p.endsWith('.*') && k.startsWith(p.slice(0, -1))),
        )
      ) {
        messageAttributes[k] = v;
      }
    }
    const msg: ReceivedMessage = {
      messageId: r.message_id,
      receiptHandle: encodeReceipt(r.seq, queue.id, token),
      body: r.body,
      md5OfBody: r.md5_body,
      attributes,
      messageAttributes,
    };
    // SQS reports the digest of the attributes returned, which are all or some of them.
    const md5 =
      Object.keys(messageAttributes).length === Object.keys(userAttrs).length
        ? r.md5_attributes
        : md5OfMessageAttributes(messageAttributes);
    if (md5 && Object.keys(messageAttributes).length > 0) msg.md5OfMessageAttributes = md5;
    return msg;
  }

  async receive(queue: Queue, opts: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    const l = this.#loaded(queue);
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
      const current = this.#loaded(queue);
      const got = this.#receiveNow(current, max, vt, opts.attributeNames, opts.messageAttributeNames);
      const left = deadline - Date.now();
      if (got.length > 0 || left <= 0 || opts.signal?.aborted || this.#closing.signal.aborted) return got;
      await this.waitForMessages(queue, left, opts.signal);
    }
  }

  #handle(queue: Queue, receiptHandle: string): { seq: number; token: Buffer } {
    const h = decodeReceipt(receiptHandle);
    if (!h || h.queueId !== queue.id) throw SqsErrors.receiptHandleIsInvalid(String(receiptHandle));
    return h;
  }

  /** The message a handle names while the handle is still its latest; undefined when stale or gone. */
  #current(queue: Queue, h: { seq: number; token: Buffer }): { visible_at: number } | undefined {
    const row = this.#s.messageBySeq.get(h.seq) as
      | { queue_id: number; receipt: Buffer | null; visible_at: number }
      | undefined;
    if (!row || row.queue_id !== queue.id || !row.receipt || row.receipt.length !== h.token.length)
      return undefined;
    return timingSafeEqual(row.receipt, h.token) ? row : undefined;
  }

  deleteMessage(queue: Queue, receiptHandle: string): void {
    this.#loaded(queue);
    const h = this.#handle(queue, receiptHandle);
    // As on SQS, a stale handle (message received again since) succeeds without deleting.
    if (this.#current(queue, h)) {
      this.#adjust(queue.id, -this.#s.deleteMessage.run(h.seq).changes);
      // Deleting a FIFO message unblocks the rest of its group.
      if (queue.fifo) this.#afterChange(queue.id, 0);
    }
  }

  deleteBatch(queue: Queue, entries: readonly { id: string; receiptHandle: string }[]): BatchResult<object> {
    this.#loaded(queue);
    validateBatchIds(entries, 'DeleteMessageBatchRequestEntry');
    let deleted = 0;
    const out = this.#db.transaction(() => {
      const result: BatchResult<object> = { successful: [], failed: [] };
      for (const e of entries) {
        try {
          const h = this.#handle(queue, e.receiptHandle);
          if (this.#current(queue, h)) deleted += this.#s.deleteMessage.run(h.seq).changes;
          result.successful.push({ id: e.id });
        } catch (err) {
          if (!(err instanceof SqsError)) throw err;
          result.failed.push({
            id: e.id,
            code: err.queryCode,
            message: err.message,
            senderFault: err.senderFault,
          });
        }
      }
      return result;
    })();
    this.#adjust(queue.id, -deleted);
    if (deleted > 0 && queue.fifo) this.#afterChange(queue.id, 0);
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
    this.#s.setVisibility.run(at, h.seq);
    return at;
  }

  changeVisibility(queue: Queue, receiptHandle: string, visibilityTimeout: number): void {
    this.#loaded(queue);
    const at = this.#changeOne(queue, receiptHandle, visibilityTimeout, Date.now());
    this.#afterChange(queue.id, at);
  }

  changeVisibilityBatch(
    queue: Queue,
    entries: readonly { id: string; receiptHandle: string; visibilityTimeout: number }[],
  ): BatchResult<object> {
    this.#loaded(queue);
    validateBatchIds(entries, 'ChangeMessageVisibilityBatchRequestEntry');
    const now = Date.now();
    let earliest = Number.POSITIVE_INFINITY;
    const result = this.#db.transaction(() => {
      const r: BatchResult<object> = { successful: [], failed: [] };
      for (const e of entries) {
        try {
          earliest = Math.min(earliest, this.#changeOne(queue, e.receiptHandle, e.visibilityTimeout, now));
          r.successful.push({ id: e.id });
        } catch (err) {
          if (!(err instanceof SqsError)) throw err;
          r.failed.push({
            id: e.id,
            code: err.queryCode,
            message: err.message,
            senderFault: err.senderFault,
          });
        }
      }
      return r;
    })();
    if (result.successful.length > 0) this.#afterChange(queue.id, earliest);
    return result;
  }

  counts(queue: Queue): QueueCounts {
    this.#loaded(queue);
    let total = this.#totals.get(queue.id);
    if (total === undefined) {
      total = (this.#s.total.get(queue.id) as { n: number }).n;
      this.#totals.set(queue.id, total);
    }
    const r = this.#s.counts.get(queue.id, Date.now()) as { inFlight: number; delayed: number };
    return { visible: Math.max(0, total - r.inFlight - r.delayed), inFlight: r.inFlight, delayed: r.delayed };
  }

  #adjust(queueId: number, delta: number): void {
    const total = this.#totals.get(queueId);
    if (total !== undefined && delta !== 0) this.#totals.set(queueId, total + delta);
  }

  // ---- wake-ups ----

  onMessage(queue: Queue, listener: () => void): () => void {
    let w = this.#watches.get(queue.id);
    if (!w) {
      w = { listeners: new Set(), timer: undefined, timerAt: Number.POSITIVE_INFINITY };
      this.#watches.set(queue.id, w);
      // Messages already delayed or in flight will become receivable later: arm the timer for the first.
      this.#armNext(queue.id);
    }
    w.listeners.add(listener);
    return () => {
      const cur = this.#watches.get(queue.id);
      if (!cur) return;
      cur.listeners.delete(listener);
      if (cur.listeners.size === 0) {
        if (cur.timer) clearTimeout(cur.timer);
        this.#watches.delete(queue.id);
      }
    };
  }

  waitForMessages(queue: Queue, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    try {
      this.#loaded(queue); // #receivable reads the cached config
    } catch {
      return Promise.resolve(false); // deleted
    }
    if (this.#receivable(queue.id)) return Promise.resolve(true);
    if (timeoutMs <= 0 || signal?.aborted || this.#closing.signal.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer);
        unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        this.#closing.signal.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), Math.min(timeoutMs, MAX_TIMER_MS));
      const unsubscribe = this.onMessage(queue, () => done(true));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#closing.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** After a commit that may make messages receivable now (at <= now) or at `at`. */
  #afterChange(queueId: number, at: number): void {
    const w = this.#watches.get(queueId);
    if (!w) return;
    if (at <= Date.now()) this.#notify(queueId);
    else this.#arm(queueId, w, at);
  }

  /** Leased messages come back at `at` unless deleted first; the timer then finds out which. */
  #afterLease(queueId: number, at: number): void {
    const w = this.#watches.get(queueId);
    if (w) this.#arm(queueId, w, at);
  }

  #arm(queueId: number, w: Watch, at: number): void {
    if (w.timer && w.timerAt <= at) return;
    if (w.timer) clearTimeout(w.timer);
    w.timerAt = at;
    w.timer = setTimeout(
      () => {
        w.timer = undefined;
        w.timerAt = Number.POSITIVE_INFINITY;
        if (this.#receivable(queueId)) this.#notify(queueId);
        if (this.#watches.get(queueId) === w) this.#armNext(queueId);
      },
      Math.min(Math.max(0, at - Date.now()) + 1, MAX_TIMER_MS),
    );
    w.timer.unref();
  }

  /** Whether a receive would get a message now (for FIFO: one whose group is not blocked). */
  #receivable(queueId: number): boolean {
    const l = this.#cache.get(queueId);
    if (!l) return false;
    const now = Date.now();
    return l.config.fifo
      ? this.#visibleRows(l, now, 1).length > 0
      : this.#s.hasVisible.get(queueId, now) !== undefined;
  }

  /** Deletes messages past their retention period and expired deduplication ids; returns messages deleted. */
  sweepExpired(now = Date.now()): number {
    const deleted = this.#s.sweepMessages.run(now).changes;
    this.#s.sweepDedup.run(now);
    // Totals are recounted on next use rather than tracked per queue here.
    if (deleted > 0) this.#totals.clear();
    return deleted;
  }

  #armNext(queueId: number): void {
    const w = this.#watches.get(queueId);
    if (!w || this.#closing.signal.aborted) return;
    const next = (this.#s.nextVisible.get(queueId, Date.now()) as { at: number | null }).at;
    if (next !== null) this.#arm(queueId, w, next);
  }

  #notify(queueId: number): void {
    const w = this.#watches.get(queueId);
    if (!w) return;
    for (const l of [...w.listeners]) {
      try {
        l();
      } catch (e) {
        console.error('kindling: queue listener failed:', e);
      }
    }
  }

  /** Ends every long poll and timer; the store stays open (the platform closes it). */
  close(): void {
    this.#closing.abort();
    clearInterval(this.#sweeper);
    for (const w of this.#watches.values()) if (w.timer) clearTimeout(w.timer);
  }
}
