// `kindling schedule ...`: EventBridge schedule rules that invoke a function (create, ls, rm, enable,
// disable), spoken to the platform's EventBridge API with SigV4 (service `events`, JSON 1.1).
import { GetFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { type KindlingClient, parseCommand, sdk, subcommand, toCliError, withClient } from './client.js';
import { CliError, emit, printTable, USAGE } from './output.js';

const SUBCOMMANDS = {
  create:
    'kindling schedule create <name> (--rate "5 minutes" | --cron "0 12 * * ? *") --function NAME [--input JSON] [--disabled]',
  ls: 'kindling schedule ls [--prefix P]',
  rm: 'kindling schedule rm <name>',
  enable: 'kindling schedule enable <name>',
  disable: 'kindling schedule disable <name>',
} as const;
const USAGE_TEXT = `kindling schedule <command> ...\n\n${Object.values(SUBCOMMANDS)
  .map((u) => `  ${u}`)
  .join('\n')}`;

interface Rule {
  Name: string;
  Arn: string;
  ScheduleExpression?: string;
  EventPattern?: string;
  State: string;
  Description?: string;
}
interface Target {
  Id: string;
  Arn: string;
  Input?: string;
}

/** One EventBridge call; an error answer becomes one CliError line. */
async function call<T = Record<string, unknown>>(k: KindlingClient, op: string, input: unknown): Promise<T> {
  let res: Response;
  try {
    res = await k.signedFetch('POST', '/', input, {
      service: 'events',
      headers: { 'x-amz-target': `AWSEvents.${op}`, 'content-type': 'application/x-amz-json-1.1' },
    });
  } catch (e) {
    throw toCliError(e, k.conn);
  }
  const text = await res.text();
  let data: Record<string, unknown> = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    // Not JSON: reported by status below.
  }
  if (!res.ok)
    throw new CliError(
      `${String(data.__type ?? `HTTP ${res.status}`)}: ${String(data.message ?? res.statusText)}`,
    );
  return data as T;
}

/** `5 minutes` → `rate(5 minutes)`; an already wrapped expression is kept. */
export function scheduleExpression(rate: string | undefined, cron: string | undefined): string {
  if ((rate === undefined) === (cron === undefined))
    throw new CliError('give exactly one of --rate and --cron', USAGE);
  if (rate !== undefined) return rate.startsWith('rate(') ? rate : `rate(${rate.trim()})`;
  return cron!.startsWith('cron(') ? cron! : `cron(${cron!.trim()})`;
}

const targetId = (fn: string) => fn.replace(/[^.\-_A-Za-z0-9]/g, '_').slice(0, 64) || 'function';
const fnName = (arn: string) => arn.split(':')[6] ?? arn;

async function allRules(k: KindlingClient, prefix: string | undefined): Promise<Rule[]> {
  const rules: Rule[] = [];
  let token: string | undefined;
  do {
    const page = await call<{ Rules: Rule[]; NextToken?: string }>(k, 'ListRules', {
      ...(prefix && { NamePrefix: prefix }),
      ...(token && { NextToken: token }),
    });
    rules.push(...page.Rules);
    token = page.NextToken;
  } while (token);
  return rules;
}

export async function run(args: string[]): Promise<void> {
  const picked = subcommand(args, SUBCOMMANDS, USAGE_TEXT, 'schedule');
  if (picked === undefined) return;
  const { sub, usage, rest } = picked;
  switch (sub) {
    case 'create': {
      const { values, positionals, common } = parseCommand(rest, {
        usage,
        minPositionals: 1,
        maxPositionals: 1,
        options: {
          rate: { type: 'string' },
          cron: { type: 'string' },
          function: { type: 'string' },
          input: { type: 'string' },
          disabled: { type: 'boolean' },
        },
      });
      const expression = scheduleExpression(values.rate, values.cron);
      const functionName = values.function;
      if (!functionName) throw new CliError('--function is required', USAGE);
      if (values.input !== undefined) {
        try {
          JSON.parse(values.input);
        } catch {
          throw new CliError('--input must be JSON', USAGE);
        }
      }
      await withClient(common, async (k) => {
        const fn = await sdk(
          k.client(LambdaClient).send(new GetFunctionCommand({ FunctionName: functionName })),
          k,
        );
        const fnArn = fn.Configuration!.FunctionArn!;
        const { RuleArn } = await call<{ RuleArn: string }>(k, 'PutRule', {
          Name: positionals[0],
          ScheduleExpression: expression,
          State: values.disabled ? 'DISABLED' : 'ENABLED',
        });
        const put = await call<{ FailedEntryCount: number; FailedEntries: { ErrorMessage: string }[] }>(
          k,
          'PutTargets',
          {
            Rule: positionals[0],
            Targets: [
              {
                Id: targetId(functionName),
                Arn: fnArn,
                ...(values.input !== undefined && { Input: values.input }),
              },
            ],
          },
        );
        if (put.FailedEntryCount > 0)
          throw new CliError(put.FailedEntries[0]?.ErrorMessage ?? 'the target was refused');
        emit(common.json, { RuleArn, ScheduleExpression: expression, FunctionArn: fnArn }, () =>
          process.stdout.write(`${RuleArn}  ${expression} → ${fnName(fnArn)}\n`),
        );
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
        const rules = await allRules(k, values.prefix);
        const rows: (Rule & { Targets: Target[] })[] = [];
        for (const r of rules)
          rows.push({
            ...r,
            Targets: (await call<{ Targets: Target[] }>(k, 'ListTargetsByRule', { Rule: r.Name })).Targets,
          });
        emit(common.json, rows, () =>
          printTable(
            rows,
            [
              { header: 'NAME', value: (r) => r.Name },
              // A rule with an event pattern only (PutEvents) shows its pattern.
              { header: 'SCHEDULE', value: (r) => r.ScheduleExpression ?? r.EventPattern ?? '' },
              { header: 'STATE', value: (r) => r.State },
              { header: 'FUNCTIONS', value: (r) => r.Targets.map((t) => fnName(t.Arn)).join(', ') },
            ],
            '(no schedules)',
          ),
        );
      });
      return;
    }
    case 'rm': {
      const { positionals, common } = parseCommand(rest, { usage, minPositionals: 1, maxPositionals: 1 });
      await withClient(common, async (k) => {
        const name = positionals[0]!;
        // Refuse an unknown name rather than succeed silently (DeleteRule itself is idempotent).
        await call(k, 'DescribeRule', { Name: name });
        const { Targets } = await call<{ Targets: Target[] }>(k, 'ListTargetsByRule', { Rule: name });
        if (Targets.length > 0) await call(k, 'RemoveTargets', { Rule: name, Ids: Targets.map((t) => t.Id) });
        await call(k, 'DeleteRule', { Name: name });
        emit(common.json, { Deleted: name }, () => process.stdout.write(`deleted ${name}\n`));
      });
      return;
    }
    case 'enable':
    case 'disable': {
      const { positionals, common } = parseCommand(rest, { usage, minPositionals: 1, maxPositionals: 1 });
      await withClient(common, async (k) => {
        await call(k, sub === 'enable' ? 'EnableRule' : 'DisableRule', { Name: positionals[0] });
        emit(common.json, { Name: positionals[0], State: sub === 'enable' ? 'ENABLED' : 'DISABLED' }, () =>
          process.stdout.write(`${sub}d ${positionals[0]}\n`),
        );
      });
      return;
    }
  }
}
