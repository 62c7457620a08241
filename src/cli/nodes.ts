// `kindling nodes`: the cluster's nodes with their address, state, load, idle warm environments and last
// heartbeat (admin); `--json` prints an array, one object per node. `kindling nodes drain ID` asks a node
// to finish its work, take no more and leave.
import type { nodeJson } from '../api/admin/nodes.js';
import { connect, parseCommand } from './client.js';
import { CliError, emit, printTable, USAGE } from './output.js';

const USAGE_TEXT = 'kindling nodes [--json] | kindling nodes drain <node-id>';

type NodeJson = ReturnType<typeof nodeJson>;

export async function run(args: string[]): Promise<void> {
  const { positionals, common } = parseCommand(args, { usage: USAGE_TEXT, maxPositionals: 2 });
  const [verb, id] = positionals;
  if (verb !== undefined && (verb !== 'drain' || id === undefined))
    throw new CliError(`usage: ${USAGE_TEXT}`, USAGE);
  const k = connect(common);
  try {
    if (verb === 'drain') {
      const out = await k.admin<{ node: NodeJson }>(
        'POST',
        `/kindling/v1/nodes/${encodeURIComponent(id!)}/drain`,
      );
      emit(common.json, out.node, () =>
        process.stdout.write(`Node ${out.node.id} (${out.node.address}) is ${out.node.state}\n`),
      );
      return;
    }
    const { nodes } = await k.admin<{ nodes: NodeJson[] }>('GET', '/kindling/v1/nodes');
    emit(common.json, nodes, () =>
      printTable(
        nodes,
        [
          { header: 'ID', value: (n) => n.id },
          { header: 'ADDRESS', value: (n) => n.address },
          { header: 'STATE', value: (n) => (n.state === 'active' && !n.live ? 'not live' : n.state) },
          { header: 'LOAD', value: (n) => `${n.running}/${n.capacity}`, right: true },
          {
            header: 'WARM',
            value: (n) => n.warmEnvironments.reduce((s, w) => s + (w.warm ?? w.idle), 0),
            right: true,
          },
          { header: 'LAST HEARTBEAT', value: (n) => n.lastHeartbeat },
        ],
        '(no nodes)',
      ),
    );
  } finally {
    k.destroy();
  }
}
