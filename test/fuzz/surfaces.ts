// One generator of fuzzed requests per API surface: the surface's own paths, parameters, headers and
// input shapes (with wrong types mixed in), around names of resources that exist so that the requests
// get past the lookups. Nothing here names a host other than the server under test.
import fc from 'fast-check';
import {
  anyJson,
  badEscape,
  body,
  contentType,
  headers,
  headerValue,
  jsonShaped,
  method,
  queryString,
  queryValue,
  request,
  segment,
  templatePath,
  wire,
} from './arbitraries.js';
import type { FuzzRequest } from './wire.js';

type Arb<T> = fc.Arbitrary<T>;

/** Resources the fixture creates before each batch, and what the generators need to name them. */
export interface FuzzContext {
  endpoint: string;
  accountId: string;
  rootTenant: string;
  fn: string;
  queue: string;
  fifoQueue: string;
  bucket: string;
  key: string;
  rule: string;
  /** Live receipt handles of messages in `queue`, and an open multipart upload of `key` in `bucket`. */
  receipts: string[];
  uploadId: string;
}

const str = (good: readonly string[]): Arb<string> =>
  fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom(...good) },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 10 }) },
  );
const int = (edges: readonly number[]): Arb<number> =>
  fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...edges) }, { weight: 1, arbitrary: fc.integer() });
const dict = (keys: Arb<string>, values: Arb<unknown>, maxKeys = 4) =>
  fc.dictionary(keys, values, { maxKeys });
const b64 = fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('base64'));

// ---- Lambda ----

type LambdaShape = 'create' | 'config' | 'code' | 'concurrency' | 'eic' | 'esm' | 'tags' | 'payload';

