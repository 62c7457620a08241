// Raw sockets against a test platform, for what no SDK sends: trickled headers and bodies, bogus
// signatures, malformed escapes. Each connection records what the server answered and when it closed.
import { createHmac } from 'node:crypto';
import net from 'node:net';
import {
  ALGORITHM,
  canonicalRequest,
  EMPTY_SHA256,
  signingKey,
  signRequest,
  stringToSign,
} from '../../../src/api/sigv4.js';

export interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface RawConnection {
  socket: net.Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves once the server closed (or reset) the connection, with what it sent. */
  closed: Promise<string>;
  /** Writes one byte of `body` every `everyMs` until the connection closes; returns a stopper. */
  trickle(body: Buffer, everyMs: number): () => void;
}

export function connect(endpoint: string): Promise<RawConnection> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => {
      socket.off('error', reject);
      let data = '';
      socket.on('data', (d) => (data += d.toString('latin1')));
      socket.on('error', () => {});
      const closed = new Promise<string>((res) => socket.once('close', () => res(data)));
      resolve({
        socket,
        received: () => data,
        closed,
        trickle(body, everyMs) {
          let i = 0;
          const timer = setInterval(() => {
            if (i >= body.length || socket.destroyed || !socket.writable) return clearInterval(timer);
            socket.write(body.subarray(i, i + 1));
            i += 1;
          }, everyMs);
          socket.once('close', () => clearInterval(timer));
          return () => clearInterval(timer);
        },
      });
    });
    socket.once('error', reject);
  });
}

/** The head of a SigV4-signed request (header form) as raw HTTP/1.1 text. */
export function signedHead(
  endpoint: string,
  creds: Creds,
  o: {
    method: string;
    path: string;
    service: string;
    body?: Buffer | string;
    headers?: Record<string, string>;
    region?: string;
    contentLength?: number;
    /** Replace the signature with zeros (a valid key id, a bogus signature). */
    bogusSignature?: boolean;
  },
): string {
  const url = new URL(o.path, endpoint);
  const headers = signRequest({
    method: o.method,
    url,
    headers: o.headers ?? {},
    body: o.body ?? '',
    accessKeyId: creds.accessKeyId,
    secretAccessKey: creds.secretAccessKey,
    region: o.region ?? 'us-east-1',
    service: o.service,
  });
  if (o.bogusSignature)
    headers.authorization = headers.authorization!.replace(/Signature=\w+/, `Signature=${'0'.repeat(64)}`);
  const length = o.contentLength ?? Buffer.byteLength(o.body ?? '');
  const lines = [`${o.method} ${o.path} HTTP/1.1`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  lines.push(`content-length: ${length}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** The status code of the first response in raw HTTP text, or 0 if none arrived. */
export const statusOf = (raw: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);

/** Resolves with `p`, or rejects after `ms` (a generous bound: the test is about behaviour). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** One request on its own connection; resolves with the raw response once the server closes. */
export async function exchange(endpoint: string, head: string, body: Buffer | string = ''): Promise<string> {
  const c = await connect(endpoint);
  c.socket.write(head);
  if (body.length > 0) c.socket.write(body);
  return within(c.closed, 10_000, `answer to ${head.split('\r\n')[0]}`);
}

/** A request head without a signature, as raw HTTP/1.1 text (connection: close). */
export function unsignedHead(o: {
  method: string;
  path: string;
  headers?: Record<string, string>;
  contentLength?: number;
}): string {
  const lines = [`${o.method} ${o.path} HTTP/1.1`, 'host: localhost', 'connection: close'];
  for (const [k, v] of Object.entries(o.headers ?? {})) lines.push(`${k}: ${v}`);
  lines.push(`content-length: ${o.contentLength ?? 0}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** A presigned URL (query-string SigV4) for any service, with the X-Amz-Expires value given as text. */
export function presignUrl(
  endpoint: string,
  creds: Creds,
  o: { method: string; path: string; service: string; expires: string; region?: string },
): string {
  const url = new URL(o.path, endpoint);
  const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
  const scope = `${amzDate.slice(0, 8)}/${o.region ?? 'us-east-1'}/${o.service}/aws4_request`;
  url.searchParams.set('X-Amz-Algorithm', ALGORITHM);
  url.searchParams.set('X-Amz-Credential', `${creds.accessKeyId}/${scope}`);
  url.searchParams.set('X-Amz-Date', amzDate);
  url.searchParams.set('X-Amz-Expires', o.expires);
  url.searchParams.set('X-Amz-SignedHeaders', 'host');
  const payloadHash = o.service === 's3' ? 'UNSIGNED-PAYLOAD' : EMPTY_SHA256;
  const canonical = canonicalRequest({
    method: o.method,
    rawPath: url.pathname,
    rawQuery: url.search.slice(1),
    headers: { host: url.host },
    signedHeaders: ['host'],
    payloadHash,
    service: o.service,
  });
  const key = signingKey(creds.secretAccessKey, amzDate.slice(0, 8), o.region ?? 'us-east-1', o.service);
  url.searchParams.set(
    'X-Amz-Signature',
    createHmac('sha256', key)
      .update(stringToSign(amzDate, scope, canonical))
      .digest('hex'),
  );
  return url.toString();
}
