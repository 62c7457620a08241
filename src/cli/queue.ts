// `kindling queue ...`: the caller's embedded SQS-compatible queues (create, ls, rm, send, receive, purge,
// attributes), through the ordinary SQS SDK client so it behaves exactly as other SQS clients see it.
import fs from 'node:fs';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  type Message,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  type KindlingClient,
  parseCommand,
  parseIntFlag,
  parseKeyValues,
  sdk,
  subcommand,
  withClient,
} from './client.js';
import { CliError, emit, printFields, printJson, printTable, USAGE } from './output.js';

const SUBCOMMANDS = {
  create:
    'kindling queue create <name> [--visibility-timeout S] [--delay S] [--dlq NAME --max-receive N] [--attr K=V ...]',
  ls: 'kindling queue ls [--prefix P]',
  rm: 'kindling queue rm <name|url>',
  send: 'kindling queue send <name|url> <body|@file> [--delay S] [--attr K=V ...]',
  receive: 'kindling queue receive <name|url> [--max N] [--wait S] [--visibility S] [--delete]',
  purge: 'kindling queue purge <name|url>',
  attributes: 'kindling queue attributes <name|url> [--set K=V ...]',
} as const;

const USAGE_TEXT = `kindling queue <command> ...\n\n${Object.values(SUBCOMMANDS)
  .map((u) => `  ${u}`)
  .join('\n')}`;