export function lambdaRequests(c: FuzzContext): Arb<FuzzRequest> {
  const fnArn = `arn:aws:lambda:us-east-1:${c.accountId}:function:${c.fn}`;
  const queueArn = `arn:aws:sqs:us-east-1:${c.accountId}:${c.queue}`;
  const names = [
    c.fn,
    `${c.fn}:1`,
    `${c.fn}:$LATEST`,
    encodeURIComponent(fnArn),
    fnArn,
    'nosuch',
    `${c.fn}:alias`,
  ];
  const P = null;
  // Each route with its own method mostly, so that most requests reach an operation.
  const routes: [string, (string | null)[], LambdaShape][] = [
    ['GET', ['2015-03-31', 'functions'], 'payload'],
    ['POST', ['2015-03-31', 'functions'], 'create'],
    ['GET', ['2015-03-31', 'functions', P], 'payload'],
    ['DELETE', ['2015-03-31', 'functions', P], 'payload'],
    ['GET', ['2015-03-31', 'functions', P, 'configuration'], 'payload'],
    ['PUT', ['2015-03-31', 'functions', P, 'configuration'], 'config'],
    ['PUT', ['2015-03-31', 'functions', P, 'code'], 'code'],
    ['POST', ['2015-03-31', 'functions', P, 'invocations'], 'payload'],
    ['POST', ['2015-03-31', 'functions', P, 'invocations'], 'payload'],
    ['POST', ['2015-03-31', 'functions', P, 'invocations'], 'payload'],
    ['POST', ['2014-11-13', 'functions', P, 'invoke-async'], 'payload'],
    ['GET', ['2015-03-31', 'functions', P, 'async-events'], 'payload'],
    ['PUT', ['2017-10-31', 'functions', P, 'concurrency'], 'concurrency'],
    ['DELETE', ['2017-10-31', 'functions', P, 'concurrency'], 'payload'],
    ['GET', ['2019-09-30', 'functions', P, 'concurrency'], 'payload'],
    ['PUT', ['2019-09-25', 'functions', P, 'event-invoke-config'], 'eic'],
    ['POST', ['2019-09-25', 'functions', P, 'event-invoke-config'], 'eic'],
    ['GET', ['2019-09-25', 'functions', P, 'event-invoke-config'], 'payload'],
    ['DELETE', ['2019-09-25', 'functions', P, 'event-invoke-config'], 'payload'],
    ['GET', ['2019-09-25', 'functions', P, 'event-invoke-config', 'list'], 'payload'],
    ['POST', ['2015-03-31', 'event-source-mappings', ''], 'esm'],
    ['GET', ['2015-03-31', 'event-source-mappings', ''], 'payload'],
    ['GET', ['2015-03-31', 'event-source-mappings', P], 'payload'],
    ['PUT', ['2015-03-31', 'event-source-mappings', P], 'esm'],
    ['DELETE', ['2015-03-31', 'event-source-mappings', P], 'payload'],
    ['POST', ['2017-03-31', 'tags', P], 'tags'],
    ['GET', ['2017-03-31', 'tags', P], 'payload'],
    ['DELETE', ['2017-03-31', 'tags', P], 'payload'],
    ['GET', ['2016-08-19', 'account-settings'], 'payload'],
    ['GET', ['2015-03-31', 'code', P], 'payload'],
    ['GET', ['2015-03-31', P], 'payload'],
  ];
  const route = fc
    .constantFrom(...routes)
    .chain(([m, t, shape]) =>
      fc.tuple(
        fc.oneof(
          { weight: 6, arbitrary: fc.constant(m) },
          { weight: 1, arbitrary: method(['GET', 'POST', 'PUT', 'DELETE']) },
        ),
        templatePath([t], names),
        fc.constant(shape),
      ),
    );
  const fnName = str(names);
  const arns = str([
    fnArn,
    queueArn,
    `${queueArn}x`,
    'arn:aws:sqs:us-east-1:000000000000:x',
    'arn:aws:kinesis:us-east-1:1:stream/s',
    'arn:',
    '',
  ]);
  const zip = fc.oneof(
    b64,
    fc.constantFrom(
      '',
      'not base64!',
      Buffer.from('PK\x03\x04garbage').toString('base64'),
      Buffer.from(`PK\x05\x06${'\0'.repeat(18)}`).toString('base64'),
    ),
  );
  const env = dict(
    str(['AWS_REGION', 'A', '1BAD', 'PATH', 'LD_PRELOAD', '_HANDLER', 'a'.repeat(300)]),
    str(['x', '', 'y'.repeat(5000)]),
  );
  const config = {
    FunctionName: fnName,
    Runtime: str([
      'nodejs20.x',
      'nodejs18.x',
      'nodejs22.x',
      'nodejs24.x',
      'python3.12',
      'provided.al2',
      'java21',
      'nodejs',
      '',
    ]),
    Handler: str(['index.handler', 'index', 'a.b.c', '../x.handler', '/etc/passwd.x', '']),
    Role: str(['arn:aws:iam::123456789012:role/x', '']),
    Description: str(['d', 'x'.repeat(257)]),
    MemorySize: int([127, 128, 129, 3008, 10240, 10241, 0, -1]),
    Timeout: int([0, 1, 3, 900, 901, -1]),
    Environment: jsonShaped({ Variables: env }),
    EphemeralStorage: jsonShaped({ Size: int([511, 512, 10240, 10241]) }),
    Layers: fc.array(str(['arn:aws:lambda:us-east-1:1:layer:l:1', 'x']), { maxLength: 6 }),
    Architectures: fc.array(str(['x86_64', 'arm64', 'mips']), { maxLength: 2 }),
    PackageType: str(['Zip', 'Image', 'x']),
    Tags: dict(
      str([
        'k',
        'kindling:network',
        'kindling:single-use',
        'kindling:recycle-after-invocations',
        'aws:x',
        '',
      ]),
      str(['v', 'outbound', 'true', '']),
    ),
    TracingConfig: jsonShaped({ Mode: str(['Active', 'PassThrough', 'x']) }),
    DeadLetterConfig: jsonShaped({ TargetArn: arns }),
    FileSystemConfigs: fc.array(
      jsonShaped({
        Arn: str(['arn:aws:elasticfilesystem:us-east-1:1:access-point/fsap-1', 'x']),
        LocalMountPath: str([
          '/mnt/x',
          '/',
          '/mnt/../etc',
          '/mnt/',
          `/mnt/${'a'.repeat(200)}`,
          '/mnt/x/../../proc',
        ]),
      }),
      { maxLength: 2 },
    ),
    SnapStart: jsonShaped({ ApplyOn: str(['PublishedVersions', 'None', 'x']) }),
    VpcConfig: jsonShaped({ SubnetIds: fc.array(fc.string(), { maxLength: 2 }) }),
    RevisionId: str(['x', '']),
    Publish: fc.boolean(),
  };
  const shapes: Record<LambdaShape, Arb<unknown>> = {
    create: jsonShaped({
      ...config,
      Code: jsonShaped({
        ZipFile: zip,
        S3Bucket: str([c.bucket, 'nosuch']),
        S3Key: str([c.key, 'nosuch', '../x']),
        ImageUri: fc.string(),
      }),
    }),
    config: jsonShaped(config),
    code: jsonShaped({
      ZipFile: zip,
      S3Bucket: str([c.bucket]),
      S3Key: str([c.key]),
      Publish: fc.boolean(),
      DryRun: fc.boolean(),
      RevisionId: fc.string(),
    }),
    concurrency: jsonShaped({ ReservedConcurrentExecutions: int([0, 1, -1, 1000, 1_000_000_000]) }),
    eic: jsonShaped({
      MaximumRetryAttempts: int([0, 2, 3, -1]),
      MaximumEventAgeInSeconds: int([59, 60, 21600, 21601]),
      DestinationConfig: jsonShaped({
        OnSuccess: jsonShaped({ Destination: arns }),
        OnFailure: jsonShaped({ Destination: arns }),
      }),
    }),
    esm: jsonShaped({
      FunctionName: fnName,
      EventSourceArn: arns,
      BatchSize: int([0, 1, 10, 10000, 10001]),
      Enabled: fc.boolean(),
      MaximumBatchingWindowInSeconds: int([0, 300, 301]),
      FunctionResponseTypes: fc.array(str(['ReportBatchItemFailures', 'x']), { maxLength: 2 }),
      // Only loopback or unparsable URLs: a fuzzed mapping must not send anything off this machine.
      SelfManagedEventSource: jsonShaped({
        Endpoints: jsonShaped({
          REDIS_URLS: fc.array(
            fc.constantFrom('redis://127.0.0.1:1', 'redis://[::1]:1', 'http://127.0.0.1:1', 'not a url', ''),
            { maxLength: 2 },
          ),
        }),
      }),
      Topics: fc.array(str(['s', '']), { maxLength: 2 }),
      ScalingConfig: jsonShaped({ MaximumConcurrency: int([1, 2, 1000, 1001]) }),
      StartingPosition: str(['LATEST', 'TRIM_HORIZON', 'x']),
      FilterCriteria: jsonShaped({
        Filters: fc.array(jsonShaped({ Pattern: str(['{}', '{"body":{"a":["b"]}}', '{']) }), {
          maxLength: 2,
        }),
      }),
    }),
    tags: jsonShaped({
      Tags: dict(fc.string({ maxLength: 130 }), fc.string({ maxLength: 260 })),
      TagKeys: fc.array(fc.string(), { maxLength: 3 }),
    }),
    payload: anyJson,
  };
  const anyShape = fc.constantFrom(...Object.values(shapes)).chain((a) => a);
  const largeEvent = fc
    .integer({ min: 256 * 1024 - 16, max: 256 * 1024 + 16 })
    .map((n) => new Uint8Array(Buffer.from(JSON.stringify('x'.repeat(n)))));
  return fc
    .tuple(
      route,
      request('lambda', {
        method: fc.constant(''),
        path: fc.constant(''),
        query: queryString(
          [
            'Qualifier',
            'MaxItems',
            'Marker',
            'FunctionVersion',
            'MasterRegion',
            'FunctionName',
            'EventSourceArn',
            'tagKeys',
          ],
          queryValue(['1', '$LATEST', 'ALL', '0', '10000', '10001', c.fn, queueArn, 'k']),
        ),
        headers: headers({
          'content-type': contentType,
          'x-amz-invocation-type': fc.constantFrom(
            'RequestResponse',
            'Event',
            'DryRun',
            '',
            'event',
            'Bogus',
          ),
          'x-amz-log-type': fc.constantFrom('Tail', 'None', 'x'),
          'x-amz-client-context': fc.oneof(
            b64,
            fc.constantFrom('%ZZ', '{}', Buffer.from('{"custom":1}').toString('base64')),
          ),
        }),
        body: fc.constant(new Uint8Array()),
      }),
    )
    .chain(([[m, path, shape], r]) =>
      fc
        .oneof(
          { weight: 16, arbitrary: body(shapes[shape]) },
          { weight: 4, arbitrary: body(anyShape) },
          { weight: 1, arbitrary: largeEvent },
        )
        .map((b) => ({ ...r, method: m, path, body: b })),
    );
}

