// Response streaming end to end: awslambda.streamifyResponse handlers in real sandboxes, read through the
// unmodified SDK's InvokeWithResponseStreamCommand (AWS event-stream framing) and through function URLs with
// InvokeMode RESPONSE_STREAM (plain fetch, chunked). "Chunks arrive as written" is shown causally: the handler
// writes its first chunk, then waits for a message the test sends only after it has read that chunk.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateFunctionUrlConfigCommand,
  InvokeCommand,
  InvokeWithResponseStreamCommand,
  type InvokeWithResponseStreamCommandOutput,
  LambdaClient,
} from '@aws-sdk/client-lambda';
import {
  CreateQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { KindlingClient } from '../../../src/cli/client.js';
import { createFunction } from '../../helpers/functions.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';

let p: TestPlatform;
let lambda: LambdaClient;
let sqs: SQSClient;
let bufferedArn: string;

/** Writes `first`, waits for a message on `event.queue`, writes `second` (the causal test's handler). */
const WAITS_FOR_SIGNAL = `
import { SQSClient, GetQueueUrlCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
const sqs = new SQSClient({});
export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  const stream = event.http
    ? awslambda.HttpResponseStream.from(responseStream, {
        statusCode: 201,
        headers: { 'content-type': 'text/plain', 'x-made-by': 'stream' },
        cookies: ['a=1'],
      })
    : responseStream;
  stream.write('first;');
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: event.queue }));
  for (let i = 0; i < 10; i++) {
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 2 }));
    if (r.Messages?.length) break;
  }
  stream.write('second');
  stream.end();
});`;

/** The bad endings, chosen by the event. */
const BAD = `
export const handler = awslambda.streamifyResponse(async (event, stream) => {
  stream.setContentType('text/plain');
  stream.write('partial;');
  if (event.mode === 'throw') throw new Error('broke after writing');
  if (event.mode === 'crash') process.exit(3);
  if (event.mode === 'hang') await new Promise(() => {});
  if (event.mode === 'flood') {
    const mb = Buffer.alloc(1024 * 1024, 97);
    for (let i = 0; i < 40; i++) if (!stream.write(mb)) await new Promise((r) => stream.once('drain', r));
  }
  stream.end();
});`;

const BUFFERED = `export const handler = async (event) => ({ statusCode: 200, body: 'plain ' + (event.rawPath ?? 'answer') });`;

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
  sqs = new SQSClient(sdkConfig(p));
  await createFunction(lambda, 'waits', WAITS_FOR_SIGNAL, { Timeout: 30 });
  await createFunction(lambda, 'bad', BAD, { Timeout: 3 });
  // Time enough to write its 40 MB on a busy machine: it must end on the size limit, not the timeout.
  await createFunction(lambda, 'flood', BAD, { Timeout: 60 });
  bufferedArn = await createFunction(lambda, 'buffered', BUFFERED);
});

after(async () => {
  lambda.destroy();
  sqs.destroy();
  await p.close();
});

type Event =
  NonNullable<InvokeWithResponseStreamCommandOutput['EventStream']> extends AsyncIterable<infer E>
    ? E
    : never;

async function streamInvoke(name: string, event: unknown, extra: Record<string, unknown> = {}) {
  return lambda.send(
    new InvokeWithResponseStreamCommand({
      FunctionName: name,
      Payload: Buffer.from(JSON.stringify(event)),
      ...extra,
    }),
  );
}

/** Every event of a stream: payload chunks as text, and the InvokeComplete. */
async function readAll(out: InvokeWithResponseStreamCommandOutput) {
  const chunks: string[] = [];
  let complete: NonNullable<Event['InvokeComplete']> | undefined;
  for await (const e of out.EventStream!) {
    if (e.PayloadChunk?.Payload) chunks.push(Buffer.from(e.PayloadChunk.Payload).toString('utf8'));
    if (e.InvokeComplete) complete = e.InvokeComplete;
  }
  return { chunks, complete };
}

