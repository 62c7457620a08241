// The queue engine's error catalogue, in SQS's vocabulary. `code` is the JSON protocol's short type
// (`__type` com.amazonaws.sqs#<code>); `queryCode` is the query protocol's code, which batch results carry
// too, as the SQS model has them. HTTP statuses are the SQS surface's (api/sqs/errors.ts).
import { DomainError } from '../../errors.js';

export class SqsError extends DomainError {
  readonly queryCode: string;
  readonly senderFault: boolean;

  constructor(code: string, queryCode: string, message: string, senderFault = true) {
    super(code, message);
    this.queryCode = queryCode;
    this.senderFault = senderFault;
  }
}

const e = (code: string, queryCode: string) => (message: string) => new SqsError(code, queryCode, message);

export const SqsErrors = {
  queueDoesNotExist: () =>
    new SqsError(
      'QueueDoesNotExist',
      'AWS.SimpleQueueService.NonExistentQueue',
      'The specified queue does not exist.',
    ),
  queueNameExists: (name: string) =>
    new SqsError(
      'QueueNameExists',
      'QueueAlreadyExists',
      `A queue already exists with the same name and a different value for attribute(s) of ${name}`,
    ),
  receiptHandleIsInvalid: (handle: string) =>
    new SqsError(
      'ReceiptHandleIsInvalid',
      'ReceiptHandleIsInvalid',
      `The input receipt handle "${handle}" is not a valid receipt handle.`,
    ),
  messageNotInflight: () =>
    new SqsError(
      'MessageNotInflight',
      'AWS.SimpleQueueService.MessageNotInflight',
      'Message does not exist or is not available for visibility timeout change.',
    ),
  emptyBatch: (what: string) =>
    new SqsError(
      'EmptyBatchRequest',
      'AWS.SimpleQueueService.EmptyBatchRequest',
      `There should be at least one ${what} in the request.`,
    ),
  tooManyEntries: (n: number) =>
    new SqsError(
      'TooManyEntriesInBatchRequest',
      'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
      `Maximum number of entries per request are 10. You have sent ${n}.`,
    ),
  idsNotDistinct: (id: string) =>
    new SqsError(
      'BatchEntryIdsNotDistinct',
      'AWS.SimpleQueueService.BatchEntryIdsNotDistinct',
      `Id ${id} repeated.`,
    ),
  invalidBatchEntryId: () =>
    new SqsError(
      'InvalidBatchEntryId',
      'AWS.SimpleQueueService.InvalidBatchEntryId',
      'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.',
    ),
  batchRequestTooLong: (size: number) =>
    new SqsError(
      'BatchRequestTooLong',
      'AWS.SimpleQueueService.BatchRequestTooLong',
      `Batch requests cannot be longer than 1048576 bytes. You have sent ${size} bytes.`,
    ),
  invalidAttributeName: (name: string) =>
    new SqsError('InvalidAttributeName', 'InvalidAttributeName', `Unknown Attribute ${name}.`),
  invalidAttributeValue: e('InvalidAttributeValue', 'InvalidAttributeValue'),
  invalidMessageContents: e('InvalidMessageContents', 'InvalidMessageContents'),
  /** SQS's generic validation errors have no modelled shape; clients see the query code as the name. */
  invalidParameterValue: e('InvalidParameterValue', 'InvalidParameterValue'),
  missingParameter: e('MissingParameter', 'MissingParameter'),
  invalidAction: e('InvalidAction', 'InvalidAction'),
  // 400, not SQS's usual 404: a malformed escape is bad input, and no 5xx or 404 hides it (issue 7).
  invalidAddress: e('InvalidAddress', 'InvalidAddress'),
  unsupportedOperation: e('UnsupportedOperation', 'AWS.SimpleQueueService.UnsupportedOperation'),
  malformedInput: e('SerializationException', 'MalformedInput'),
  purgeQueueInProgress: (name: string) =>
    new SqsError(
      'PurgeQueueInProgress',
      'AWS.SimpleQueueService.PurgeQueueInProgress',
      `Only one PurgeQueue operation on ${name} is allowed every 60 seconds.`,
    ),
  /** AddPermission past the policy's quotas (actions, statements, principals, size). */
  overLimit: e('OverLimit', 'OverLimit'),
  /** Move tasks: a source, destination or task that does not exist (or is another tenant's). */
  resourceNotFound: e('ResourceNotFoundException', 'ResourceNotFoundException'),
  internal: () =>
    new SqsError(
      'InternalError',
      'InternalError',
      'We encountered an internal error. Please try again.',
      false,
    ),
} as const;
