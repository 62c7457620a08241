// The synchronous SQLite handle, for modules not yet moved onto the async Sql interface (./sql.ts).
import type { Db } from './sqlite.js';

export { type Db, openDatabase } from './sqlite.js';

/**
 * Applies a module's schema steps once each, in order. Modules own their tables: each passes its own
 * name and the full list of steps; only appending steps is allowed once a step has shipped.
 */
export function migrate(db: Db, module: string, steps: readonly string[]): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (module TEXT NOT NULL, step INTEGER NOT NULL, PRIMARY KEY (module, step))',
  );
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
