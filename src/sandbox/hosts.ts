// The sandbox's /etc/hosts: the host's own, plus the names the platform API answers on inside that need no
// DNS. The AWS SDK addresses WriteGetObjectResponse to `<RequestRoute>.<endpoint host>`; with the relay at
// 127.0.0.1 (AWS_ENDPOINT_URL) that name must resolve to loopback in every sandbox, whatever its runtime.
import fs from 'node:fs';

/** The one RequestRoute S3 Object Lambda events carry (the token, not the route, picks the request). */
export const OBJECT_LAMBDA_ROUTE = 'io-kindling';

export function sandboxHosts(hostFile = '/etc/hosts'): string {
  let host = '';
  try {
    host = fs.readFileSync(hostFile, 'utf8');
  } catch {
    host = '127.0.0.1 localhost\n::1 localhost\n';
  }
  if (host.length > 0 && !host.endsWith('\n')) host += '\n';
  return `${host}127.0.0.1 ${OBJECT_LAMBDA_ROUTE}.127.0.0.1 ${OBJECT_LAMBDA_ROUTE}.localhost\n`;
}
