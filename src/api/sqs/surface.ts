// The SQS-compatible API on the shared origin: the JSON protocol (`X-Amz-Target: AmazonSQS.*`) and the
// query protocol (`Action=...`, XML; see query.ts). Inputs are validated here once, then handed to
// the queue engine, which scopes every queue lookup to the calling tenant.
import { randomUUID } from 'node:crypto';
import { SqsError, SqsErrors } from '../../events/queue/errors.js';
import {
  type CrossAccountAction,
  type MoveTask,
  type Queue,
  type QueueEngine,
  queueUrl,
  type SendInput,
} from '../../events/queue/types.js';
import { validateBatchIds } from '../../events/queue/validate.js';
import { MalformedEscapeError, malformedQueryPart } from '../../uri.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead } from '../surface.js';
import { JSON_CONTENT_TYPE, sqsErrorResponse } from './errors.js';
import { parseQueryRequest, renderQueryResponse } from './query.js';
import {
  type Action,
  batchFailures,
  receivedOutput,
  schemas,
  sendOutput,
  toSendInput,
  validate,
} from './shapes.js';

// Room for a 1 MiB message (or batch) with its attributes in base64 and form encoding.
const MAX_BODY_BYTES = 8 * 1024 * 1024;
const ACCOUNT_PATH = /^\/\d{12}\/[^/]+\/?$/;

interface Call {
  req: ApiRequest;
  /** `http://<host>` as the client addressed us; queue URLs are built on it. */
  base: string;
  signal: AbortSignal;
}

export class SqsSurface implements ApiSurface {
  readonly name = 'sqs';
  readonly services = ['sqs'] as const;
  readonly #queues: QueueEngine;

  constructor(queues: QueueEngine) {
    this.#queues = queues;
  }

  matches(head: RequestHead): boolean {
    if (head.service === 'sqs') return true;
    const target = head.headers['x-amz-target'];
    if (typeof target === 'string' && target.startsWith('AmazonSQS.')) return true;
    const onQueuePath = head.path === '/' || ACCOUNT_PATH.test(head.path);
    if (onQueuePath && head.query.has('Action')) return true;
    const type = head.headers['content-type'] ?? '';
    return onQueuePath && head.method === 'POST' && type.startsWith('application/x-www-form-urlencoded');
  }

  maxBodyBytes(): number {
    return MAX_BODY_BYTES;
  }

  async handle(req: ApiRequest): Promise<ApiResponse> {
    const requestId = randomUUID();
    const target = req.headers['x-amz-target'];
    const json = typeof target === 'string';
    const ac = new AbortController();
    // A long poll ends when the client goes away.
    const socket = req.raw.socket;
    const onClose = () => ac.abort();
    socket?.once('close', onClose);
    try {
      const call: Call = { req, base: `http://${req.headers.host ?? '127.0.0.1'}`, signal: ac.signal };
      if (json) {
        const action = target.startsWith('AmazonSQS.') ? target.slice('AmazonSQS.'.length) : target;
        let input: unknown;
        try {
          input = req.body.length === 0 ? {} : JSON.parse(req.body.toString('utf8'));
        } catch {
          throw SqsErrors.malformedInput('The request body is not valid JSON.');
        }
        if (typeof input !== 'object' || input === null || Array.isArray(input)) {
          throw SqsErrors.malformedInput('The request body must be a JSON object.');
        }
        const out = await this.#dispatch(call, action, input as Record<string, unknown>);
        return {
          status: 200,
          headers: { 'content-type': JSON_CONTENT_TYPE, 'x-amzn-requestid': requestId },
          body: JSON.stringify(out),
        };
      }
      const params = new URLSearchParams(req.query);
      const type = req.headers['content-type'] ?? '';
      if (req.body.length > 0 && (type === '' || type.startsWith('application/x-www-form-urlencoded'))) {
        const form = req.body.toString('utf8');
        // URLSearchParams keeps a malformed escape as literal text; SQS refuses the parameter.
        const bad = malformedQueryPart(form);
        if (bad !== undefined) throw new MalformedEscapeError('parameter', bad);
        for (const [k, v] of new URLSearchParams(form)) params.append(k, v);
      }
      const { action, input } = parseQueryRequest(params);
      // The raw path: the queue engine decodes the name itself (decoding twice would misread `%25`).
      if (input.QueueUrl === undefined && ACCOUNT_PATH.test(req.rawPath))
        input.QueueUrl = `${call.base}${req.rawPath}`;
      const out = await this.#dispatch(call, action, input);
      return {
        status: 200,
        headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
        body: renderQueryResponse(action, out, requestId),
      };
    } finally {
      socket?.removeListener('close', onClose);
    }
  }