// ---- SQS ----

const SQS_ACTIONS = [
  'CreateQueue',
  'GetQueueUrl',
  'ListQueues',
  'DeleteQueue',
  'PurgeQueue',
  'GetQueueAttributes',
  'SetQueueAttributes',
  'TagQueue',
  'UntagQueue',
  'ListQueueTags',
  'ListDeadLetterSourceQueues',
  'SendMessage',
  'SendMessageBatch',
  'ReceiveMessage',
  'DeleteMessage',
  'DeleteMessageBatch',
  'ChangeMessageVisibility',
  'ChangeMessageVisibilityBatch',
];

// ReceiveMessageWaitTimeSeconds is left out on purpose: a queue that long-polls by default would make
// the fuzz wait, not find anything.
const QUEUE_ATTRIBUTES = [
  'VisibilityTimeout',
  'DelaySeconds',
  'MessageRetentionPeriod',
  'MaximumMessageSize',
  'RedrivePolicy',
  'RedriveAllowPolicy',
  'FifoQueue',
  'ContentBasedDeduplication',
  'DeduplicationScope',
  'FifoThroughputLimit',
  'Policy',
  'KmsMasterKeyId',
  'SqsManagedSseEnabled',
  'QueueArn',
  'ApproximateNumberOfMessages',
  'All',
  'Bogus',
];

