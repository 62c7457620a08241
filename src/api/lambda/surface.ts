// The Lambda API surface: claims signed `lambda` requests and the paths of its route table, and
// dispatches to the route modules. `createLambdaRoutes` registers this part's own modules.
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead } from '../surface.js';
import { accountRoutes } from './account.js';
import { codeDownloadRoutes } from './code-download.js';
import { concurrencyRoutes } from './concurrency.js';
import type { LambdaApiDeps } from './deps.js';
import { lambdaErrorResponse, unknownOperation } from './errors.js';
import { functionRoutes } from './functions.js';
import { invokeRoutes } from './invoke.js';
import { invokeStreamRoutes } from './invoke-stream.js';
import { DEFAULT_MAX_BODY, LambdaRoutes, type RouteMatch } from './routes.js';
import { tagRoutes } from './tags.js';

/** The route table with the control plane's and invocation's operations; other parts add theirs. */
export function createLambdaRoutes(deps: LambdaApiDeps): LambdaRoutes {
  const routes = new LambdaRoutes();
  routes.add(...invokeRoutes(deps));
  routes.add(...invokeStreamRoutes(deps));
  routes.add(...functionRoutes(deps));
  routes.add(...concurrencyRoutes(deps));
  routes.add(...tagRoutes(deps));
  routes.add(...accountRoutes(deps));
  routes.add(...codeDownloadRoutes(deps));
  return routes;
}

export class LambdaSurface implements ApiSurface {
  readonly name = 'lambda';
  readonly services = ['lambda'] as const;
  readonly #routes: LambdaRoutes;
  /**
   * Each request's route, looked up once: claiming the request, its body limit, whether it may be
   * anonymous and the dispatch all ask. The edge hands the head back as the request (same object).
   */
  readonly #found = new WeakMap<RequestHead, RouteMatch | null>();

  constructor(routes: LambdaRoutes) {
    this.#routes = routes;
  }

  #route(head: RequestHead): RouteMatch | undefined {
    let m = this.#found.get(head);
    if (m === undefined) {
      m = this.#routes.match(head.method, head.rawPath) ?? null;
      this.#found.set(head, m);
    }
    return m ?? undefined;
  }

  matches(head: RequestHead): boolean {
    // A known path with another method is still Lambda's (it answers UnknownOperation).
    return head.service === 'lambda' || this.#route(head) !== undefined || this.#routes.knows(head.rawPath);
  }

  maxBodyBytes(head: RequestHead): number {
    const limit = this.#route(head)?.route.maxBodyBytes;
    if (limit === undefined) return DEFAULT_MAX_BODY;
    return typeof limit === 'number' ? limit : limit(head);
  }

  allowAnonymous(head: RequestHead): boolean {
    return this.#route(head)?.route.anonymous === true;
  }

  async handle(req: ApiRequest): Promise<ApiResponse> {
    const m = this.#route(req);
    if (!m) throw unknownOperation(req.method, req.rawPath);
    return m.route.handle(req, m.params);
  }

  errorResponse(err: unknown): ApiResponse {
    return lambdaErrorResponse(err);
  }
}
