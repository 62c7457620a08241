// `kindling serve --store`: which store a node uses, and a clear refusal when it cannot have it.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { tempDir } from '../helpers/platform.js';
import { freshDatabase } from '../helpers/postgres.js';
import { cleanEnv, runCli, spawnCli } from './helpers.js';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

test('serve with an unreachable PostgreSQL exits non-zero within seconds, naming PostgreSQL and not the password', async () => {
  const port = await closedPort();
  const started = Date.now();
  const r = await runCli(
    [
      'serve',
      '--port',
      '0',
      '--data-dir',
      tempDir(),
      '--store',
      `postgres://k:hunter2@127.0.0.1:${port}/kindling`,
    ],
    cleanEnv(),
  );
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /PostgreSQL/);
  assert.doesNotMatch(r.stderr + r.stdout, /hunter2/);
  assert.doesNotMatch(r.stdout, /listening on/);
  assert.ok(Date.now() - started < 30_000, 'gave up within seconds');
});

test('serve refuses a store it does not know, naming it', async () => {
  const r = await runCli(
    ['serve', '--port', '0', '--data-dir', tempDir(), '--store', 'mysql://x@127.0.0.1/db'],
    cleanEnv(),
  );
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unsupported store "mysql:\/\/x@127\.0\.0\.1\/db"/);
});

test('KINDLING_STORE=postgres://… starts a node on PostgreSQL', async () => {
  const db = await freshDatabase();
  try {
    const { child } = spawnCli(
      ['serve', '--port', '0', '--data-dir', tempDir()],
      cleanEnv({ KINDLING_STORE: db.url }),
    );
    let out = '';
    child.stdout?.on('data', (d) => (out += d));
    child.stderr?.on('data', (d) => (out += d));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`did not start:\n${out}`)), 30_000);
      child.stdout?.on('data', () => {
        if (/listening on/.test(out)) {
          clearTimeout(t);
          resolve();
        }
      });
      child.on('exit', () => reject(new Error(`exited:\n${out}`)));
    });
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGTERM');
    await exited;
    const { default: pg } = await import('pg');
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const n = await c.query('SELECT COUNT(*)::int AS n FROM schema_migrations');
      assert.ok(n.rows[0].n > 0, 'the node migrated the PostgreSQL database');
    } finally {
      await c.end();
    }
  } finally {
    await db.drop();
  }
});