function sqsValues(c: FuzzContext) {
  const base = c.endpoint;
  const acct = c.accountId;
  const queueUrl = str([
    `${base}/${acct}/${c.queue}`,
    `${base}/${acct}/${c.fifoQueue}`,
    `http://127.0.0.1:1/${acct}/${c.queue}`,
    `${base}/${acct}/%ZZ`,
    `${base}/${acct}/${c.queue}%ZZ`,
    `${base}/${acct}/%E2%82`,
    `/${acct}/${c.queue}`,
    c.queue,
    `arn:aws:sqs:us-east-1:${acct}:${c.queue}`,
    'http://[',
    'not a url',
    `${base}/000000000000/${c.queue}`,
    `${base}/${acct}/${c.queue}/extra`,
    `${base}/${acct}/`,
    `${base}/${acct}/${encodeURIComponent('ü')}`,
  ]);
  const queueName = str([
    c.queue,
    c.fifoQueue,
    'fz-new',
    'fz-new.fifo',
    '',
    'a'.repeat(81),
    'a.fifo',
    'bad name',
    '%ZZ',
  ]);
  const attrValue = str([
    '0',
    '1',
    '-1',
    '30',
    '43200',
    '43201',
    'abc',
    '',
    'true',
    'false',
    '1023',
    '1024',
    '262144',
    '262145',
    `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:${acct}:${c.queue}","maxReceiveCount":1}`,
    `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:${acct}:${c.fifoQueue}","maxReceiveCount":"5"}`,
    '{"deadLetterTargetArn":1}',
    '{"redrivePermission":"allowAll"}',
    '{',
    'queue',
    'messageGroup',
    'perQueue',
    'perMessageGroupId',
  ]);
  const attrName = str(QUEUE_ATTRIBUTES);
  const body = fc.oneof(
    { weight: 4, arbitrary: fc.string({ maxLength: 60 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
    { weight: 1, arbitrary: fc.constantFrom('', '\u0000', '\uFFFE', '\ud800', '\u0008x') },
    { weight: 1, arbitrary: fc.integer({ min: 262_140, max: 262_150 }).map((n) => 'm'.repeat(n)) },
  );
  const dataType = str(['String', 'Number', 'Binary', 'String.custom', 'Number.x', 'Binary.', '', 'Bogus']);
  const msgAttrs = dict(
    str(['a', 'AWS.x', 'Amazon.x', '.a', 'a..b', 'a'.repeat(257), '']),
    jsonShaped({
      DataType: dataType,
      StringValue: str(['1', 'x', '1e999', '']),
      BinaryValue: fc.oneof(b64, fc.constant('%%')),
      StringListValues: fc.array(fc.string(), { maxLength: 2 }),
    }),
    3,
  );
  const sysAttrs = dict(
    str(['AWSTraceHeader', 'Other']),
    jsonShaped({ DataType: dataType, StringValue: str(['Root=1-5759e988-bd862e3fe1be46a994272793', 'x']) }),
    2,
  );
  const receipt = str(['x', '', 'AQEB', 'a'.repeat(2000), ...c.receipts]);
  const ids = str(['1', 'a', '', '!', 'a'.repeat(81)]);
  const visibility = int([0, -1, 30, 43200, 43201]);
  const sendEntry = {
    MessageBody: body,
    DelaySeconds: int([0, 900, 901, -1]),
    MessageAttributes: msgAttrs,
    MessageSystemAttributes: sysAttrs,
    MessageDeduplicationId: str(['d', '', 'x'.repeat(129)]),
    MessageGroupId: str(['g', '', 'x'.repeat(129)]),
  };
  return { queueUrl, queueName, attrValue, attrName, sendEntry, receipt, ids, visibility, msgAttrs };
}

/** WaitTimeSeconds 1..20 would long-poll an empty queue; the fuzz sends invalid or zero waits only. */
function noLongPoll(v: unknown): unknown {
  const n = typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && n >= 1 && n <= 20 ? 0 : v;
}

export function sqsJsonRequests(c: FuzzContext): Arb<FuzzRequest> {
  const v = sqsValues(c);
  const q = { QueueUrl: v.queueUrl };
  const shapes: Record<string, Arb<Record<string, unknown>>> = {
    CreateQueue: jsonShaped({
      QueueName: v.queueName,
      Attributes: dict(v.attrName, v.attrValue),
      tags: dict(fc.string(), fc.string()),
    }),
    GetQueueUrl: jsonShaped({ QueueName: v.queueName, QueueOwnerAWSAccountId: str([c.accountId, '1']) }),
    ListQueues: jsonShaped({
      QueueNamePrefix: str(['fz', '']),
      NextToken: str(['x', '']),
      MaxResults: int([0, 1, 1000, 1001]),
    }),
    DeleteQueue: jsonShaped(q),
    PurgeQueue: jsonShaped(q),
    GetQueueAttributes: jsonShaped({ ...q, AttributeNames: fc.array(v.attrName, { maxLength: 3 }) }),
    SetQueueAttributes: jsonShaped({ ...q, Attributes: dict(v.attrName, v.attrValue) }),
    TagQueue: jsonShaped({ ...q, Tags: dict(fc.string({ maxLength: 130 }), fc.string({ maxLength: 260 })) }),
    UntagQueue: jsonShaped({ ...q, TagKeys: fc.array(fc.string(), { maxLength: 3 }) }),
    ListQueueTags: jsonShaped(q),
    ListDeadLetterSourceQueues: jsonShaped({ ...q, NextToken: fc.string(), MaxResults: int([0, 1, 1001]) }),
    SendMessage: jsonShaped({ ...q, ...v.sendEntry }),
    SendMessageBatch: jsonShaped({
      ...q,
      Entries: fc.array(jsonShaped({ Id: v.ids, ...v.sendEntry }), { maxLength: 12 }),
    }),
    ReceiveMessage: jsonShaped({
      ...q,
      AttributeNames: fc.array(str(['All', 'SentTimestamp', 'x']), { maxLength: 2 }),
      MessageSystemAttributeNames: fc.array(str(['All', 'ApproximateReceiveCount']), { maxLength: 2 }),
      MessageAttributeNames: fc.array(str(['All', '.*', 'a.*', 'a']), { maxLength: 2 }),
      MaxNumberOfMessages: int([0, 1, 10, 11]),
      VisibilityTimeout: v.visibility,
      WaitTimeSeconds: fc.constantFrom<unknown>(0, -1, 21, 1.5, '1', null),
      ReceiveRequestAttemptId: fc.string(),
    }).map((o) => ('WaitTimeSeconds' in o ? { ...o, WaitTimeSeconds: noLongPoll(o.WaitTimeSeconds) } : o)),
    DeleteMessage: jsonShaped({ ...q, ReceiptHandle: v.receipt }),
    DeleteMessageBatch: jsonShaped({
      ...q,
      Entries: fc.array(jsonShaped({ Id: v.ids, ReceiptHandle: v.receipt }), { maxLength: 12 }),
    }),
    ChangeMessageVisibility: jsonShaped({ ...q, ReceiptHandle: v.receipt, VisibilityTimeout: v.visibility }),
    ChangeMessageVisibilityBatch: jsonShaped({
      ...q,
      Entries: fc.array(
        jsonShaped({ Id: v.ids, ReceiptHandle: v.receipt, VisibilityTimeout: v.visibility }),
        { maxLength: 12 },
      ),
    }),
  };
  const known = fc
    .constantFrom(...SQS_ACTIONS)
    .chain((a) => fc.tuple(fc.constant(`AmazonSQS.${a}`), body(shapes[a]!)));
  const odd = fc.tuple(
    fc.oneof(
      fc.constantFrom(
        'AmazonSQS.',
        'AmazonSQS.Nope',
        'AmazonSQS.__proto__',
        'AmazonSQS.constructor',
        'AmazonSQS.toString',
        'amazonsqs.SendMessage',
        'SendMessage',
        'AmazonSQS.SendMessage ',
      ),
      headerValue.map((s) => `AmazonSQS.${s}`),
    ),
    body(anyJson),
  );
  return fc
    .tuple(
      fc.oneof({ weight: 6, arbitrary: known }, { weight: 1, arbitrary: odd }),
      request('sqs', {
        method: method(['POST']),
        path: fc.oneof(
          { weight: 4, arbitrary: fc.constant('/') },
          { weight: 1, arbitrary: templatePath([[c.accountId, null]], [c.queue, c.fifoQueue]) },
        ),
        query: fc.oneof(
          { weight: 4, arbitrary: fc.constant('') },
          { weight: 1, arbitrary: queryString(['Action', 'QueueUrl']) },
        ),
        headers: headers({
          'content-type': fc.oneof(
            { weight: 4, arbitrary: fc.constant('application/x-amz-json-1.0') },
            { weight: 1, arbitrary: contentType },
          ),
          'x-amzn-query-mode': fc.constantFrom('true', 'false'),
        }),
        body: fc.constant(new Uint8Array()),
      }),
    )
    .map(([[target, b], r]) => ({ ...r, headers: { ...r.headers, 'x-amz-target': target }, body: b }));
}

export function sqsQueryRequests(c: FuzzContext): Arb<FuzzRequest> {
  const v = sqsValues(c);
  const n = fc.constantFrom('1', '2', '3', '0', '-1', '01', 'a', '99999999999', '', '1.5');
  const indexed = (prefix: string, suffixes: string[]) =>
    fc.tuple(n, fc.constantFrom(...suffixes)).map(([i, s]) => `${prefix}.${i}${s ? `.${s}` : ''}`);
  const key = fc.oneof(
    fc.constantFrom(
      'QueueUrl',
      'QueueName',
      'MessageBody',
      'DelaySeconds',
      'MaxNumberOfMessages',
      'VisibilityTimeout',
      'WaitTimeSeconds',
      'ReceiptHandle',
      'QueueNamePrefix',
      'MaxResults',
      'NextToken',
      'MessageGroupId',
      'MessageDeduplicationId',
      'Version',
      'Attribute',
      'Attribute..Name',
      'MessageAttribute.1.Value.__proto__',
    ),
    indexed('Attribute', ['Name', 'Value', '']),
    indexed('MessageAttribute', [
      'Name',
      'Value.DataType',
      'Value.StringValue',
      'Value.BinaryValue',
      'Value',
      '',
    ]),
    indexed('MessageSystemAttribute', ['Name', 'Value.DataType', 'Value.StringValue']),
    indexed('SendMessageBatchRequestEntry', [
      'Id',
      'MessageBody',
      'DelaySeconds',
      'MessageAttribute.1.Name',
      'MessageAttribute.1.Value.DataType',
      'MessageAttribute.1.Value.StringValue',
      '',
    ]),
    indexed('DeleteMessageBatchRequestEntry', ['Id', 'ReceiptHandle']),
    indexed('ChangeMessageVisibilityBatchRequestEntry', ['Id', 'ReceiptHandle', 'VisibilityTimeout']),
    indexed('AttributeName', ['']),
    indexed('MessageAttributeName', ['']),
    indexed('MessageSystemAttributeName', ['']),
    indexed('Tag', ['Key', 'Value']),
    indexed('TagKey', ['']),
  );
  const value = fc.oneof(
    v.queueUrl,
    v.queueName,
    v.attrName,
    v.attrValue,
    v.receipt,
    fc.constantFrom('String', 'Number', 'Binary', '2012-11-05'),
    queryValue(),
  );
  const reserved = /[&=+?#%]/;
  // Values are encoded for the form unless they are one of the bad escapes, which go raw.
  const pair = fc.oneof(
    {
      weight: 8,
      arbitrary: fc
        .tuple(key, value)
        .map(
          ([k, x]) =>
            `${wire(k, reserved)}=${wire(String(k === 'WaitTimeSeconds' ? noLongPoll(x) : x), reserved)}`,
        ),
    },
    { weight: 1, arbitrary: fc.tuple(key, badEscape).map(([k, e]) => `${wire(k, reserved)}=${e}`) },
  );
  const params = fc
    .tuple(
      fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom(...SQS_ACTIONS) },
        { weight: 1, arbitrary: fc.constantFrom('', 'Nope', '__proto__', 'hasOwnProperty') },
      ),
      fc.array(pair, { maxLength: 10 }),
    )
    .map(([action, ps]) => [`Action=${action}`, ...ps].join('&'));
  return fc
    .tuple(
      params,
      fc.constantFrom('body', 'query', 'both'),
      request('sqs', {
        method: method(['POST', 'GET']),
        path: fc.oneof(
          { weight: 4, arbitrary: fc.constant('/') },
          { weight: 2, arbitrary: templatePath([[c.accountId, null]], [c.queue, c.fifoQueue]) },
        ),
        query: fc.constant(''),
        headers: headers({
          'content-type': fc.oneof(
            { weight: 4, arbitrary: fc.constant('application/x-www-form-urlencoded; charset=utf-8') },
            { weight: 1, arbitrary: contentType },
          ),
        }),
        body: fc.constant(new Uint8Array()),
      }),
    )
    .map(([p, where, r]) => {
      const bytes = new Uint8Array(Buffer.from(p, 'latin1'));
      if (where === 'query') return { ...r, query: p };
      if (where === 'body') return { ...r, body: bytes };
      const cut = p.indexOf('&', p.length >> 1);
      return cut < 0 ? { ...r, query: p } : { ...r, query: p.slice(0, cut), body: bytes.slice(cut + 1) };
    });
}

// ---- S3 ----

const XML_TAGS = [
  'Delete',
  'Object',
  'Key',
  'Quiet',
  'VersionId',
  'CompleteMultipartUpload',
  'Part',
  'PartNumber',
  'ETag',
  'NotificationConfiguration',
  'QueueConfiguration',
  'CloudFunctionConfiguration',
  'LambdaFunctionConfiguration',
  'TopicConfiguration',
  'Queue',
  'CloudFunction',
  'Event',
  'Filter',
  'S3Key',
  'FilterRule',
  'Name',
  'Value',
  'Id',
  'CreateBucketConfiguration',
  'LocationConstraint',
];

function xmlBody(c: FuzzContext): Arb<string> {
  const arns = [
    `arn:aws:sqs:us-east-1:${c.accountId}:${c.queue}`,
    `arn:aws:lambda:us-east-1:${c.accountId}:function:${c.fn}`,
    'arn:aws:sns:us-east-1:1:t',
  ];
  const textNode = fc.oneof(
    fc.constantFrom(
      c.key,
      '1',
      '0',
      '10001',
      '"etag"',
      'true',
      's3:ObjectCreated:*',
      's3:ObjectRemoved:Delete',
      's3:Bogus',
      'prefix',
      'suffix',
      'eu-west-1',
      '',
      '&amp;',
      '&bogus;',
      '&#0;',
      '&#x110000;',
      '<![CDATA[x]]>',
      ...arns,
    ),
    fc.string({ maxLength: 20 }),
  );
  const element = (depth: number): Arb<string> =>
    depth === 0
      ? textNode
      : fc.oneof(
          { weight: 1, arbitrary: textNode },
          {
            weight: 3,
            arbitrary: fc
              .tuple(fc.constantFrom(...XML_TAGS), fc.array(element(depth - 1), { maxLength: 3 }))
              .map(([t, kids]) => `<${t}>${kids.join('')}</${t}>`),
          },
        );
  const prolog = fc.constantFrom(
    '',
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
    '<?xml version="9"?>',
  );
  const doc = fc.tuple(prolog, element(4)).map(([p, e]) => p + e);
  return fc.oneof(
    { weight: 4, arbitrary: doc },
    { weight: 1, arbitrary: fc.tuple(doc, fc.nat()).map(([d, i]) => d.slice(0, i % (d.length + 1))) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 100, max: 4000 }).map((n) => `${'<a>'.repeat(n)}${'</a>'.repeat(n)}`),
    },
  );
}

