// `kindling doctor`: which isolation functions get on this machine (bubblewrap and its namespaces,
// cgroup version and controllers, or unsandboxed with a loud warning). Runs locally, no server needed;
// when a local server answers with admin credentials, what that server actually uses is shown too.
import type { IsolationReport } from '../sandbox/isolation.js';
import { detectIsolation } from '../worker/worker-manager.js';
import { type CommonFlags, KindlingClient, parseCommand, resolveConnection } from './client.js';
import { CliError, emit, printFields, USAGE } from './output.js';

const MODES = ['auto', 'bwrap', 'none'] as const;

interface ServerStatus {
  endpoint: string;
  running: boolean;
  /** The running server's own report; absent without admin credentials. */
  isolation?: IsolationReport;
}

/** Best effort, a couple of seconds at most: doctor must work without a server. */
async function serverStatus(flags: CommonFlags): Promise<ServerStatus | undefined> {
  let client: KindlingClient;
  try {
    client = new KindlingClient(resolveConnection(flags));
  } catch {
    return undefined;
  }
  const endpoint = client.conn.endpoint;
  try {
    const health = await fetch(`${endpoint}/kindling/health`, { signal: AbortSignal.timeout(1000) });
    if (!health.ok) return { endpoint, running: false };
  } catch {
    return { endpoint, running: false };
  }
  try {
    const res = await client.signedFetch('GET', '/kindling/v1/doctor', undefined, {
      signal: AbortSignal.timeout(2000),
    });
    if (res.ok) return { endpoint, running: true, isolation: (await res.json()) as IsolationReport };
  } catch {
    // not an admin, or an older server: the local report stands alone
  }
  return { endpoint, running: true };
}

/** The egress a granted tenant gets: the running server's when it answered, else this machine's. */
function describeEgressLine(e: IsolationReport['egress'] | undefined): string {
  if (e === undefined) return 'unknown';
  if (e.mode === 'host') return 'host network (unsandboxed)';
  if (e.mode === 'unavailable') return `UNAVAILABLE: ${e.detail}`;
  return `slirp4netns ${e.version ?? ''} (host loopback disabled; denied: ${e.denied.join(', ')}; admin egressAllow opens ranges)`.replace(
    '  ',
    ' ',
  );
}

const describe = (r: IsolationReport) =>
  r.sandboxed ? `bubblewrap ${r.bwrapVersion ?? ''}`.trim() : 'NONE (unsandboxed)';

export async function run(args: string[]): Promise<void> {
  const { values, common } = parseCommand(args, {
    usage: 'kindling doctor [--sandbox auto|bwrap|none]',
    maxPositionals: 0,
    options: { sandbox: { type: 'string' } },
  });
  const mode = values.sandbox ?? process.env.KINDLING_SANDBOX ?? 'auto';
  if (!(MODES as readonly string[]).includes(mode)) {
    throw new CliError(`--sandbox must be one of ${MODES.join(', ')}, got '${mode}'`, USAGE);
  }
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
      ['isolation', describe(report)],
      ['namespaces', report.namespaces.length ? report.namespaces.join(', ') : 'none'],
      [
        'cgroups',
        c.version === null ? 'none (no memory, process or CPU limits)' : `v${c.version} (${controllers})`,
      ],
      ['user mapping', report.userMapping.detail],
      ['seccomp', report.seccomp.enabled ? `on; denies ${report.seccomp.deniedFamilies.join(', ')}` : 'off'],
      [
        'network',
        report.sandboxed
          ? 'none by default (own network namespace); outbound only for tenants an admin granted it'
          : 'host network (not isolated)',
      ],
      ['egress', describeEgressLine(server?.isolation?.egress ?? report.egress)],
      ['node', process.version],
      [
        'server',
        server === undefined
          ? 'no endpoint configured'
          : `${server.endpoint} ${server.running ? '(running)' : '(not answering)'}`,
      ],
      ...(server?.isolation ? [['server isolation', describe(server.isolation)] as [string, string]] : []),
    ]);
  });
  const warnings = [...report.warnings];
  if (server?.isolation && !server.isolation.sandboxed && report.sandboxed) {
    warnings.push(
      'UNSANDBOXED: the running server does not use bubblewrap (started with KINDLING_SANDBOX=none?)',
    );
  }
  for (const w of warnings) {
    const loud = w.startsWith('UNSANDBOXED');
    process.stderr.write(loud ? `\n*** WARNING: ${w} ***\n` : `warning: ${w}\n`);
  }
}
