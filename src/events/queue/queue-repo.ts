// The queue engine's persistence: every SQL statement over sqs_queues, sqs_messages and sqs_dedup, in the
// portable SQL of store/sql.ts, so one engine runs on SQLite (one node) and PostgreSQL (several nodes).
// Several nodes receive from one queue: a receive locks the rows it leases (FOR UPDATE SKIP LOCKED) and a
// FIFO receive first takes the queue's advisory lock, so no message and no FIFO group is leased twice.
import type { Sql, SqlExecutor } from '../../store/sql.js';
import type { MessageAttributes } from './types.js';

export const SCHEMA = [
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
  // Another account's call names a queue by its owner's account id (granted by the queue's policy).
  'CREATE INDEX sqs_queues_account ON sqs_queues (account_id, name)',
  // Message move tasks (DLQ redrive): one row per task; the node running it beats `heartbeat_at`.
  `CREATE TABLE sqs_move_tasks (
     id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, source_queue_id INTEGER NOT NULL,
     source_arn TEXT NOT NULL, destination_arn TEXT, rate INTEGER,
     status TEXT NOT NULL, moved INTEGER NOT NULL DEFAULT 0, to_move INTEGER NOT NULL, max_seq INTEGER NOT NULL,
     failure_reason TEXT, started_at INTEGER NOT NULL, heartbeat_at INTEGER NOT NULL)`,
  'CREATE INDEX sqs_move_tasks_source ON sqs_move_tasks (source_queue_id, started_at)',
  // PurgeQueue: once per 60 s per queue, on any node.
  'ALTER TABLE sqs_queues ADD COLUMN purged_at INTEGER',
];

const MESSAGE_COLUMNS = `m.seq, m.message_id, m.body, m.attributes, m.md5_body, m.md5_attributes, m.system_attributes,
  m.sender_id, m.sent_at, m.expires_at, m.receive_count, m.first_received_at, m.source_arn, m.group_id, m.dedup_id`;
const RETURNED_COLUMNS = `seq, message_id, body, attributes, md5_body, md5_attributes, system_attributes,
  sender_id, sent_at, expires_at, receive_count, first_received_at, source_arn, group_id, dedup_id`;

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
  /** Stored already leased to a waiting receiver (a handoff): its receipt token and the receive time. */
  lease?: { receipt: Buffer; at: number };
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

export interface MoveTaskRow {
  id: string;
  tenant_id: string;
  source_queue_id: number;
  source_arn: string;
  destination_arn: string | null;
  rate: number | null;
  status: string;
  moved: number;
  to_move: number;
  max_seq: number;
  failure_reason: string | null;
  started_at: number;
  heartbeat_at: number;
}

export interface LeaseRow {
  seq: number;
  queue_id: number;
  receipt: Buffer | null;
  visible_at: number;
}

/** Advisory-lock class of FIFO receives ("kque"); the queue id is the object. */
const FIFO_LOCK_CLASS = 0x6b717565;

const marks = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

/** The repository on one executor: the store itself, or one open transaction (see tx). */
export class QueueRepo {
  readonly #sql: Sql;
  readonly #q: SqlExecutor;

  constructor(sql: Sql, q: SqlExecutor = sql) {
    this.#sql = sql;
    this.#q = q;
  }

  /** Runs fn in one transaction, handing it the repository bound to that transaction. */
  tx<T>(fn: (r: QueueRepo) => Promise<T>): Promise<T> {
    return this.#sql.tx((q) => fn(new QueueRepo(this.#sql, q)));
  }

  // ---- queues ----