async function queue(name: string): Promise<string> {
  return (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
}

test('InvokeWithResponseStream: the first chunk reaches the SDK before the handler writes the second', async () => {
  const q = await queue('signal-sdk');
  const out = await streamInvoke('waits', { queue: 'signal-sdk' });
  assert.equal(out.StatusCode, 200);
  assert.equal(out.ExecutedVersion, '$LATEST');
  assert.equal(out.ResponseStreamContentType, 'application/octet-stream');
  const it = out.EventStream![Symbol.asyncIterator]();
  const first = await it.next();
  assert.equal(Buffer.from(first.value!.PayloadChunk!.Payload!).toString(), 'first;');
  // Only now may the handler go on: had it buffered, the first chunk would never have arrived alone.
  await sqs.send(new SendMessageCommand({ QueueUrl: q, MessageBody: 'go' }));
  const rest: string[] = [];
  let complete: Event['InvokeComplete'];
  for (let r = await it.next(); !r.done; r = await it.next()) {
    if (r.value.PayloadChunk?.Payload) rest.push(Buffer.from(r.value.PayloadChunk.Payload).toString());
    if (r.value.InvokeComplete) complete = r.value.InvokeComplete;
  }
  assert.deepEqual(rest, ['second']);
  assert.ok(complete, 'InvokeComplete ends the stream');
  assert.equal(complete.ErrorCode, undefined);
});

test('a function that does not stream answers InvokeWithResponseStream with its payload as one chunk; LogType Tail gives its log', async () => {
  const { chunks, complete } = await readAll(await streamInvoke('buffered', {}, { LogType: 'Tail' }));
  assert.deepEqual(JSON.parse(chunks.join('')), { statusCode: 200, body: 'plain answer' });
  assert.match(Buffer.from(complete!.LogResult!, 'base64').toString(), /REPORT RequestId/);
});

test('a streaming handler invoked with plain Invoke answers what it wrote, buffered', async () => {
  const out = await lambda.send(
    new InvokeCommand({ FunctionName: 'bad', Payload: Buffer.from(JSON.stringify({ mode: 'ok' })) }),
  );
  assert.equal(out.FunctionError, undefined);
  assert.equal(Buffer.from(out.Payload!).toString(), 'partial;');
});

test('a handler that throws after writing: the chunk arrives, then InvokeComplete names the error', async () => {
  const { chunks, complete } = await readAll(await streamInvoke('bad', { mode: 'throw' }));
  assert.deepEqual(chunks, ['partial;']);
  assert.equal(complete?.ErrorCode, 'Error');
  assert.equal(complete?.ErrorDetails, 'broke after writing');
});

test('a handler that times out mid-stream ends with Sandbox.Timedout, and the next call runs', async () => {
  const { chunks, complete } = await readAll(await streamInvoke('bad', { mode: 'hang' }));
  assert.deepEqual(chunks, ['partial;']);
  assert.equal(complete?.ErrorCode, 'Sandbox.Timedout');
  assert.match(complete?.ErrorDetails ?? '', /Task timed out after 3\.00 seconds/);
  const again = await readAll(await streamInvoke('bad', { mode: 'ok' }));
  assert.deepEqual(again.chunks, ['partial;']);
  assert.equal(again.complete?.ErrorCode, undefined);
});

test('a process that exits mid-stream ends with Runtime.ExitError', async () => {
  const { chunks, complete } = await readAll(await streamInvoke('bad', { mode: 'crash' }));
  assert.deepEqual(chunks, ['partial;']);
  assert.equal(complete?.ErrorCode, 'Runtime.ExitError');
  assert.match(complete?.ErrorDetails ?? '', /exit status 3/);
});

test('writing past the 20 MB streamed-response limit ends with Function.ResponseSizeTooLarge', async () => {
  const { chunks, complete } = await readAll(await streamInvoke('flood', { mode: 'flood' }));
  const got = chunks.reduce((n, c) => n + c.length, 0);
  assert.ok(got <= 20 * 1024 * 1024, `at most the limit reached the client (${got})`);
  assert.equal(complete?.ErrorCode, 'Function.ResponseSizeTooLarge');
  // Plain Invoke of the same handler stops at the 6 MB synchronous limit.
  const plain = await lambda.send(
    new InvokeCommand({ FunctionName: 'flood', Payload: Buffer.from(JSON.stringify({ mode: 'flood' })) }),
  );
  assert.equal(plain.FunctionError, 'Unhandled');
  assert.match(Buffer.from(plain.Payload!).toString(), /Function.ResponseSizeTooLarge/);
});

test('InvokeWithResponseStream refuses unknown query fields and headers by name, and bad enum values', async () => {
  const withExtra = (
    add: (req: { headers: Record<string, string>; query: Record<string, string> }) => void,
  ) => {
    const c = new LambdaClient(sdkConfig(p));
    c.middlewareStack.add(
      (next) => async (args) => {
        add(args.request as { headers: Record<string, string>; query: Record<string, string> });
        return next(args);
      },
      { step: 'build' },
    );
    return c;
  };
  const errOf = async (c: LambdaClient, input: Record<string, unknown> = {}) => {
    try {
      await c.send(new InvokeWithResponseStreamCommand({ FunctionName: 'buffered', ...input }));
    } catch (e) {
      return `${(e as Error).name}: ${(e as Error).message}`;
    }
    return 'no error';
  };
  assert.match(
    await errOf(withExtra((r) => Object.assign(r.query, { Bogus: '1' }))),
    /^InvalidParameterValueException: Bogus is not supported/,
  );
  assert.match(
    await errOf(withExtra((r) => Object.assign(r.headers, { 'x-amz-bogus': '1' }))),
    /^InvalidParameterValueException: Header x-amz-bogus is not supported/,
  );
  assert.match(await errOf(lambda, { TenantId: 'blue' }), /^InvalidParameterValueException: TenantId/);
  assert.match(await errOf(lambda, { InvocationType: 'Event' }), /^ValidationException: .*invocationType/);
  assert.match(await errOf(lambda, { LogType: 'All' }), /^ValidationException: .*logType/);
  assert.match(await errOf(lambda, { Payload: Buffer.from('{not json') }), /^InvalidRequestContentException/);
  assert.match(await errOf(lambda, { FunctionName: 'missing' }), /^ResourceNotFoundException/);
});

test("another tenant's function answers InvokeWithResponseStream and its URL exactly like a missing one", async () => {
  const admin = new KindlingClient({
    endpoint: p.endpoint,
    region: p.region,
    credentials: p.credentials,
    dataDir: p.platform.config.dataDir,
  });
  const made = await admin.signedFetch('POST', '/kindling/v1/tenants', { name: 'other' });
  assert.equal(made.status, 201);
  const body = (await made.json()) as { accessKey: { accessKeyId: string; secretAccessKey: string } };
  const other = new LambdaClient(sdkConfig({ endpoint: p.endpoint, credentials: body.accessKey }));
  const errOf = async (name: string) => {
    try {
      await other.send(new InvokeWithResponseStreamCommand({ FunctionName: name }));
    } catch (e) {
      return (e as Error).name;
    }
    return 'no error';
  };
  assert.equal(await errOf('buffered'), 'ResourceNotFoundException');
  assert.equal(await errOf('never-made'), 'ResourceNotFoundException');
  assert.equal(await errOf(bufferedArn), 'AccessDeniedException');
  assert.equal(await errOf(bufferedArn.replace(':buffered', ':never-made')), 'AccessDeniedException');
  // Its URL is no way in either: the URL id is the only name, and a request to it runs as the owner.
  other.destroy();
});

// ---- function URLs with InvokeMode RESPONSE_STREAM ----

async function streamUrl(name: string): Promise<string> {
  const out = await lambda.send(
    new CreateFunctionUrlConfigCommand({
      FunctionName: name,
      AuthType: 'NONE',
      InvokeMode: 'RESPONSE_STREAM',
    }),
  );
  assert.equal(out.InvokeMode, 'RESPONSE_STREAM');
  return out.FunctionUrl!;
}

test('a RESPONSE_STREAM URL streams: the prelude sets status, headers and cookies; the first chunk arrives before the second is written', async () => {
  const q = await queue('signal-url');
  // A URL's event is payload 2.0: this copy of the handler reads its settings from the query string.
  await createFunction(
    lambda,
    'waits-url',
    WAITS_FOR_SIGNAL.replace(
      'async (event, responseStream) => {',
      'async (raw, responseStream) => { const event = { http: true, queue: raw.queryStringParameters.queue };',
    ),
    { Timeout: 30 },
  );
  const res = await fetch(`${await streamUrl('waits-url')}?queue=signal-url`);
  assert.equal(res.status, 201);
  assert.equal(res.headers.get('content-type'), 'text/plain');
  assert.equal(res.headers.get('x-made-by'), 'stream');
  assert.equal(res.headers.get('set-cookie'), 'a=1');
  assert.equal(res.headers.get('transfer-encoding'), 'chunked');
  const reader = res.body!.getReader();
  let seen = '';
  while (!seen.includes('first;')) {
    const r = await reader.read();
    assert.ok(!r.done, 'the first chunk arrives while the handler waits');
    seen += Buffer.from(r.value).toString();
  }
  assert.equal(seen, 'first;');
  await sqs.send(new SendMessageCommand({ QueueUrl: q, MessageBody: 'go' }));
  for (let r = await reader.read(); !r.done; r = await reader.read()) seen += Buffer.from(r.value).toString();
  assert.equal(seen, 'first;second');
});

test('a RESPONSE_STREAM URL of a function that does not stream answers buffered, as Lambda does', async () => {
  const res = await fetch(`${await streamUrl('buffered')}some/path`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'plain /some/path');
});

test('a streamed URL answer whose function fails mid-stream is cut short; one that fails first is a 502', async () => {
  await createFunction(
    lambda,
    'bad-url',
    BAD.replace(
      'async (event, stream) => {',
      'async (raw, stream) => { const event = { mode: raw.queryStringParameters?.mode };',
    ),
    { Timeout: 3 },
  );
  const url = await streamUrl('bad-url');
  const ok = await fetch(`${url}?mode=ok`);
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('content-type'), 'text/plain');
  assert.equal(await ok.text(), 'partial;');
  for (const mode of ['throw', 'hang', 'crash']) {
    const res = await fetch(`${url}?mode=${mode}`);
    assert.equal(res.status, 200, mode);
    await assert.rejects(res.text(), `${mode}: the body is cut off, never ended as if complete`);
  }
  await createFunction(
    lambda,
    'throws-first',
    'export const handler = awslambda.streamifyResponse(async () => { throw new Error("no"); });',
  );
  const first = await fetch(await streamUrl('throws-first'));
  assert.equal(first.status, 502);
  assert.deepEqual(await first.json(), { Message: 'Internal Server Error' });
});

