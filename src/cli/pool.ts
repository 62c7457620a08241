// `kindling pool`: warming-pool sizes per runtime (admin); `--set N` fixes a runtime's target,
// `--auto` returns it to following recent demand.

import type { PoolStats, WorkerStats } from '../worker/types.js';
import { connect, parseCommand, parseIntFlag } from './client.js';
import { CliError, emit, printTable, USAGE } from './output.js';

const USAGE_TEXT = 'kindling pool [--set N | --auto] [--runtime nodejs20.x]';

export async function run(args: string[]): Promise<void> {
  const { values, common } = parseCommand(args, {
    usage: USAGE_TEXT,
    maxPositionals: 0,
    options: { set: { type: 'string' }, auto: { type: 'boolean' }, runtime: { type: 'string' } },
  });
  const target = parseIntFlag(values.set, '--set', 0, 1000);
  if (target !== undefined && values.auto) throw new CliError('--set and --auto cannot be combined', USAGE);
  const runtime = values.runtime ?? 'nodejs20.x';
  const k = connect(common);
  if (target !== undefined || values.auto) {
    const out = await k.admin<{ pool: PoolStats | null }>(
      'PUT',
      `/kindling/v1/pool/${encodeURIComponent(runtime)}`,
      {
        target: target ?? null,
      },
    );
    emit(common.json, out, () =>
      process.stdout.write(
        target !== undefined
          ? `Pool ${runtime}: target fixed at ${target}\n`
          : `Pool ${runtime}: target follows demand${out.pool ? ` (now ${out.pool.target})` : ''}\n`,
      ),
    );
    return;
  }
  const stats = await k.admin<WorkerStats>('GET', '/kindling/v1/pool');
  emit(common.json, stats, () => {
    printTable(
      stats.pools,
      [
        { header: 'RUNTIME', value: (p) => p.runtimeKey },
        { header: 'READY', value: (p) => p.ready, right: true },
        { header: 'STARTING', value: (p) => p.starting, right: true },
        { header: 'TARGET', value: (p) => p.target, right: true },
        { header: 'MODE', value: (p) => p.mode },
      ],
      '(no warming pools yet)',
    );
    const e = stats.environments;
    process.stdout.write(
      `\nenvironments: ${e.bound} bound (warm), ${e.busy} busy, ${e.starting} starting\n` +
        `starts: ${stats.warmStarts} warm, ${stats.coldStarts.pool} from the pool, ${stats.coldStarts.cold} cold; ${stats.recycled} environments recycled\n`,
    );
  });
}
