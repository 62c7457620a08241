// SQS's limit errors in SQS's words, the same over both protocols: the SDK (JSON) and raw signed query
// requests (form-encoded, XML errors) must answer each case with one code and one message.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
  TagQueueCommand,
  UntagQueueCommand,
} from '@aws-sdk/client-sqs';
import { signRequest } from '../../../src/api/sigv4.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';

let p: TestPlatform;
let sqs: SQSClient;
let url = '';

before(async () => {
  p = await startPlatform();
  sqs = new SQSClient(sdkConfig(p));
  url = (await sqs.send(new CreateQueueCommand({ QueueName: 'limits' }))).QueueUrl!;
});
after(async () => {
  sqs.destroy();
  await p.close();
});

async function sdkError(cmd: object): Promise<{ code: string; message: string }> {
  try {
    await sqs.send(cmd as never);
  } catch (e) {
    return { code: (e as Error).name, message: (e as Error).message };
  }
  return { code: 'no error', message: '' };
}

async function queryError(params: Record<string, string>): Promise<{ code: string; message: string }> {
  const u = new URL('/', p.endpoint);
  const body = new URLSearchParams({ Version: '2012-11-05', QueueUrl: url, ...params }).toString();
  const headers = signRequest({
    method: 'POST',
    url: u,
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body,
    accessKeyId: p.credentials.accessKeyId,
    secretAccessKey: p.credentials.secretAccessKey,
    region: p.region,
    service: 'sqs',
  });
  delete headers.host;
  const res = await fetch(u, { method: 'POST', headers, body });
  const xml = await res.text();
  if (res.status === 200) return { code: 'no error', message: '' };
  const tag = (t: string) => new RegExp(`<${t}>([^<]*)</${t}>`).exec(xml)?.[1] ?? '';
  return {
    code: tag('Code'),
    message: tag('Message')
      .replace(/&apos;/g, "'")
      .replace(/&quot;/g, '"'),
  };
}

async function handle(): Promise<string> {
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'm' }));
  for (;;) {
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 60 }));
    const h = r.Messages?.[0]?.ReceiptHandle;
    if (h) return h;
  }
}

test('ChangeMessageVisibility past 12 hours from the receive answers SQS’s total-limit error', async () => {
  const h = await handle();
  const beyond = {
    code: 'InvalidParameterValue',
    message:
      'Value 43201 for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds].',
  };
  assert.deepEqual(
    await sdkError(
      new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: h, VisibilityTimeout: 43_201 }),
    ),
    beyond,
  );
  assert.deepEqual(
    await queryError({ Action: 'ChangeMessageVisibility', ReceiptHandle: h, VisibilityTimeout: '43201' }),
    beyond,
  );
  const batch = await sqs.send(
    new ChangeMessageVisibilityBatchCommand({
      QueueUrl: url,
      Entries: [{ Id: 'a', ReceiptHandle: h, VisibilityTimeout: 43_201 }],
    }),
  );
  assert.equal(batch.Failed?.[0]?.Code, 'InvalidParameterValue');
  assert.equal(batch.Failed?.[0]?.Message, beyond.message);
  // Up to twelve hours from the receive is still allowed (less the time this test took since).
  await sqs.send(
    new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: h, VisibilityTimeout: 43_000 }),
  );
});

test('a message over 1 MiB answers the same over both protocols', async () => {
  const body = 'x'.repeat(1_048_577);
  const expected = {
    code: 'InvalidParameterValue',
    message: 'One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.',
  };
  assert.deepEqual(await sdkError(new SendMessageCommand({ QueueUrl: url, MessageBody: body })), expected);
  assert.deepEqual(await queryError({ Action: 'SendMessage', MessageBody: body }), expected);
});

test('TagQueue and UntagQueue refuse as SQS does: no tags, too many, over-long keys', async () => {
  const tags51 = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']));
  const tooMany = { code: 'InvalidParameterValue', message: 'Too many tags added for queue limits.' };
  assert.deepEqual(await sdkError(new TagQueueCommand({ QueueUrl: url, Tags: tags51 })), tooMany);
  assert.deepEqual(
    await queryError({
      Action: 'TagQueue',
      ...Object.fromEntries(
        Object.keys(tags51).flatMap((k, i) => [
          [`Tag.${i + 1}.Key`, k],
          [`Tag.${i + 1}.Value`, 'v'],
        ]),
      ),
    }),
    tooMany,
  );
  // 50 in total, counting the ones the queue has.
  await sqs.send(new TagQueueCommand({ QueueUrl: url, Tags: { a: '1' } }));
  const tags50 = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v']));
  assert.deepEqual(await sdkError(new TagQueueCommand({ QueueUrl: url, Tags: tags50 })), tooMany);
  assert.deepEqual(await sdkError(new TagQueueCommand({ QueueUrl: url, Tags: {} })), {
    code: 'MissingParameter',
    message: 'The request must contain the parameter Tags.',
  });
  assert.equal(
    (await sdkError(new TagQueueCommand({ QueueUrl: url, Tags: { ['k'.repeat(129)]: 'v' } }))).message,
    'Tag keys must be between 1 and 128 characters in length.',
  );
  assert.deepEqual(await sdkError(new UntagQueueCommand({ QueueUrl: url, TagKeys: [] })), {
    code: 'InvalidParameterValue',
    message: 'Tag keys must be between 1 and 128 characters in length.',
  });
  assert.equal(
    (await sdkError(new CreateQueueCommand({ QueueName: 'tagged-too-much', tags: tags51 }))).message,
    'Too many tags added for queue tagged-too-much.',
  );
});