  queueByName(tenantId: string, name: string): Promise<QueueRow | undefined> {
    return this.#q.get<QueueRow>('SELECT * FROM sqs_queues WHERE tenant_id = ? AND name = ?', [
      tenantId,
      name,
    ]);
  }

  /** A queue by its owner's account id (another account's call; the caller checks the queue's policy). */
  queueByAccount(accountId: string, name: string): Promise<QueueRow | undefined> {
    return this.#q.get<QueueRow>('SELECT * FROM sqs_queues WHERE account_id = ? AND name = ?', [
      accountId,
      name,
    ]);
  }

  /** The queue's row, locked for this transaction (read-modify-write of its attributes). */
  queueByIdForUpdate(id: number): Promise<QueueRow | undefined> {
    return this.#q.get<QueueRow>('SELECT * FROM sqs_queues WHERE id = ? FOR UPDATE', [id]);
  }

  queueById(id: number): Promise<QueueRow | undefined> {
    return this.#q.get<QueueRow>('SELECT * FROM sqs_queues WHERE id = ?', [id]);
  }

  /** The new queue, or undefined when one of that name exists already (another node may have just made it). */
  insertQueue(
    tenantId: string,
    accountId: string,
    name: string,
    attributes: string,
    tags: string,
    now: number,
  ): Promise<QueueRow | undefined> {
    return this.#q.get<QueueRow>(
      `INSERT INTO sqs_queues (tenant_id, account_id, name, attributes, tags, created_at, modified_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, name) DO NOTHING RETURNING *`,
      [tenantId, accountId, name, attributes, tags, now, now],
    );
  }

  async setQueueAttributes(id: number, attributes: string, now: number): Promise<void> {
    await this.#q.run('UPDATE sqs_queues SET attributes = ?, modified_at = ? WHERE id = ?', [
      attributes,
      now,
      id,
    ]);
  }

  async setQueueTags(id: number, tags: string): Promise<void> {
    await this.#q.run('UPDATE sqs_queues SET tags = ? WHERE id = ?', [tags, id]);
  }

  /** The queue and all its messages, in one transaction. */
  async deleteQueue(id: number): Promise<void> {
    await this.tx(async (r) => {
      await r.#q.run('DELETE FROM sqs_messages WHERE queue_id = ?', [id]);
      await r.#q.run('DELETE FROM sqs_move_tasks WHERE source_queue_id = ?', [id]);
      await r.#q.run('DELETE FROM sqs_queues WHERE id = ?', [id]);
    });
  }

  /** One page of a tenant's queues by name: names >= prefix and > after, at most limit. */
  listQueues(tenantId: string, prefix: string, after: string, limit: number): Promise<QueueRow[]> {
    return this.#q.all<QueueRow>(
      'SELECT * FROM sqs_queues WHERE tenant_id = ? AND name >= ? AND name > ? ORDER BY name LIMIT ?',
      [tenantId, prefix, after, limit],
    );
  }

  /** A tenant's queues by name (the caller picks those with a RedrivePolicy: JSON paths are not portable). */
  tenantQueues(tenantId: string): Promise<QueueRow[]> {
    return this.#q.all<QueueRow>('SELECT * FROM sqs_queues WHERE tenant_id = ? ORDER BY name', [tenantId]);
  }

  // ---- messages ----

  /**
   * Deletes the queue's messages unless it was purged less than `cooldownMs` ago (then false), in one
   * transaction with the purge time, so two nodes purging at once purge once.
   */
  purge(queueId: number, now: number, cooldownMs: number): Promise<boolean> {
    return this.tx(async (r) => {
      const claimed = await r.#q.run(
        'UPDATE sqs_queues SET purged_at = ? WHERE id = ? AND (purged_at IS NULL OR purged_at <= ?)',
        [now, queueId, now - cooldownMs],
      );
      if (claimed.changes === 0) return false;
      await r.#q.run('DELETE FROM sqs_messages WHERE queue_id = ?', [queueId]);
      return true;
    });
  }

  /** Inserts messages in one statement; returns their seqs, in the order given. */
  async insertMessages(ms: readonly NewMessage[]): Promise<number[]> {
    if (ms.length === 0) return [];
    const params: unknown[] = [];
    for (const m of ms) {
      params.push(
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
        m.lease ? 1 : 0,
        m.lease?.at ?? null,
        m.lease?.receipt ?? null,
      );
    }
    const rows = await this.#q.all<{ seq: number; message_id: string }>(
      `INSERT INTO sqs_messages (queue_id, message_id, body, attributes, md5_body, md5_attributes, system_attributes,
         sender_id, sent_at, visible_at, expires_at, group_id, dedup_id, receive_count, first_received_at, receipt)
       VALUES ${ms.map(() => `(${marks(16)})`).join(', ')} RETURNING seq, message_id`,
      params,
    );
    // RETURNING promises no order: match rows by their (random, unique) message id.
    const seqs = new Map(rows.map((r) => [r.message_id, r.seq]));
    return ms.map((m) => seqs.get(m.messageId)!);
  }

  /** The live deduplication entries among `keys`. */
  async findDuplicates(
    queueId: number,
    keys: readonly string[],
    now: number,
  ): Promise<Map<string, { message_id: string; seq: number }>> {
    if (keys.length === 0) return new Map();
    const rows = await this.#q.all<{ dedup_key: string; message_id: string; seq: number }>(
      `SELECT dedup_key, message_id, seq FROM sqs_dedup
        WHERE queue_id = ? AND expires_at > ? AND dedup_key IN (${marks(keys.length)})`,
      [queueId, now, ...keys],
    );
    return new Map(rows.map((r) => [r.dedup_key, r]));
  }

  /**
   * Records deduplication ids (distinct keys) unless a live entry holds one already, which another node
   * committed since findDuplicates looked: returns false then, and the caller rolls back and retries.
   */
  async claimDeduplication(
    queueId: number,
    entries: readonly { key: string; messageId: string; seq: number }[],
    now: number,
    expiresAt: number,
  ): Promise<boolean> {
    if (entries.length === 0) return true;
    const params: unknown[] = [];
    for (const e of entries) params.push(queueId, e.key, e.messageId, e.seq, expiresAt);
    params.push(now);
    const r = await this.#q.run(
      `INSERT INTO sqs_dedup (queue_id, dedup_key, message_id, seq, expires_at)
         VALUES ${entries.map(() => `(${marks(5)})`).join(', ')}
         ON CONFLICT (queue_id, dedup_key) DO UPDATE SET message_id = excluded.message_id, seq = excluded.seq,
           expires_at = excluded.expires_at WHERE sqs_dedup.expires_at <= ?`,
      params,
    );
    return r.changes === entries.length;
  }

  /**
   * Receivable messages, locked for this transaction: FIFO ones in send order with blocked groups left
   * out, others by visible_at. Rows another node is leasing right now are skipped, not waited for.
   */
  async lockVisible(queueId: number, fifo: boolean, now: number, limit: number): Promise<MessageRow[]> {
    if (!fifo) {
      return this.#q.all<MessageRow>(
        `SELECT ${MESSAGE_COLUMNS} FROM sqs_messages m WHERE queue_id = ? AND visible_at <= ?
          ORDER BY visible_at LIMIT ? FOR UPDATE SKIP LOCKED`,
        [queueId, now, limit],
      );
    }
    // A group's order spans rows, which row locks cannot guard: FIFO receives of one queue take turns.
    if (this.#q.dialect === 'postgres') {
      await this.#q.run('SELECT pg_advisory_xact_lock(CAST(? AS INTEGER), CAST(? AS INTEGER))', [
        FIFO_LOCK_CLASS,
        queueId,
      ]);
    }
    // Waits for (never skips) a locked row: skipping one could lease a later message of its group.
    return this.visibleFifo(queueId, now, limit, ' FOR UPDATE');
  }

  /**
   * Standard queues without a redrive policy, in one statement: leases up to `limit` receivable, unexpired
   * messages that no other node is leasing right now. Rows come back as they were before the lease.
   */
  async leaseNext(
    queueId: number,
    now: number,
    limit: number,
    visibleAt: number,
    receipt: Buffer,
  ): Promise<MessageRow[]> {
    const rows = await this.#q.all<MessageRow>(
      `UPDATE sqs_messages SET visible_at = ?, receive_count = receive_count + 1,
         first_received_at = COALESCE(first_received_at, ?), receipt = ?
        WHERE seq IN (SELECT seq FROM sqs_messages WHERE queue_id = ? AND visible_at <= ? AND expires_at > ?
                       ORDER BY visible_at LIMIT ? FOR UPDATE SKIP LOCKED)
        RETURNING ${RETURNED_COLUMNS}`,
      [visibleAt, now, receipt, queueId, now, now, limit],
    );
    for (const r of rows) r.receive_count -= 1;
    // RETURNING promises no order: oldest first, as the select picked them.
    return rows.sort((x, y) => x.seq - y.seq);
  }

  /** A FIFO group is blocked while one of its messages is in flight or an earlier one is not yet visible. */
  visibleFifo(queueId: number, now: number, limit: number, lock = ''): Promise<MessageRow[]> {
    return this.#q.all<MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM sqs_messages m
        WHERE m.queue_id = ? AND m.visible_at <= ? AND m.group_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM sqs_messages i
                           WHERE i.queue_id = m.queue_id AND i.group_id = m.group_id AND i.visible_at > ?
                             AND (i.receive_count > 0 OR i.seq < m.seq))
        ORDER BY m.seq LIMIT ?${lock}`,
      [queueId, now, now, limit],
    );
  }

  async hasVisible(queueId: number, now: number): Promise<boolean> {
    return (
      (await this.#q.get('SELECT 1 AS one FROM sqs_messages WHERE queue_id = ? AND visible_at <= ? LIMIT 1', [
        queueId,
        now,
      ])) !== undefined
    );
  }

  /** The earliest future visible_at of the queue's messages. */
  async nextVisibleAt(queueId: number, now: number): Promise<number | null> {
    const r = await this.#q.get<{ at: number | null }>(
      'SELECT MIN(visible_at) AS at FROM sqs_messages WHERE queue_id = ? AND visible_at > ?',
      [queueId, now],
    );
    return r?.at ?? null;
  }

  /** Leases messages (locked by lockVisible) under one receipt token. */
  async lease(seqs: readonly number[], visibleAt: number, now: number, receipt: Buffer): Promise<void> {
    if (seqs.length === 0) return;
    await this.#q.run(
      `UPDATE sqs_messages SET visible_at = ?, receive_count = receive_count + 1,
         first_received_at = COALESCE(first_received_at, ?), receipt = ? WHERE seq IN (${marks(seqs.length)})`,
      [visibleAt, now, receipt, ...seqs],
    );
  }

  /** Moves messages to the dead-letter queue as fresh, visible ones, kept for its retention from when sent. */
  async moveToDeadLetter(
    seqs: readonly number[],
    dlqId: number,
    now: number,
    sourceArn: string,
    retentionMs: number,
  ): Promise<void> {
    if (seqs.length === 0) return;
    await this.#q.run(
      `UPDATE sqs_messages SET queue_id = ?, visible_at = ?, receive_count = 0, first_received_at = NULL, receipt = NULL,
         source_arn = ?, expires_at = sent_at + ? WHERE seq IN (${marks(seqs.length)})`,
      [dlqId, now, sourceArn, retentionMs, ...seqs],
    );
  }

  /** Deletes messages by seq (expired ones met by a receive); returns the number deleted. */
  async deleteSeqs(seqs: readonly number[]): Promise<number> {
    if (seqs.length === 0) return 0;
    return (await this.#q.run(`DELETE FROM sqs_messages WHERE seq IN (${marks(seqs.length)})`, [...seqs]))
      .changes;
  }

  /**
   * Deletes the messages whose latest receipt the handles carry, in one statement (any node may have
   * leased them); stale handles delete nothing. Returns the number deleted.
   */
  async deleteLeased(queueId: number, handles: readonly { seq: number; token: Buffer }[]): Promise<number> {
    if (handles.length === 0) return 0;
    const params: unknown[] = [queueId];
    for (const h of handles) params.push(h.seq, h.token);
    return (
      await this.#q.run(
        // The seq list first: both stores then find the rows by primary key, not by scanning the queue.
        `DELETE FROM sqs_messages WHERE seq IN (${marks(handles.length)}) AND queue_id = ?
            AND (${handles.map(() => '(seq = ? AND receipt = ?)').join(' OR ')})`,
        [...handles.map((h) => h.seq), ...params],
      )
    ).changes;
  }

  /** Sets a leased message's visibility while the handle is its latest and it is in flight; false if not. */
  async setVisibleAt(queueId: number, seq: number, token: Buffer, at: number, now: number): Promise<boolean> {
    const r = await this.#q.run(
      'UPDATE sqs_messages SET visible_at = ? WHERE seq = ? AND queue_id = ? AND receipt = ? AND visible_at > ?',
      [at, seq, queueId, token, now],
    );
    return r.changes > 0;
  }

  /** Messages not visible now, split into in flight and delayed. */
  async invisibleCounts(queueId: number, now: number): Promise<{ inFlight: number; delayed: number }> {
    const r = await this.#q.get<{ inFlight: number; delayed: number }>(
      `SELECT COALESCE(SUM(CASE WHEN receive_count > 0 THEN 1 ELSE 0 END), 0) AS "inFlight",
              COALESCE(SUM(CASE WHEN receive_count = 0 THEN 1 ELSE 0 END), 0) AS "delayed"
         FROM sqs_messages WHERE queue_id = ? AND visible_at > ?`,
      [queueId, now],
    );
    return { inFlight: Number(r?.inFlight ?? 0), delayed: Number(r?.delayed ?? 0) };
  }

  async total(queueId: number): Promise<number> {
    const r = await this.#q.get<{ n: number }>('SELECT COUNT(*) AS n FROM sqs_messages WHERE queue_id = ?', [
      queueId,
    ]);
    return Number(r?.n ?? 0);
  }

  // ---- message move tasks ----

  /** The messages a move task would take now: receivable, sent to the queue before the task started. */
  async movable(
    queueId: number,
    now: number,
    maxSeq: number,
    limit: number,
    lock = false,
  ): Promise<MessageRow[]> {
    return this.#q.all<MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM sqs_messages m WHERE queue_id = ? AND visible_at <= ? AND seq <= ?
        ORDER BY seq LIMIT ?${lock ? ' FOR UPDATE SKIP LOCKED' : ''}`,
      [queueId, now, maxSeq, limit],
    );
  }

  /** The queue's message count and newest seq (a move task's snapshot at its start). */
  async backlog(queueId: number): Promise<{ n: number; maxSeq: number }> {
    const r = await this.#q.get<{ n: number; m: number | null }>(
      'SELECT COUNT(*) AS n, MAX(seq) AS m FROM sqs_messages WHERE queue_id = ?',
      [queueId],
    );
    return { n: Number(r?.n ?? 0), maxSeq: Number(r?.m ?? 0) };
  }

  async insertMoveTask(t: MoveTaskRow): Promise<void> {
    await this.#q.run(
      `INSERT INTO sqs_move_tasks (id, tenant_id, source_queue_id, source_arn, destination_arn, rate, status, moved,
         to_move, max_seq, failure_reason, started_at, heartbeat_at) VALUES (${marks(13)})`,
      [
        t.id,
        t.tenant_id,
        t.source_queue_id,
        t.source_arn,
        t.destination_arn,
        t.rate,
        t.status,
        t.moved,
        t.to_move,
        t.max_seq,
        t.failure_reason,
        t.started_at,
        t.heartbeat_at,
      ],
    );
  }

  moveTask(id: string): Promise<MoveTaskRow | undefined> {
    return this.#q.get<MoveTaskRow>('SELECT * FROM sqs_move_tasks WHERE id = ?', [id]);
  }

  /** A source queue's tasks, newest first. */
  moveTasks(sourceQueueId: number, limit: number): Promise<MoveTaskRow[]> {
    return this.#q.all<MoveTaskRow>(
      'SELECT * FROM sqs_move_tasks WHERE source_queue_id = ? ORDER BY started_at DESC, id LIMIT ?',
      [sourceQueueId, limit],
    );
  }

  /** Keeps a source queue's newest `keep` tasks (ListMessageMoveTasks shows at most 10). */
  async pruneMoveTasks(sourceQueueId: number, keep: number): Promise<void> {
    await this.#q.run(
      `DELETE FROM sqs_move_tasks WHERE source_queue_id = ? AND id NOT IN
         (SELECT id FROM sqs_move_tasks WHERE source_queue_id = ? ORDER BY started_at DESC, id LIMIT ?)`,
      [sourceQueueId, sourceQueueId, keep],
    );
  }

  /** Counts moved messages and beats the heartbeat while the task is RUNNING; false once it is not. */
  async moveTaskProgress(id: string, moved: number, now: number): Promise<boolean> {
    const r = await this.#q.run(
      "UPDATE sqs_move_tasks SET moved = moved + ?, heartbeat_at = ? WHERE id = ? AND status = 'RUNNING'",
      [moved, now, id],
    );
    return r.changes > 0;
  }

  /** Moves a task from one of `from` to `to`; false when it was in none of them. */
  async setMoveTaskStatus(
    id: string,
    from: readonly string[],
    to: string,
    failureReason: string | null = null,
  ): Promise<boolean> {
    const r = await this.#q.run(
      `UPDATE sqs_move_tasks SET status = ?, failure_reason = ? WHERE id = ? AND status IN (${marks(from.length)})`,
      [to, failureReason, id, ...from],
    );
    return r.changes > 0;
  }

  /** Deletes messages and deduplication ids past expiry; returns messages deleted. */
  async sweepExpired(now: number): Promise<number> {
    const deleted = (await this.#q.run('DELETE FROM sqs_messages WHERE expires_at <= ?', [now])).changes;
    await this.#q.run('DELETE FROM sqs_dedup WHERE expires_at <= ?', [now]);
    return deleted;
  }
}
