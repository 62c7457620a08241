// Message move tasks (SQS's DLQ redrive): StartMessageMoveTask, ListMessageMoveTasks and
// CancelMessageMoveTask. A task's state is a row in the store (any node lists or cancels it); the node
// that started it moves the messages in the background, one transaction per batch, at most
// MaxNumberOfMessagesPerSecond. A task does not outlive the node running it: its heartbeat stops, and
// once it has been silent 30 s it is reported FAILED (start it again; what was moved stays moved).
import { randomUUID } from 'node:crypto';
import type { StoreClock } from '../../store/clock.js';
import { parseQueueArn } from './attributes.js';
import type { Loaded, QueueCatalogue } from './catalogue.js';
import { SqsError, SqsErrors } from './errors.js';
import type { QueueMessages } from './messages.js';
import type { MoveTaskRow, QueueRepo } from './queue-repo.js';
import type { MoveTask, QueueOwner } from './types.js';

const MAX_RATE = 500;
/** Without a rate SQS picks one; this engine moves at the highest. */
const DEFAULT_RATE = MAX_RATE;
/** Messages per transaction at most. */
const BATCH = 100;
/** A RUNNING task whose heartbeat is older than this ran on a node that stopped (the default). */
const STALE_MS = 30_000;
/** ListMessageMoveTasks shows up to 10; older ones are dropped. */
const KEEP = 10;
const STOPPED_REASON =
  'The task stopped when the node running it stopped; start a new task to move the rest.';
const NON_EXISTENT_QUEUE = 'AWS.SimpleQueueService.NonExistentQueue';

const ARN_FORMAT = (param: string) =>
  SqsErrors.invalidParameterValue(
    `You must use this format to specify the ${param}: arn:<partition>:<service>:<region>:<account-id>:<resource-id>`,
  );
const sourceMissing = () =>
  SqsErrors.resourceNotFound("The resource that you specified for the SourceArn parameter doesn't exist.");

interface Handle {
  taskId: string;
  sourceArn: string;
}

const encodeHandle = (h: Handle): string => Buffer.from(JSON.stringify(h), 'utf8').toString('base64');

function decodeHandle(s: string): Handle | undefined {
  try {
    const h = JSON.parse(Buffer.from(s, 'base64').toString('utf8')) as Partial<Handle>;
    return typeof h.taskId === 'string' && typeof h.sourceArn === 'string'
      ? { taskId: h.taskId, sourceArn: h.sourceArn }
      : undefined;
  } catch {
    return undefined;
  }
}

export class MessageMoveTasks {
  readonly #repo: QueueRepo;
  readonly #catalogue: QueueCatalogue;
  readonly #messages: QueueMessages;
  readonly #clock: StoreClock;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #staleMs: number;
  #closed = false;

  constructor(
    repo: QueueRepo,
    catalogue: QueueCatalogue,
    messages: QueueMessages,
    clock: StoreClock,
    staleMs = STALE_MS,
  ) {
    this.#staleMs = staleMs;
    this.#repo = repo;
    this.#catalogue = catalogue;
    this.#messages = messages;
    this.#clock = clock;
  }

