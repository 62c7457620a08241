// The Sql contract both stores keep: the same statements, the same results, on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { PostgresSql } from '../../src/store/postgres.js';
import { numberPlaceholders, postgresDdl, StoreUnavailableError } from '../../src/store/sql.js';
import { openTestSql, type StoreKind, type TestSql } from '../helpers/store.js';

const SCHEMA = [
  `CREATE TABLE items (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     name TEXT NOT NULL UNIQUE,
     at INTEGER NOT NULL,
     body BLOB,
     score REAL
   )`,
  'CREATE INDEX items_at ON items (at)',
];

for (const kind of ['sqlite', 'postgres'] as StoreKind[]) {
  describe(`Sql on ${kind}`, () => {
    const opened: TestSql[] = [];
    const open = async () => {
      const t = await openTestSql(kind);
      opened.push(t);
      await t.sql.migrate('items', SCHEMA);
      return t.sql;
    };
    after(async () => {
      for (const t of opened) await t.close();
    });

    test('inserts return generated ids; integers, blobs and reals come back as JS values', async () => {
      const sql = await open();
      const big = 1_765_000_000_123;
      const r = await sql.get<{ id: number }>(
        'INSERT INTO items (name, at, body, score) VALUES (?, ?, ?, ?) RETURNING id',
        ['a', big, Buffer.from([0, 1, 255]), 1.5],
      );
      assert.equal(typeof r?.id, 'number');
      const row = await sql.get<{ id: number; at: number; body: Buffer; score: number }>(
        'SELECT id, at, body, score FROM items WHERE name = ?',
        ['a'],
      );
      assert.equal(row?.at, big);
      assert.deepEqual([...(row?.body ?? [])], [0, 1, 255]);
      assert.equal(row?.score, 1.5);
      const c = await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM items');
      assert.equal(c?.n, 1);
    });

    test('upserts with ON CONFLICT and counts changes', async () => {
      const sql = await open();
      await sql.run('INSERT INTO items (name, at) VALUES (?, ?)', ['k', 1]);
      const ignored = await sql.run(
        'INSERT INTO items (name, at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING',
        ['k', 2],
      );
      assert.equal(ignored.changes, 0);
      await sql.run(
        'INSERT INTO items (name, at) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET at = excluded.at',
        ['k', 3],
      );
      assert.equal((await sql.get<{ at: number }>('SELECT at FROM items WHERE name = ?', ['k']))?.at, 3);
      const del = await sql.run('DELETE FROM items WHERE at >= ?', [0]);
      assert.equal(del.changes, 1);
    });

    test('text orders byte-wise (upper case before lower case, as S3 and SQS list)', async () => {
      const sql = await open();
      for (const [i, n] of ['b', 'B', 'a', 'A', '_'].entries())
        await sql.run('INSERT INTO items (name, at) VALUES (?, ?)', [n, i]);
      const names = (await sql.all<{ name: string }>('SELECT name FROM items ORDER BY name')).map(
        (r) => r.name,
      );
      assert.deepEqual(names, ['A', 'B', '_', 'a', 'b']);
    });

    test('a transaction that throws leaves nothing behind; one that resolves commits', async () => {
      const sql = await open();
      await assert.rejects(
        sql.tx(async (q) => {
          await q.run('INSERT INTO items (name, at) VALUES (?, ?)', ['gone', 1]);
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(await sql.get('SELECT 1 AS x FROM items WHERE name = ?', ['gone']), undefined);
      const id = await sql.tx(async (q) => {
        const r = await q.get<{ id: number }>('INSERT INTO items (name, at) VALUES (?, ?) RETURNING id', [
          'kept',
          1,
        ]);
        return r?.id;
      });
      assert.ok(id);
      assert.ok(await sql.get('SELECT 1 AS x FROM items WHERE name = ?', ['kept']));
    });

    test('statements from outside wait for an open transaction instead of joining it', async () => {
      const sql = await open();
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const inTx = sql.tx(async (q) => {
        await q.run('INSERT INTO items (name, at) VALUES (?, ?)', ['tx', 1]);
        await gate;
        throw new Error('rolled back');
      });
      // Written while the transaction is open; must survive its rollback.
      const outside = sql.run('INSERT INTO items (name, at) VALUES (?, ?)', ['outside', 2]);
      await new Promise((r) => setTimeout(r, 20));
      release();
      await assert.rejects(inTx, /rolled back/);
      await outside;
      const names = (await sql.all<{ name: string }>('SELECT name FROM items ORDER BY name')).map(
        (r) => r.name,
      );
      assert.deepEqual(names, ['outside']);
    });

    test('FOR UPDATE SKIP LOCKED claims each row once across concurrent transactions', async () => {
      const sql = await open();
      for (let i = 0; i < 20; i++) await sql.run('INSERT INTO items (name, at) VALUES (?, ?)', [`r${i}`, 0]);
      const claim = () =>
        sql.tx(async (q) => {
          const row = await q.get<{ id: number }>(
            'SELECT id FROM items WHERE at = 0 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED',
          );
          if (!row) return undefined;
          await q.run('UPDATE items SET at = 1 WHERE id = ?', [row.id]);
          return row.id;
        });
      const got: number[] = [];
      await Promise.all(
        Array.from({ length: 5 }, async () => {
          for (;;) {
            const id = await claim();
            if (id === undefined) return;
            got.push(id);
          }
        }),
      );
      assert.equal(got.length, 20);
      assert.equal(new Set(got).size, 20);
    });

    test('migrations run once each, also when started at the same time', async () => {
      const sql = await open();
      const steps = ['CREATE TABLE m1 (x INTEGER)', 'ALTER TABLE m1 ADD COLUMN y TEXT'];
      await Promise.all([sql.migrate('m', steps), sql.migrate('m', steps), sql.migrate('m', steps)]);
      const n = await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM schema_migrations WHERE module = ?', [
        'm',
      ]);
      assert.equal(n?.n, 2);
      await sql.run('INSERT INTO m1 (x, y) VALUES (?, ?)', [1, 'a']);
    });

    test('notify reaches listeners of the channel', async () => {
      const sql = await open();
      const got: string[] = [];
      let heardIt!: () => void;
      const heard = new Promise<void>((resolve) => {
        heardIt = resolve;
      });
      // LISTEN must be in place before NOTIFY: listen() resolves once it is (a fixed wait hung under load).
      await sql.listen('kindling_test', (p) => {
        got.push(p);
        heardIt();
      });
      await sql.notify('kindling_test', 'hello');
      await heard;
      assert.deepEqual(got, ['hello']);
    });

    test("now() is the store's clock in milliseconds", async () => {
      const sql = await open();
      const t = await sql.now();
      assert.ok(Math.abs(t - Date.now()) < 60_000, `${t} vs ${Date.now()}`);
    });
  });
}

test('two connections to one PostgreSQL database see each other and migrate once', async () => {
  const t = await openTestSql('postgres');
  try {
    const second = await PostgresSql.open({ url: t.url!, max: 2 });
    try {
      await Promise.all([t.sql.migrate('items', SCHEMA), second.migrate('items', SCHEMA)]);
      await t.sql.run('INSERT INTO items (name, at) VALUES (?, ?)', ['x', 1]);
      assert.equal((await second.get<{ at: number }>('SELECT at FROM items WHERE name = ?', ['x']))?.at, 1);
    } finally {
      await second.close();
    }
  } finally {
    await t.close();
  }
});

test('an unreachable PostgreSQL fails open() with a StoreUnavailableError naming PostgreSQL', async () => {
  const started = Date.now();
  await assert.rejects(
    PostgresSql.open({ url: 'postgres://nobody:secret@127.0.0.1:1/none', connectTimeoutMs: 1_000 }),
    (e: unknown) => {
      assert.ok(e instanceof StoreUnavailableError);
      assert.match(e.message, /PostgreSQL/);
      assert.doesNotMatch(e.message, /secret/, 'the password is not printed');
      return true;
    },
  );
  assert.ok(Date.now() - started < 15_000);
});

test('portable SQL is rewritten for PostgreSQL', () => {
  assert.equal(numberPlaceholders('a = ? AND b IN (?, ?)'), 'a = $1 AND b IN ($2, $3)');
  const ddl = postgresDdl(
    'CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER, b BLOB, s TEXT, r REAL)',
  );
  assert.match(ddl, /id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY/);
  assert.match(ddl, /n BIGINT/);
  assert.match(ddl, /b BYTEA/);
  assert.match(ddl, /s TEXT COLLATE "C"/);
  assert.match(ddl, /r DOUBLE PRECISION/);
  // Columns named like types keep their names; only the types after them are translated.
  assert.equal(
    postgresDdl('CREATE TABLE o (blob TEXT NOT NULL, text TEXT, real REAL)'),
    'CREATE TABLE o (blob TEXT COLLATE "C" NOT NULL, text TEXT COLLATE "C", real DOUBLE PRECISION)',
  );
  assert.equal(postgresDdl('ALTER TABLE o ADD COLUMN blob BLOB'), 'ALTER TABLE o ADD COLUMN blob BYTEA');
  assert.equal(postgresDdl('CREATE INDEX o_blob ON o (blob)'), 'CREATE INDEX o_blob ON o (blob)');
});