test('a content type that would split the HTTP head is refused to the handler, never sent as a header', async () => {
  await createFunction(
    lambda,
    'split-head',
    `export const handler = awslambda.streamifyResponse(async (event, stream) => {
  try { stream.setContentType('text/plain\\r\\nX-Evil: 1'); } catch (e) { stream.write(e.name + ': refused'); }
  stream.end();
});`,
  );
  const { chunks, complete } = await readAll(await streamInvoke('split-head', {}));
  assert.deepEqual(chunks, ['TypeError: refused']);
  assert.equal(complete?.ErrorCode, undefined);
  const res = await fetch(await streamUrl('split-head'));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-evil'), null);
  assert.equal(await res.text(), 'TypeError: refused');
});

test('backpressure: while the client reads nothing, the handler cannot finish writing; once it reads, it can', async () => {
  const q = await queue('written');
  await createFunction(
    lambda,
    'writer',
    `import { SQSClient, GetQueueUrlCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
const sqs = new SQSClient({});
export const handler = awslambda.streamifyResponse(async (raw, stream) => {
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: 'written' }));
  const mb = Buffer.alloc(1024 * 1024, 98);
  for (let i = 0; i < 19; i++) if (!stream.write(mb)) await new Promise((r) => stream.once('drain', r));
  await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'all written' }));
  stream.end();
});`,
    { Timeout: 60 },
  );
  const res = await fetch(await streamUrl('writer'));
  assert.equal(res.status, 200);
  // 19 MB is more than the channel, the server and the connection buffer: unread, the writer waits. (Were
  // the bytes buffered instead, it would be done within moments.)
  const early = await sqs.send(new ReceiveMessageCommand({ QueueUrl: q, WaitTimeSeconds: 3 }));
  assert.equal(early.Messages, undefined, 'the handler finished writing while nobody read');
  assert.equal((await res.arrayBuffer()).byteLength, 19 * 1024 * 1024);
  const late = await sqs.send(new ReceiveMessageCommand({ QueueUrl: q, WaitTimeSeconds: 10 }));
  assert.equal(late.Messages?.[0]?.Body, 'all written');
});