/** aws-chunked framing with plausible and broken sizes, signatures and trailers. */
const awsChunked: Arb<string> = fc
  .tuple(
    fc.array(
      fc.tuple(
        fc.constantFrom('', 'x', 'hello', 'z'.repeat(70)),
        fc.constantFrom('ok', 'bad', 'neg', 'huge', 'nosig'),
      ),
      { maxLength: 3 },
    ),
    fc.constantFrom(
      '',
      'x-amz-checksum-crc32:AAAAAA==\r\n',
      'x-amz-checksum-crc32c:%%%\r\n',
      'bogus\r\n',
      'x-amz-checksum-sha256:\r\n',
    ),
    fc.boolean(),
  )
  .map(([chunks, trailer, terminate]) => {
    let out = '';
    for (const [data, how] of chunks) {
      const size = how === 'neg' ? '-1' : how === 'huge' ? 'ffffffffffffffff' : data.length.toString(16);
      out +=
        how === 'nosig'
          ? `${size}\r\n`
          : `${size};chunk-signature=${how === 'bad' ? 'zz' : '0'.repeat(64)}\r\n`;
      out += `${data}\r\n`;
    }
    if (terminate) out += `0;chunk-signature=${'0'.repeat(64)}\r\n${trailer}\r\n`;
    return out;
  });

