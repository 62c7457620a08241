// Raw signed HTTP requests to the Lambda surface, for checking exact status codes, headers and bodies.
import { signRequest } from '../../../src/api/sigv4.js';

export interface RawOptions {
  method?: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  credentials: { accessKeyId: string; secretAccessKey: string };
  region?: string;
  now?: Date;
  /** Skip signing entirely. */
  unsigned?: boolean;
}

export async function rawLambda(endpoint: string, pathAndQuery: string, o: RawOptions) {
  const url = new URL(pathAndQuery, endpoint);
  const method = o.method ?? 'GET';
  const headers = o.unsigned
    ? { ...(o.headers ?? {}) }
    : signRequest({
        method,
        url,
        headers: o.headers ?? {},
        body: o.body,
        accessKeyId: o.credentials.accessKeyId,
        secretAccessKey: o.credentials.secretAccessKey,
        region: o.region ?? 'us-east-1',
        service: 'lambda',
        now: o.now,
      });
  delete (headers as Record<string, string>).host;
  const res = await fetch(url, {
    method,
    headers,
    body: typeof o.body === 'string' || o.body === undefined ? o.body : new Uint8Array(o.body),
  });
  const text = await res.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}
