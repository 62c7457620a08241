// SQS's error catalogue. `type` is the JSON protocol's short type (`__type` com.amazonaws.sqs#<type>);
// `fields.queryCode` is the query protocol's code (also sent as `x-amzn-query-error`), as the SQS model has them.
import { KindlingError } from '../../errors.js';

export class SqsError extends KindlingError {
  readonly queryCode: string;
  readonly senderFault: boolean;

  constructor(type: string, queryCode: string, status: number, message: string, senderFault = true) {
    super(type, status, message, { queryCode });
    this.queryCode = queryCode;
    this.senderFault = senderFault;
  }
}

const e = (type: string, queryCode: string, status: number) => (message: string) =>
  new SqsError(type, queryCode, status, message);

export const SqsErrors = {
  queueDoesNotExist: () =>
    new SqsError(
      'QueueDoesNotExist',
      'AWS.SimpleQueueService.NonExistentQueue',
      400,
      'The specified queue does not exist.',
    ),
  queueNameExists: (name: string) =>
    new SqsError(
      'QueueNameExists',
      'QueueAlreadyExists',
      400,
      `A queue already exists with the same name and a different value for attribute(s) of ${name}`,
    ),
  receiptHandleIsInvalid: (handle: string) =>
    new SqsError(
      'ReceiptHandleIsInvalid',
      'ReceiptHandleIsInvalid',
      404,
      `The input receipt handle "${handle}" is not a valid receipt handle.`,
    ),
  messageNotInflight: () =>
    new SqsError(
      'MessageNotInflight',
      'AWS.SimpleQueueService.MessageNotInflight',
      400,
      'Message does not exist or is not available for visibility timeout change.',
    ),
  emptyBatch: (what: string) =>
    new SqsError(
      'EmptyBatchRequest',
      'AWS.SimpleQueueService.EmptyBatchRequest',
      400,
      `There should be at least one ${what} in the request.`,
    ),
  tooManyEntries: (n: number) =>
    new SqsError(
      'TooManyEntriesInBatchRequest',
      'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
      400,
      `Maximum number of entries per request are 10. You have sent ${n}.`,
    ),
  idsNotDistinct: (id: string) =>
    new SqsError(
      'BatchEntryIdsNotDistinct',
      'AWS.SimpleQueueService.BatchEntryIdsNotDistinct',
      400,
      `Id ${id} repeated.`,
    ),
  invalidBatchEntryId: () =>
    new SqsError(
      'InvalidBatchEntryId',
      'AWS.SimpleQueueService.InvalidBatchEntryId',
      400,
      'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.',
    ),
  batchRequestTooLong: (size: number) =>
    new SqsError(
      'BatchRequestTooLong',
      'AWS.SimpleQueueService.BatchRequestTooLong',
      400,
      `Batch requests cannot be longer than 262144 bytes. You have sent ${size} bytes.`,
    ),
  invalidAttributeName: (name: string) =>
    new SqsError('InvalidAttributeName', 'InvalidAttributeName', 400, `Unknown Attribute ${name}.`),
  invalidAttributeValue: e('InvalidAttributeValue', 'InvalidAttributeValue', 400),
  invalidMessageContents: e('InvalidMessageContents', 'InvalidMessageContents', 400),
  /** SQS's generic validation errors have no modelled shape; clients see the query code as the name. */
  invalidParameterValue: e('InvalidParameterValue', 'InvalidParameterValue', 400),
  missingParameter: e('MissingParameter', 'MissingParameter', 400),
  invalidAction: e('InvalidAction', 'InvalidAction', 400),
  // 400, not SQS's usual 404: a malformed escape is bad input, and no 5xx or 404 hides it (issue 7).
  invalidAddress: e('InvalidAddress', 'InvalidAddress', 400),
  unsupportedOperation: e('UnsupportedOperation', 'AWS.SimpleQueueService.UnsupportedOperation', 400),
  malformedInput: e('SerializationException', 'MalformedInput', 400),
  internal: () =>
    new SqsError(
      'InternalError',
      'InternalError',
      500,
      'We encountered an internal error. Please try again.',
      false,
    ),
} as const;