export function s3Requests(c: FuzzContext): Arb<FuzzRequest> {
  const bucket = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(c.bucket, 'nosuchbucket') },
    { weight: 2, arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]$/) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'a',
        'UPPER',
        'x'.repeat(64),
        'xn--bad',
        '192.168.0.1',
        'a..b',
        'a-.b',
        '%ZZ',
        '%2e%2e',
        'kindling',
        '2015-03-31',
      ),
    },
  );
  const key = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(c.key, 'dir/k', 'new', '') },
    {
      weight: 3,
      arbitrary: fc.array(segment([c.key, 'dir']), { minLength: 1, maxLength: 4 }).map((s) => s.join('/')),
    },
    { weight: 1, arbitrary: fc.integer({ min: 1000, max: 1100 }).map((n) => 'k'.repeat(n)) },
  );
  const path = fc.oneof(
    { weight: 1, arbitrary: fc.constant('/') },
    { weight: 2, arbitrary: bucket.map((b) => `/${b}`) },
    { weight: 1, arbitrary: bucket.map((b) => `/${b}/`) },
    { weight: 8, arbitrary: fc.tuple(bucket, key).map(([b, k]) => `/${b}/${k}`) },
  );
  const subresources = [
    'uploads',
    'uploadId',
    'partNumber',
    'list-type',
    'prefix',
    'delimiter',
    'max-keys',
    'continuation-token',
    'start-after',
    'marker',
    'location',
    'versioning',
    'versions',
    'version-id-marker',
    'notification',
    'delete',
    'tagging',
    'acl',
    'encoding-type',
    'fetch-owner',
    'key-marker',
    'upload-id-marker',
    'max-uploads',
    'max-parts',
    'part-number-marker',
    'response-content-type',
    'response-content-disposition',
    'versionId',
    'x-id',
    'select',
    'select-type',
  ];
  const sha = fc.oneof(
    fc.constantFrom(
      'UNSIGNED-PAYLOAD',
      'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
      'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD',
      'abc',
      '',
    ),
    fc.stringMatching(/^[0-9a-f]{64}$/),
  );
  const date = fc.constantFrom(
    'Wed, 21 Oct 2015 07:28:00 GMT',
    'Wed, 21 Oct 2099 07:28:00 GMT',
    'garbage',
    '0',
    '',
  );
  return request('s3', {
    method: method(['GET', 'PUT', 'POST', 'DELETE', 'HEAD']),
    path,
    query: queryString(
      subresources,
      queryValue(['', '1', '2', '0', '-1', '10000', '10001', 'abc', 'url', '/', 'dir/', '2', 'AAAA']),
    ),
    headers: headers({
      'content-type': contentType,
      range: fc.constantFrom(
        'bytes=0-0',
        'bytes=-1',
        'bytes=5-',
        'bytes=1-0',
        'bytes=0-99999999999999999999',
        'bytes=a-b',
        'items=0-1',
        'bytes=0-1,2-3',
        'bytes=-0',
        'bytes=',
        '',
      ),
      'x-amz-copy-source': fc.constantFrom(
        `${c.bucket}/${c.key}`,
        `/${c.bucket}/${c.key}`,
        `${c.bucket}/%ZZ`,
        `${c.bucket}/${c.key}%ZZ`,
        'nosuch/k',
        `${c.bucket}/${c.key}?versionId=1`,
        c.bucket,
        '',
        '%',
        `${c.bucket}/..%2F..%2Fx`,
      ),
      'x-amz-copy-source-range': fc.constantFrom('bytes=0-0', 'bytes=9-1', 'x'),
      'x-amz-metadata-directive': fc.constantFrom('COPY', 'REPLACE', 'x'),
      'if-match': fc.constantFrom('*', '"abc"', '', '"'),
      'if-none-match': fc.constantFrom('*', '"abc"', ''),
      'if-modified-since': date,
      'if-unmodified-since': date,
      'x-amz-copy-source-if-match': fc.constantFrom('*', '"x"'),
      'content-md5': fc.oneof(b64, fc.constantFrom('', 'garbage', '1B2M2Y8AsgTpgAmY7PhCfg==')),
      'x-amz-checksum-crc32': fc.oneof(b64, fc.constantFrom('AAAAAA==', '%%')),
      'x-amz-checksum-crc32c': fc.oneof(b64, fc.constantFrom('AAAAAA==')),
      'x-amz-checksum-sha1': b64,
      'x-amz-checksum-sha256': b64,
      'x-amz-sdk-checksum-algorithm': fc.constantFrom(
        'CRC32',
        'CRC32C',
        'SHA1',
        'SHA256',
        'CRC64NVME',
        'MD5',
        'x',
      ),
      'x-amz-trailer': fc.constantFrom(
        'x-amz-checksum-crc32',
        'x-amz-checksum-crc32c',
        'x-amz-checksum-x',
        '',
        'x-amz-checksum-crc32,x-amz-checksum-sha1',
      ),
      'content-encoding': fc.constantFrom(
        'aws-chunked',
        'gzip',
        'aws-chunked,gzip',
        'aws-chunked, identity',
        '',
      ),
      'x-amz-decoded-content-length': fc.constantFrom('0', '5', '-1', 'abc', '99999999999', '1e3'),
      'x-amz-content-sha256': sha,
      'x-amz-meta-a': fc.oneof(headerValue, fc.constant('ü')),
      'x-amz-tagging': fc.constantFrom('a=b', '%ZZ', '=&='),
      'x-amz-storage-class': fc.constantFrom('STANDARD', 'GLACIER', 'x'),
      'x-amz-acl': fc.constantFrom('private', 'public-read', 'x'),
      'cache-control': headerValue,
      expires: date,
    }),
    body: fc.oneof(
      { weight: 3, arbitrary: fc.uint8Array({ maxLength: 2048 }) },
      { weight: 3, arbitrary: xmlBody(c).map((s) => new Uint8Array(Buffer.from(s, 'utf8'))) },
      { weight: 2, arbitrary: awsChunked.map((s) => new Uint8Array(Buffer.from(s, 'latin1'))) },
      { weight: 1, arbitrary: fc.constant(new Uint8Array()) },
    ),
  });
}