test('RedrivePolicy refusals in SQS’s words, and unknown members refused, not dropped', async () => {
  const dlq = (await sqs.send(new CreateQueueCommand({ QueueName: 'limits-dlq' }))).QueueUrl!;
  const arn = `arn:aws:sqs:${p.region}:${dlq.split('/').at(-2)}:limits-dlq`;
  const redrive = async (policy: object) => {
    const v = JSON.stringify(policy);
    const e = await sdkError(
      new CreateQueueCommand({ QueueName: 'limits-src', Attributes: { RedrivePolicy: v } }),
    );
    assert.equal(e.code, 'InvalidParameterValue', v);
    return e.message.replace(`Value ${v} for parameter RedrivePolicy is invalid. Reason: `, '');
  };
  assert.equal(
    await redrive({ deadLetterTargetArn: arn }),
    'Redrive policy does not contain mandatory attribute: maxReceiveCount.',
  );
  assert.equal(
    await redrive({ deadLetterTargetArn: arn, maxReceiveCount: 1001 }),
    'Invalid value for maxReceiveCount: 1001, valid values are from 1 to 1000 both inclusive.',
  );
  assert.equal(
    await redrive({ deadLetterTargetArn: arn, maxReceiveCount: 5, redrivePermission: 'allowAll' }),
    'Only following attributes are supported: [maxReceiveCount, deadLetterTargetArn].',
  );
  assert.equal(
    await redrive({ deadLetterTargetArn: 'limits-dlq', maxReceiveCount: 5 }),
    'Dead-letter target ARN should be fully qualified ARN.',
  );
});

test('RedriveAllowPolicy is validated as SQS does and decides which queues may use the DLQ', async () => {
  const create = (name: string, attrs: Record<string, string>) =>
    sdkError(new CreateQueueCommand({ QueueName: name, Attributes: attrs }));
  const byQueue = JSON.stringify({ redrivePermission: 'byQueue' });
  assert.deepEqual(await create('allow-bad', { RedriveAllowPolicy: byQueue }), {
    code: 'InvalidParameterValue',
    message: `Value ${byQueue} for parameter RedriveAllowPolicy is invalid. Reason: Amazon SQS can't create the redrive allow policy. When you specify the byQueue permission type, you must also specify one or more sourceQueueArns values.`,
  });
  assert.equal(
    (await create('allow-bad', { RedriveAllowPolicy: '{"redrivePermission":"some"}' })).code,
    'InvalidParameterValue',
  );
  const account = url.split('/').at(-2);
  const arnOf = (name: string) => `arn:aws:sqs:${p.region}:${account}:${name}`;
  assert.equal(
    (
      await create('guarded-dlq', {
        RedriveAllowPolicy: JSON.stringify({
          redrivePermission: 'byQueue',
          sourceQueueArns: [arnOf('welcome')],
        }),
      })
    ).code,
    'no error',
  );
  const redrive = JSON.stringify({ deadLetterTargetArn: arnOf('guarded-dlq'), maxReceiveCount: 3 });
  assert.equal((await create('welcome', { RedrivePolicy: redrive })).code, 'no error');
  const refused = await create('stranger', { RedrivePolicy: redrive });
  assert.equal(refused.code, 'InvalidParameterValue');
  assert.match(
    refused.message,
    /RedriveAllowPolicy does not allow arn:aws:sqs:[^ ]+:stranger as a source queue/,
  );
});

test('a policy over 20 statements answers OverLimit', async () => {
  const arn = `arn:aws:sqs:${p.region}:${url.split('/').at(-2)}:limits`;
  const Statement = Array.from({ length: 21 }, () => ({
    Effect: 'Allow',
    Principal: '*',
    Action: 'sqs:SendMessage',
    Resource: arn,
  }));
  assert.deepEqual(
    await sdkError(
      new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { Policy: JSON.stringify({ Statement }) } }),
    ),
    { code: 'OverLimit', message: '21 statements were found in the submitted policy, max allowed is 20' },
  );
});

test('a second PurgeQueue within 60 seconds answers PurgeQueueInProgress over both protocols', async () => {
  const purged = (await sqs.send(new CreateQueueCommand({ QueueName: 'purged' }))).QueueUrl!;
  await sqs.send(new PurgeQueueCommand({ QueueUrl: purged }));
  const message = 'Only one PurgeQueue operation on purged is allowed every 60 seconds.';
  assert.deepEqual(await sdkError(new PurgeQueueCommand({ QueueUrl: purged })), {
    code: 'PurgeQueueInProgress',
    message,
  });
  assert.deepEqual(await queryError({ Action: 'PurgeQueue', QueueUrl: purged }), {
    code: 'AWS.SimpleQueueService.PurgeQueueInProgress',
    message,
  });
});
