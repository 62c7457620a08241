// `kindling trigger ...`: event source mappings (queue or Redis stream → function, or an RPC queue),
// through Lambda's ordinary mapping API so it behaves as other Lambda clients see it.
import {
  CreateEventSourceMappingCommand,
  type CreateEventSourceMappingCommandInput,
  DeleteEventSourceMappingCommand,
  type EventSourceMappingConfiguration,
  LambdaClient,
  ListEventSourceMappingsCommand,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type KindlingClient, parseCommand, parseIntFlag, sdk, subcommand, withClient } from './client.js';
import { CliError, emit, printFields, printTable, USAGE } from './output.js';

const SUBCOMMANDS = {
  create:
    'kindling trigger create <function> (--queue NAME|URL|ARN | --redis URL --stream NAME) [--batch-size N] [--window S] [--report-failures] [--max-concurrency N] [--max-retries N] [--visibility S] [--disabled]\n' +
    '  kindling trigger create --rpc (--queue NAME|URL|ARN | --redis URL --stream NAME)   (each message names its function)',
  ls: 'kindling trigger ls [--function NAME] [--queue NAME|URL|ARN]',
  rm: 'kindling trigger rm <uuid>',
  enable: 'kindling trigger enable <uuid>',
  disable: 'kindling trigger disable <uuid>',
} as const;

const USAGE_TEXT = `kindling trigger <command> ...\n\n${Object.values(SUBCOMMANDS)
  .map((u) => `  ${u}`)
  .join('\n')}`;

/** A queue ARN as given, or the ARN of the named (or URL-addressed) queue. */
async function queueArn(k: KindlingClient, ref: string): Promise<string> {
  if (ref.startsWith('arn:')) return ref;
  const url = /^https?:\/\//.test(ref)
    ? ref
    : (await sdk(k.client(SQSClient).send(new GetQueueUrlCommand({ QueueName: ref })), k)).QueueUrl!;
  const a = await sdk(
    k.client(SQSClient).send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] })),
    k,
  );
  const arn = a.Attributes?.QueueArn;
  if (!arn) throw new CliError(`queue ${ref} has no ARN`);
  return arn;
}

const source = (m: EventSourceMappingConfiguration): string =>
  m.EventSourceArn ??
  (m.Topics?.[0] !== undefined
    ? `${(m.SelfManagedEventSource?.Endpoints as Record<string, string[]> | undefined)?.REDIS_URLS?.[0] ?? 'redis'} ${m.Topics[0]}`
    : '-');

function show(json: boolean, m: EventSourceMappingConfiguration): void {
  emit(json, m, () =>
    printFields([
      ['UUID', m.UUID],
      ['Source', source(m)],
      ['Function', m.FunctionArn ?? '(rpc: each message names its function)'],
      ['State', m.State],
      ['Reason', m.StateTransitionReason],
      ['BatchSize', m.BatchSize],
      ['Window', `${m.MaximumBatchingWindowInSeconds ?? 0} s`],
      ['LastResult', m.LastProcessingResult],
    ]),
  );
}

