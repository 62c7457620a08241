// What one node tells the others about a queue, over the store's notifications (PostgreSQL NOTIFY; an
// in-process channel on SQLite): messages may be receivable at `at` (send, visibility change, delete of a
// FIFO message), or the queue changed (attributes, deletion) and cached state must be read again. A node
// wakes its own waiters directly and ignores its own signals coming back.
import { randomUUID } from 'node:crypto';
import type { Sql } from '../../store/sql.js';

export const QUEUE_CHANNEL = 'kindling_queue';

export type QueueSignal =
  | { kind: 'messages'; queueId: number; at: number }
  | { kind: 'changed'; queueId: number };

export class QueueSignals {
  readonly #sql: Sql;
  readonly #origin = randomUUID();
  #unlisten: (() => void) | undefined;
  #closed = false;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async listen(onSignal: (s: QueueSignal) => void): Promise<void> {
    this.#unlisten = await this.#sql.listen(QUEUE_CHANNEL, (payload) => {
      // An empty payload: the store's listener reconnected and signals may have been missed.
      if (payload === '') return onSignal({ kind: 'changed', queueId: -1 });
      const [origin, kind, id, at] = payload.split(' ');
      if (origin === this.#origin) return;
      const queueId = Number(id);
      if (!Number.isInteger(queueId)) return;
      if (kind === 'm') onSignal({ kind: 'messages', queueId, at: Number(at) });
      else if (kind === 'c') onSignal({ kind: 'changed', queueId });
    });
  }

  /**
   * Tells the other nodes, after the commit. Not awaited by the caller's answer: a lost signal only delays
   * the other nodes' waiters until their periodic re-check.
   */
  publish(s: QueueSignal): void {
    if (this.#closed) return;
    const payload =
      s.kind === 'messages' ? `${this.#origin} m ${s.queueId} ${s.at}` : `${this.#origin} c ${s.queueId}`;
    this.#sql.notify(QUEUE_CHANNEL, payload).catch((e: unknown) => {
      if (!this.#closed) console.error(`kindling: queue signal not sent: ${(e as Error).message}`);
    });
  }

  close(): void {
    this.#closed = true;
    this.#unlisten?.();
  }
}
