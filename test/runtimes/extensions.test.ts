// Lambda extensions in a Node sandbox: an executable in /opt/extensions (from a layer) registers, is sent
// each INVOKE and, when its environment is retired, SHUTDOWN; it counts invocations and flushes the count
// to the embedded SQS through the platform relay. Extensions that never register or crash do not stop the
// invoke from answering.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  InvokeCommand,
  LambdaClient,
  PublishLayerVersionCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { zipOf } from '../api/lambda/zips.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../helpers/platform.js';

let p: TestPlatform;
let lambda: LambdaClient;
let sqs: SQSClient;

const COUNTER = `#!/usr/bin/env node
const base = 'http://' + process.env.AWS_LAMBDA_RUNTIME_API + '/2020-01-01/extension';
// Loaded during init: SHUTDOWN leaves only Lambda's 2 s.
const { SQSClient, SendMessageCommand } = require('@aws-sdk/client-sqs');
const client = new SQSClient({});
(async () => {
  const r = await fetch(base + '/register', {
    method: 'POST',
    headers: { 'Lambda-Extension-Name': 'counter' },
    body: JSON.stringify({ events: ['INVOKE', 'SHUTDOWN'] }),
  });
  const id = r.headers.get('lambda-extension-identifier');
  let n = 0;
  for (;;) {
    const ev = await (await fetch(base + '/event/next', { headers: { 'Lambda-Extension-Identifier': id } })).json();
    if (ev.eventType === 'INVOKE') n++;
    else {
      await client.send(new SendMessageCommand({ QueueUrl: process.env.COUNT_QUEUE, MessageBody: ev.eventType + ' ' + n }));
      process.exit(0);
    }
  }
})();
`;

const SLEEPER = '#!/bin/sh\nexec sleep 600\n';
const CRASHER = `#!/usr/bin/env node
const base = 'http://' + process.env.AWS_LAMBDA_RUNTIME_API + '/2020-01-01/extension';
(async () => {
  const r = await fetch(base + '/register', { method: 'POST', headers: { 'Lambda-Extension-Name': 'crasher' }, body: '{"events":["INVOKE"]}' });
  const id = r.headers.get('lambda-extension-identifier');
  await fetch(base + '/event/next', { headers: { 'Lambda-Extension-Identifier': id } });
  process.exit(3);
})();
`;

const STUCK = `#!/usr/bin/env node
const base = 'http://' + process.env.AWS_LAMBDA_RUNTIME_API + '/2020-01-01/extension';
(async () => {
  const r = await fetch(base + '/register', { method: 'POST', headers: { 'Lambda-Extension-Name': 'stuck' }, body: '{"events":["INVOKE"]}' });
  const id = r.headers.get('lambda-extension-identifier');
  await fetch(base + '/event/next', { headers: { 'Lambda-Extension-Identifier': id } });
  setInterval(() => {}, 1000);
})();
`;

/** Done with each invocation 1.2 s after its INVOKE (a flush, say): the environment's next one waits for it. */
const LINGERING = `#!/usr/bin/env node
const base = 'http://' + process.env.AWS_LAMBDA_RUNTIME_API + '/2020-01-01/extension';
(async () => {
  const r = await fetch(base + '/register', { method: 'POST', headers: { 'Lambda-Extension-Name': 'lingering' }, body: '{"events":["INVOKE"]}' });
  const id = r.headers.get('lambda-extension-identifier');
  for (;;) {
    await (await fetch(base + '/event/next', { headers: { 'Lambda-Extension-Identifier': id } })).text();
    await new Promise((done) => setTimeout(done, 1200));
  }
})();
`;

/**
 * Answers {got: event}, a second later when the event says `slow`. When it says `forge`, it writes the
 * runtime's 'start' frame for itself with a deadline an hour away onto the runtime's channel, then hangs.
 */
const HANDLER = `exports.handler = async (e, context) => {
  if (e.forge) {
    const h = Buffer.from(JSON.stringify({ t: 'start', id: context.awsRequestId, deadline: Date.now() + 3600000 }));
    const prefix = Buffer.alloc(8);
    prefix.writeUInt32LE(h.length, 0);
    require('node:fs').writeSync(3, Buffer.concat([prefix, h]));
    return new Promise(() => {});
  }
  if (e.slow) { delete e.slow; await new Promise((r) => setTimeout(r, 1000)); }
  return { got: e };
};`;

async function withExtension(
  fn: string,
  file: string,
  source: string,
  env: Record<string, string> = {},
  timeout = 3,
) {
  const layer = await lambda.send(
    new PublishLayerVersionCommand({
      LayerName: `ext-${file}`,
      Content: { ZipFile: await zipOf([{ name: `extensions/${file}`, data: source, mode: 0o100755 }]) },
    }),
  );
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: fn,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::000000000000:role/test',
      Code: { ZipFile: await zipOf([{ name: 'index.js', data: HANDLER }]) },
      Layers: [layer.LayerVersionArn!],
      Environment: { Variables: env },
      Timeout: timeout,
    }),
  );
}

