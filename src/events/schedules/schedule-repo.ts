// Schedule rules (EventBridge rules with a ScheduleExpression) and their targets, per tenant, in SQLite.
// Each enabled rule stores its next fire time, so a restart knows what was missed.
import { z } from 'zod';
import { type Db, migrate } from '../../store/database.js';

export type RuleState = 'ENABLED' | 'DISABLED';

export interface ScheduleRule {
  tenantId: string;
  name: string;
  arn: string;
  expression: string;
  state: RuleState;
  description: string | undefined;
  /** ms since the epoch; undefined when disabled or the expression never fires again. */
  nextFireAt: number | undefined;
  /** Rates count whole periods from here (creation, or the last change of expression or state). */
  anchorAt: number;
  createdAt: number;
  lastFiredAt: number | undefined;
}

export interface ScheduleTarget {
  id: string;
  arn: string;
  input: string | undefined;
  inputPath: string | undefined;
}

const SCHEMA = [
  `CREATE TABLE schedule_rules (
     tenant_id TEXT NOT NULL,
     name TEXT NOT NULL,
     arn TEXT NOT NULL,
     expression TEXT NOT NULL,
     state TEXT NOT NULL,
     description TEXT,
     next_fire_at INTEGER,
     anchor_at INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     last_fired_at INTEGER,
     PRIMARY KEY (tenant_id, name))`,
  'CREATE INDEX schedule_rules_next ON schedule_rules (state, next_fire_at)',
  `CREATE TABLE schedule_targets (
     tenant_id TEXT NOT NULL,
     rule_name TEXT NOT NULL,
     target_id TEXT NOT NULL,
     arn TEXT NOT NULL,
     input TEXT,
     input_path TEXT,
     PRIMARY KEY (tenant_id, rule_name, target_id),
     FOREIGN KEY (tenant_id, rule_name) REFERENCES schedule_rules (tenant_id, name) ON DELETE CASCADE)`,
];

const opt = <T extends z.ZodType>(t: T) => t.nullable().transform((v) => v ?? undefined);

// Rows are validated when read back: they are state from before a restart.
const RuleRow = z.object({
  tenant_id: z.string(),
  name: z.string(),
  arn: z.string(),
  expression: z.string(),
  state: z.enum(['ENABLED', 'DISABLED']),
  description: opt(z.string()),
  next_fire_at: opt(z.number()),
  anchor_at: z.number(),
  created_at: z.number(),
  last_fired_at: opt(z.number()),
});

const TargetRow = z.object({
  target_id: z.string(),
  arn: z.string(),
  input: opt(z.string()),
  input_path: opt(z.string()),
});

const toRule = (raw: unknown): ScheduleRule => {
  const r = RuleRow.parse(raw);
  return {
    tenantId: r.tenant_id,
    name: r.name,
    arn: r.arn,
    expression: r.expression,
    state: r.state,
    description: r.description,
    nextFireAt: r.next_fire_at,
    anchorAt: r.anchor_at,
    createdAt: r.created_at,
    lastFiredAt: r.last_fired_at,
  };
};

const toTarget = (raw: unknown): ScheduleTarget => {
  const r = TargetRow.parse(raw);
  return { id: r.target_id, arn: r.arn, input: r.input, inputPath: r.input_path };
};

export class ScheduleStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
    migrate(db, 'schedules', SCHEMA);
  }

  /** Runs fn as one transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  get(tenantId: string, name: string): ScheduleRule | undefined {
    const row = this.#db
      .prepare('SELECT * FROM schedule_rules WHERE tenant_id = ? AND name = ?')
      .get(tenantId, name);
    return row === undefined ? undefined : toRule(row);
  }

  /** Name order, after `after`, at most `limit` (+1 to tell whether there are more). */
  list(tenantId: string, prefix: string, after: string, limit: number): ScheduleRule[] {
    return this.#db
      .prepare(
        `SELECT * FROM schedule_rules WHERE tenant_id = ? AND substr(name, 1, length(?)) = ? AND name > ?
          ORDER BY name LIMIT ?`,
      )
      .all(tenantId, prefix, prefix, after, limit)
      .map(toRule);
  }

  upsert(rule: ScheduleRule): void {
    this.#db
      .prepare(
        `INSERT INTO schedule_rules (tenant_id, name, arn, expression, state, description, next_fire_at, anchor_at, created_at, last_fired_at)
         VALUES (@tenantId, @name, @arn, @expression, @state, @description, @nextFireAt, @anchorAt, @createdAt, @lastFiredAt)
         ON CONFLICT (tenant_id, name) DO UPDATE SET expression = excluded.expression, state = excluded.state,
           description = excluded.description, next_fire_at = excluded.next_fire_at, anchor_at = excluded.anchor_at`,
      )
      .run({
        ...rule,
        description: rule.description ?? null,
        nextFireAt: rule.nextFireAt ?? null,
        lastFiredAt: rule.lastFiredAt ?? null,
      });
  }

  delete(tenantId: string, name: string): void {
    this.#db.prepare('DELETE FROM schedule_rules WHERE tenant_id = ? AND name = ?').run(tenantId, name);
  }

  setNextFire(tenantId: string, name: string, nextFireAt: number | undefined, firedAt?: number): void {
    this.#db
      .prepare(
        'UPDATE schedule_rules SET next_fire_at = ?, last_fired_at = COALESCE(?, last_fired_at) WHERE tenant_id = ? AND name = ?',
      )
      .run(nextFireAt ?? null, firedAt ?? null, tenantId, name);
  }

  /** Enabled rules due at `now`, across tenants. */
  due(now: number): ScheduleRule[] {
    return this.#db
      .prepare(
        "SELECT * FROM schedule_rules WHERE state = 'ENABLED' AND next_fire_at IS NOT NULL AND next_fire_at <= ? ORDER BY next_fire_at",
      )
      .all(now)
      .map(toRule);
  }

  nextFireAt(): number | undefined {
    const r = this.#db
      .prepare(
        "SELECT MIN(next_fire_at) AS t FROM schedule_rules WHERE state = 'ENABLED' AND next_fire_at IS NOT NULL",
      )
      .get() as { t: number | null };
    return r.t ?? undefined;
  }

  targets(tenantId: string, ruleName: string): ScheduleTarget[] {
    return this.#db
      .prepare('SELECT * FROM schedule_targets WHERE tenant_id = ? AND rule_name = ? ORDER BY target_id')
      .all(tenantId, ruleName)
      .map(toTarget);
  }

  putTarget(tenantId: string, ruleName: string, t: ScheduleTarget): void {
    this.#db
      .prepare(
        'INSERT OR REPLACE INTO schedule_targets (tenant_id, rule_name, target_id, arn, input, input_path) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(tenantId, ruleName, t.id, t.arn, t.input ?? null, t.inputPath ?? null);
  }

  removeTarget(tenantId: string, ruleName: string, id: string): boolean {
    return (
      this.#db
        .prepare('DELETE FROM schedule_targets WHERE tenant_id = ? AND rule_name = ? AND target_id = ?')
        .run(tenantId, ruleName, id).changes > 0
    );
  }
}
