// The embedded metadata store: one SQLite file under the data dir, in WAL mode.
// synchronous=NORMAL keeps every committed transaction across a process kill (SIGKILL); only power loss
// can drop the last few, which the embedded default accepts (see DESIGN.md, Durability).
import Database from 'better-sqlite3';

export type Db = Database.Database;

export function openDatabase(file: string): Db {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (module TEXT NOT NULL, step INTEGER NOT NULL, PRIMARY KEY (module, step))',
  );
  return db;
}

/**
 * Applies a module's schema steps once each, in order. Modules own their tables: each passes its own
 * name and the full list of steps; only appending steps is allowed once a step has shipped.
 */
export function migrate(db: Db, module: string, steps: readonly string[]): void {
  const done = new Set(
    (db.prepare('SELECT step FROM schema_migrations WHERE module = ?').all(module) as { step: number }[]).map(
      (r) => r.step,
    ),
  );
  const record = db.prepare('INSERT INTO schema_migrations (module, step) VALUES (?, ?)');
  steps.forEach((sql, step) => {
    if (done.has(step)) return;
    db.transaction(() => {
      db.exec(sql);
      record.run(module, step);
    })();
  });
}
