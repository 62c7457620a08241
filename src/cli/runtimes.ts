// `kindling runtimes`: every runtime name the server knows, what it runs on that host (binary and the
// version that really runs, or "not installed": such a name is refused at CreateFunction), and its warming
// pools (admin). `--json` prints the server's list: one object per registry entry, its names together.
import type { RuntimeView } from '../api/admin/runtimes.js';
import { connect, parseCommand } from './client.js';
import { emit, printTable } from './output.js';

const USAGE_TEXT = 'kindling runtimes [--json]';

function runs(r: RuntimeView): string {
  if (!r.installed) return 'not installed';
  return [r.language, r.version, r.source !== undefined ? `(${r.source})` : undefined]
    .filter((s) => s !== undefined)
    .join(' ');
}

function note(r: RuntimeView, name: string): string | undefined {
  const parts: string[] = [];
  const deprecated = r.deprecated[name];
  if (deprecated !== undefined) parts.push(`deprecated by Lambda ${deprecated}`);
  if (r.missing !== undefined) parts.push(r.missing);
  return parts.length > 0 ? parts.join('; ') : undefined;
}

export async function run(args: string[]): Promise<void> {
  const { common } = parseCommand(args, { usage: USAGE_TEXT, maxPositionals: 0 });
  const { runtimes } = await connect(common).admin<{ runtimes: RuntimeView[] }>(
    'GET',
    '/kindling/v1/runtimes',
  );
  emit(common.json, runtimes, () =>
    printTable(
      runtimes.flatMap((r) => r.names.map((name) => ({ name, r }))),
      [
        { header: 'RUNTIME', value: ({ name }) => name },
        { header: 'RUNS', value: ({ r }) => runs(r) },
        { header: 'BINARY', value: ({ r }) => r.binary },
        {
          header: 'POOLS (READY/TARGET)',
          value: ({ r }) => r.pools.map((p) => `${p.runtimeKey} ${p.ready}/${p.target}`).join(', '),
        },
        { header: 'NOTE', value: ({ name, r }) => note(r, name) },
      ],
      '(no runtimes)',
    ),
  );
}