  /** The caller's queue an ARN names; another tenant's answers as a missing one. */
  async #byArn(owner: QueueOwner, arn: string | undefined, param: string): Promise<Loaded | undefined> {
    if (arn === undefined || arn === '')
      throw SqsErrors.missingParameter(`The request must contain the parameter ${param}.`);
    if (!/^arn:[^:]+:[^:]+:[^:]*:[^:]*:.+$/.test(arn)) throw ARN_FORMAT(param);
    const q = parseQueueArn(arn) ? await this.#catalogue.byArn(owner, arn) : undefined;
    return q ? this.#catalogue.loaded(q) : undefined;
  }

  async start(
    owner: QueueOwner,
    sourceArn: string | undefined,
    destinationArn: string | undefined,
    rate: number | undefined,
  ): Promise<string> {
    if (sourceArn === undefined || sourceArn === '')
      throw SqsErrors.missingParameter('The request must contain the parameter SourceArn.');
    if (rate !== undefined && (!Number.isInteger(rate) || rate < 1 || rate > MAX_RATE)) {
      throw SqsErrors.invalidParameterValue(
        `Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a number that's between 1 and ${MAX_RATE}.`,
      );
    }
    const source = await this.#byArn(owner, sourceArn, 'SourceArn');
    if (!source) throw sourceMissing();
    if ((await this.#catalogue.deadLetterSources(source.queue)).length === 0)
      throw SqsErrors.invalidParameterValue('Source queue must be configured as a Dead Letter Queue.');
    if (destinationArn !== undefined) {
      const dest = await this.#byArn(owner, destinationArn, 'DestinationArn');
      if (!dest)
        throw SqsErrors.resourceNotFound(
          "The resource that you specified for the DestinationArn parameter doesn't exist.",
        );
      if (dest.queue.id === source.queue.id)
        throw SqsErrors.invalidParameterValue('Source and destination arn cannot be the same.');
      if (dest.queue.fifo !== source.queue.fifo)
        throw SqsErrors.invalidParameterValue(
          'The destination queue must be of the same type (FIFO or standard) as the source queue.',
        );
    }
    const now = this.#clock.now();
    const task = await this.#repo.tx(async (r) => {
      // The source's row lock serialises two starts on one queue (on any node).
      if (!(await r.queueByIdForUpdate(source.queue.id))) throw sourceMissing();
      for (const t of await r.moveTasks(source.queue.id, KEEP)) {
        if (t.status !== 'RUNNING' && t.status !== 'CANCELLING') continue;
        if (now - t.heartbeat_at <= this.#staleMs) {
          throw SqsErrors.invalidParameterValue(
            'There is already a task running. Only one active task is allowed for a source queue arn at a given time.',
          );
        }
        await r.setMoveTaskStatus(t.id, [t.status], 'FAILED', STOPPED_REASON);
      }
      const backlog = await r.backlog(source.queue.id);
      const row: MoveTaskRow = {
        id: randomUUID(),
        tenant_id: source.queue.tenantId,
        source_queue_id: source.queue.id,
        source_arn: source.queue.arn,
        destination_arn: destinationArn ?? null,
        rate: rate ?? null,
        status: 'RUNNING',
        moved: 0,
        to_move: backlog.n,
        max_seq: backlog.maxSeq,
        failure_reason: null,
        started_at: now,
        heartbeat_at: now,
      };
      await r.insertMoveTask(row);
      await r.pruneMoveTasks(source.queue.id, KEEP);
      return row;
    });
    this.#schedule(task, 0);
    return encodeHandle({ taskId: task.id, sourceArn: task.source_arn });
  }

  async list(
    owner: QueueOwner,
    sourceArn: string | undefined,
    maxResults: number | undefined,
  ): Promise<MoveTask[]> {
    if (sourceArn === undefined || sourceArn === '')
      throw SqsErrors.missingParameter('The request must contain the parameter SourceArn.');
    const max = maxResults ?? 1;
    if (!Number.isInteger(max) || max < 1 || max > KEEP) {
      throw SqsErrors.invalidParameterValue(
        `Value ${max} for parameter MaxResults is invalid. Reason: You must enter a number that's between 1 and ${KEEP}.`,
      );
    }
    const source = await this.#byArn(owner, sourceArn, 'SourceArn');
    if (!source) throw sourceMissing();
    const now = this.#clock.now();
    const rows = await this.#repo.moveTasks(source.queue.id, max);
    for (const t of rows) {
      if ((t.status === 'RUNNING' || t.status === 'CANCELLING') && now - t.heartbeat_at > this.#staleMs) {
        if (await this.#repo.setMoveTaskStatus(t.id, [t.status], 'FAILED', STOPPED_REASON)) {
          t.status = 'FAILED';
          t.failure_reason = STOPPED_REASON;
        }
      }
    }
    return rows.map((t) => {
      const out: MoveTask = {
        status: t.status,
        sourceArn: t.source_arn,
        approximateNumberOfMessagesMoved: t.moved,
        approximateNumberOfMessagesToMove: t.to_move,
        startedTimestamp: t.started_at,
      };
      // SQS shows the handle only while the task runs.
      if (t.status === 'RUNNING') out.taskHandle = encodeHandle({ taskId: t.id, sourceArn: t.source_arn });
      if (t.destination_arn !== null) out.destinationArn = t.destination_arn;
      if (t.rate !== null) out.maxNumberOfMessagesPerSecond = t.rate;
      if (t.failure_reason !== null) out.failureReason = t.failure_reason;
      return out;
    });
  }

  /** Returns the number of messages moved so far; the task stops before its next batch. */
  async cancel(owner: QueueOwner, taskHandle: string | undefined): Promise<number> {
    if (taskHandle === undefined || taskHandle === '')
      throw SqsErrors.missingParameter('The request must contain the parameter TaskHandle.');
    const h = decodeHandle(taskHandle);
    if (!h) throw SqsErrors.invalidParameterValue('Value for parameter TaskHandle is invalid.');
    const source = parseQueueArn(h.sourceArn) ? await this.#catalogue.byArn(owner, h.sourceArn) : undefined;
    if (!source) throw sourceMissing();
    const t = await this.#repo.moveTask(h.taskId);
    if (!t || t.source_queue_id !== source.id || t.tenant_id !== owner.id)
      throw SqsErrors.resourceNotFound('Task does not exist.');
    const stale = this.#clock.now() - t.heartbeat_at > this.#staleMs;
    if (
      t.status !== 'RUNNING' ||
      stale ||
      !(await this.#repo.setMoveTaskStatus(t.id, ['RUNNING'], 'CANCELLING'))
    )
      throw SqsErrors.invalidParameterValue('Only a task in RUNNING status can be cancelled.');
    return t.moved;
  }

  #schedule(task: MoveTaskRow, delayMs: number): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#step(task).catch((e: unknown) => {
        console.error(`kindling: message move task ${task.id} failed: ${(e as Error).message}`);
        this.#repo
          .setMoveTaskStatus(task.id, ['RUNNING', 'CANCELLING'], 'FAILED', 'InternalError')
          .catch(() => {});
      });
    }, delayMs);
    timer.unref();
    this.#timers.add(timer);
  }

  /** One batch, then the next after the pause the task's rate asks for. */
  async #step(task: MoveTaskRow): Promise<void> {
    if (this.#closed) return;
    const started = Date.now();
    const rate = task.rate ?? DEFAULT_RATE;
    const owner = { id: task.tenant_id, accountId: parseQueueArn(task.source_arn)!.accountId };
    let source: Loaded;
    try {
      source = await this.#catalogue.loadedById(task.source_queue_id);
    } catch (e) {
      if (!(e instanceof SqsError)) throw e;
      await this.#repo.setMoveTaskStatus(task.id, ['RUNNING', 'CANCELLING'], 'FAILED', NON_EXISTENT_QUEUE);
      return;
    }
    const max = Math.min(rate, BATCH);
    // Destinations are resolved before the batch's transaction: the given one, or each message's source.
    const dests = new Map<string | null, Loaded | undefined>();
    const resolve = async (arn: string | null): Promise<void> => {
      if (dests.has(arn)) return;
      const q = arn === null ? undefined : await this.#catalogue.byArn(owner, arn);
      dests.set(arn, q ? await this.#catalogue.loaded(q).catch(() => undefined) : undefined);
    };
    const explicit = task.destination_arn;
    if (explicit !== null) await resolve(explicit);
    else {
      const peek = await this.#repo.movable(source.queue.id, this.#clock.now(), task.max_seq, max);
      for (const m of peek) await resolve(m.source_arn);
    }
    const step = await this.#messages.moveBatch(
      source.queue,
      { id: task.id, maxSeq: task.max_seq },
      max,
      (arn) => dests.get(explicit ?? arn),
    );
    if (step.stopped) {
      await this.#repo.setMoveTaskStatus(task.id, ['CANCELLING'], 'CANCELLED');
      return;
    }
    if (step.missingDestination) {
      await this.#repo.setMoveTaskStatus(task.id, ['RUNNING', 'CANCELLING'], 'FAILED', NON_EXISTENT_QUEUE);
      return;
    }
    task.moved += step.moved;
    if (step.done || task.moved >= task.to_move) {
      if (!(await this.#repo.setMoveTaskStatus(task.id, ['RUNNING'], 'COMPLETED')))
        await this.#repo.setMoveTaskStatus(task.id, ['CANCELLING'], 'CANCELLED');
      return;
    }
    this.#schedule(task, Math.max(0, (step.moved * 1000) / rate - (Date.now() - started)));
  }

  /** Stops this node's tasks (their rows go FAILED once stale, as after a crash). */
  close(): void {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}