  errorResponse(err: unknown, head: RequestHead): ApiResponse {
    return sqsErrorResponse(err, head);
  }

  /**
   * The queue a call names. With `action`, another account's queue whose policy grants the caller that
   * action is found too; without (the owner's own operations), only the caller's own queues.
   */
  #queue(call: Call, url: string | undefined, action?: CrossAccountAction): Promise<Queue> {
    if (url === undefined || url === '')
      throw SqsErrors.missingParameter('The request must contain the parameter QueueUrl.');
    return action
      ? this.#queues.getQueueFor(call.req.tenant, url, action)
      : this.#queues.getQueue(call.req.tenant, url);
  }

  #url(call: Call, q: Queue): string {
    return queueUrl(call.base, q);
  }

  async #dispatch(
    call: Call,
    action: string,
    raw: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    if (!action) throw SqsErrors.missingParameter('The request must contain the parameter Action.');
    if (!Object.hasOwn(schemas, action))
      throw SqsErrors.invalidAction(`The action ${action} is not valid for this endpoint.`);
    const tenant = call.req.tenant;
    const q = this.#queues;
    switch (action as Action) {
      case 'CreateQueue': {
        const i = validate('CreateQueue', raw);
        return {
          QueueUrl: this.#url(
            call,
            await q.createQueue(tenant, i.QueueName, i.Attributes ?? {}, i.tags ?? {}),
          ),
        };
      }
      case 'GetQueueUrl': {
        const i = validate('GetQueueUrl', raw);
        // Only a name is accepted here, not a URL or ARN.
        if (!/^[A-Za-z0-9_.-]{1,80}$/.test(i.QueueName)) throw SqsErrors.queueDoesNotExist();
        if (i.QueueOwnerAWSAccountId !== undefined && i.QueueOwnerAWSAccountId !== tenant.accountId) {
          return {
            QueueUrl: this.#url(call, await q.getQueueOf(tenant, i.QueueOwnerAWSAccountId, i.QueueName)),
          };
        }
        return { QueueUrl: this.#url(call, await q.getQueue(tenant, i.QueueName)) };
      }
      case 'ListQueues': {
        const i = validate('ListQueues', raw);
        const opts: { prefix?: string; maxResults?: number; nextToken?: string } = {};
        if (i.QueueNamePrefix !== undefined) opts.prefix = i.QueueNamePrefix;
        if (i.MaxResults !== undefined) opts.maxResults = i.MaxResults;
        if (i.NextToken !== undefined) opts.nextToken = i.NextToken;
        const r = await q.listQueues(tenant, opts);
        const out: Record<string, unknown> = {};
        if (r.queues.length > 0) out.QueueUrls = r.queues.map((x) => this.#url(call, x));
        if (r.nextToken) out.NextToken = r.nextToken;
        return out;
      }
      case 'DeleteQueue':
        await q.deleteQueue(await this.#queue(call, validate('DeleteQueue', raw).QueueUrl));
        return {};
      case 'PurgeQueue':
        await q.purgeQueue(await this.#queue(call, validate('PurgeQueue', raw).QueueUrl, 'PurgeQueue'));
        return {};
      case 'GetQueueAttributes': {
        const i = validate('GetQueueAttributes', raw);
        const queue = await this.#queue(call, i.QueueUrl, 'GetQueueAttributes');
        // Without names SQS answers no attributes.
        if (!i.AttributeNames || i.AttributeNames.length === 0) return {};
        return { Attributes: await q.getAttributes(queue, i.AttributeNames) };
      }
      case 'SetQueueAttributes': {
        const i = validate('SetQueueAttributes', raw);
        await q.setAttributes(await this.#queue(call, i.QueueUrl), i.Attributes);
        return {};
      }
      case 'TagQueue': {
        const i = validate('TagQueue', raw);
        await q.tagQueue(await this.#queue(call, i.QueueUrl), i.Tags);
        return {};
      }
      case 'UntagQueue': {
        const i = validate('UntagQueue', raw);
        await q.untagQueue(await this.#queue(call, i.QueueUrl), i.TagKeys);
        return {};
      }
      case 'ListQueueTags': {
        const tags = await q.listTags(await this.#queue(call, validate('ListQueueTags', raw).QueueUrl));
        return Object.keys(tags).length > 0 ? { Tags: tags } : {};
      }
      case 'ListDeadLetterSourceQueues': {
        const i = validate('ListDeadLetterSourceQueues', raw);
        const sources = await q.deadLetterSources(
          await this.#queue(call, i.QueueUrl, 'ListDeadLetterSourceQueues'),
        );
        return { queueUrls: sources.map((s) => this.#url(call, s)) };
      }
      case 'SendMessage': {
        const i = validate('SendMessage', raw);
        const queue = await this.#queue(call, i.QueueUrl, 'SendMessage');
        return sendOutput(await q.send(queue, toSendInput(i, senderId(call, queue))));
      }
      case 'SendMessageBatch': {
        const i = validate('SendMessageBatch', raw);
        const queue = await this.#queue(call, i.QueueUrl, 'SendMessage');
        validateBatchIds(
          i.Entries.map((e) => ({ id: e.Id })),
          'SendMessageBatchRequestEntry',
        );
        // An entry whose attributes cannot even be decoded fails alone; the others still go.
        const failed: { id: string; code: string; message: string; senderFault: boolean }[] = [];
        const valid: (SendInput & { id: string })[] = [];
        for (const e of i.Entries) {
          try {
            valid.push({ id: e.Id, ...toSendInput(e, senderId(call, queue)) });
          } catch (err) {
            if (!(err instanceof SqsError)) throw err;
            failed.push({ id: e.Id, code: err.queryCode, message: err.message, senderFault: true });
          }
        }
        const r = valid.length > 0 ? await q.sendBatch(queue, valid) : { successful: [], failed: [] };
        return {
          Successful: r.successful.map((s) => ({ Id: s.id, ...sendOutput(s) })),
          Failed: batchFailures([...failed, ...r.failed]),
        };
      }
      case 'ReceiveMessage': {
        const i = validate('ReceiveMessage', raw);
        const queue = await this.#queue(call, i.QueueUrl, 'ReceiveMessage');
        const messages = await q.receive(queue, {
          ...(i.MaxNumberOfMessages !== undefined && { maxMessages: i.MaxNumberOfMessages }),
          ...(i.VisibilityTimeout !== undefined && { visibilityTimeout: i.VisibilityTimeout }),
          ...(i.WaitTimeSeconds !== undefined && { waitTimeSeconds: i.WaitTimeSeconds }),
          attributeNames: [...(i.AttributeNames ?? []), ...(i.MessageSystemAttributeNames ?? [])],
          messageAttributeNames: i.MessageAttributeNames ?? [],
          signal: call.signal,
        });
        return messages.length > 0 ? { Messages: messages.map(receivedOutput) } : {};
      }
      case 'DeleteMessage': {
        const i = validate('DeleteMessage', raw);
        await q.deleteMessage(await this.#queue(call, i.QueueUrl, 'DeleteMessage'), i.ReceiptHandle);
        return {};
      }
      case 'DeleteMessageBatch': {
        const i = validate('DeleteMessageBatch', raw);
        const r = await q.deleteBatch(
          await this.#queue(call, i.QueueUrl, 'DeleteMessage'),
          i.Entries.map((e) => ({ id: e.Id, receiptHandle: e.ReceiptHandle })),
        );
        return { Successful: r.successful.map((s) => ({ Id: s.id })), Failed: batchFailures(r.failed) };
      }
      case 'ChangeMessageVisibility': {
        const i = validate('ChangeMessageVisibility', raw);
        await q.changeVisibility(
          await this.#queue(call, i.QueueUrl, 'ChangeMessageVisibility'),
          i.ReceiptHandle,
          i.VisibilityTimeout,
        );
        return {};
      }
      case 'ChangeMessageVisibilityBatch': {
        const i = validate('ChangeMessageVisibilityBatch', raw);
        const r = await q.changeVisibilityBatch(
          await this.#queue(call, i.QueueUrl, 'ChangeMessageVisibility'),
          i.Entries.map((e) => ({
            id: e.Id,
            receiptHandle: e.ReceiptHandle,
            visibilityTimeout: e.VisibilityTimeout,
          })),
        );
        return { Successful: r.successful.map((s) => ({ Id: s.id })), Failed: batchFailures(r.failed) };
      }
      case 'AddPermission': {
        const i = validate('AddPermission', raw);
        await q.addPermission(await this.#queue(call, i.QueueUrl), i.Label, i.AWSAccountIds, i.Actions);
        return {};
      }
      case 'RemovePermission': {
        const i = validate('RemovePermission', raw);
        await q.removePermission(await this.#queue(call, i.QueueUrl), i.Label);
        return {};
      }
      case 'StartMessageMoveTask': {
        const i = validate('StartMessageMoveTask', raw);
        return {
          TaskHandle: await q.startMoveTask(
            tenant,
            i.SourceArn,
            i.DestinationArn,
            i.MaxNumberOfMessagesPerSecond,
          ),
        };
      }
      case 'ListMessageMoveTasks': {
        const i = validate('ListMessageMoveTasks', raw);
        return { Results: (await q.listMoveTasks(tenant, i.SourceArn, i.MaxResults)).map(moveTaskOutput) };
      }
      case 'CancelMessageMoveTask': {
        const i = validate('CancelMessageMoveTask', raw);
        return { ApproximateNumberOfMessagesMoved: await q.cancelMoveTask(tenant, i.TaskHandle) };
      }
    }
  }
}

/** SenderId: the caller's access key on its own queue; on a queue shared with it, only its account id. */
const senderId = (call: Call, queue: Queue): string =>
  queue.accountId === call.req.tenant.accountId ? call.req.accessKeyId : call.req.tenant.accountId;

/** ListMessageMoveTasksResultEntry, fields present only when set (as SQS answers). */
function moveTaskOutput(t: MoveTask): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (t.taskHandle !== undefined) out.TaskHandle = t.taskHandle;
  out.Status = t.status;
  out.SourceArn = t.sourceArn;
  if (t.destinationArn !== undefined) out.DestinationArn = t.destinationArn;
  if (t.maxNumberOfMessagesPerSecond !== undefined)
    out.MaxNumberOfMessagesPerSecond = t.maxNumberOfMessagesPerSecond;
  out.ApproximateNumberOfMessagesMoved = t.approximateNumberOfMessagesMoved;
  out.ApproximateNumberOfMessagesToMove = t.approximateNumberOfMessagesToMove;
  if (t.failureReason !== undefined) out.FailureReason = t.failureReason;
  out.StartedTimestamp = t.startedTimestamp;
  return out;
}
