// `kindling doctor`: which isolation functions get on this machine (bubblewrap and its namespaces,
// cgroup version and controllers, or unsandboxed with a loud warning). Runs locally; no server needed.
import { detectIsolation } from '../worker/worker-manager.js';
import { parseCommand, resolveConnection } from './client.js';
import { CliError, emit, printFields, USAGE } from './output.js';

const MODES = ['auto', 'bwrap', 'none'] as const;

/** Whether a local server answers its health route (best effort, one second). */
async function serverStatus(
  flags: Parameters<typeof resolveConnection>[0],
): Promise<{ endpoint: string; running: boolean } | undefined> {
  let endpoint: string;
  try {
    endpoint = resolveConnection(flags).endpoint;
  } catch {
    return undefined;
  }
  try {
    const res = await fetch(`${endpoint}/kindling/health`, { signal: AbortSignal.timeout(1000) });
    return { endpoint, running: res.ok };
  } catch {
    return { endpoint, running: false };
  }
}

export async function run(args: string[]): Promise<void> {
  const { values, common } = parseCommand(args, {
    usage: 'kindling doctor [--sandbox auto|bwrap|none]',
    maxPositionals: 0,
    options: { sandbox: { type: 'string' } },
  });
  const mode = values.sandbox ?? process.env.KINDLING_SANDBOX ?? 'auto';
  if (!(MODES as readonly string[]).includes(mode))
    throw new CliError(`--sandbox must be one of ${MODES.join(', ')}, got '${mode}'`, USAGE);
  const report = await detectIsolation(mode as (typeof MODES)[number]);
  const server = await serverStatus(common);
  const result = {
    ...report,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    server: server ?? null,
  };
  emit(common.json, result, () => {
    const c = report.cgroup;
    const controllers = Object.entries(c.controllers)
      .map(([name, ok]) => `${name} ${ok ? 'yes' : 'no'}`)
      .join(', ');
    printFields([
      [
        'isolation',
        report.sandboxed ? `bubblewrap ${report.bwrapVersion ?? ''}`.trim() : 'NONE (unsandboxed)',
      ],
      ['namespaces', report.namespaces.length ? report.namespaces.join(', ') : 'none'],
      [
        'cgroups',
        c.version === null ? 'none (no memory, process or CPU limits)' : `v${c.version} (${controllers})`,
      ],
      [
        'network',
        report.sandboxed
          ? 'none by default (own network namespace; opt-in per function)'
          : 'host network (not isolated)',
      ],
      ['node', process.version],
      [
        'server',
        server === undefined
          ? 'no endpoint configured'
          : `${server.endpoint} ${server.running ? '(running)' : '(not answering)'}`,
      ],
    ]);
  });
  for (const w of report.warnings) {
    const loud = w.startsWith('UNSANDBOXED');
    process.stderr.write(loud ? `\n*** WARNING: ${w} ***\n` : `warning: ${w}\n`);
  }
}
