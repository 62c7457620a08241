// SQS's older query protocol (form-encoded `Action=...` requests, XML answers), as distro AWS CLIs and
// older boto3 send it. Requests are turned into the JSON protocol's input shape and answers rendered from
// its output shape, so both protocols share one implementation of each operation.

export const SQS_XMLNS = 'http://queue.amazonaws.com/doc/2012-11-05/';

type Tree = { [key: string]: Tree | string };

/** `A.1.B.2.C=v` → nested objects keyed by segment (numeric segments stay keys until converted to lists). */
// Parameter names come from the client: nodes have no prototype, and names that could reach one are dropped.
const UNSAFE_SEGMENT = /^(__proto__|constructor|prototype)$/;

function toTree(params: URLSearchParams): Tree {
  const root: Tree = Object.create(null);
  for (const [key, value] of params) {
    const parts = key.split('.');
    if (parts.some((p) => UNSAFE_SEGMENT.test(p))) continue;
    let node = root;
    for (let i = 0; i < parts.length - 1; i++) {
      const p = parts[i]!;
      const next = node[p];
      if (typeof next === 'object') node = next;
      else {
        const created: Tree = Object.create(null);
        node[p] = created;
        node = created;
      }
    }
    const last = parts[parts.length - 1]!;
    if (typeof node[last] !== 'object') node[last] = value;
  }
  return root;
}

/** Members of a query list (`X.1`, `X.2`, ...) in index order; a bare `X` counts as one member. */
function list(v: Tree | string | undefined): (Tree | string)[] {
  if (v === undefined) return [];
  if (typeof v === 'string') return [v];
  const indexed = Object.keys(v).filter((k) => /^\d+$/.test(k));
  if (indexed.length === 0) return [v];
  return indexed.sort((a, b) => Number(a) - Number(b)).map((k) => v[k]!);
}

const str = (v: Tree | string | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

function pairs(v: Tree | string | undefined, keyName: string, valueName: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list(v)) {
    if (typeof item !== 'object') continue;
    const k = str(item[keyName]);
    if (k !== undefined) out[k] = str(item[valueName]) ?? '';
  }
  return out;
}

function messageAttributes(v: Tree | string | undefined): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const item of list(v)) {
    if (typeof item !== 'object') continue;
    const name = str(item.Name);
    const value = item.Value;
    if (name === undefined) continue;
    const attr: Record<string, string> = {};
    if (typeof value === 'object') {
      for (const f of ['DataType', 'StringValue', 'BinaryValue'] as const) {
        const s = str(value[f]);
        if (s !== undefined) attr[f] = s;
      }
    }
    out[name] = attr;
  }
  return out;
}

const NUMERIC = new Set([
  'DelaySeconds',
  'MaxNumberOfMessages',
  'VisibilityTimeout',
  'WaitTimeSeconds',
  'MaxResults',
  'MaxNumberOfMessagesPerSecond',
]);
const BATCH_ENTRY =
  /^(SendMessageBatchRequestEntry|DeleteMessageBatchRequestEntry|ChangeMessageVisibilityBatchRequestEntry)$/;

function convert(tree: Tree, action: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(tree)) {
    switch (k) {
      case 'Attribute':
        out.Attributes = pairs(v, 'Name', 'Value');
        break;
      case 'Tag':
        out[action === 'CreateQueue' ? 'tags' : 'Tags'] = pairs(v, 'Key', 'Value');
        break;
      case 'TagKey':
        out.TagKeys = list(v).filter((x) => typeof x === 'string');
        break;
      case 'AttributeName':
      case 'MessageSystemAttributeName':
      case 'MessageAttributeName':
        out[`${k}s`] = list(v).filter((x) => typeof x === 'string');
        break;
      case 'AWSAccountId':
        out.AWSAccountIds = list(v).filter((x) => typeof x === 'string');
        break;
      case 'ActionName':
        out.Actions = list(v).filter((x) => typeof x === 'string');
        break;
      case 'MessageAttribute':
        out.MessageAttributes = messageAttributes(v);
        break;
      case 'MessageSystemAttribute':
        out.MessageSystemAttributes = messageAttributes(v);
        break;
      default:
        if (BATCH_ENTRY.test(k)) {
          out.Entries = list(v).map((e) => (typeof e === 'object' ? convert(e, action) : {}));
        } else if (typeof v === 'string') {
          // Numbers stay strings when malformed, so validation reports them with SQS's wording.
          out[k] = NUMERIC.has(k) && /^-?\d+$/.test(v) ? Number(v) : v;
        }
    }
  }
  return out;
}