// ---- EventBridge ----

export function eventBridgeRequests(c: FuzzContext): Arb<FuzzRequest> {
  const name = str([c.rule, 'nosuch', 'a'.repeat(65), 'bad name', '']);
  const schedule = str([
    'rate(1 minute)',
    'rate(5 minutes)',
    'rate(0 minutes)',
    'rate(1 minutes)',
    'rate(2 minute)',
    'rate(1 second)',
    'rate(9999999999 days)',
    'rate(-1 minutes)',
    'rate(1.5 hours)',
    'rate()',
    'cron(0 12 * * ? *)',
    'cron(* * * * *)',
    'cron(0/0 * * * ? *)',
    'cron(0 0 31 2 ? *)',
    'cron(0 0 30 2 ? 2030)',
    'cron(0 0 ? * MON#5 *)',
    'cron(0 0 ? * 8#1 *)',
    'cron(0 0 L * ? *)',
    'cron(0 0 1W * ? *)',
    'cron(0 0 ? * 6L *)',
    'cron(0 0 ? * SUN-SAT *)',
    'cron(0 0 ? * SAT-SUN *)',
    'cron(60 24 32 13 ? 1969)',
    'cron(0 0 1 1 ? 1970)',
    'cron(0 0 1 1 ? 2199)',
    'cron(*/1000000 * * * ? *)',
    'cron(0-59/0 * * * ? *)',
    'cron()',
    'at(2030-01-01T00:00:00)',
    '',
  ]);
  const arn = str([
    `arn:aws:lambda:us-east-1:${c.accountId}:function:${c.fn}`,
    `arn:aws:lambda:us-east-1:${c.accountId}:function:nosuch`,
    `arn:aws:sqs:us-east-1:${c.accountId}:${c.queue}`,
    'arn:aws:lambda:us-east-1:000000000000:function:x',
    'x',
  ]);
  const targetId = str(['t1', 't2', '', '!', 'a'.repeat(65)]);
  const bus = str(['default', 'other', '']);
  const shapes: Record<string, Arb<Record<string, unknown>>> = {
    PutRule: jsonShaped({
      Name: name,
      ScheduleExpression: schedule,
      EventPattern: str(['{"source":["x"]}', '{']),
      State: str(['ENABLED', 'DISABLED', 'x']),
      Description: fc.string({ maxLength: 600 }),
      RoleArn: fc.string(),
      EventBusName: bus,
      Tags: fc.array(jsonShaped({ Key: fc.string(), Value: fc.string() }), { maxLength: 2 }),
    }),
    DescribeRule: jsonShaped({ Name: name, EventBusName: bus }),
    ListRules: jsonShaped({
      NamePrefix: str(['f', '']),
      EventBusName: bus,
      NextToken: str(['x', 'AAAA', '!!!', '']),
      Limit: int([0, 1, 100, 101]),
    }),
    DeleteRule: jsonShaped({ Name: name, EventBusName: bus, Force: fc.boolean() }),
    EnableRule: jsonShaped({ Name: name, EventBusName: bus }),
    DisableRule: jsonShaped({ Name: name, EventBusName: bus }),
    PutTargets: jsonShaped({
      Rule: name,
      EventBusName: bus,
      Targets: fc.array(
        jsonShaped({
          Id: targetId,
          Arn: arn,
          Input: str(['{}', '{"a":1}', '{', '"s"', '']),
          InputPath: str(['$', '$.detail', '$[0]', '$..x', 'x', '$.a.b[1]']),
        }),
        { maxLength: 11 },
      ),
    }),
    RemoveTargets: jsonShaped({
      Rule: name,
      EventBusName: bus,
      Ids: fc.array(targetId, { maxLength: 3 }),
      Force: fc.boolean(),
    }),
    ListTargetsByRule: jsonShaped({
      Rule: name,
      EventBusName: bus,
      NextToken: fc.string(),
      Limit: int([0, 1, 100, 101]),
    }),
    ListRuleNamesByTarget: jsonShaped({ TargetArn: arn }),
    PutEvents: jsonShaped({
      Entries: fc.array(jsonShaped({ Source: fc.string(), DetailType: fc.string(), Detail: fc.string() }), {
        maxLength: 2,
      }),
    }),
    TagResource: jsonShaped({
      ResourceARN: arn,
      Tags: fc.array(jsonShaped({ Key: fc.string(), Value: fc.string() }), { maxLength: 2 }),
    }),
  };
  const known = fc
    .constantFrom(...Object.keys(shapes))
    .chain((op) => fc.tuple(fc.constant(`AWSEvents.${op}`), body(shapes[op]!)));
  const odd = fc.tuple(
    fc.oneof(
      fc.constantFrom('AWSEvents.', 'AWSEvents.__proto__', 'AWSEvents.constructor', 'AWSEvents.Nope'),
      headerValue.map((s) => `AWSEvents.${s}`),
    ),
    body(anyJson),
  );
  return fc
    .tuple(
      fc.oneof({ weight: 6, arbitrary: known }, { weight: 1, arbitrary: odd }),
      request('events', {
        method: method(['POST']),
        path: fc.oneof(
          { weight: 6, arbitrary: fc.constant('/') },
          { weight: 1, arbitrary: templatePath([[null]], ['x']) },
        ),
        query: fc.oneof({ weight: 6, arbitrary: fc.constant('') }, { weight: 1, arbitrary: queryString([]) }),
        headers: headers({
          'content-type': fc.oneof(
            { weight: 4, arbitrary: fc.constant('application/x-amz-json-1.1') },
            { weight: 1, arbitrary: contentType },
          ),
        }),
        body: fc.constant(new Uint8Array()),
      }),
    )
    .map(([[target, b], r]) => ({ ...r, headers: { ...r.headers, 'x-amz-target': target }, body: b }));
}

