// Validation of what is sent to a queue, with SQS's rules and wording: body characters, message
// attributes (names, types, values), size limits, delays, batch entry ids.
import { SqsErrors } from './errors.js';
import type { MessageAttributes, SendInput } from './types.js';

// SQS accepts #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF; lone surrogates are refused.
const INVALID_BODY_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

export const QUEUE_NAME_RE = /^[A-Za-z0-9_-]{1,80}$/;
export const BATCH_ID_RE = /^[A-Za-z0-9_-]{1,80}$/;

export function validateQueueName(name: string): void {
  if (name.endsWith('.fifo') && /^[A-Za-z0-9_-]{1,75}$/.test(name.slice(0, -5))) return;
  if (!QUEUE_NAME_RE.test(name)) {
    throw SqsErrors.invalidParameterValue(
      'Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length',
    );
  }
}

function validateAttributeName(name: string, kind: string): void {
  const bad = (reason: string) =>
    SqsErrors.invalidParameterValue(`Message ${kind} attribute name '${name}' is invalid. ${reason}`);
  if (name.length === 0 || name.length > 256)
    throw bad('Attribute name must be between 1 and 256 characters long.');
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw bad(
      'Attribute name can only contain alphanumeric characters, hyphens (-), underscores (_), or periods (.).',
    );
  }
  if (name.startsWith('.') || name.endsWith('.') || name.includes('..')) {
    throw bad(
      'Attribute name cannot start or end with a period (.), or have multiple periods in succession (..).',
    );
  }
  if (kind === 'user' && /^(aws\.|amazon\.)/i.test(name)) {
    throw SqsErrors.invalidParameterValue(
      `You can't use message attribute names beginning with 'AWS.' or 'Amazon.'. These strings are reserved for internal use.`,
    );
  }
}

/** Returns the attributes' size as SQS counts it toward the message size limit. */
export function validateMessageAttributes(
  attrs: MessageAttributes | undefined,
  kind: 'user' | 'system' = 'user',
): number {
  if (!attrs) return 0;
  const names = Object.keys(attrs);
  if (names.length > 10) {
    throw SqsErrors.invalidParameterValue(
      `Number of message attributes [${names.length}] exceeds the allowed maximum [10].`,
    );
  }
  let size = 0;
  for (const name of names) {
    validateAttributeName(name, kind);
    const a = attrs[name]!;
    const type = a.dataType;
    if (typeof type !== 'string' || type.length === 0) {
      throw SqsErrors.invalidParameterValue(
        `The message attribute '${name}' must contain non-empty message attribute type.`,
      );
    }
    const base = type.split('.', 1)[0];
    if (
      type.length > 256 ||
      (base !== 'String' && base !== 'Number' && base !== 'Binary') ||
      /\.$/.test(type)
    ) {
      throw SqsErrors.invalidParameterValue(
        `The type of message (${kind}) attribute '${name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String.`,
      );
    }
    if (kind === 'system' && (name !== 'AWSTraceHeader' || type !== 'String')) {
      throw SqsErrors.invalidParameterValue(`Message system attribute name '${name}' is invalid.`);
    }
    if (base === 'Binary') {
      if (!a.binaryValue || a.binaryValue.length === 0) {
        throw SqsErrors.invalidParameterValue(
          `Message (${kind}) attribute '${name}' must contain a non-empty value of type '${base}'.`,
        );
      }
      if (a.stringValue !== undefined) {
        throw SqsErrors.invalidParameterValue(
          `Message (${kind}) attribute '${name}' must have a single value of type '${base}'.`,
        );
      }
      size += a.binaryValue.length;
    } else {
      if (a.stringValue === undefined || a.stringValue === '') {
        throw SqsErrors.invalidParameterValue(
          `Message (${kind}) attribute '${name}' must contain a non-empty value of type '${base}'.`,
        );
      }
      if (a.binaryValue !== undefined) {
        throw SqsErrors.invalidParameterValue(
          `Message (${kind}) attribute '${name}' must have a single value of type '${base}'.`,
        );
      }
      if (INVALID_BODY_CHAR.test(a.stringValue)) {
        throw SqsErrors.invalidParameterValue(
          `Message (${kind}) attribute '${name}' contains invalid characters.`,
        );
      }
      if (base === 'Number' && !isSqsNumber(a.stringValue)) {
        throw SqsErrors.invalidParameterValue(
          `Can't cast the value of message (${kind}) attribute '${name}' to a number.`,
        );
      }
      size += Buffer.byteLength(a.stringValue, 'utf8');
    }
    size += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(type, 'utf8');
  }
  return size;
}

