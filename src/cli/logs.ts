// `kindling logs <name>`: the function's recent invocation logs (START/END/REPORT and console output),
// read from the admin API's logs route; `--follow` keeps printing new invocations as they finish.
import { connect, durationMs, type KindlingClient, parseCommand, parseIntFlag } from './client.js';
import { LogFollower } from './log-follower.js';
import { CliError, printJson, USAGE } from './output.js';

const USAGE_TEXT = 'kindling logs <name> [--tail N] [--since 10m|ISO-DATE] [--follow]';

/** `--since`: a duration back from now (`30s`, `10m`, `2h`, `1d`) or a date (ISO 8601). */
export function parseSince(value: string, now = Date.now()): number {
  const back = durationMs(value);
  if (back !== undefined) return now - back;
  const t = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(t))
    throw new CliError(`--since expects a duration such as 10m or 2h, or an ISO date; got '${value}'`, USAGE);
  return t;
}
const FOLLOW_POLL_MS = 500;

interface LogEvent {
  seq: number;
  requestId: string;
  timestamp: number;
  start: string;
  durationMs: number;
  errorType: string | null;
  log: string;
}

interface LogsPage {
  events: LogEvent[];
  nextAfter: number;
}

const fetchLogs = (k: KindlingClient, name: string, q: Record<string, number>): Promise<LogsPage> =>
  k.admin<LogsPage>(
    'GET',
    `/kindling/v1/functions/${encodeURIComponent(name)}/logs?${new URLSearchParams(
      Object.entries(q).map(([a, b]) => [a, String(b)]),
    )}`,
  );

const withNewline = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);

export async function run(args: string[]): Promise<void> {
  const { values, positionals, common } = parseCommand(args, {
    usage: USAGE_TEXT,
    minPositionals: 1,
    maxPositionals: 1,
    options: { tail: { type: 'string' }, since: { type: 'string' }, follow: { type: 'boolean', short: 'f' } },
  });
  const ref = positionals[0]!;
  // Logs are kept by function name: accept an ARN (or name:qualifier) as Lambda commands do.
  const name = /:function:([^:]+)/.exec(ref)?.[1] ?? ref.split(':')[0]!;
  const tail = parseIntFlag(values.tail, '--tail', 1, 100_000) ?? 50;
  const since = values.since === undefined ? undefined : parseSince(values.since);
  const k = connect(common);
  try {
    // An unknown function is a mistake worth one clear line, not an empty log.
    await k.lambdaApi('GET', `/2015-03-31/functions/${encodeURIComponent(ref)}/configuration`);
    // Every invocation has at least START/END/REPORT, so `tail` invocations hold at least `tail` lines.
    const first = await fetchLogs(k, name, {
      limit: Math.min(tail, 1000),
      ...(since !== undefined && { since }),
    });
    if (common.json) {
      if (values.follow) for (const e of first.events) process.stdout.write(`${JSON.stringify(e)}\n`);
      else printJson(first.events);
    } else {
      const lines = first.events
        .map((e) => withNewline(e.log))
        .join('')
        .split('\n');
      if (lines.at(-1) === '') lines.pop();
      const shown = lines.slice(-tail);
      if (shown.length > 0) process.stdout.write(`${shown.join('\n')}\n`);
    }
    if (!values.follow) return;
    const follower = new LogFollower(first.events, first.nextAfter);
    for (;;) {
      await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
      // From the follower's watermark, page by page: entries that committed late are among them.
      for (let after = follower.after; ; ) {
        const page = await fetchLogs(k, name, { after, limit: 1000 });
        for (const e of follower.take(page.events)) {
          process.stdout.write(common.json ? `${JSON.stringify(e)}\n` : withNewline(e.log));
        }
        if (page.events.length < 1000) break;
        after = page.events.at(-1)!.seq;
      }
      follower.settle();
    }
  } finally {
    k.destroy();
  }
}