// ---- admin ----

export function adminRequests(c: FuzzContext): Arb<FuzzRequest> {
  const P = null;
  const templates: (string | null)[][] = [
    ['kindling', 'v1', 'tenants'],
    ['kindling', 'v1', 'tenants', P],
    ['kindling', 'v1', 'tenants', P, 'keys'],
    ['kindling', 'v1', 'tenants', P, 'keys', P],
    ['kindling', 'v1', 'tenants', P, 'concurrency'],
    ['kindling', 'v1', 'pool'],
    ['kindling', 'v1', 'pool', P],
    ['kindling', 'v1', 'functions', P, 'logs'],
    ['kindling', 'v1', 'billing'],
    ['kindling', 'v1', 'doctor'],
    ['kindling', 'v1', P],
    ['kindling', 'health'],
    ['metrics'],
  ];
  const names = [c.rootTenant, 'fuzzer', 'fz-other', 'nosuch', 'nodejs20.x', 'python3.12', 'x', c.fn];
  const tenantName = str(['fuzzer', 'fz-new', '', 'a'.repeat(65), 'bad name', c.rootTenant]);
  // A pool target above 1 would start real sandboxes by the dozen: the fuzz sends 0, 1 or invalid ones.
  const target = fc.constantFrom<unknown>(null, 0, 1, -1, 1001, 2.5, '1', true, {});
  const shapes = fc.oneof(
    jsonShaped({ name: tenantName, admin: fc.boolean() }),
    jsonShaped({ limit: fc.constantFrom<unknown>(null, 0, 1, -1, 1_000_001, 1.5, '1', 2 ** 53) }),
    fc.record({ target }, { requiredKeys: [] }),
    anyJson.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v) || !('target' in v)),
  );
  return request('kindling', {
    method: method(['GET', 'POST', 'PUT', 'DELETE']),
    path: templatePath(templates, names),
    query: queryString(
      ['since', 'after', 'limit', 'tenant', 'function', 'from', 'to'],
      queryValue([
        '0',
        '1',
        '1000',
        '1001',
        '-1',
        'abc',
        '2020-01-01',
        '2020-13-45',
        '9999999999999999999999',
        '1e3',
        c.rootTenant,
        'fuzzer',
        c.fn,
      ]),
    ),
    headers: headers({ 'content-type': contentType }),
    body: body(shapes),
  });
}
