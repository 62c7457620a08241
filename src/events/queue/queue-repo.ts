// The queue engine's persistence: every SQL statement over sqs_queues, sqs_messages and sqs_dedup. The
// engine's modules speak to this narrow interface only, so another store can sit beside the SQLite one.
import type { Statement } from 'better-sqlite3';
import { type Db, migrate } from '../../store/database.js';
import type { MessageAttributes } from './types.js';

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

export interface QueueRow {
  id: number;
  tenant_id: string;
  account_id: string;
  name: string;
  attributes: string;
  tags: string;
  created_at: number;
  modified_at: number;
}

export interface MessageRow {
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

/** A new message's columns, as the engine computed them. */
export interface NewMessage {
  queueId: number;
  messageId: string;
  body: string;
  attributes: string | null;
  md5Body: string;
  md5Attributes: string | null;
  systemAttributes: string | null;
  senderId: string;
  sentAt: number;
  visibleAt: number;
  expiresAt: number;
  groupId: string | null;
  dedupId: string | null;
}

/** Stored form of message attributes: binary values as base64. */
type StoredAttributes = Record<string, { t: string; s?: string; b?: string }>;

export const toStored = (a: MessageAttributes | undefined): string | null => {
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

export const fromStored = (s: string | null): MessageAttributes => {
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

export class SqliteQueueRepo {
  readonly #db: Db;
  readonly #s: Record<
    | 'queueByName'
    | 'queueById'
    | 'insertQueue'
    | 'updateQueueAttrs'
    | 'updateQueueTags'
    | 'deleteQueue'
    | 'deleteQueueMessages'
    | 'listQueues'
    | 'redriveQueues'
    | 'insertMessage'
    | 'selectVisible'
    | 'leaseMessage'
    | 'moveMessage'
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

  constructor(db: Db) {
    this.#db = db;
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
      redriveQueues: p(
        `SELECT * FROM sqs_queues WHERE tenant_id = ? AND json_extract(attributes, '$.RedrivePolicy') IS NOT NULL ORDER BY name`,
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

  /** Runs fn as one transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  // ---- queues ----

  queueByName(tenantId: string, name: string): QueueRow | undefined {
    return this.#s.queueByName.get(tenantId, name) as QueueRow | undefined;
  }

  queueById(id: number): QueueRow | undefined {
    return this.#s.queueById.get(id) as QueueRow | undefined;
  }

  insertQueue(
    tenantId: string,
    accountId: string,
    name: string,
    attributes: string,
    tags: string,
    now: number,
  ): QueueRow {
    const info = this.#s.insertQueue.run(tenantId, accountId, name, attributes, tags, now, now);
    return this.queueById(Number(info.lastInsertRowid))!;
  }

  setQueueAttributes(id: number, attributes: string, now: number): void {
    this.#s.updateQueueAttrs.run(attributes, now, id);
  }

  setQueueTags(id: number, tags: string): void {
    this.#s.updateQueueTags.run(tags, id);
  }

  /** The queue and all its messages, in one transaction. */
  deleteQueue(id: number): void {
    this.transaction(() => {
      this.#s.deleteQueueMessages.run(id);
      this.#s.deleteQueue.run(id);
    });
  }

  /** One page of a tenant's queues by name: names >= prefix and > after, at most limit. */
  listQueues(tenantId: string, prefix: string, after: string, limit: number): QueueRow[] {
    return this.#s.listQueues.all(tenantId, prefix, after, limit) as QueueRow[];
  }

  /** A tenant's queues that have a RedrivePolicy, by name. */
  queuesWithRedrive(tenantId: string): QueueRow[] {
    return this.#s.redriveQueues.all(tenantId) as QueueRow[];
  }

  // ---- messages ----

  purge(queueId: number): void {
    this.#s.deleteQueueMessages.run(queueId);
  }

  /** Inserts a message; returns its seq. */
  insertMessage(m: NewMessage): number {
    const info = this.#s.insertMessage.run(
      m.queueId,
      m.messageId,
      m.body,
      m.attributes,
      m.md5Body,
      m.md5Attributes,
      m.systemAttributes,
      m.senderId,
      m.sentAt,
      m.visibleAt,
      m.expiresAt,
      m.groupId,
      m.dedupId,
    );
    return Number(info.lastInsertRowid);
  }

  /** The message a live deduplication key already names. */
  findDuplicate(queueId: number, key: string, now: number): { message_id: string; seq: number } | undefined {
    return this.#s.dedupGet.get(queueId, key, now) as { message_id: string; seq: number } | undefined;
  }

  rememberDeduplication(
    queueId: number,
    key: string,
    messageId: string,
    seq: number,
    expiresAt: number,
  ): void {
    this.#s.dedupPut.run(queueId, key, messageId, seq, expiresAt);
  }

  /** Receivable messages: FIFO ones in send order with blocked groups left out, others by visible_at. */
  visibleMessages(queueId: number, fifo: boolean, now: number, limit: number): MessageRow[] {
    return (
      fifo
        ? this.#s.selectVisibleFifo.all({ queue: queueId, now, limit })
        : this.#s.selectVisible.all(queueId, now, limit)
    ) as MessageRow[];
  }

  hasVisible(queueId: number, now: number): boolean {
    return this.#s.hasVisible.get(queueId, now) !== undefined;
  }

  /** The earliest future visible_at of the queue's messages. */
  nextVisibleAt(queueId: number, now: number): number | null {
    return (this.#s.nextVisible.get(queueId, now) as { at: number | null }).at;
  }

  lease(seq: number, visibleAt: number, now: number, receipt: Buffer): void {
    this.#s.leaseMessage.run(visibleAt, now, receipt, seq);
  }

  /** Moves a message to the dead-letter queue as a fresh, visible one. */
  moveToDeadLetter(seq: number, dlqId: number, now: number, sourceArn: string, expiresAt: number): void {
    this.#s.moveMessage.run(dlqId, now, sourceArn, expiresAt, seq);
  }

  /** The message's queue, latest receipt and lease. */
  messageLease(seq: number): { queue_id: number; receipt: Buffer | null; visible_at: number } | undefined {
    return this.#s.messageBySeq.get(seq) as
      | { queue_id: number; receipt: Buffer | null; visible_at: number }
      | undefined;
  }

  /** Returns the number deleted (0 or 1). */
  deleteMessage(seq: number): number {
    return this.#s.deleteMessage.run(seq).changes;
  }

  setVisibleAt(seq: number, at: number): void {
    this.#s.setVisibility.run(at, seq);
  }

  /** Messages not visible now, split into in flight and delayed. */
  invisibleCounts(queueId: number, now: number): { inFlight: number; delayed: number } {
    return this.#s.counts.get(queueId, now) as { inFlight: number; delayed: number };
  }

  total(queueId: number): number {
    return (this.#s.total.get(queueId) as { n: number }).n;
  }

  /** Deletes messages and deduplication ids past expiry; returns messages deleted. */
  sweepExpired(now: number): number {
    const deleted = this.#s.sweepMessages.run(now).changes;
    this.#s.sweepDedup.run(now);
    return deleted;
  }
}
