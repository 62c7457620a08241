// EventBridge rules (with a ScheduleExpression, an EventPattern or both) and their targets, and EventBridge
// Scheduler schedules (rows with a `spec`, named `group/name`: rule names cannot hold a `/`), per tenant, in
// the store. Each enabled timed row stores its next fire time, so a restart knows what was missed; a tick is
// claimed by moving next_fire_at with a compare-and-set, so every node may fire and each tick fires on one.
import { z } from 'zod';
import type { Sql, SqlExecutor } from '../../store/sql.js';

export type RuleState = 'ENABLED' | 'DISABLED';

export interface ScheduleRule {
  tenantId: string;
  name: string;
  arn: string;
  /** '' for a rule with an event pattern only. */
  expression: string;
  /** The rule's EventPattern text (event rules). */
  eventPattern?: string | undefined;
  /** A Scheduler API schedule's settings (JSON, see schedule-spec.ts); undefined for rules. */
  spec?: string | undefined;
  /** The scheduled time of the next fire when next_fire_at is later (a flexible window); else undefined. */
  tickAt?: number | undefined;
  state: RuleState;
  description: string | undefined;
  /** ms since the epoch; undefined when disabled or the expression never fires again. */
  nextFireAt: number | undefined;
  /** Rates count whole periods from here (creation, or the last change of expression or state). */
  anchorAt: number;
  createdAt: number;
  lastFiredAt: number | undefined;
  /** A claimed tick not yet handed over completely (see claimTick). */
  firingAt?: number | undefined;
  firingUntil?: number | undefined;
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
  // The tick a node claimed and is handing to the async queue, leased on the store clock: a node that dies
  // between the claim and the hand-over leaves it here for another node to finish.
  'ALTER TABLE schedule_rules ADD COLUMN firing_at INTEGER',
  'ALTER TABLE schedule_rules ADD COLUMN firing_until INTEGER',
  'ALTER TABLE schedule_rules ADD COLUMN event_pattern TEXT',
  'ALTER TABLE schedule_rules ADD COLUMN spec TEXT',
  'ALTER TABLE schedule_rules ADD COLUMN tick_at INTEGER',
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
  firing_at: opt(z.number()).optional(),
  firing_until: opt(z.number()).optional(),
  event_pattern: opt(z.string()).optional(),
  spec: opt(z.string()).optional(),
  tick_at: opt(z.number()).optional(),
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
    firingAt: r.firing_at,
    firingUntil: r.firing_until,
    eventPattern: r.event_pattern,
    spec: r.spec,
    tickAt: r.tick_at,
  };
};

const toTarget = (raw: unknown): ScheduleTarget => {
  const r = TargetRow.parse(raw);
  return { id: r.target_id, arn: r.arn, input: r.input, inputPath: r.input_path };
};

export class ScheduleStore {
  readonly #sql: Sql;
  readonly #ready: Promise<void>;

  constructor(sql: Sql) {
    this.#sql = sql;
    this.#ready = sql.migrate('schedules', SCHEMA);
    // Each method awaits #ready and sees the failure; this only keeps it from being reported unhandled.
    this.#ready.catch(() => {});
  }

  /** Resolves once the schema is in place (rejects when migrating failed). */
  ready(): Promise<void> {
    return this.#ready;
  }

  get sql(): Sql {
    return this.#sql;
  }

  /** Runs fn in one transaction; pass the executor it gets to the methods called inside. */
  async transaction<T>(fn: (q: SqlExecutor) => Promise<T>): Promise<T> {
    await this.#ready;
    return this.#sql.tx(fn);
  }

