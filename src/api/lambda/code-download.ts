// GetFunction's Code.Location: a presigned-style URL on this origin from which the function's zip can
// be downloaded for ten minutes, like Lambda's presigned S3 URL. The token is an HMAC under a key held
// only in memory, so URLs end with the process.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FunctionStore } from '../../control/functions.js';
import { KindlingError } from '../../errors.js';
import type { ApiRequest } from '../surface.js';
import type { LambdaRoute } from './routes.js';

export const CODE_URL_TTL_SEC = 600;
const PATH = '/2015-03-31/code';

const denied = () =>
  new KindlingError('AccessDenied', 403, 'Request has expired or its signature does not match.', {
    Type: 'User',
  });

export class CodeUrlSigner {
  readonly #key = randomBytes(32);

  #mac(tenantId: string, digest: string, expires: number): Buffer {
    return createHmac('sha256', this.#key).update(`${tenantId}\n${digest}\n${expires}`).digest();
  }

  /** `origin` is where the caller reached us (its Host header), so the URL works from there. */
  url(origin: string, tenantId: string, digest: string, now = Date.now()): string {
    const expires = Math.floor(now / 1000) + CODE_URL_TTL_SEC;
    const sig = this.#mac(tenantId, digest, expires).toString('hex');
    const q = new URLSearchParams({
      'X-Kindling-Tenant': tenantId,
      'X-Kindling-Expires': String(expires),
      'X-Kindling-Signature': sig,
    });
    return `${origin}${PATH}/${digest}.zip?${q}`;
  }

  /** The tenant the URL was issued to; throws unless the token is valid and current. */
  verify(digest: string, query: URLSearchParams, now = Date.now()): string {
    const tenantId = query.get('X-Kindling-Tenant') ?? '';
    const expires = Number(query.get('X-Kindling-Expires'));
    const given = Buffer.from(query.get('X-Kindling-Signature') ?? '', 'hex');
    if (!tenantId || !Number.isInteger(expires) || expires * 1000 < now) throw denied();
    const expected = this.#mac(tenantId, digest, expires);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw denied();
    return tenantId;
  }
}

export function originOf(req: Pick<ApiRequest, 'headers'>): string {
  const host = req.headers.host ?? 'localhost';
  return `http://${host}`;
}

// Its own deps, not LambdaApiDeps: deps.ts names CodeUrlSigner, and a type cycle is still a cycle.
export function codeDownloadRoutes(deps: {
  codeUrls: CodeUrlSigner;
  functions: FunctionStore;
}): LambdaRoute[] {
  return [
    {
      method: 'GET',
      path: `${PATH}/{Blob}`,
      operation: 'DownloadFunctionCode',
      anonymous: true,
      async handle(req, params) {
        const m = /^([0-9a-f]{64})\.zip$/.exec(params.Blob ?? '');
        if (!m) throw denied();
        const digest = m[1]!;
        deps.codeUrls.verify(digest, req.query);
        if (!(await deps.functions.code.hasBlob(digest))) {
          throw new KindlingError('NoSuchKey', 404, 'The specified key does not exist.', { Type: 'User' });
        }
        // Read whole (at most Lambda's 50 MB) and checked against its digest before a byte is sent.
        const zip = await deps.functions.code.readZip(digest);
        return {
          status: 200,
          headers: { 'content-type': 'application/zip', 'content-length': zip.length },
          body: zip,
        };
      },
    },
  ];
}
