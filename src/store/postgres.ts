// The cluster store: PostgreSQL behind the async Sql interface (`kindling serve --store postgres://…`).
// Several nodes share one database; the database, not the nodes, decides who holds a row (row locks,
// SKIP LOCKED claims, advisory locks), and its clock is the one leases are measured on.
import { createHash } from 'node:crypto';
import pg from 'pg';
import {
  numberPlaceholders,
  postgresDdl,
  type RunResult,
  type SchemaStep,
  type Sql,
  type SqlExecutor,
  StoreUnavailableError,
} from './sql.js';

// Integers are JS numbers on both stores: ids and millisecond times stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));

/** Statements retried as a whole transaction: serialisation failure, deadlock. */
const RETRYABLE = new Set(['40001', '40P01']);
const TX_ATTEMPTS = 5;
/** Any migration anywhere holds this advisory lock: nodes starting at once apply steps one at a time. */
const MIGRATION_LOCK = 0x6b696e64; // "kind"

export interface PostgresOptions {
  url: string;
  /** Connections in this node's pool. */
  max?: number;
  /** How long a node waits for the first connection at start before it gives up. */
  connectTimeoutMs?: number;
}

/** SQLSTATE classes that mean the database is unreachable or going away, not that the SQL was wrong. */
function isUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (!e || typeof e !== 'object') return false;
  const code = e.code ?? '';
  return (
    code.startsWith('08') || // connection exception
    code === '57P01' || // admin shutdown
    code === '57P02' ||
    code === '57P03' || // cannot connect now (starting up)
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EPIPE'].includes(code) ||
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      e.message ?? '',
    )
  );
}

function wrap(err: unknown): unknown {
  if (isUnavailable(err)) {
    return new StoreUnavailableError(`PostgreSQL is unavailable: ${(err as Error).message}`, { cause: err });
  }
  return err;
}

/**
 * A statement in PostgreSQL's numbering, named after its text: pg prepares a named statement once per
 * connection and then only binds and executes it, sparing the server a parse and plan per call.
 */
interface Prepared {
  name: string;
  text: string;
}

const preparedCache = new Map<string, Prepared>();
function prepared(sql: string): Prepared {
  let p = preparedCache.get(sql);
  if (p === undefined) {
    const text = numberPlaceholders(sql);
    // Named by a hash of the text, so the same name always means the same text on every connection.
    p = { name: `k${createHash('sha1').update(text).digest('base64url').slice(0, 20)}`, text };
    if (preparedCache.size > 2048) preparedCache.clear();
    preparedCache.set(sql, p);
  }
  return p;
}

/** With parameters, a prepared statement; without, plain text (DDL and multi-statement scripts need that). */
function statement(sql: string, params: readonly unknown[]): pg.QueryConfig {
  return params.length > 0
    ? { ...prepared(sql), values: params as unknown[] }
    : { text: numberPlaceholders(sql) };
}

type Queryable = pg.Pool | pg.PoolClient;

function executor(on: Queryable): SqlExecutor {
  return {
    dialect: 'postgres',
    async all<T>(sql: string, params: readonly unknown[] = []) {
      try {
        return (await on.query(statement(sql, params))).rows as T[];
      } catch (err) {
        throw wrap(err);
      }
    },
    async get<T>(sql: string, params: readonly unknown[] = []) {
      try {
        return (await on.query(statement(sql, params))).rows[0] as T | undefined;
      } catch (err) {
        throw wrap(err);
      }
    },
    async run(sql: string, params: readonly unknown[] = []): Promise<RunResult> {
      try {
        return { changes: (await on.query(statement(sql, params))).rowCount ?? 0 };
      } catch (err) {
        throw wrap(err);
      }
    },
  };
}

export class PostgresSql implements Sql {
  readonly dialect = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #url: string;
  readonly #on: SqlExecutor;
  /** One connection kept for LISTEN, opened on the first listen(). */
  #listener: pg.Client | undefined;
  #listening: Promise<pg.Client> | undefined;
  readonly #handlers = new Map<string, Set<(payload: string) => void>>();
  #closed = false;

  private constructor(url: string, pool: pg.Pool) {
    this.#url = url;
    this.#pool = pool;
    this.#on = executor(pool);
    // An idle pooled connection that dies (database restarted) must not crash the node.
    pool.on('error', () => {});
  }

