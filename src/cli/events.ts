// `kindling events <function>`: the function's recent async invocations (InvocationType Event, S3
// notifications, schedules, destinations) with their attempts, outcome and last error.
import { connect, type KindlingClient, parseCommand, parseIntFlag, toCliError } from './client.js';
import { CliError, emit, printTable } from './output.js';

const USAGE_TEXT = 'kindling events <function> [--limit N]';

interface AsyncEventView {
  RequestId: string;
  Source: string;
  SourceArn?: string;
  Status: string;
  Condition?: string;
  Attempts: number;
  Throttles: number;
  EnqueuedAt: string;
  NextAttemptAt?: string;
  FinishedAt?: string;
  LastError?: { Type: string; Message: string };
  Delivery?: string;
}

async function fetchEvents(
  k: KindlingClient,
  fn: string,
  limit: number,
): Promise<{ FunctionArn: string; Events: AsyncEventView[] }> {
  let res: Response;
  try {
    res = await k.signedFetch(
      'GET',
      `/2015-03-31/functions/${encodeURIComponent(fn)}/async-events?MaxItems=${limit}`,
      undefined,
      {
        service: 'lambda',
      },
    );
  } catch (e) {
    throw toCliError(e, k.conn);
  }
  const text = await res.text();
  let data: Record<string, unknown> = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    // An error page that is not JSON: shown below by status.
  }
  if (!res.ok) {
    const type = res.headers.get('x-amzn-errortype') ?? `HTTP ${res.status}`;
    throw new CliError(`${type}: ${String(data.message ?? data.Message ?? res.statusText)}`);
  }
  return data as { FunctionArn: string; Events: AsyncEventView[] };
}

const outcome = (e: AsyncEventView) =>
  e.Condition && e.Condition !== 'Success' ? `${e.Status} (${e.Condition})` : e.Status;

export async function run(args: string[]): Promise<void> {
  const { values, positionals, common } = parseCommand(args, {
    usage: USAGE_TEXT,
    minPositionals: 1,
    maxPositionals: 1,
    options: { limit: { type: 'string' } },
  });
  const limit = parseIntFlag(values.limit, '--limit', 1, 1000) ?? 20;
  const k = connect(common);
  try {
    const out = await fetchEvents(k, positionals[0]!, limit);
    emit(common.json, out, () =>
      printTable(
        out.Events,
        [
          { header: 'REQUEST ID', value: (e) => e.RequestId },
          { header: 'SOURCE', value: (e) => e.Source },
          { header: 'ENQUEUED', value: (e) => e.EnqueuedAt },
          {
            header: 'ATTEMPTS',
            value: (e) => e.Attempts + (e.Throttles > 0 ? ` (+${e.Throttles} throttled)` : ''),
            right: true,
          },
          { header: 'STATUS', value: outcome },
          {
            header: 'LAST ERROR',
            value: (e) => (e.LastError ? `${e.LastError.Type}: ${e.LastError.Message}`.slice(0, 120) : ''),
          },
        ],
        '(no async invocations)',
      ),
    );
  } finally {
    k.destroy();
  }
}
