// Persistence of published versions (immutable snapshots of a function's code and configuration) and
// aliases (names pointing at a version, optionally with a second, weighted one). Rows go with their
// function (ON DELETE CASCADE); version numbers come from a counter on the function's row, so a number is
// never handed out twice even after its version was deleted.
import type { Sql, SqlExecutor } from '../store/sql.js';

export interface VersionRow {
  function_id: string;
  version: number;
  config: string;
  code_digest: string;
  code_sha256: string;
  code_size: number;
  revision_id: string;
  /** Environments are bound to it: `<$LATEST's key when published>#<version>`. */
  version_key: string;
  last_modified: string;
}

export interface AliasRow {
  function_id: string;
  name: string;
  function_version: string;
  description: string;
  /** JSON `{ "<version>": weight }`, `{}` without routing. */
  routing: string;
  revision_id: string;
}

/** Migrated with the functions table (module 'function-versions'). */
export const VERSIONS_SCHEMA = [
  `CREATE TABLE function_versions (
     function_id TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
     version INTEGER NOT NULL,
     config TEXT NOT NULL,
     code_digest TEXT NOT NULL,
     code_sha256 TEXT NOT NULL,
     code_size INTEGER NOT NULL,
     revision_id TEXT NOT NULL,
     version_key TEXT NOT NULL,
     last_modified TEXT NOT NULL,
     PRIMARY KEY (function_id, version))`,
  'CREATE INDEX function_versions_code ON function_versions (code_digest)',
  `CREATE TABLE function_aliases (
     function_id TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
     name TEXT NOT NULL,
     function_version TEXT NOT NULL,
     description TEXT NOT NULL,
     routing TEXT NOT NULL,
     revision_id TEXT NOT NULL,
     PRIMARY KEY (function_id, name))`,
  'ALTER TABLE functions ADD COLUMN last_version INTEGER NOT NULL DEFAULT 0',
];

export class VersionRepo {
  readonly #sql: Sql;

  private constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** After FunctionRepo.open (which migrates both tables). */
  static open(sql: Sql): VersionRepo {
    return new VersionRepo(sql);
  }

  version(functionId: string, version: number, q: SqlExecutor = this.#sql): Promise<VersionRow | undefined> {
    return q.get<VersionRow>('SELECT * FROM function_versions WHERE function_id = ? AND version = ?', [
      functionId,
      version,
    ]);
  }

  latestVersion(q: SqlExecutor, functionId: string): Promise<VersionRow | undefined> {
    return q.get<VersionRow>(
      'SELECT * FROM function_versions WHERE function_id = ? ORDER BY version DESC LIMIT 1',
      [functionId],
    );
  }

  /** Versions above `after`, in number order, at most limit. */
  versions(functionId: string, after: number, limit: number): Promise<VersionRow[]> {
    return this.#sql.all<VersionRow>(
      'SELECT * FROM function_versions WHERE function_id = ? AND version > ? ORDER BY version LIMIT ?',
      [functionId, after, limit],
    );
  }

  async allVersions(q: SqlExecutor, functionId: string): Promise<VersionRow[]> {
    return q.all<VersionRow>('SELECT * FROM function_versions WHERE function_id = ?', [functionId]);
  }

  /** The next number for the function whose row `q` holds locked. */
  async nextNumber(q: SqlExecutor, functionId: string): Promise<number> {
    await q.run('UPDATE functions SET last_version = last_version + 1 WHERE id = ?', [functionId]);
    const r = await q.get<{ n: number }>('SELECT last_version AS n FROM functions WHERE id = ?', [
      functionId,
    ]);
    return r?.n ?? 1;
  }

  async insertVersion(q: SqlExecutor, row: VersionRow): Promise<void> {
    await q.run(
      `INSERT INTO function_versions (function_id, version, config, code_digest, code_sha256, code_size,
         revision_id, version_key, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        row.function_id,
        row.version,
        row.config,
        row.code_digest,
        row.code_sha256,
        row.code_size,
        row.revision_id,
        row.version_key,
        row.last_modified,
      ],
    );
  }

  async deleteVersion(q: SqlExecutor, functionId: string, version: number): Promise<boolean> {
    return (
      (
        await q.run('DELETE FROM function_versions WHERE function_id = ? AND version = ?', [
          functionId,
          version,
        ])
      ).changes === 1
    );
  }

  alias(functionId: string, name: string, q: SqlExecutor = this.#sql): Promise<AliasRow | undefined> {
    return q.get<AliasRow>('SELECT * FROM function_aliases WHERE function_id = ? AND name = ?', [
      functionId,
      name,
    ]);
  }

  /** Aliases named after `after`, in name order, at most limit. */
  aliases(functionId: string, after: string, limit: number): Promise<AliasRow[]> {
    return this.#sql.all<AliasRow>(
      'SELECT * FROM function_aliases WHERE function_id = ? AND name > ? ORDER BY name LIMIT ?',
      [functionId, after, limit],
    );
  }

  allAliases(q: SqlExecutor, functionId: string): Promise<AliasRow[]> {
    return q.all<AliasRow>('SELECT * FROM function_aliases WHERE function_id = ? ORDER BY name', [
      functionId,
    ]);
  }

  /** False when the function already has an alias of that name. */
  async insertAlias(q: SqlExecutor, row: AliasRow): Promise<boolean> {
    const r = await q.run(
      `INSERT INTO function_aliases (function_id, name, function_version, description, routing, revision_id)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (function_id, name) DO NOTHING`,
      [row.function_id, row.name, row.function_version, row.description, row.routing, row.revision_id],
    );
    return r.changes === 1;
  }

  async updateAlias(q: SqlExecutor, row: AliasRow, expectedRevision: string): Promise<boolean> {
    const r = await q.run(
      `UPDATE function_aliases SET function_version = ?, description = ?, routing = ?, revision_id = ?
       WHERE function_id = ? AND name = ? AND revision_id = ?`,
      [
        row.function_version,
        row.description,
        row.routing,
        row.revision_id,
        row.function_id,
        row.name,
        expectedRevision,
      ],
    );
    return r.changes === 1;
  }

  async deleteAlias(q: SqlExecutor, functionId: string, name: string): Promise<boolean> {
    return (
      (await q.run('DELETE FROM function_aliases WHERE function_id = ? AND name = ?', [functionId, name]))
        .changes === 1
    );
  }
}
