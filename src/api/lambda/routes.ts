// The Lambda surface's route table. Each group of operations is a module returning its routes; adding
// one is a single `routes.add(...myRoutes(deps))` where the platform is assembled.

import { tryDecode } from '../../uri.js';
import type { ApiRequest, ApiResponse, RequestHead } from '../surface.js';

export interface LambdaRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  /** Path with `{Param}` segments, as in the Lambda API reference: `/2015-03-31/functions/{FunctionName}`. */
  path: string;
  /** The Lambda operation name (logs, metrics). */
  operation: string;
  /** Largest request body accepted (default 6 MB). */
  maxBodyBytes?: number | ((head: RequestHead) => number);
  /** Answered without a signature (a presigned-style URL that checks its own token). */
  anonymous?: boolean;
  handle(req: ApiRequest, params: Record<string, string>): Promise<ApiResponse> | ApiResponse;
}

export interface RouteMatch {
  route: LambdaRoute;
  params: Record<string, string>;
}

interface Compiled {
  route: LambdaRoute;
  segments: string[];
}

export const DEFAULT_MAX_BODY = 6 * 1024 * 1024;

export class LambdaRoutes {
  readonly #routes: Compiled[] = [];

  add(...routes: LambdaRoute[]): void {
    for (const route of routes) this.#routes.push({ route, segments: split(route.path) });
  }

  /** The route for this method and (raw, percent-encoded) path; undefined when none. */
  match(method: string, rawPath: string): RouteMatch | undefined {
    const segs = split(rawPath);
    for (const c of this.#routes) {
      if (c.route.method !== method || c.segments.length !== segs.length) continue;
      const params = matchSegments(c.segments, segs);
      if (params) return { route: c.route, params };
    }
    return undefined;
  }

  /** Is this a path of the Lambda API at all (any method)? */
  knows(rawPath: string): boolean {
    const segs = split(rawPath);
    return this.#routes.some(
      (c) => c.segments.length === segs.length && matchSegments(c.segments, segs) !== undefined,
    );
  }
}

function split(p: string): string[] {
  const trimmed = p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
  return trimmed.split('/');
}

function matchSegments(pattern: string[], segs: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const s = segs[i]!;
    if (p.startsWith('{') && p.endsWith('}')) {
      if (s === '') return undefined;
      const decoded = tryDecode(s);
      if (decoded === undefined) return undefined;
      params[p.slice(1, -1)] = decoded;
    } else if (p !== s) {
      return undefined;
    }
  }
  return params;
}
