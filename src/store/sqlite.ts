// The embedded store: one SQLite file under the data dir, in WAL mode, behind the async Sql interface.
// synchronous=NORMAL keeps every committed transaction across a process kill (SIGKILL); only power loss
// can drop the last few, which the embedded default accepts (see DESIGN.md, Durability).
//
// better-sqlite3 runs each statement synchronously, so a statement outside a transaction costs no more
// than before; a transaction (whose body awaits) holds the one connection, and statements from other
// callers wait for it to end instead of joining it.
import { EventEmitter } from 'node:events';
import Database from 'better-sqlite3';
import { type RunResult, type SchemaStep, type Sql, type SqlExecutor, sqliteDml } from './sql.js';

export type Db = Database.Database;

export function openDatabase(file: string): Db {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}

const STATEMENT_CACHE_MAX = 512;

export class SqliteSql implements Sql {
  readonly dialect = 'sqlite' as const;
  readonly #db: Db;
  readonly #statements = new Map<string, Database.Statement<unknown[]>>();
  readonly #channels = new EventEmitter();
  /** The transaction now holding the connection; others queue behind it. */
  #held: Promise<void> | undefined;
  readonly #inside: SqlExecutor;

  constructor(db: Db) {
    this.#db = db;
    this.#channels.setMaxListeners(0);
    this.#db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (module TEXT NOT NULL, step INTEGER NOT NULL, PRIMARY KEY (module, step))',
    );
    this.#inside = {
      dialect: 'sqlite',
      all: async <T>(sql: string, params: readonly unknown[] = []) => this.#all<T>(sql, params),
      get: async <T>(sql: string, params: readonly unknown[] = []) => this.#get<T>(sql, params),
      run: async (sql: string, params: readonly unknown[] = []) => this.#run(sql, params),
    };
  }

  static open(file: string): SqliteSql {
    return new SqliteSql(openDatabase(file));
  }

  /** The underlying handle, for the file-level work only SQLite has (backups, checkpoints). */
  get handle(): Db {
    return this.#db;
  }

  async all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    while (this.#held !== undefined) await this.#held;
    return this.#all<T>(sql, params);
  }

  async get<T>(sql: string, params: readonly unknown[] = []): Promise<T | undefined> {
    while (this.#held !== undefined) await this.#held;
    return this.#get<T>(sql, params);
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<RunResult> {
    while (this.#held !== undefined) await this.#held;
    return this.#run(sql, params);
  }

  async tx<T>(fn: (q: SqlExecutor) => Promise<T>): Promise<T> {
    while (this.#held !== undefined) await this.#held;
    let release!: () => void;
    this.#held = new Promise((r) => {
      release = r;
    });
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.#inside);
        this.#db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
        throw err;
      }
    } finally {
      this.#held = undefined;
      release();
    }
  }

  async migrate(module: string, steps: readonly SchemaStep[]): Promise<void> {
    while (this.#held !== undefined) await this.#held;
    const done = new Set(
      this.#all<{ step: number }>('SELECT step FROM schema_migrations WHERE module = ?', [module]).map(
        (r) => r.step,
      ),
    );
    steps.forEach((step, i) => {
      if (done.has(i)) return;
      this.#db.transaction(() => {
        this.#db.exec(typeof step === 'string' ? step : step.sqlite);
        this.#run('INSERT INTO schema_migrations (module, step) VALUES (?, ?)', [module, i]);
      })();
    });
  }

  async notify(channel: string, payload = ''): Promise<void> {
    this.#channels.emit(channel, payload);
  }

  async listen(channel: string, onMessage: (payload: string) => void): Promise<() => void> {
    this.#channels.on(channel, onMessage);
    return () => this.#channels.off(channel, onMessage);
  }

  async now(): Promise<number> {
    return Date.now();
  }

  async close(): Promise<void> {
    while (this.#held !== undefined) await this.#held;
    this.#statements.clear();
    if (this.#db.open) this.#db.close();
  }

  #statement(sql: string): Database.Statement<unknown[]> {
    let s = this.#statements.get(sql);
    if (!s) {
      if (this.#statements.size >= STATEMENT_CACHE_MAX) this.#statements.clear();
      s = this.#db.prepare(sqliteDml(sql));
      this.#statements.set(sql, s);
    }
    return s;
  }

  #all<T>(sql: string, params: readonly unknown[]): T[] {
    return this.#statement(sql).all(...params) as T[];
  }

  #get<T>(sql: string, params: readonly unknown[]): T | undefined {
    return this.#statement(sql).get(...params) as T | undefined;
  }

  #run(sql: string, params: readonly unknown[]): RunResult {
    const s = this.#statement(sql);
    // A statement with RETURNING reads rows; run() would refuse it.
    if (s.reader) return { changes: s.all(...params).length };
    return { changes: s.run(...params).changes };
  }
}
