// PostgreSQL going away while a node runs: queue calls fail with StoreUnavailableError (the SQS API answers
// 503 ServiceUnavailable, which the SDKs retry), work again once it is back, and nothing acknowledged
// before is lost. The database is reached through a TCP relay this test cuts and restores.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { sqsErrorResponse } from '../../../src/api/sqs/errors.js';
import type { StoreQueueEngine } from '../../../src/events/queue/engine.js';
import { createQueueEngine } from '../../../src/events/queue/index.js';
import { PostgresSql } from '../../../src/store/postgres.js';
import { StoreUnavailableError } from '../../../src/store/sql.js';
import { freshDatabase, type TestDatabase } from '../../helpers/postgres.js';
import { testStoreKind } from '../../helpers/store.js';

const skip = testStoreKind() !== 'postgres' && 'the embedded SQLite file cannot become unreachable';
const owner = { id: 't-outage', accountId: '111122223333' };

/** Forwards connections to the database until cut (every connection dropped, new ones refused). */
class Relay {
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | undefined;
  port = 0;

  constructor(target: { host: string; port: number }) {
    this.#target = target;
  }

  async open(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.#target.port, this.#target.host);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as net.AddressInfo).port;
    this.#server = server;
  }

  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}

let db: TestDatabase;
let relay: Relay;
let sql: PostgresSql;
let engine: StoreQueueEngine;

before(async () => {
  if (skip) return;
  db = await freshDatabase();
  const u = new URL(db.url);
  relay = new Relay({ host: u.hostname, port: Number(u.port) });
  await relay.open();
  u.hostname = '127.0.0.1';
  u.port = String(relay.port);
  sql = await PostgresSql.open({ url: u.toString(), max: 4, connectTimeoutMs: 2_000 });
  engine = createQueueEngine(sql, { region: 'us-east-1' });
  await engine.ready();
});

after(async () => {
  if (skip) return;
  engine.close();
  await relay.cut();
  await sql.close();
  await db.drop();
});

test('calls fail with StoreUnavailableError while PostgreSQL is away and work again after, losing nothing acknowledged', {
  skip,
}, async () => {
  const q = await engine.createQueue(owner, 'outage');
  const sent = await engine.send(q, { body: 'before' });
  await relay.cut();
  await assert.rejects(engine.send(q, { body: 'during' }), StoreUnavailableError);
  await assert.rejects(engine.receive(q), StoreUnavailableError);
  await relay.open();
  // Pooled connections that died are replaced on their next use.
  let after: Awaited<ReturnType<StoreQueueEngine['receive']>> = [];
  const end = Date.now() + 20_000;
  for (;;) {
    try {
      after = await engine.receive(q, { maxMessages: 10 });
      break;
    } catch (e) {
      if (!(e instanceof StoreUnavailableError) || Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.deepEqual(
    after.map((m) => [m.messageId, m.body]),
    [[sent.messageId, 'before']],
  );
  await engine.send(q, { body: 'after' });
});

test('the SQS API answers a store outage with 503 ServiceUnavailable (retried by the SDKs)', async () => {
  const err = new StoreUnavailableError('PostgreSQL is unavailable: connection refused');
  const json = sqsErrorResponse(err, { headers: { 'x-amz-target': 'AmazonSQS.SendMessage' } } as never);
  assert.equal(json.status, 503);
  assert.match(String(json.body), /ServiceUnavailable/);
  assert.equal(json.headers?.['x-amzn-query-error'], 'ServiceUnavailable;Receiver');
  const query = sqsErrorResponse(err, { headers: {} } as never);
  assert.equal(query.status, 503);
  assert.match(String(query.body), /<Code>ServiceUnavailable<\/Code>/);
  // The message names no connection string.
  assert.doesNotMatch(String(json.body), /postgres|connection/i);
});
