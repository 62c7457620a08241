// `kindling billing`: GB-ms per tenant, function and hour from the admin API (a tenant sees its own
// records; the admin everyone's, or one tenant's with --tenant).

import { connect, parseCommand } from './client.js';
import { parseSince } from './logs.js';
import { emit, printTable } from './output.js';

interface BillingRecord {
  tenant: string;
  functionName: string;
  hour: string;
  invocations: number;
  billedDurationMs: number;
  gbMs: number;
}

export async function run(args: string[]): Promise<void> {
  const { values, common } = parseCommand(args, {
    usage: 'kindling billing [--tenant NAME] [--function NAME] [--since 1d|ISO-DATE]',
    maxPositionals: 0,
    options: { tenant: { type: 'string' }, function: { type: 'string' }, since: { type: 'string' } },
  });
  const q = new URLSearchParams();
  if (values.tenant !== undefined) q.set('tenant', values.tenant);
  if (values.function !== undefined) q.set('function', values.function);
  if (values.since !== undefined) q.set('from', String(parseSince(values.since)));
  const k = connect(common);
  const out = await k.admin<{ records: BillingRecord[]; totalGbMs: number; totalGbSeconds: number }>(
    'GET',
    `/kindling/v1/billing${q.size > 0 ? `?${q}` : ''}`,
  );
  emit(common.json, out, () => {
    printTable(
      out.records,
      [
        { header: 'HOUR', value: (r) => r.hour.replace(':00:00.000Z', 'Z') },
        { header: 'TENANT', value: (r) => r.tenant },
        { header: 'FUNCTION', value: (r) => r.functionName },
        { header: 'INVOCATIONS', value: (r) => r.invocations, right: true },
        { header: 'BILLED MS', value: (r) => r.billedDurationMs, right: true },
        { header: 'GB-SECONDS', value: (r) => (r.gbMs / 1000).toFixed(6), right: true },
      ],
      '(no billing records)',
    );
    if (out.records.length > 0)
      process.stdout.write(`\ntotal: ${out.totalGbSeconds.toFixed(6)} GB-seconds\n`);
  });
}
