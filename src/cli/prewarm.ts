// `kindling prewarm <name> N [--for 5m]`: warm N environments of a function ahead of an expected burst
// (init run now, kept warm for the window, then left to lapse like any idle environment).
import { connect, durationMs, parseCommand, parseIntFlag } from './client.js';
import { CliError, emit, USAGE } from './output.js';

const USAGE_TEXT = 'kindling prewarm <name> <count> [--for 5m] [--tenant NAME (admin)]';

interface Prewarmed {
  functionName: string;
  requested: number;
  warm: number;
  started: number;
  limitedBy?: string;
  errors?: string[];
  expiresAt: string;
}

export async function run(args: string[]): Promise<void> {
  const { values, positionals, common } = parseCommand(args, {
    usage: USAGE_TEXT,
    minPositionals: 2,
    maxPositionals: 2,
    options: { for: { type: 'string' }, tenant: { type: 'string' } },
  });
  const [name, countText] = positionals as [string, string];
  const count = parseIntFlag(countText, '<count>', 1, 1000)!;
  let forSeconds: number | undefined;
  if (values.for !== undefined) {
    const ms = durationMs(values.for);
    if (ms === undefined || ms < 1000 || ms > 86_400_000)
      throw new CliError(
        `--for expects a duration from 1s to 1d such as 5m or 2h; got '${values.for}'`,
        USAGE,
      );
    forSeconds = Math.round(ms / 1000);
  }
  const out = await connect(common).admin<Prewarmed>(
    'POST',
    `/kindling/v1/functions/${encodeURIComponent(name)}/prewarm`,
    {
      count,
      ...(forSeconds !== undefined && { forSeconds }),
      ...(values.tenant !== undefined && { tenant: values.tenant }),
    },
  );
  emit(common.json, out, () => {
    process.stdout.write(
      `${out.functionName}: ${out.warm} of ${out.requested} environments warm (${out.started} started now) until ${out.expiresAt}\n`,
    );
    if (out.limitedBy !== undefined) process.stdout.write(`fewer than asked: limited by ${out.limitedBy}\n`);
    for (const e of out.errors ?? []) process.stdout.write(`init failed: ${e}\n`);
  });
}
