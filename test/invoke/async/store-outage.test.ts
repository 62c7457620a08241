// PostgreSQL unreachable while a node runs: an async accept fails with ServiceException (never a 202 for
// an event that is not stored), and once the database is back, accepts and dispatch resume by themselves.
// The database is cut by a TCP relay between the node and the test cluster.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { asLambda } from '../../helpers/lambda-errors.js';
import { openTestSql, type TestSql, testStoreKind } from '../../helpers/store.js';
import { until } from './fixtures.js';
import { type Node, node, tenant } from './nodes.js';

/** A relay to `target` that can be cut (every connection dropped, new ones refused) and restored. */
async function relay(target: URL) {
  const host = target.hostname;
  const targetPort = Number(target.port);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    async cut() {
      await new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      });
    },
    async restore() {
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    },
    async close() {
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const skip = testStoreKind() === 'sqlite' ? 'the embedded SQLite file cannot become unreachable' : false;
let base: TestSql;
let link: Awaited<ReturnType<typeof relay>>;
let n: Node;

before(async () => {
  if (skip) return;
  base = await openTestSql();
  const url = new URL(base.url!);
  link = await relay(url);
  url.port = String(link.port);
  n = await node({ ...base, url: url.toString() }, { nodeId: 'cut-off', leaseMs: 2_000 });
  n.svc.auto = true;
  await n.d.start();
});
after(async () => {
  if (skip) return;
  await n.close();
  await link.close();
  await base.close();
});

test('an accept while PostgreSQL is unreachable fails with ServiceException, and everything resumes once it is back', {
  skip,
}, async () => {
  const before = await n.d.invokeAsync(tenant, 'f', Buffer.from('{"before":true}'));
  await until(async () =>
    (await n.store.byRequestId(before.requestId))?.status === 'succeeded' ? true : undefined,
  );

  await link.cut();
  await assert.rejects(
    n.d.invokeAsync(tenant, 'f', Buffer.from('{"during":true}'), { requestId: 'during' }),
    (e) => asLambda(e).type === 'ServiceException',
  );
  await link.restore();

  // Back: accepts are stored again and dispatched without a restart (woken by the accept or the scan).
  const afterwards = await until(
    () => n.d.invokeAsync(tenant, 'f', Buffer.from('{"after":true}')).catch(() => undefined),
    20_000,
    'an accept to succeed once the database is back',
  );
  await until(
    async () =>
      (await n.store.byRequestId(afterwards.requestId))?.status === 'succeeded' ? true : undefined,
    20_000,
    'the event accepted after the outage to run',
  );
  assert.equal(await n.store.byRequestId('during'), undefined, 'the refused accept stored nothing');
});