async function invoke(fn: string, n: number, slow = false) {
  const event = slow ? { n, slow } : { n };
  const out = await lambda.send(
    new InvokeCommand({ FunctionName: fn, Payload: Buffer.from(JSON.stringify(event)), LogType: 'Tail' }),
  );
  const text = Buffer.from(out.Payload ?? []).toString();
  assert.equal(
    out.FunctionError,
    undefined,
    `${text}\n${Buffer.from(out.LogResult ?? '', 'base64').toString()}`,
  );
  assert.deepEqual(JSON.parse(text), { got: { n } });
  return Buffer.from(out.LogResult ?? '', 'base64').toString();
}

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
  sqs = new SQSClient(sdkConfig(p));
});

after(async () => {
  lambda?.destroy();
  sqs?.destroy();
  await p?.close();
});

test('an extension is sent every INVOKE and, when the environment is retired, SHUTDOWN', async () => {
  const q = await sqs.send(new CreateQueueCommand({ QueueName: 'ext-counts' }));
  await withExtension('counted', 'counter', COUNTER, { COUNT_QUEUE: q.QueueUrl! });
  for (let i = 0; i < 3; i++) await invoke('counted', i);
  // A configuration change retires the environment: its extension gets SHUTDOWN and flushes.
  await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'counted', Description: 'next' }));
  let total = 0;
  const seen: string[] = [];
  for (let i = 0; i < 10 && total < 3; i++) {
    const got = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: q.QueueUrl!, WaitTimeSeconds: 2, MaxNumberOfMessages: 10 }),
    );
    for (const m of got.Messages ?? []) {
      seen.push(m.Body!);
      total += Number(/^SHUTDOWN (\d+)$/.exec(m.Body!)?.[1] ?? Number.NaN);
    }
  }
  assert.equal(total, 3, `flushed: ${seen.join(', ')}`);
});

test('an extension that never registers does not stop the invoke; it is reported in the log', async () => {
  await withExtension('sleepy', 'sleeper', SLEEPER);
  const log = await invoke('sleepy', 1);
  assert.match(log, /EXTENSION\tName: sleeper\tState: Failed\tReason: did not register/);
  // The environment was retired after that answer: the next invoke is a new one that answers too.
  await invoke('sleepy', 2);
});

test('an extension that crashes does not stop the invoke', async () => {
  await withExtension('crashy', 'crasher', CRASHER);
  // It dies on its first INVOKE, during or just after that invocation: reported in one of the two logs.
  const log = (await invoke('crashy', 1)) + (await invoke('crashy', 2));
  assert.match(log, /EXTENSION\tName: crasher\tState: Failed\tReason: exited \(3\)/);
});

test('an extension that never calls /event/next again does not stop the invokes; its environment is retired', async () => {
  await withExtension('stuck-fn', 'stuck', STUCK);
  await invoke('stuck-fn', 1);
  // The next invocation waits for it no longer than the last one's deadline, answers, and is reported.
  const log = await invoke('stuck-fn', 2);
  assert.match(log, /EXTENSION\tName: stuck\tState: Failed\tReason: did not call \/event\/next/);
  await invoke('stuck-fn', 3);
});

test("the time an extension takes after an invocation is not taken from the next one's timeout", async () => {
  // Timeout 2 s. The second invocation arrives at once and waits ~1.2 s for the extension to be done with
  // the first; then its handler takes 1 s. Counted from its arrival that would be past 2 s (timed out);
  // its timer starts when it does, as on Lambda, where the first invocation's phase lasts until its
  // extensions are done.
  await withExtension('lingering-fn', 'lingering', LINGERING, {}, 2);
  await invoke('lingering-fn', 1);
  const log = await invoke('lingering-fn', 2, true);
  // It answered (invoke() checks): not timed out. Its REPORT still counts the wait.
  assert.match(log, /REPORT RequestId: \S+\tDuration: /);
  assert.doesNotMatch(log, /EXTENSION\tName: lingering\tState: Failed/);
});

test("a function forging the runtime's 'start' frame cannot move its own deadline", async () => {
  // Its invocation is held (the extension is busy with the last one), so the host heeds a 'start' frame.
  // The forged one (written straight to the channel, it may even arrive before the runtime's own) cannot
  // take the deadline past the hold's bound, and the runtime's own brings it back.
  await withExtension('forging-fn', 'lingering', LINGERING, {}, 2);
  await invoke('forging-fn', 1);
  const out = await lambda.send(
    new InvokeCommand({
      FunctionName: 'forging-fn',
      Payload: Buffer.from('{"forge":true}'),
      LogType: 'Tail',
    }),
  );
  assert.equal(out.FunctionError, 'Unhandled');
  assert.match(Buffer.from(out.Payload ?? []).toString(), /Task timed out after 2\.00 seconds/);
});
