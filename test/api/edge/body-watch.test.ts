// The minimum body rate's watch holds a request only while its body is arriving: once the body is read the
// request leaves it at once. Held until the watch's next check (up to a second), every request of a busy
// server outlived young-generation collections and filled the old generation (issue 11's profile).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { BodyRateWatch } from '../../../src/api/edge-limits.js';
import { createApiServer } from '../../../src/api/http.js';
import type { ApiSurface } from '../../../src/api/surface.js';
import { DEFAULT_EDGE_LIMITS } from '../../../src/config.js';
import type { TenantStore } from '../../../src/control/tenants.js';

const watch = new BodyRateWatch(DEFAULT_EDGE_LIMITS);
/** Anonymous POSTs to /echo answer the body's length (the edge reads the body for it). */
const echo: ApiSurface = {
  name: 'echo',
  services: [],
  matches: (head) => head.rawPath === '/echo',
  maxBodyBytes: () => 1 << 20,
  allowAnonymous: () => true,
  handle: async (req) => ({ status: 200, headers: {}, body: String(req.body.length) }),
  errorResponse: () => ({ status: 500, headers: {}, body: 'error' }),
};
const server = createApiServer({
  tenants: { resolveKey: async () => undefined } as unknown as TenantStore,
  surfaces: [echo],
  watch,
});
let port = 0;

before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((r) => server.close(() => r())));

function post(agent: http.Agent, body: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/echo', agent }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('a request whose body was read is no longer watched when it is answered', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  try {
    for (let i = 0; i < 20; i++) {
      const answers = await Promise.all([1, 100, 1000, 65_536].map((n) => post(agent, Buffer.alloc(n, 'x'))));
      assert.deepEqual(answers, ['1', '100', '1000', '65536']);
      assert.equal(watch.watching, 0, `after round ${i}`);
    }
  } finally {
    agent.destroy();
  }
});

test('a body still arriving stays watched until it is read', async () => {
  const req = http.request({
    port,
    host: '127.0.0.1',
    method: 'POST',
    path: '/echo',
    headers: { 'content-length': '10' },
  });
  const answered = new Promise<string>((resolve) =>
    req.on('response', (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(text));
    }),
  );
  req.write('12345');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(watch.watching, 1);
  req.end('67890');
  assert.equal(await answered, '10');
  assert.equal(watch.watching, 0);
});
