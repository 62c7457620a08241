// Placement of a sync Invoke across the cluster, and forwarding it. This node runs it when it holds an
// idle warm environment of the version; else a live node that published one gets it; else the least
// loaded live node (ties: this one). A forwarded request is the client's own signed request, passed on
// with an HMAC header (forward-auth.ts); the receiving node runs it itself (one hop). It is retried on
// another node only when the first refused before starting (connection refused, or its answer says it
// did not start: draining); a timeout or a connection lost midway answers ServiceException, since the
// function may have run.
import http from 'node:http';
import type { ApiRequest, ApiResponse } from '../api/surface.js';
import { KindlingError, LambdaErrors } from '../errors.js';
import type { ClusterNode, LocalWorkerView, NodeView } from './cluster-node.js';
import { FORWARD_HEADER, ForwardVerifier, signForward } from './forward-auth.js';

/** Set on an answer that refuses a forwarded request before it started: the sender may try elsewhere. */
export const NOT_STARTED_HEADER = 'x-kindling-not-started';
/** The node that ran a forwarded invocation (operators and tests read it). */
export const RAN_ON_HEADER = 'x-kindling-node';
/** Beyond the function's own timeout, how long a forwarded invoke may take before it is given up. */
const FORWARD_MARGIN_MS = 30_000;

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'proxy-connection',
]);

export interface RoutedFunction {
  versionKey: string;
  /** Seconds. */
  timeout: number;
}

class NotStarted extends Error {}

export interface InvokeRouterOptions {
  node: ClusterNode;
  worker: LocalWorkerView;
  /** False on SQLite (one node): everything runs here, forwarded requests are still checked. */
  forwarding: boolean;
}

export class InvokeRouter {
  readonly #node: ClusterNode;
  readonly #worker: LocalWorkerView;
  readonly #forwarding: boolean;
  readonly #verifier: ForwardVerifier;
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  /** Forwarded requests answered here / sent to another node (metrics, tests). */
  readonly counts = { received: 0, forwarded: 0, retried: 0 };

  constructor(opts: InvokeRouterOptions) {
    this.#node = opts.node;
    this.#worker = opts.worker;
    this.#forwarding = opts.forwarding;
    this.#verifier = new ForwardVerifier(() => opts.node.secret);
  }

  /**
   * For the Lambda Invoke route: undefined when the request runs here, else the answer of the node that
   * ran it (streamed), or this node's refusal of a forwarded request it will not start.
   */
  route(req: ApiRequest, fn: RoutedFunction): ApiResponse | undefined | Promise<ApiResponse | undefined> {
    const signed = req.headers[FORWARD_HEADER];
    if (signed !== undefined) return this.#received(req, Array.isArray(signed) ? signed[0]! : signed);
    if (!this.#forwarding) return undefined;
    return this.#routeAmongNodes(req, fn);
  }

  async #routeAmongNodes(req: ApiRequest, fn: RoutedFunction): Promise<ApiResponse | undefined> {
    const tried = new Set<string>();
    for (;;) {
      const target = this.#pick(fn.versionKey, tried);
      if (target === undefined) {
        if (this.#node.state === 'active') return undefined;
        throw LambdaErrors.service('This node is draining and no other node can take the request.');
      }
      if (target.id === this.#node.id) return undefined;
      tried.add(target.id);
      try {
        const answer = await this.#forward(target, req, fn.timeout * 1000 + FORWARD_MARGIN_MS);
        this.counts.forwarded++;
        return answer;
      } catch (e) {
        if (!(e instanceof NotStarted)) throw e;
        this.counts.retried++;
      }
    }
  }

  #received(req: ApiRequest, signed: string): ApiResponse | undefined {
    const check = this.#verifier.verify(signed, {
      method: req.method,
      path: req.raw.url ?? req.rawPath,
      body: req.body,
    });
    if (!check.ok) {
      throw new KindlingError(
        'InvalidSignatureException',
        403,
        `The cluster forwarding signature was refused (${check.reason}).`,
      );
    }
    if (this.#node.state !== 'active') {
      return {
        status: 503,
        headers: {
          'content-type': 'application/json',
          'x-amzn-errortype': 'ServiceException',
          [NOT_STARTED_HEADER]: this.#node.state,
        },
        body: JSON.stringify({ Type: 'Service', message: `Node ${this.#node.id} is ${this.#node.state}.` }),
      };
    }
    this.counts.received++;
    return undefined;
  }

  /**
   * Here when an idle warm environment of the version is here; else the least loaded live node that
   * published an idle one; else here when the version is warm (busy) here; else the least loaded node
   * where it is warm; else the least loaded live node, this one on a tie.
   */
  #pick(versionKey: string, tried: Set<string>): NodeView | undefined {
    const live = this.#node
      .view()
      .filter((n) => n.live && n.state === 'active' && !tried.has(n.id) && n.url !== '');
    const self = live.find((n) => n.id === this.#node.id);
    const here = this.#worker.warmVersions()[versionKey];
    if (self && (here?.idle ?? 0) > 0) return self;
    const byLoad = (a: NodeView, b: NodeView) =>
      a.load - b.load || (a.id === this.#node.id ? -1 : b.id === this.#node.id ? 1 : 0);
    const others = live.filter((n) => n.id !== this.#node.id);
    const idle = others.filter((n) => (n.warm[versionKey]?.idle ?? 0) > 0).sort(byLoad);
    if (idle.length > 0) return idle[0];
    // Busy everywhere: stay with the code where it is warm (the worker there queues or adds an
    // environment) rather than starting one more node on it.
    if (self && (here?.warm ?? 0) > 0) return self;
    const warm = others
      .filter((n) => (n.warm[versionKey]?.warm ?? n.warm[versionKey]?.idle ?? 0) > 0)
      .sort(byLoad);
    if (warm.length > 0) return warm[0];
    return live.sort(byLoad)[0];
  }

  #forward(target: NodeView, req: ApiRequest, timeoutMs: number): Promise<ApiResponse> {
    const path = req.raw.url ?? req.rawPath;
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    }
    headers['content-length'] = String(req.body.length);
    headers[FORWARD_HEADER] = signForward(this.#node.secret ?? '', {
      method: req.method,
      path,
      body: req.body,
      from: this.#node.id,
    });
    const url = new URL(path, target.url);
    return new Promise<ApiResponse>((resolve, reject) => {
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        reject(e);
      };
      const out = http.request(url, { method: req.method, headers, agent: this.#agent }, (res) => {
        if (res.headers[NOT_STARTED_HEADER] !== undefined) {
          res.resume();
          return fail(new NotStarted(`${target.id} did not start it`));
        }
        settled = true;
        const passed: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(res.headers)) {
          if (v !== undefined && !HOP_BY_HOP.has(k)) passed[k] = v;
        }
        passed[RAN_ON_HEADER] ??= target.id;
        resolve({ status: res.statusCode ?? 502, headers: passed, body: res });
      });
      out.setTimeout(timeoutMs, () => {
        out.destroy();
        fail(
          LambdaErrors.service(`The node ${target.id} did not answer in time; the function may have run.`),
        );
      });
      out.on('error', (e: NodeJS.ErrnoException) => {
        // Refused connections never reached the node: nothing ran.
        if (e.code === 'ECONNREFUSED') fail(new NotStarted(`${target.url} refused the connection`));
        else
          fail(
            LambdaErrors.service(`Forwarding to node ${target.id} failed midway; the function may have run.`),
          );
      });
      out.end(req.body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