// SQS numbers: up to 38 significant digits, magnitude between 10^-128 and 10^+126.
function isSqsNumber(s: string): boolean {
  const m = /^\s*[+-]?(\d*)(?:\.(\d*))?(?:[eE][+-]?\d+)?\s*$/.exec(s);
  if (!m || (m[1] === '' && (m[2] ?? '') === '')) return false;
  const digits = `${m[1]}${m[2] ?? ''}`.replace(/^0+/, '');
  if (digits.length > 38) return false;
  const n = Number(s);
  return Number.isFinite(n) && (n === 0 || (Math.abs(n) < 1e126 && Math.abs(n) > 1e-128));
}

/** Validates one message against the queue's limits; returns its size in bytes. */
// Group and deduplication ids: 1-128 characters of letters, digits and punctuation.
const ORDERING_ID = /^[A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]{1,128}$/;

function validateOrdering(
  input: SendInput,
  queue: { fifo: boolean; contentBasedDeduplication: boolean },
): void {
  for (const [name, v] of [
    ['MessageGroupId', input.messageGroupId],
    ['MessageDeduplicationId', input.deduplicationId],
  ] as const) {
    if (v !== undefined && !ORDERING_ID.test(v)) {
      throw SqsErrors.invalidParameterValue(
        `Value ${v} for parameter ${name} is invalid. Reason: ${name} can only include alphanumeric and punctuation characters. 1 to 128 in length.`,
      );
    }
  }
  if (!queue.fifo) {
    // Standard queues accept MessageGroupId (fair queues) but not deduplication.
    if (input.deduplicationId !== undefined) {
      throw SqsErrors.invalidParameterValue(
        'The request include parameter that is not valid for this queue type. Reason: MessageDeduplicationId can only be used with FIFO queues.',
      );
    }
    return;
  }
  if (input.messageGroupId === undefined)
    throw SqsErrors.missingParameter('The request must contain the parameter MessageGroupId.');
  if (input.deduplicationId === undefined && !queue.contentBasedDeduplication) {
    throw SqsErrors.invalidParameterValue(
      'The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly',
    );
  }
  if (input.delaySeconds !== undefined && input.delaySeconds !== 0) {
    throw SqsErrors.invalidParameterValue(
      `Value ${input.delaySeconds} for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.`,
    );
  }
}

export function validateSend(
  input: SendInput,
  queue: { maximumMessageSize: number; fifo: boolean; contentBasedDeduplication: boolean },
): number {
  const maximumMessageSize = queue.maximumMessageSize;
  if (typeof input.body !== 'string' || input.body.length === 0) {
    throw SqsErrors.missingParameter('The request must contain the parameter MessageBody.');
  }
  if (INVALID_BODY_CHAR.test(input.body)) {
    throw SqsErrors.invalidMessageContents(
      'Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF',
    );
  }
  if (
    input.delaySeconds !== undefined &&
    (!Number.isInteger(input.delaySeconds) || input.delaySeconds < 0 || input.delaySeconds > 900)
  ) {
    throw SqsErrors.invalidParameterValue(
      `Value ${input.delaySeconds} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.`,
    );
  }
  validateOrdering(input, queue);
  const size =
    Buffer.byteLength(input.body, 'utf8') +
    validateMessageAttributes(input.messageAttributes, 'user') +
    validateMessageAttributes(input.messageSystemAttributes, 'system');
  if (size > maximumMessageSize) {
    throw SqsErrors.invalidParameterValue(
      `One or more parameters are invalid. Reason: Message must be shorter than ${maximumMessageSize} bytes.`,
    );
  }
  return size;
}

/** Batch entries: 1–10, ids of [A-Za-z0-9_-]{1,80}, distinct. */
export function validateBatchIds(entries: readonly { id: string }[], what: string): void {
  if (entries.length === 0) throw SqsErrors.emptyBatch(what);
  if (entries.length > 10) throw SqsErrors.tooManyEntries(entries.length);
  const seen = new Set<string>();
  for (const { id } of entries) {
    if (typeof id !== 'string' || !BATCH_ID_RE.test(id)) throw SqsErrors.invalidBatchEntryId();
    if (seen.has(id)) throw SqsErrors.idsNotDistinct(id);
    seen.add(id);
  }
}
