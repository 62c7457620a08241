// A node SIGKILLed while it holds leases on queue messages and while it is sending: the other node gets
// every leased message back once the lease runs out, and every send the dead node had acknowledged.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, test } from 'node:test';
import type { StoreQueueEngine } from '../../../src/events/queue/engine.js';
import { createQueueEngine } from '../../../src/events/queue/index.js';
import { PostgresSql } from '../../../src/store/postgres.js';
import type { Sql } from '../../../src/store/sql.js';
import { SqliteSql } from '../../../src/store/sqlite.js';
import { tempDir } from '../../helpers/platform.js';
import { freshDatabase, type TestDatabase } from '../../helpers/postgres.js';
import { testStoreKind } from '../../helpers/store.js';

const owner = { id: 't-kill', accountId: '111122223333' };
const src = new URL('../../../src/', import.meta.url).href;

let dir: string;
let db: TestDatabase | undefined;
/** What the child opens: a PostgreSQL URL or the SQLite file both processes share. */
let target: string;
let sql: Sql;
let engine: StoreQueueEngine;
let child: ChildProcess | undefined;

before(async () => {
  dir = tempDir('kindling-queue-kill-');
  if (testStoreKind() === 'postgres') {
    db = await freshDatabase();
    target = db.url;
    sql = await PostgresSql.open({ url: target, max: 4 });
  } else {
    target = path.join(dir, 'kindling.db');
    sql = SqliteSql.open(target);
  }
  engine = createQueueEngine(sql, { region: 'us-east-1' });
  await engine.ready();
});

after(async () => {
  child?.kill('SIGKILL');
  engine.close();
  await sql.close();
  await db?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The other node: leases `lease` messages (3 s visibility), then sends until killed, printing each ack. */
const NODE = `
const { createQueueEngine } = await import(new URL('events/queue/index.js', process.env.SRC).href);
const target = process.env.TARGET;
const sql = target.startsWith('postgres')
  ? await (await import(new URL('store/postgres.js', process.env.SRC).href)).PostgresSql.open({ url: target, max: 2 })
  : (await import(new URL('store/sqlite.js', process.env.SRC).href)).SqliteSql.open(target);
const engine = createQueueEngine(sql, { region: 'us-east-1' });
const q = await engine.getQueue({ id: 't-kill', accountId: '111122223333' }, 'doomed');
let leased = 0;
while (leased < Number(process.env.LEASE)) {
  const got = await engine.receive(q, { maxMessages: 10, visibilityTimeout: 3 });
  for (const m of got) console.log('leased ' + m.body);
  leased += got.length;
}
console.log('holding');
for (let i = 0; ; i++) {
  const r = await engine.send(q, { body: 'late-' + i });
  console.log('acked late-' + i + ' ' + r.messageId);
}
`;

test('a node killed holding leases and mid-send loses nothing: its messages come back to the other node', async () => {
  const q = await engine.createQueue(owner, 'doomed');
  const bodies = Array.from({ length: 30 }, (_, i) => `early-${i}`);
  for (let i = 0; i < bodies.length; i += 10) {
    await engine.sendBatch(
      q,
      bodies.slice(i, i + 10).map((body, j) => ({ id: String(j), body })),
    );
  }
  child = spawn(process.execPath, ['--input-type=module', '-e', NODE], {
    env: { ...process.env, SRC: src, TARGET: target, LEASE: '20' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const leased = new Set<string>();
  const acked = new Set<string>();
  let holding = false;
  const lines = readline.createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    child!.once('exit', (code) => reject(new Error(`the node exited early (${code})`)));
    lines.on('line', (line) => {
      const [kind, body] = line.split(' ');
      if (kind === 'leased') leased.add(body!);
      else if (kind === 'holding') holding = true;
      else if (kind === 'acked') acked.add(body!);
      // Killed while holding its leases and in the middle of sending.
      if (holding && acked.size >= 25) {
        child!.removeAllListeners('exit');
        child!.kill('SIGKILL');
        resolve();
      }
    });
  });
  assert.ok(leased.size >= 20);
  // While the dead node's leases last, the others can only get what it did not lease.
  const now = await engine.receive(q, { maxMessages: 10, visibilityTimeout: 300 });
  for (const m of now) assert.ok(!leased.has(m.body), `${m.body} was leased by the dead node`);
  const got = new Set(now.map((m) => m.body));
  // Everything comes back: the leased ones after their 3 s, the acknowledged sends at once.
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const batch = await engine.receive(q, { maxMessages: 10, visibilityTimeout: 300, waitTimeSeconds: 2 });
    for (const m of batch) got.add(m.body);
    if ([...bodies, ...acked].every((b) => got.has(b))) break;
  }
  for (const b of bodies) assert.ok(got.has(b), `${b} lost`);
  for (const b of acked) assert.ok(got.has(b), `acknowledged ${b} lost`);
});