export async function run(args: string[]): Promise<void> {
  const picked = subcommand(args, SUBCOMMANDS, USAGE_TEXT, 'trigger');
  if (picked === undefined) return;
  const { sub, usage, rest } = picked;
  switch (sub) {
    case 'create': {
      const { values, positionals, common } = parseCommand(rest, {
        usage,
        maxPositionals: 1,
        options: {
          queue: { type: 'string' },
          redis: { type: 'string' },
          stream: { type: 'string' },
          rpc: { type: 'boolean' },
          'batch-size': { type: 'string' },
          window: { type: 'string' },
          'report-failures': { type: 'boolean' },
          'max-concurrency': { type: 'string' },
          'max-retries': { type: 'string' },
          visibility: { type: 'string' },
          disabled: { type: 'boolean' },
        },
      });
      const fn = positionals[0];
      if (values.rpc && fn !== undefined)
        throw new CliError('--rpc takes no function: each message names the function it invokes', USAGE);
      if (!values.rpc && fn === undefined) throw new CliError(`usage: ${usage}`, USAGE);
      if ((values.queue === undefined) === (values.redis === undefined)) {
        throw new CliError('give exactly one source: --queue, or --redis with --stream', USAGE);
      }
      if (values.redis !== undefined && values.stream === undefined)
        throw new CliError('--redis needs --stream NAME', USAGE);
      if (values.visibility !== undefined && values.redis === undefined) {
        throw new CliError(
          '--visibility applies to Redis streams (a queue has its own VisibilityTimeout)',
          USAGE,
        );
      }
      const batchSize = parseIntFlag(values['batch-size'], '--batch-size', 1, 10_000);
      const window = parseIntFlag(values.window, '--window', 0, 300);
      const maxConcurrency = parseIntFlag(values['max-concurrency'], '--max-concurrency', 2, 1000);
      const maxRetries = parseIntFlag(values['max-retries'], '--max-retries', 0, 10_000);
      const visibility = parseIntFlag(values.visibility, '--visibility', 1, 43_200);
      await withClient(common, async (k) => {
        const tags: Record<string, string> = {
          ...(values.rpc && { 'kindling:rpc': 'true' }),
          ...(visibility !== undefined && { 'kindling:visibility-timeout': String(visibility) }),
        };
        const input: CreateEventSourceMappingCommandInput = {
          FunctionName: fn,
          ...(values.queue !== undefined && { EventSourceArn: await queueArn(k, values.queue) }),
          ...(values.redis !== undefined && {
            SelfManagedEventSource: { Endpoints: { REDIS_URLS: [values.redis] } as never },
            Topics: [values.stream!],
          }),
          ...(batchSize !== undefined && { BatchSize: batchSize }),
          ...(window !== undefined && { MaximumBatchingWindowInSeconds: window }),
          ...(values['report-failures'] && { FunctionResponseTypes: ['ReportBatchItemFailures'] }),
          ...(maxConcurrency !== undefined && { ScalingConfig: { MaximumConcurrency: maxConcurrency } }),
          ...(maxRetries !== undefined && { MaximumRetryAttempts: maxRetries }),
          ...(values.disabled && { Enabled: false }),
          ...(Object.keys(tags).length > 0 && { Tags: tags }),
        };
        show(
          common.json,
          await sdk(k.client(LambdaClient).send(new CreateEventSourceMappingCommand(input)), k),
        );
      });
      return;
    }
    case 'ls': {
      const { values, common } = parseCommand(rest, {
        usage,
        maxPositionals: 0,
        options: { function: { type: 'string' }, queue: { type: 'string' } },
      });
      await withClient(common, async (k) => {
        const eventSourceArn = values.queue === undefined ? undefined : await queueArn(k, values.queue);
        const all: EventSourceMappingConfiguration[] = [];
        let marker: string | undefined;
        do {
          const page = await sdk(
            k.client(LambdaClient).send(
              new ListEventSourceMappingsCommand({
                ...(values.function !== undefined && { FunctionName: values.function }),
                ...(eventSourceArn !== undefined && { EventSourceArn: eventSourceArn }),
                ...(marker && { Marker: marker }),
              }),
            ),
            k,
          );
          all.push(...(page.EventSourceMappings ?? []));
          marker = page.NextMarker;
        } while (marker);
        emit(common.json, all, () =>
          printTable(
            all,
            [
              { header: 'UUID', value: (m) => m.UUID },
              { header: 'SOURCE', value: source },
              {
                header: 'FUNCTION',
                value: (m) => (m.FunctionArn ? m.FunctionArn.split(':').slice(6).join(':') : '(rpc)'),
              },
              { header: 'STATE', value: (m) => m.State },
              { header: 'BATCH', value: (m) => m.BatchSize, right: true },
              { header: 'LAST RESULT', value: (m) => m.LastProcessingResult },
            ],
            '(no triggers)',
          ),
        );
      });
      return;
    }
    case 'rm':
    case 'enable':
    case 'disable': {
      const { positionals, common } = parseCommand(rest, { usage, minPositionals: 1, maxPositionals: 1 });
      const uuid = positionals[0]!;
      await withClient(common, async (k) => {
        const out =
          sub === 'rm'
            ? await sdk(k.client(LambdaClient).send(new DeleteEventSourceMappingCommand({ UUID: uuid })), k)
            : await sdk(
                k
                  .client(LambdaClient)
                  .send(new UpdateEventSourceMappingCommand({ UUID: uuid, Enabled: sub === 'enable' })),
                k,
              );
        emit(common.json, out, () => process.stdout.write(`${uuid} ${out.State}\n`));
      });
      return;
    }
  }
}