/** A queue URL as given, or the URL of the named queue. */
async function resolveUrl(k: KindlingClient, ref: string): Promise<string> {
  if (/^https?:\/\//.test(ref)) return ref;
  return (await sdk(k.client(SQSClient).send(new GetQueueUrlCommand({ QueueName: ref })), k)).QueueUrl!;
}

function readBody(arg: string): string {
  if (!arg.startsWith('@')) return arg;
  const file = arg.slice(1);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(
      `cannot read message file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      USAGE,
    );
  }
}

const queueName = (url: string) => url.split('/').pop() ?? url;

export async function run(args: string[]): Promise<void> {
  const picked = subcommand(args, SUBCOMMANDS, USAGE_TEXT, 'queue');
  if (picked === undefined) return;
  const { sub, usage, rest } = picked;
  switch (sub) {
    case 'create': {
      const { values, positionals, common } = parseCommand(rest, {
        usage,
        minPositionals: 1,
        maxPositionals: 1,
        options: {
          'visibility-timeout': { type: 'string' },
          delay: { type: 'string' },
          dlq: { type: 'string' },
          'max-receive': { type: 'string' },
          attr: { type: 'string', multiple: true },
        },
      });
      const attrs = parseKeyValues(values.attr, '--attr');
      const vt = parseIntFlag(values['visibility-timeout'], '--visibility-timeout', 0, 43_200);
      if (vt !== undefined) attrs.VisibilityTimeout = String(vt);
      const delay = parseIntFlag(values.delay, '--delay', 0, 900);
      if (delay !== undefined) attrs.DelaySeconds = String(delay);
      const maxReceive = parseIntFlag(values['max-receive'], '--max-receive', 1, 1000);
      if ((values.dlq === undefined) !== (maxReceive === undefined)) {
        throw new CliError('--dlq and --max-receive go together', USAGE);
      }
      await withClient(common, async (k) => {
        if (values.dlq !== undefined) {
          const dlqUrl = await resolveUrl(k, values.dlq);
          const arn = (
            await sdk(
              k
                .client(SQSClient)
                .send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] })),
              k,
            )
          ).Attributes?.QueueArn;
          attrs.RedrivePolicy = JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: maxReceive });
        }
        const out = await sdk(
          k.client(SQSClient).send(new CreateQueueCommand({ QueueName: positionals[0]!, Attributes: attrs })),
          k,
        );
        emit(common.json, { QueueUrl: out.QueueUrl }, () => process.stdout.write(`${out.QueueUrl}\n`));
      });
      return;
    }
    case 'ls': {
      const { values, common } = parseCommand(rest, {
        usage,
        maxPositionals: 0,
        options: { prefix: { type: 'string' } },
      });
      await withClient(common, async (k) => {
        const urls: string[] = [];
        let token: string | undefined;
        do {
          const page = await sdk(
            k.client(SQSClient).send(
              new ListQueuesCommand({
                MaxResults: 1000,
                ...(values.prefix && { QueueNamePrefix: values.prefix }),
                ...(token && { NextToken: token }),
              }),
            ),
            k,
          );
          urls.push(...(page.QueueUrls ?? []));
          token = page.NextToken;
        } while (token);
        const rows: { name: string; url: string; visible: number; inFlight: number; delayed: number }[] = [];
        for (const url of urls) {
          const a =
            (
              await sdk(
                k.client(SQSClient).send(
                  new GetQueueAttributesCommand({
                    QueueUrl: url,
                    AttributeNames: [
                      'ApproximateNumberOfMessages',
                      'ApproximateNumberOfMessagesNotVisible',
                      'ApproximateNumberOfMessagesDelayed',
                    ],
                  }),
                ),
                k,
              )
            ).Attributes ?? {};
          rows.push({
            name: queueName(url),
            url,
            visible: Number(a.ApproximateNumberOfMessages ?? 0),
            inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
            delayed: Number(a.ApproximateNumberOfMessagesDelayed ?? 0),
          });
        }
        emit(common.json, rows, () =>
          printTable(
            rows,
            [
              { header: 'NAME', value: (r) => r.name },
              { header: 'MESSAGES', value: (r) => r.visible, right: true },
              { header: 'IN FLIGHT', value: (r) => r.inFlight, right: true },
              { header: 'DELAYED', value: (r) => r.delayed, right: true },
              { header: 'URL', value: (r) => r.url },
            ],
            '(no queues)',
          ),
        );
      });
      return;
    }
    case 'rm':
    case 'purge': {
      const { positionals, common } = parseCommand(rest, { usage, minPositionals: 1, maxPositionals: 1 });
      await withClient(common, async (k) => {
        const url = await resolveUrl(k, positionals[0]!);
        if (sub === 'rm') await sdk(k.client(SQSClient).send(new DeleteQueueCommand({ QueueUrl: url })), k);
        else await sdk(k.client(SQSClient).send(new PurgeQueueCommand({ QueueUrl: url })), k);
        const what = sub === 'rm' ? 'deleted' : 'purged';
        emit(common.json, { QueueUrl: url, [what]: true }, () =>
          process.stdout.write(`${what} ${queueName(url)}\n`),
        );
      });
      return;
    }
    case 'send': {
      const { values, positionals, common } = parseCommand(rest, {
        usage,
        minPositionals: 2,
        maxPositionals: 2,
        options: { delay: { type: 'string' }, attr: { type: 'string', multiple: true } },
      });
      const body = readBody(positionals[1]!);
      const delay = parseIntFlag(values.delay, '--delay', 0, 900);
      const attrs = Object.fromEntries(
        Object.entries(parseKeyValues(values.attr, '--attr')).map(([name, v]) => [
          name,
          { DataType: 'String', StringValue: v },
        ]),
      );
      await withClient(common, async (k) => {
        const url = await resolveUrl(k, positionals[0]!);
        const out = await sdk(
          k.client(SQSClient).send(
            new SendMessageCommand({
              QueueUrl: url,
              MessageBody: body,
              ...(delay !== undefined && { DelaySeconds: delay }),
              ...(Object.keys(attrs).length > 0 && { MessageAttributes: attrs }),
            }),
          ),
          k,
        );
        emit(common.json, { MessageId: out.MessageId, MD5OfMessageBody: out.MD5OfMessageBody }, () =>
          process.stdout.write(`${out.MessageId}\n`),
        );
      });
      return;
    }
    case 'receive': {
      const { values, positionals, common } = parseCommand(rest, {
        usage,
        minPositionals: 1,
        maxPositionals: 1,
        options: {
          max: { type: 'string' },
          wait: { type: 'string' },
          visibility: { type: 'string' },
          delete: { type: 'boolean' },
        },
      });
      const max = parseIntFlag(values.max, '--max', 1, 10) ?? 1;
      const wait = parseIntFlag(values.wait, '--wait', 0, 20);
      const visibility = parseIntFlag(values.visibility, '--visibility', 0, 43_200);
      await withClient(common, async (k) => {
        const url = await resolveUrl(k, positionals[0]!);
        const out = await sdk(
          k.client(SQSClient).send(
            new ReceiveMessageCommand({
              QueueUrl: url,
              MaxNumberOfMessages: max,
              MessageSystemAttributeNames: ['All'],
              MessageAttributeNames: ['All'],
              ...(wait !== undefined && { WaitTimeSeconds: wait }),
              ...(visibility !== undefined && { VisibilityTimeout: visibility }),
            }),
          ),
          k,
        );
        const messages: Message[] = out.Messages ?? [];
        if (values.delete && messages.length > 0) {
          await sdk(
            k.client(SQSClient).send(
              new DeleteMessageBatchCommand({
                QueueUrl: url,
                Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
              }),
            ),
            k,
          );
        }
        if (common.json) printJson(messages);
        else if (messages.length === 0) process.stdout.write('(no messages)\n');
        else {
          for (const m of messages) {
            printFields([
              ['MessageId', m.MessageId],
              ['ReceiveCount', m.Attributes?.ApproximateReceiveCount],
              ...Object.entries(m.MessageAttributes ?? {}).map(([name, a]): [string, string | undefined] => [
                `attr ${name}`,
                a.StringValue ?? (a.BinaryValue ? '<binary>' : undefined),
              ]),
              ['Body', m.Body],
              ...(values.delete
                ? []
                : ([['ReceiptHandle', m.ReceiptHandle]] as [string, string | undefined][])),
            ]);
            process.stdout.write('\n');
          }
        }
      });
      return;
    }
    case 'attributes': {
      const { values, positionals, common } = parseCommand(rest, {
        usage,
        minPositionals: 1,
        maxPositionals: 1,
        options: { set: { type: 'string', multiple: true } },
      });
      const set = parseKeyValues(values.set, '--set');
      await withClient(common, async (k) => {
        const url = await resolveUrl(k, positionals[0]!);
        if (Object.keys(set).length > 0)
          await sdk(
            k.client(SQSClient).send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: set })),
            k,
          );
        const a =
          (
            await sdk(
              k
                .client(SQSClient)
                .send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] })),
              k,
            )
          ).Attributes ?? {};
        emit(common.json, a, () => printFields(Object.entries(a).sort(([x], [y]) => x.localeCompare(y))));
      });
      return;
    }
  }
}