  async #q(q: SqlExecutor | undefined): Promise<SqlExecutor> {
    await this.#ready;
    return q ?? this.#sql;
  }

  async get(tenantId: string, name: string, tx?: SqlExecutor): Promise<ScheduleRule | undefined> {
    const q = await this.#q(tx);
    const row = await q.get('SELECT * FROM schedule_rules WHERE tenant_id = ? AND name = ?', [
      tenantId,
      name,
    ]);
    return row === undefined ? undefined : toRule(row);
  }

  /**
   * Rules (or, with `schedules`, Scheduler schedules) in name order, after `after`, at most `limit` (+1 to
   * tell whether there are more).
   */
  async list(
    tenantId: string,
    prefix: string,
    after: string,
    limit: number,
    schedules = false,
  ): Promise<ScheduleRule[]> {
    const q = await this.#q(undefined);
    const rows = await q.all(
      `SELECT * FROM schedule_rules WHERE tenant_id = ? AND substr(name, 1, length(?)) = ? AND name > ?
        AND spec IS ${schedules ? 'NOT ' : ''}NULL ORDER BY name LIMIT ?`,
      [tenantId, prefix, prefix, after, limit],
    );
    return rows.map(toRule);
  }

  /** The tenant's enabled rules with an event pattern, with their targets (PutEvents matches them). */
  async patternRules(tenantId: string): Promise<{ rule: ScheduleRule; targets: ScheduleTarget[] }[]> {
    const q = await this.#q(undefined);
    const rules = (
      await q.all(
        "SELECT * FROM schedule_rules WHERE tenant_id = ? AND state = 'ENABLED' AND event_pattern IS NOT NULL ORDER BY name",
        [tenantId],
      )
    ).map(toRule);
    if (rules.length === 0) return [];
    const targets = new Map<string, ScheduleTarget[]>();
    for (const row of await q.all(
      `SELECT t.* FROM schedule_targets t JOIN schedule_rules r ON r.tenant_id = t.tenant_id AND r.name = t.rule_name
        WHERE t.tenant_id = ? AND r.state = 'ENABLED' AND r.event_pattern IS NOT NULL ORDER BY t.target_id`,
      [tenantId],
    )) {
      const name = (row as { rule_name: string }).rule_name;
      const list = targets.get(name) ?? [];
      list.push(toTarget(row));
      targets.set(name, list);
    }
    return rules.map((rule) => ({ rule, targets: targets.get(rule.name) ?? [] }));
  }

  async upsert(rule: ScheduleRule, tx?: SqlExecutor): Promise<void> {
    const q = await this.#q(tx);
    await q.run(
      `INSERT INTO schedule_rules (tenant_id, name, arn, expression, state, description, next_fire_at, anchor_at, created_at, last_fired_at, event_pattern, spec, tick_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, name) DO UPDATE SET expression = excluded.expression, state = excluded.state,
         description = excluded.description, next_fire_at = excluded.next_fire_at, anchor_at = excluded.anchor_at,
         event_pattern = excluded.event_pattern, spec = excluded.spec, tick_at = excluded.tick_at`,
      [
        rule.tenantId,
        rule.name,
        rule.arn,
        rule.expression,
        rule.state,
        rule.description ?? null,
        rule.nextFireAt ?? null,
        rule.anchorAt,
        rule.createdAt,
        rule.lastFiredAt ?? null,
        rule.eventPattern ?? null,
        rule.spec ?? null,
        rule.tickAt ?? null,
      ],
    );
  }

  async delete(tenantId: string, name: string, tx?: SqlExecutor): Promise<void> {
    const q = await this.#q(tx);
    await q.run('DELETE FROM schedule_rules WHERE tenant_id = ? AND name = ?', [tenantId, name]);
  }

  /** Deletes a row with nothing left to fire and no fire being handed over (ActionAfterCompletion DELETE). */
  async deleteIfFinished(tenantId: string, name: string): Promise<void> {
    const q = await this.#q(undefined);
    await q.run(
      'DELETE FROM schedule_rules WHERE tenant_id = ? AND name = ? AND next_fire_at IS NULL AND firing_at IS NULL',
      [tenantId, name],
    );
  }

  /**
   * Claims the tick `tick` of a rule: moves next_fire_at from it to `next` (compare-and-set) and records
   * the tick as being handed over until `leaseUntil`. True on the one node whose update changed the row.
   */
  async claimTick(
    tenantId: string,
    name: string,
    tick: number,
    next: number | undefined,
    now: number,
    leaseUntil: number,
    nextTickAt?: number,
  ): Promise<boolean> {
    const q = await this.#q(undefined);
    const r = await q.run(
      `UPDATE schedule_rules SET next_fire_at = ?, tick_at = ?, last_fired_at = ?, firing_at = ?, firing_until = ?
        WHERE tenant_id = ? AND name = ? AND state = 'ENABLED' AND next_fire_at = ? AND firing_at IS NULL`,
      [next ?? null, nextTickAt ?? null, now, tick, leaseUntil, tenantId, name, tick],
    );
    return r.changes === 1;
  }

  /** Takes over a hand-over whose node stopped renewing it (its lease ran out on the store clock). */
  async reclaimFiring(
    tenantId: string,
    name: string,
    tick: number,
    now: number,
    leaseUntil: number,
  ): Promise<boolean> {
    const q = await this.#q(undefined);
    const r = await q.run(
      `UPDATE schedule_rules SET firing_until = ?
        WHERE tenant_id = ? AND name = ? AND firing_at = ? AND firing_until < ?`,
      [leaseUntil, tenantId, name, tick, now],
    );
    return r.changes === 1;
  }

  /** The tick's events are all in the async queue. */
  async firingDone(tenantId: string, name: string, tick: number): Promise<void> {
    const q = await this.#q(undefined);
    await q.run(
      'UPDATE schedule_rules SET firing_at = NULL, firing_until = NULL WHERE tenant_id = ? AND name = ? AND firing_at = ?',
      [tenantId, name, tick],
    );
  }

  /** One node only (SQLite): hand-overs left by a killed process are resumed at once, not after a lease. */
  async expireFirings(): Promise<void> {
    const q = await this.#q(undefined);
    await q.run('UPDATE schedule_rules SET firing_until = 0 WHERE firing_at IS NOT NULL');
  }

  /** Enabled rules due at `now`, across tenants. */
  async due(now: number): Promise<ScheduleRule[]> {
    const q = await this.#q(undefined);
    const rows = await q.all(
      "SELECT * FROM schedule_rules WHERE state = 'ENABLED' AND next_fire_at IS NOT NULL AND next_fire_at <= ? ORDER BY next_fire_at",
      [now],
    );
    return rows.map(toRule);
  }

  /** Hand-overs whose node stopped renewing them. */
  async stalledFirings(now: number): Promise<ScheduleRule[]> {
    const q = await this.#q(undefined);
    const rows = await q.all(
      'SELECT * FROM schedule_rules WHERE firing_at IS NOT NULL AND firing_until < ? ORDER BY firing_at',
      [now],
    );
    return rows.map(toRule);
  }

  /** The earliest time something may need doing: a next fire, or a hand-over's lease running out. */
  async nextFireAt(): Promise<number | undefined> {
    const q = await this.#q(undefined);
    const r = await q.get<{ t: number | null; f: number | null }>(
      `SELECT (SELECT MIN(next_fire_at) FROM schedule_rules WHERE state = 'ENABLED' AND next_fire_at IS NOT NULL) AS t,
              (SELECT MIN(firing_until) FROM schedule_rules WHERE firing_at IS NOT NULL) AS f`,
    );
    const t = r?.t ?? undefined;
    const f = r?.f ?? undefined;
    if (t === undefined) return f;
    if (f === undefined) return t;
    return Math.min(t, f);
  }

  async targets(tenantId: string, ruleName: string, tx?: SqlExecutor): Promise<ScheduleTarget[]> {
    const q = await this.#q(tx);
    const rows = await q.all(
      'SELECT * FROM schedule_targets WHERE tenant_id = ? AND rule_name = ? ORDER BY target_id',
      [tenantId, ruleName],
    );
    return rows.map(toTarget);
  }

  async putTarget(tenantId: string, ruleName: string, t: ScheduleTarget, tx?: SqlExecutor): Promise<void> {
    const q = await this.#q(tx);
    await q.run(
      `INSERT INTO schedule_targets (tenant_id, rule_name, target_id, arn, input, input_path) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, rule_name, target_id) DO UPDATE SET arn = excluded.arn, input = excluded.input,
         input_path = excluded.input_path`,
      [tenantId, ruleName, t.id, t.arn, t.input ?? null, t.inputPath ?? null],
    );
  }

  async removeTarget(tenantId: string, ruleName: string, id: string, tx?: SqlExecutor): Promise<boolean> {
    const q = await this.#q(tx);
    const r = await q.run(
      'DELETE FROM schedule_targets WHERE tenant_id = ? AND rule_name = ? AND target_id = ?',
      [tenantId, ruleName, id],
    );
    return r.changes > 0;
  }
}
