// Sends fuzzed requests byte-exact (no URL normalisation: dot segments and bad escapes reach the
// server as generated), signed with the project's own SigV4 functions so that most get past
// authentication, and renders a request readably for a failure message.

import { createHmac } from 'node:crypto';
import http from 'node:http';
import {
  ALGORITHM,
  canonicalRequest,
  scopeOf,
  sha256Hex,
  signingKey,
  stringToSign,
  uriEncode,
} from '../../src/api/sigv4.js';

export interface Key {
  accessKeyId: string;
  secretAccessKey: string;
}

/** How a request authenticates: most are signed correctly so that the fuzz reaches the handlers. */
export type Auth =
  | { kind: 'signed'; as: 'admin' | 'tenant' }
  | { kind: 'presigned'; as: 'admin' | 'tenant'; expires: string }
  | { kind: 'unsigned' }
  | { kind: 'authorization'; value: string }
  | { kind: 'bad-signature'; as: 'admin' | 'tenant'; signature: string }
  | { kind: 'unknown-key' }
  | { kind: 'bad-date'; date: string }
  | { kind: 'presigned-garbage'; params: [string, string][] };

export interface FuzzRequest {
  method: string;
  /** As on the wire: may hold bad escapes, dot segments, raw latin-1. */
  path: string;
  /** As on the wire, without the '?'. */
  query: string;
  headers: Record<string, string>;
  body: Uint8Array;
  /** Framing: chunked transfer encoding instead of a content-length (either way valid HTTP). */
  chunked: boolean;
  auth: Auth;
  /** The credential scope's service and region. */
  service: string;
  region: string;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const amzNow = () => new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');

/** What the server will hash as the payload (http.ts: S3 streams and trusts the declared hash). */
function payloadHash(r: FuzzRequest, headers: Record<string, string>, presigned: boolean): string {
  const claimed = headers['x-amz-content-sha256'];
  if (r.service === 's3') return claimed ?? (presigned ? 'UNSIGNED-PAYLOAD' : sha256Hex(Buffer.from(r.body)));
  return claimed === 'UNSIGNED-PAYLOAD' ? claimed : sha256Hex(Buffer.from(r.body));
}

function signature(key: Key, r: FuzzRequest, amzDate: string, canonical: string): string {
  const scope = scopeOf({ date: amzDate.slice(0, 8), region: r.region, service: r.service });
  return createHmac('sha256', signingKey(key.secretAccessKey, amzDate.slice(0, 8), r.region, r.service))
    .update(stringToSign(amzDate, scope, canonical))
    .digest('hex');
}

/** The request line's target and the headers to send, after signing as `auth` says. */
export function prepare(
  r: FuzzRequest,
  host: string,
  keys: { admin: Key; tenant: Key },
): { target: string; headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) headers[k.toLowerCase()] = v;
  headers.host = host;
  let query = r.query;
  const a = r.auth;
  const header = (key: Key, amzDate: string, sig?: string) => {
    headers['x-amz-date'] = amzDate;
    if (r.service === 's3' && headers['x-amz-content-sha256'] === undefined)
      headers['x-amz-content-sha256'] = sha256Hex(Buffer.from(r.body));
    const signed = Object.keys(headers).sort();
    const canonical = canonicalRequest({
      method: r.method,
      rawPath: r.path,
      rawQuery: query,
      headers,
      signedHeaders: signed,
      payloadHash: payloadHash(r, headers, false),
      service: r.service,
    });
    const scope = scopeOf({ date: amzDate.slice(0, 8), region: r.region, service: r.service });
    headers.authorization = `${ALGORITHM} Credential=${key.accessKeyId}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${sig ?? signature(key, r, amzDate, canonical)}`;
  };
  switch (a.kind) {
    case 'signed':
      header(keys[a.as], amzNow());
      break;
    case 'bad-signature':
      header(keys[a.as], amzNow(), a.signature);
      break;
    case 'unknown-key':
      header({ accessKeyId: 'AKIDFUZZUNKNOWN00000', secretAccessKey: 'x' }, amzNow());
      break;
    case 'bad-date':
      header(keys.admin, a.date);
      break;
    case 'authorization':
      headers.authorization = a.value;
      break;
    case 'presigned': {
      const key = keys[a.as];
      const amzDate = amzNow();
      const scope = scopeOf({ date: amzDate.slice(0, 8), region: r.region, service: r.service });
      const params: [string, string][] = [
        ['X-Amz-Algorithm', ALGORITHM],
        ['X-Amz-Credential', `${key.accessKeyId}/${scope}`],
        ['X-Amz-Date', amzDate],
        ['X-Amz-Expires', a.expires],
        ['X-Amz-SignedHeaders', 'host'],
      ];
      const extra = params.map(([k, v]) => `${k}=${uriEncode(v)}`).join('&');
      query = query ? `${query}&${extra}` : extra;
      const canonical = canonicalRequest({
        method: r.method,
        rawPath: r.path,
        rawQuery: query,
        headers,
        signedHeaders: ['host'],
        payloadHash: payloadHash(r, headers, true),
        service: r.service,
      });
      query += `&X-Amz-Signature=${signature(key, r, amzDate, canonical)}`;
      break;
    }
    case 'presigned-garbage': {
      const extra = a.params.map(([k, v]) => `${k}=${v}`).join('&');
      query = query ? `${query}&${extra}` : extra;
      break;
    }
    case 'unsigned':
      break;
  }
  if (r.chunked) headers['transfer-encoding'] = 'chunked';
  else headers['content-length'] = String(r.body.length);
  return { target: query ? `${r.path}?${query}` : r.path, headers };
}

/** One request on its own connection; rejects on a lost connection or no answer within `timeoutMs`. */
export function send(
  port: number,
  r: FuzzRequest,
  keys: { admin: Key; tenant: Key },
  timeoutMs = 10_000,
): Promise<Answer> {
  const { target, headers } = prepare(r, `127.0.0.1:${port}`, keys);
  return new Promise<Answer>((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: r.method, path: target, headers, agent: false, setHost: false },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          // Keep enough of the answer for a failure message; drain the rest.
          if (size < 4096) chunks.push(c);
          size += c.length;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8').slice(0, 4096),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(Buffer.from(r.body));
  });
}

const show = (s: string, max = 600) => (s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s);

/** A failing request as a reader can replay it. */
export function describe(r: FuzzRequest, a?: Answer | Error): string {
  const body = Buffer.from(r.body);
  const printable = /^[\t\n\r\x20-\x7e]*$/.test(body.toString('latin1'));
  const lines = [
    `${r.method} ${show(r.query ? `${r.path}?${r.query}` : r.path)}`,
    `  auth: ${JSON.stringify(r.auth)} service=${r.service} region=${r.region} ${r.chunked ? 'chunked' : 'content-length'}`,
    ...Object.entries(r.headers).map(([k, v]) => `  ${k}: ${show(JSON.stringify(v), 300)}`),
    `  body (${body.length} bytes): ${printable ? show(JSON.stringify(body.toString('latin1'))) : show(body.toString('hex'))}`,
  ];
  if (a instanceof Error) lines.push(`  -> ${a.message}`);
  else if (a) lines.push(`  -> ${a.status} ${show(a.body, 800)}`);
  return lines.join('\n');
}
