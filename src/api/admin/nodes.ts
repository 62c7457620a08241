// The cluster's nodes (`/kindling/v1/nodes`, `/kindling/v1/nodes/{id}/drain`), for the admin tenant:
// each node's address, state, load, idle warm environments and last heartbeat; draining one.
import { KindlingError } from '../../errors.js';
import type { ApiRequest, ApiResponse } from '../surface.js';
import { AdminErrors } from './errors.js';
import { type AdminSurfaceDeps, json, type NodeControl, type NodeInfo } from './request.js';

/** One node as `kindling nodes --json` and the admin API show it. */
export function nodeJson(n: NodeInfo) {
  return {
    id: n.id,
    address: n.url,
    state: n.state,
    live: n.live,
    load: Math.round(n.load * 1000) / 1000,
    running: n.running,
    capacity: n.capacity,
    warmEnvironments: Object.entries(n.warm).map(([versionKey, w]) => ({
      functionArn: w.functionArn,
      versionKey,
      idle: w.idle,
      warm: w.warm ?? w.idle,
    })),
    startedAt: new Date(n.startedAt).toISOString(),
    lastHeartbeat: new Date(n.heartbeatAt).toISOString(),
  };
}

function nodesOf(d: AdminSurfaceDeps): NodeControl {
  if (!d.nodes) throw AdminErrors.noWorker();
  return d.nodes;
}

export async function nodeRoutes(
  d: AdminSurfaceDeps,
  req: ApiRequest,
  segs: string[],
): Promise<ApiResponse | undefined> {
  if (segs.length === 0) {
    if (req.method !== 'GET') return undefined;
    return json(200, { nodes: (await nodesOf(d).list()).map(nodeJson) });
  }
  if (segs.length === 2 && segs[1] === 'drain') {
    if (req.method !== 'POST') return undefined;
    const node = await nodesOf(d).drain(segs[0]!);
    if (!node) throw new KindlingError('ResourceNotFoundException', 404, `No node ${segs[0]} in the cluster`);
    return json(200, { node: nodeJson(node) });
  }
  throw AdminErrors.unknownRoute(req.method, req.path);
}