  /** Connects (retrying until connectTimeoutMs) so a node fails at start, clearly, when the database is not there. */
  static async open(opts: PostgresOptions): Promise<PostgresSql> {
    const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.max ?? 16,
      connectionTimeoutMillis: Math.min(connectTimeoutMs, 5_000),
      idleTimeoutMillis: 30_000,
      application_name: 'kindling',
    });
    const store = new PostgresSql(opts.url, pool);
    const deadline = Date.now() + connectTimeoutMs;
    for (;;) {
      try {
        await pool.query('SELECT 1');
        break;
      } catch (err) {
        if (!isUnavailable(err) || Date.now() >= deadline) {
          await pool.end().catch(() => {});
          throw new StoreUnavailableError(
            `cannot reach PostgreSQL at ${redact(opts.url)}: ${(err as Error).message}`,
            { cause: err },
          );
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    await pool
      .query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (module TEXT NOT NULL, step BIGINT NOT NULL, PRIMARY KEY (module, step))',
      )
      .catch(async (err) => {
        // Two nodes creating it at the same instant: one wins, the other sees a unique violation, or that
        // the table or its row type already exists (IF NOT EXISTS does not cover the race).
        if (!['23505', '42P07', '42710'].includes((err as { code?: string }).code ?? '')) throw wrap(err);
      });
    return store;
  }

  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]> {
    return this.#on.all<T>(sql, params);
  }

  get<T>(sql: string, params?: readonly unknown[]): Promise<T | undefined> {
    return this.#on.get<T>(sql, params);
  }

  run(sql: string, params?: readonly unknown[]): Promise<RunResult> {
    return this.#on.run(sql, params);
  }

  async tx<T>(fn: (q: SqlExecutor) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.#pool.connect();
      } catch (err) {
        throw wrap(err);
      }
      let broken = false;
      // A checked-out connection that dies between statements emits 'error' with no pool listener attached:
      // unheard, it would crash the node; the statement in flight fails with it anyway.
      const onError = () => {
        broken = true;
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const result = await fn(executor(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        const code = (err as { code?: string }).code ?? '';
        if (RETRYABLE.has(code) && attempt < TX_ATTEMPTS) continue;
        throw wrap(err);
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    }
  }

  async migrate(module: string, steps: readonly SchemaStep[]): Promise<void> {
    await this.tx(async (q) => {
      await q.run('SELECT pg_advisory_xact_lock(?)', [MIGRATION_LOCK]);
      const done = new Set(
        (await q.all<{ step: number }>('SELECT step FROM schema_migrations WHERE module = ?', [module])).map(
          (r) => r.step,
        ),
      );
      for (const [i, step] of steps.entries()) {
        if (done.has(i)) continue;
        await q.run(typeof step === 'string' ? postgresDdl(step) : step.postgres);
        await q.run('INSERT INTO schema_migrations (module, step) VALUES (?, ?)', [module, i]);
      }
    });
  }

  async notify(channel: string, payload = ''): Promise<void> {
    await this.run('SELECT pg_notify(?, ?)', [channel, payload]);
  }

  async listen(channel: string, onMessage: (payload: string) => void): Promise<() => void> {
    const client = await this.#listenerClient();
    let set = this.#handlers.get(channel);
    if (!set) {
      set = new Set();
      this.#handlers.set(channel, set);
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    }
    set.add(onMessage);
    return () => {
      set.delete(onMessage);
    };
  }

  async now(): Promise<number> {
    const r = await this.get<{ now: number }>(
      'SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT AS now',
    );
    return r?.now ?? Date.now();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.end().catch(() => {});
    await this.#pool.end().catch(() => {});
  }

  #listenerClient(): Promise<pg.Client> {
    if (this.#listener) return Promise.resolve(this.#listener);
    if (!this.#listening) {
      this.#listening = (async () => {
        const client = new pg.Client({ connectionString: this.#url, application_name: 'kindling-listen' });
        client.on('notification', (n) => {
          for (const h of this.#handlers.get(n.channel) ?? []) h(n.payload ?? '');
        });
        // The LISTEN connection died (database restart): reconnect and listen again, and wake every
        // handler once so nothing waits for a notification that was sent while it was gone.
        client.on('error', () => {});
        client.on('end', () => {
          this.#listener = undefined;
          this.#listening = undefined;
          if (this.#closed) return;
          setTimeout(() => this.#relisten(), 500).unref();
        });
        await client.connect();
        this.#listener = client;
        return client;
      })().catch((err) => {
        this.#listening = undefined;
        throw wrap(err);
      });
    }
    return this.#listening;
  }

  async #relisten(): Promise<void> {
    if (this.#closed) return;
    try {
      const client = await this.#listenerClient();
      for (const [channel, handlers] of this.#handlers) {
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
        for (const h of handlers) h('');
      }
    } catch {
      setTimeout(() => this.#relisten(), 1_000).unref();
    }
  }
}

/** A connection string without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the configured URL';
  }
}
