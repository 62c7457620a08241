// One signed HTTP exchange for the CLI over node:http(s), not fetch: the first fetch() of a process loads
// its HTTP client (~80 ms on the reference machine), longer than the rest of a `kindling ls`.
import http from 'node:http';
import { signRequest } from '../api/sigv4.js';

export interface SignedRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: string | Buffer | undefined;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined };
  region: string;
  service: string;
}

export interface Answer {
  status: number;
  /** Header names in lower case. */
  header(name: string): string | undefined;
  body: Buffer;
}

export async function signedRequest(r: SignedRequest): Promise<Answer> {
  // TLS is loaded only for an https endpoint (~5 ms more to start the command otherwise).
  const client = r.url.protocol === 'https:' ? await import('node:https') : http;
  return exchange(client, r);
}

function exchange(client: Pick<typeof http, 'request'>, r: SignedRequest): Promise<Answer> {
  const headers = signRequest({
    method: r.method,
    url: r.url,
    headers: r.headers ?? {},
    body: r.body,
    accessKeyId: r.credentials.accessKeyId,
    secretAccessKey: r.credentials.secretAccessKey,
    sessionToken: r.credentials.sessionToken,
    region: r.region,
    service: r.service,
  });
  if (r.body !== undefined) headers['content-length'] = String(Buffer.byteLength(r.body));
  return new Promise((resolve, reject) => {
    const req = client.request(r.url, { method: r.method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const h = res.headers;
        resolve({
          status: res.statusCode ?? 0,
          header: (name) => {
            const v = h[name.toLowerCase()];
            return Array.isArray(v) ? v.join(', ') : v;
          },
          body: Buffer.concat(chunks),
        });
      });
    });
    req.on('error', reject);
    req.end(r.body);
  });
}