/** The action and its input in the JSON protocol's shape. */
export function parseQueryRequest(params: URLSearchParams): {
  action: string;
  input: Record<string, unknown>;
} {
  const action = params.get('Action') ?? '';
  const tree = toTree(params);
  delete tree.Action;
  delete tree.Version;
  return { action, input: convert(tree, action) };
}

const escapeXml = (s: string): string =>
  s.replace(
    /[&<>"'\r]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\r': '&#13;' })[c]!,
  );

const el = (name: string, inner: string): string => `<${name}>${inner}</${name}>`;
const leaf = (name: string, v: unknown): string =>
  v === undefined || v === null ? '' : el(name, escapeXml(String(v)));

function nameValue(map: Record<string, string> | undefined, tag: string, k = 'Name', v = 'Value'): string {
  if (!map) return '';
  return Object.entries(map)
    .map(([name, value]) => el(tag, leaf(k, name) + leaf(v, value)))
    .join('');
}

function fields(o: Record<string, unknown>, skip: readonly string[] = []): string {
  return Object.entries(o)
    .filter(([k]) => !skip.includes(k))
    .map(([k, v]) => leaf(k, v))
    .join('');
}

function message(m: Record<string, unknown>): string {
  const attrs = m.MessageAttributes as Record<string, Record<string, string>> | undefined;
  const userAttrs = attrs
    ? Object.entries(attrs)
        .map(([name, a]) => el('MessageAttribute', leaf('Name', name) + el('Value', fields(a))))
        .join('')
    : '';
  return el(
    'Message',
    fields(m, ['Attributes', 'MessageAttributes']) +
      nameValue(m.Attributes as Record<string, string> | undefined, 'Attribute') +
      userAttrs,
  );
}

function batch(out: Record<string, unknown>, entryTag: string): string {
  const ok = ((out.Successful as Record<string, unknown>[] | undefined) ?? [])
    .map((e) => el(entryTag, fields(e)))
    .join('');
  const failed = ((out.Failed as Record<string, unknown>[] | undefined) ?? [])
    .map((e) => el('BatchResultErrorEntry', fields(e)))
    .join('');
  return ok + failed;
}

function resultBody(action: string, out: Record<string, unknown>): string | undefined {
  switch (action) {
    case 'CreateQueue':
    case 'GetQueueUrl':
      return leaf('QueueUrl', out.QueueUrl);
    case 'ListQueues':
      return (
        ((out.QueueUrls as string[] | undefined) ?? []).map((u) => leaf('QueueUrl', u)).join('') +
        leaf('NextToken', out.NextToken)
      );
    case 'ListDeadLetterSourceQueues':
      return (
        ((out.queueUrls as string[] | undefined) ?? []).map((u) => leaf('QueueUrl', u)).join('') +
        leaf('NextToken', out.NextToken)
      );
    case 'SendMessage':
      return fields(out);
    case 'SendMessageBatch':
      return batch(out, 'SendMessageBatchResultEntry');
    case 'DeleteMessageBatch':
      return batch(out, 'DeleteMessageBatchResultEntry');
    case 'ChangeMessageVisibilityBatch':
      return batch(out, 'ChangeMessageVisibilityBatchResultEntry');
    case 'ReceiveMessage':
      return ((out.Messages as Record<string, unknown>[] | undefined) ?? []).map(message).join('');
    case 'GetQueueAttributes':
      return nameValue(out.Attributes as Record<string, string> | undefined, 'Attribute');
    case 'ListQueueTags':
      return nameValue(out.Tags as Record<string, string> | undefined, 'Tag', 'Key', 'Value');
    case 'StartMessageMoveTask':
    case 'CancelMessageMoveTask':
      return fields(out);
    case 'ListMessageMoveTasks':
      return ((out.Results as Record<string, unknown>[] | undefined) ?? [])
        .map((r) => el('ListMessageMoveTasksResultEntry', fields(r)))
        .join('');
    default:
      return undefined;
  }
}

export function renderQueryResponse(action: string, out: Record<string, unknown>, requestId: string): string {
  const result = resultBody(action, out);
  return (
    `<?xml version="1.0"?><${action}Response xmlns="${SQS_XMLNS}">` +
    (result === undefined ? '' : el(`${action}Result`, result)) +
    el('ResponseMetadata', el('RequestId', requestId)) +
    `</${action}Response>`
  );
}

export function renderQueryError(
  err: { queryCode: string; senderFault: boolean; message: string },
  requestId: string,
): string {
  return (
    `<?xml version="1.0"?><ErrorResponse xmlns="${SQS_XMLNS}">` +
    el(
      'Error',
      leaf('Type', err.senderFault ? 'Sender' : 'Receiver') +
        leaf('Code', err.queryCode) +
        leaf('Message', err.message) +
        '<Detail/>',
    ) +
    leaf('RequestId', requestId) +
    '</ErrorResponse>'
  );
}
